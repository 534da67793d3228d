// joule quantize MODEL -o OUT --int4 [...]: INT4 weight-only quantization (quant/int4_quantize.h) with
// MatMulNBits output, per-layer error of RTN and GPTQ, and mixed precision under --max-drop.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "joule/session.h"
#include "onnx_import/onnx_import.h"
#include "quant/int4_quantize.h"
#include "tools/cli/cli_args.h"

namespace joule::cli {

namespace fs = std::filesystem;

namespace {

int fail4(const Status& s) {
  std::cerr << "quantize: error: " << s.message() << "\n";
  return 1;
}

std::string fmt4(double v, int prec) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(prec) << v;
  return os.str();
}

void hessian_progress(size_t done, size_t total) {
  std::fprintf(stderr, "\rcollecting layer Hessians %zu/%zu", done, total);
  if (done == total) std::fprintf(stderr, "\n");
  std::fflush(stderr);
}

// INT4 everywhere but `fallback` (those get dynamic INT8 when `int8_fallback`, else stay float).
Status build_int4_graph(const std::string& model, const quant::Int4Options& opts,
                        const std::map<std::string, quant::LayerHessian>* hess, const std::set<std::string>& fallback,
                        bool int8_fallback, ir::Graph& g, quant::Int4Report& rep, quant::QuantReport& q8) {
  JOULE_RETURN_IF_ERROR(onnx_import::import_model(model, g));
  quant::Int4Options o = opts;
  o.keep_float.insert(fallback.begin(), fallback.end());
  JOULE_RETURN_IF_ERROR(quant::quantize_graph_int4(g, o, hess, rep));
  q8 = {};
  if (!int8_fallback || fallback.empty()) return Status::ok();
  quant::QuantizeOptions d;
  d.dynamic = true;
  for (auto& n : g.nodes)
    if ((n->op_type == "MatMul" || n->op_type == "Gemm") && !fallback.count(quant::node_key(g, *n)))
      d.keep_float.insert(quant::node_key(g, *n));
  return quant::quantize_graph(g, {}, d, q8);
}

// Mean over samples of the cosine similarity between all outputs of `g` and `ref`.
Status mean_cosine(ir::Graph g, const quant::SampleSource& samples, const std::vector<std::vector<Tensor>>& ref, double& out) {
  std::unique_ptr<Session> sess;
  JOULE_RETURN_IF_ERROR(Session::create(std::move(g), SessionOptions{}, sess));
  quant::NamedTensors in;
  std::vector<Tensor> res;
  double sum = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    JOULE_RETURN_IF_ERROR(samples.get(i, in));
    JOULE_RETURN_IF_ERROR(sess->run(in, res));
    double dot = 0, na = 0, nb = 0;
    for (size_t o = 0; o < res.size() && o < ref[i].size(); ++o)
      for (int64_t j = 0; j < res[o].numel() && j < ref[i][o].numel(); ++j) {
        double x = res[o].value_as_double(j), y = ref[i][o].value_as_double(j);
        dot += x * y;
        na += x * x;
        nb += y * y;
      }
    sum += na > 0 && nb > 0 ? dot / std::sqrt(na * nb) : (na == nb ? 1.0 : 0.0);
  }
  out = ref.empty() ? 1.0 : sum / static_cast<double>(ref.size());
  return Status::ok();
}

}  // namespace

