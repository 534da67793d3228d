// joule prune MODEL -o OUT (--ratio R | --target-macs F | --heads R | --ffn R) [--global] [--criterion ...]
//                    [--calib DIR] [--labels FILE] [--reconstruct] [--[no-]reestimate-bn] [--keep NODE...]
//                    [--report FILE]
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "onnx_import/onnx_import.h"
#include "onnx_import/sample_io.h"
#include "prune/prune.h"
#include "tools/cli/cli_args.h"
#include "tools/cli/commands.h"

namespace joule::cli {

namespace {
constexpr const char* kPruneHelp =
    "usage: joule prune MODEL -o OUT (--ratio R | --target-macs F) [--heads R] [--ffn R] [--global]\n"
    "                   [--criterion l1|l2|bn|activation] [--calib DIR [--labels FILE]] [--reconstruct]\n"
    "                   [--reestimate-bn | --no-reestimate-bn] [--keep NODE ...] [--report FILE]\n\n"
    "Structured pruning: removes whole channels (Conv filters, Gemm/MatMul output features) so OUT is a\n"
    "smaller dense ONNX model. Channels coupled by residual Add/Mul, Concat, Split, depthwise Conv,\n"
    "BatchNorm and Flatten->Gemm are removed together; graph outputs, --keep nodes and anything the\n"
    "analysis does not understand are left alone (listed in the summary).\n\n"
    "  -o, --output OUT      pruned model (.onnx)\n"
    "  --ratio R             fraction of channels removed from each layer group, 0 <= R < 1\n"
    "  --target-macs F       keep this fraction of MACs (a global threshold is searched), 0 < F <= 1\n"
    "  --heads R             remove R of the attention heads of each attention block (Q/K/V columns,\n"
    "                        output-projection rows and the Reshape head counts together), 0 <= R < 1\n"
    "  --ffn R               ratio for transformer features (FFN intermediate neurons: MatMul on\n"
    "                        [batch, seq, features]) instead of --ratio; --ratio defaults to 0 with\n"
    "                        --heads/--ffn alone\n"
    "  --global              one threshold over normalized scores of all layers instead of per layer\n"
    "  --criterion C         l1 (default) or l2 filter norm, bn (|BatchNorm gamma|), activation\n"
    "                        (mean |activation| per channel on --calib)\n"
    "  --calib DIR           calibration samples, one subfolder per sample as in 'joule run --inputs'\n"
    "  --labels FILE         true class per calibration sample (one per line): adds accuracy\n"
    "  --reconstruct         refit the layers after pruned channels by ridge least squares on --calib\n"
    "  --reestimate-bn       re-estimate BatchNorm statistics on --calib after pruning, before\n"
    "                        --reconstruct (default: on when\n"
    "                        --calib is given and the model has BatchNormalization; --no-reestimate-bn)\n"
    "  --keep NODE ...       node or output names whose channels are never pruned\n"
    "  --report FILE         also write the summary to FILE\n";

int fail(const Status& s) {
  std::cerr << "joule prune: error: " << s.message() << "\n";
  return 1;
}

Status parse_double(const std::string& opt, const std::string& s, double& out) {
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  if (s.empty() || !end || *end) return invalid_argument(opt + " expects a number, got '" + s + "'");
  return Status::ok();
}

std::string fidelity_text(const prune::Fidelity& f) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(4) << "cosine " << f.cosine << ", top-1 agreement " << std::setprecision(3)
    << f.top1 * 100 << "%";
  if (f.accuracy >= 0) o << ", accuracy " << f.accuracy * 100 << "%";
  return o.str();
}
}  // namespace