int quantize_int4_command(const ParsedArgs& a) {
  Status st;
  if (a.positional.size() != 1) return fail4(invalid_argument("expected exactly one MODEL argument (see --help)"));
  std::string model = a.positional[0], out = a.has("-o") ? a.get("-o") : a.get("--output");
  if (out.empty()) return fail4(invalid_argument("-o OUT is required"));
  quant::Int4Options opts;
  opts.accuracy_level = 4;  // int8 activations in the GEMM path (see --help)
  opts.asym = a.has("--asym");
  int64_t v = 0;
  if (a.has("--block")) {
    if (!(st = parse_int_option("--block", a.get("--block"), v)).is_ok()) return fail4(st);
    if (v != 16 && v != 32 && v != 64 && v != 128 && v != 256)
      return fail4(invalid_argument("--block must be 16, 32, 64, 128 or 256, got " + a.get("--block")));
    opts.block = v;
  }
  if (a.has("--accuracy-level")) {
    if (!(st = parse_int_option("--accuracy-level", a.get("--accuracy-level"), v)).is_ok()) return fail4(st);
    if (v != 0 && v != 1 && v != 4) return fail4(invalid_argument("--accuracy-level takes 0 (float), 1 or 4 (int8 activations)"));
    opts.accuracy_level = v;
  }
  if (a.has("--method") && !(st = quant::parse_int4_method(a.get("--method"), opts.method)).is_ok()) return fail4(st);
  if (a.has("--scale-dtype")) {
    if (a.get("--scale-dtype") != "fp16" && a.get("--scale-dtype") != "fp32")
      return fail4(invalid_argument("--scale-dtype takes fp32 or fp16, got " + a.get("--scale-dtype")));
    opts.fp16_scales = a.get("--scale-dtype") == "fp16";
  }
  for (auto& k : a.all("--keep-float")) opts.keep_float.insert(k);
  int64_t eval_n = 200;
  if (a.has("--eval-samples") && !(st = parse_int_option("--eval-samples", a.get("--eval-samples"), eval_n)).is_ok())
    return fail4(st);
  double max_drop = -1;
  try {
    if (a.has("--max-drop")) max_drop = std::stod(a.get("--max-drop"));
  } catch (...) {
    return fail4(invalid_argument("--max-drop takes a number"));
  }
  const bool fallback_int8 = a.get("--fallback", "int8") != "float";
  if (a.has("--fallback") && a.get("--fallback") != "float" && a.get("--fallback") != "int8")
    return fail4(invalid_argument("--fallback takes int8 or float"));
  if (opts.method == quant::Int4Method::kGptq && !a.has("--calib"))
    return fail4(invalid_argument("--method gptq needs calibration data (--calib DIR) for the layer Hessians; "
                                  "use --method rtn to round without data"));
  if (max_drop >= 0 && !a.has("--calib")) return fail4(invalid_argument("--max-drop needs --calib DIR"));

  ir::Graph g0;
  if (!(st = onnx_import::import_model(model, g0)).is_ok()) return fail4(st);
  std::vector<std::string> input_names;
  for (auto* in : g0.inputs) input_names.push_back(in->name);
  std::vector<std::string> cands = quant::int4_candidates(g0);

  std::ostringstream rep;
  quant::SampleSource samples;
  std::map<std::string, quant::LayerHessian> hess;
  if (a.has("--calib")) {
    if (!(st = samples.open(a.get("--calib"), input_names)).is_ok()) return fail4(st);
    std::function<void(size_t, size_t)> prog;
    if (isatty(2)) prog = hessian_progress;
    if (!(st = quant::collect_hessians(model, cands, samples, 0, hess, prog)).is_ok()) return fail4(st);
    rep << "layer Hessians of " << hess.size() << " layers from " << samples.size() << " calibration samples\n";
  }

  std::set<std::string> fallback;
  ir::Graph g;
  quant::Int4Report r4;
  quant::QuantReport q8;
  if (!(st = build_int4_graph(model, opts, hess.empty() ? nullptr : &hess, fallback, fallback_int8, g, r4, q8)).is_ok())
    return fail4(st);
  if (max_drop >= 0) {
    std::vector<std::vector<Tensor>> ref;
    if (!(st = quant::reference_outputs(model, samples, static_cast<size_t>(eval_n), ref)).is_ok()) return fail4(st);
    // Sensitivity: the per-layer relative output error of the INT4 weights on the calibration data.
    std::vector<std::pair<double, std::string>> rank;
    for (auto& l : r4.layers)
      if (l.quantized) rank.emplace_back(l.err, l.key);
    std::sort(rank.rbegin(), rank.rend());
    size_t moved = 0;
    while (true) {
      ir::Graph probe;
      quant::Int4Report pr;
      quant::QuantReport pq;
      if (!(st = build_int4_graph(model, opts, &hess, fallback, fallback_int8, probe, pr, pq)).is_ok()) return fail4(st);
      double cos = 1;
      if (!(st = mean_cosine(std::move(probe), samples, ref, cos)).is_ok()) return fail4(st);
      double drop = 100.0 - 100.0 * cos;
      rep << "  fidelity " << fmt4(100.0 * cos, 3) << " (drop " << fmt4(drop, 3) << ") with " << moved << " layer(s) kept "
          << (fallback_int8 ? "INT8" : "float") << "\n";
      if (drop <= max_drop || moved >= rank.size()) break;
      fallback.insert(rank[moved++].second);
    }
    if (!(st = build_int4_graph(model, opts, &hess, fallback, fallback_int8, g, r4, q8)).is_ok()) return fail4(st);
  }
  std::error_code ec;
  if (fs::path(out).has_parent_path()) fs::create_directories(fs::path(out).parent_path(), ec);
  if (!(st = onnx_import::export_model(g, out)).is_ok()) return fail4(st);

  std::set<std::string> int8_keys;
  for (auto& d : q8.nodes)
    if (d.quantized) int8_keys.insert(d.key);
  rep << "\nINT4 weight-only quantization (MatMulNBits, block " << opts.block << ", " << (opts.asym ? "asymmetric" : "symmetric")
      << ", method " << quant::int4_method_name(opts.method) << (opts.fp16_scales ? ", fp16 scales" : "") << ", accuracy_level " << opts.accuracy_level << "): " << r4.quantized() << " of " << r4.layers.size()
      << " MatMul/Gemm nodes\n";
  rep << "  node                                  op       K x N         rel. output error (calibration data)\n"
      << "                                                               rtn        " << quant::int4_method_name(opts.method) << "\n";
  for (auto& l : r4.layers) {
    std::string kind = l.quantized ? "int4" : (int8_keys.count(l.key) ? "int8" : "float");
    rep << "  " << std::left << std::setw(6) << kind << std::setw(32) << l.key << std::setw(8) << l.op;
    if (l.quantized) {
      rep << std::setw(14) << (std::to_string(l.k) + "x" + std::to_string(l.n)) << std::right;
      if (l.err >= 0) rep << std::setw(9) << fmt4(l.err_rtn, 5) << "  " << std::setw(9) << fmt4(l.err, 5);
      rep << "\n";
    } else {
      rep << std::right << "(" << (fallback.count(l.key) ? "kept by --max-drop" : l.reason) << ")\n";
    }
  }
  const int64_t fb = r4.float_bytes(), qb = r4.int4_bytes();
  rep << "INT4 layer weight bytes: " << fb << " -> " << qb << " (" << fmt4(fb ? double(qb) / double(fb) : 0, 4) << "x)\n";
  auto in_size = fs::file_size(model, ec);
  auto out_size = fs::file_size(out, ec);
  rep << "size: " << in_size << " -> " << out_size << " bytes (" << fmt4(in_size ? double(out_size) / double(in_size) : 0, 3)
      << "x)\nwrote " << out << "\n";
  std::cout << rep.str();
  if (a.has("--report")) {
    std::ofstream f(a.get("--report"));
    if (!f) return fail4(io_error(a.get("--report") + ": cannot write report"));
    f << "joule quantize --int4 " << model << "\n" << rep.str();
  }
  return 0;
}

}  // namespace joule::cli