int prune_command(int argc, char** argv) {
  ParsedArgs a;
  Status st = parse_args(argc, argv, 2, {"--help", "-h", "--global", "--reconstruct", "--reestimate-bn", "--no-reestimate-bn"},
                         {"-o", "--output", "--ratio", "--target-macs", "--criterion", "--calib", "--labels", "--report",
                          "--heads", "--ffn"},
                         {"--keep"}, a);
  if (!st.is_ok()) return fail(st);
  if (a.has("--help") || a.has("-h")) {
    std::cout << kPruneHelp;
    return 0;
  }
  if (a.positional.size() != 1) return fail(invalid_argument("expected exactly one MODEL argument (see --help)"));
  std::string out_path = a.get("-o", a.get("--output"));
  if (out_path.empty()) return fail(invalid_argument("missing -o OUT"));
  prune::PruneOptions opts;
  if (a.has("--ratio") && a.has("--target-macs")) return fail(invalid_argument("give only one of --ratio or --target-macs"));
  if (!a.has("--ratio") && !a.has("--target-macs") && !a.has("--heads") && !a.has("--ffn"))
    return fail(invalid_argument("give --ratio, --target-macs, --heads or --ffn (see --help)"));
  if (!a.has("--ratio")) opts.ratio = 0;
  if (a.has("--heads") && !(st = parse_double("--heads", a.get("--heads"), opts.heads)).is_ok()) return fail(st);
  if (a.has("--ffn") && !(st = parse_double("--ffn", a.get("--ffn"), opts.ffn)).is_ok()) return fail(st);
  if (!(opts.heads >= 0 && opts.heads < 1)) return fail(invalid_argument("--heads must be in [0, 1)"));
  if (a.has("--ffn") && !(opts.ffn >= 0 && opts.ffn < 1)) return fail(invalid_argument("--ffn must be in [0, 1)"));
  if (a.has("--reestimate-bn") && a.has("--no-reestimate-bn"))
    return fail(invalid_argument("give only one of --reestimate-bn and --no-reestimate-bn"));
  if (a.has("--reestimate-bn") && !a.has("--calib")) return fail(invalid_argument("--reestimate-bn needs --calib DIR"));
  if (a.has("--ratio") && !(st = parse_double("--ratio", a.get("--ratio"), opts.ratio)).is_ok()) return fail(st);
  if (a.has("--target-macs") && !(st = parse_double("--target-macs", a.get("--target-macs"), opts.target_macs)).is_ok())
    return fail(st);
  if (a.has("--ratio") && !(opts.ratio >= 0 && opts.ratio < 1)) return fail(invalid_argument("--ratio must be in [0, 1)"));
  if (a.has("--target-macs") && !(opts.target_macs > 0 && opts.target_macs <= 1))
    return fail(invalid_argument("--target-macs must be in (0, 1]"));
  opts.global = a.has("--global");
  opts.reconstruct = a.has("--reconstruct");
  std::string crit = a.get("--criterion", "l1");
  if (crit == "l1") opts.criterion = prune::Criterion::kL1;
  else if (crit == "l2") opts.criterion = prune::Criterion::kL2;
  else if (crit == "bn") opts.criterion = prune::Criterion::kBatchNorm;
  else if (crit == "activation") opts.criterion = prune::Criterion::kActivation;
  else return fail(invalid_argument("unknown --criterion '" + crit + "' (l1, l2, bn or activation)"));
  for (auto& k : a.all("--keep")) opts.keep.insert(k);
  if ((opts.reconstruct || opts.criterion == prune::Criterion::kActivation) && !a.has("--calib"))
    return fail(invalid_argument(std::string(opts.reconstruct ? "--reconstruct" : "--criterion activation") +
                                 " needs --calib DIR"));

  std::vector<prune::Sample> calib;
  if (a.has("--calib")) {
    std::vector<std::string> dirs;
    if (!(st = onnx_import::list_sample_dirs(a.get("--calib"), dirs)).is_ok()) return fail(st);
    if (dirs.empty()) return fail(invalid_argument("no samples in " + a.get("--calib")));
    for (auto& d : dirs) {
      prune::Sample s;
      if (!(st = onnx_import::load_sample_dir(d, s)).is_ok()) return fail(st);
      calib.push_back(std::move(s));
    }
  }
  std::vector<int64_t> labels;
  if (a.has("--labels")) {
    std::ifstream f(a.get("--labels"));
    if (!f) return fail(io_error("cannot read " + a.get("--labels")));
    int64_t v;
    while (f >> v) labels.push_back(v);
    if (labels.size() < calib.size())
      return fail(invalid_argument(a.get("--labels") + " has fewer labels than --calib has samples"));
  }

  ir::Graph g;
  if (!(st = onnx_import::import_model(a.positional[0], g)).is_ok()) return fail(st);
  bool has_bn = false;
  for (auto& n : g.nodes) has_bn = has_bn || n->op_type == "BatchNormalization";
  opts.reestimate_bn = a.has("--reestimate-bn") || (!calib.empty() && has_bn && !a.has("--no-reestimate-bn"));
  prune::PruneReport r;
  if (!(st = prune::prune_graph(g, opts, calib, labels, r)).is_ok()) return fail(st);
  if (!(st = onnx_import::export_model(g, out_path)).is_ok()) return fail(st);

  std::ostringstream o;
  o << "pruned " << a.positional[0] << " -> " << out_path << "\n";
  if (opts.target_macs > 0) o << "global ratio chosen for --target-macs " << opts.target_macs << ": " << r.ratio_used << "\n";
  o << "layer channels (before -> after):\n";
  for (auto& l : r.layers) o << "  " << std::left << std::setw(48) << l.node << " " << l.before << " -> " << l.after << "\n";
  auto pct = [](int64_t b, int64_t x) { return b > 0 ? 100.0 * static_cast<double>(x) / static_cast<double>(b) : 0.0; };
  o << std::fixed << std::setprecision(1);
  if (opts.heads > 0) o << "attention heads: " << r.heads_before << " -> " << r.heads_after << "\n";
  o << "MACs:       " << r.macs_before << " -> " << r.macs_after << " (" << pct(r.macs_before, r.macs_after) << "%)\n";
  o << "parameters: " << r.params_before << " -> " << r.params_after << " (" << pct(r.params_before, r.params_after)
    << "%)\n";
  if (r.has_fidelity) {
    o << "fidelity on " << r.before_reconstruction.samples << " calibration samples (vs the unpruned model):\n";
    if (r.original.accuracy >= 0) o << "  unpruned:             accuracy " << r.original.accuracy * 100 << "%\n";
    o << "  pruned:               " << fidelity_text(r.before_reconstruction) << "\n";
    if (r.bn_reestimated > 0)
      o << "  + BatchNorm re-est.:  " << fidelity_text(r.after_bn) << " (" << r.bn_reestimated << " layers)\n";
    if (opts.reconstruct) o << "  + reconstructed:      " << fidelity_text(r.after_reconstruction) << "\n";
  }
  for (auto& n : r.notes) o << "note: " << n << "\n";
  std::cout << o.str();
  if (a.has("--report")) {
    std::ofstream f(a.get("--report"));
    if (!f || !(f << o.str())) return fail(io_error("cannot write " + a.get("--report")));
  }
  return 0;
}

}  // namespace joule::cli
