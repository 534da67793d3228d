// joule quantize MODEL -o OUT [--calib DIR] ... (also built as the standalone `quantize` binary).
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "onnx_import/onnx_import.h"
#include "quant/quantize.h"
#include "tools/cli/cli_args.h"
#include "tools/cli/commands.h"

namespace joule::cli {

int quantize_int4_command(const ParsedArgs& a);  // quantize_int4_command.cpp

namespace fs = std::filesystem;

namespace {
constexpr const char* kQuantizeHelp =
    "usage: quantize MODEL -o OUT [--calib DIR] [--method minmax|percentile|entropy|mse] [--per-tensor] [--dynamic]\n"
    "                [--keep-float NODE...] [--max-drop X] [--labels FILE] [--report FILE] (also: joule quantize)\n\n"
    "Writes an INT8 copy of MODEL as standard ONNX. Static (default): Conv/ConvTranspose/Gemm/MatMul weights int8\n"
    "per output channel, activations per tensor from calibration, QuantizeLinear/DequantizeLinear pairs (QDQ).\n"
    "Dynamic (--dynamic): MatMul/Gemm weights int8, activations quantized at run time (no calibration).\n\n"
    "  -o, --output FILE     the quantized model\n"
    "  --calib DIR           calibration samples: one subfolder per sample (as joule run --inputs reads),\n"
    "                        or <input name>.npy per input with samples along axis 0\n"
    "  --method M            activation range: minmax (default), percentile, entropy (KL) or mse\n"
    "  --percentile P        percentile for --method percentile (default 99.999)\n"
    "  --bins N              histogram bins per tensor (bounds memory; default 2048)\n"
    "  --per-tensor          one weight scale per tensor instead of per output channel\n"
    "  --int8-activations    int8 symmetric activations (default uint8 asymmetric, ORT's fast path)\n"
    "  --dynamic             dynamic quantization of MatMul/Gemm\n"
    "  --reduce-range        7-bit weights [-63, 63] (the default): u8 x s8 pair sums then fit int16, so AVX2 CPUs\n"
    "                        without VNNI run the fast vpmaddubsw kernels exactly (joule's, and ONNX Runtime's\n"
    "                        without saturation); costs one bit of weight precision\n"
    "  --full-range          8-bit weights [-127, 127]: more precise; without VNNI joule runs them on its exact\n"
    "                        int16 kernels (about half the speed) and ONNX Runtime's AVX2 kernels saturate\n"
    "  --keep-float NODE...  leave these nodes in float\n"
    "  --sensitivity         quantize one layer at a time and print the ranked error table\n"
    "  --max-drop X          keep the most sensitive layers float until the drop is at most X points:\n"
    "                        top-1 accuracy with --labels, else fidelity = 100 * cosine(FP32, INT8)\n"
    "  --labels FILE         true class per calibration sample, one per line\n"
    "  --eval-samples N      samples used for sensitivity / --max-drop (default 200)\n"
    "  --report FILE         write the summary and the sensitivity table to FILE\n\n"
    "INT4 (--int4): MatMul/Gemm constant weights in 4-bit blocks along K, written as com.microsoft MatMulNBits\n"
    "  --int4                INT4 weight-only quantization (activations stay float)\n"
    "  --block N             weights per scale: 32 (default), 64, 128 or 256\n"
    "  --method rtn|gptq     round to nearest (default), or GPTQ error compensation (needs --calib)\n"
    "  --asym                a zero point per block (default symmetric)\n"
    "  --accuracy-level L    MatMulNBits attribute: 4 (default) lets the kernels quantize activations to int8\n"
    "                        per block of K (fast GEMM for many rows); 0 keeps float activations\n"
    "  --scale-dtype fp16    fp16 scales/bias (default fp32); ONNX Runtime needs A in the scales' type, so\n"
    "                        each INT4 node runs on fp16 activations between two Casts\n"
    "  --max-drop X          keep the layers with the largest INT4 error at INT8 (--fallback float: float)\n"
    "                        until 100 * cosine(FP32, out) drops by at most X\n";

int fail(const Status& s) {
  std::cerr << "quantize: error: " << s.message() << "\n";
  return 1;
}

void progress_bar(size_t done, size_t total) {
  int w = 30, fill = total ? static_cast<int>(w * done / total) : w;
  std::fprintf(stderr, "\rcalibrating [%s%s] %zu/%zu", std::string(static_cast<size_t>(fill), '#').c_str(),
               std::string(static_cast<size_t>(w - fill), ' ').c_str(), done, total);
  if (done == total) std::fprintf(stderr, "\n");
  std::fflush(stderr);
}

Status read_labels(const std::string& path, std::vector<int64_t>& out) {
  std::ifstream f(path);
  if (!f) return io_error(path + ": cannot read labels");
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty()) continue;
    try {
      out.push_back(std::stoll(line));
    } catch (...) {
      return invalid_argument(path + ": not an integer label: '" + line + "'");
    }
  }
  return Status::ok();
}

std::string fmt(double v, int prec) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(prec) << v;
  return os.str();
}
}  // namespace

int quantize_command(int argc, char** argv) {
  ParsedArgs a;
  Status st = parse_args(argc, argv, 2, {"--help", "-h", "--per-tensor", "--dynamic", "--int8-activations", "--sensitivity", "--reduce-range",
                          "--full-range", "--int4", "--asym"},
                         {"-o", "--output", "--calib", "--method", "--percentile", "--bins", "--max-drop", "--labels",
                          "--report", "--eval-samples", "--block", "--fallback", "--accuracy-level", "--scale-dtype"},
                         {"--keep-float"}, a);
  if (!st.is_ok()) return fail(st);
  if (a.has("--help") || a.has("-h")) {
    std::cout << kQuantizeHelp;
    return 0;
  }
  if (a.has("--int4")) return quantize_int4_command(a);
  if (a.positional.size() != 1) return fail(invalid_argument("expected exactly one MODEL argument (see --help)"));
  std::string model = a.positional[0], out = a.has("-o") ? a.get("-o") : a.get("--output");
  if (out.empty()) return fail(invalid_argument("-o OUT is required"));
  quant::QuantizeOptions opts;
  opts.dynamic = a.has("--dynamic");
  opts.per_channel = !a.has("--per-tensor");
  opts.int8_activations = a.has("--int8-activations");
  if (a.has("--reduce-range") && a.has("--full-range")) return fail(invalid_argument("--reduce-range and --full-range exclude each other"));
  if (a.has("--reduce-range")) opts.reduce_range = true;
  if (a.has("--full-range")) opts.reduce_range = false;
  for (auto& k : a.all("--keep-float")) opts.keep_float.insert(k);
  if (a.has("--method") && !(st = quant::parse_calib_method(a.get("--method"), opts.observer.method)).is_ok()) return fail(st);
  int64_t v = 0;
  if (a.has("--bins")) {
    if (!(st = parse_int_option("--bins", a.get("--bins"), v)).is_ok()) return fail(st);
    opts.observer.bins = static_cast<int>(std::clamp<int64_t>(v, 16, 1 << 20));
  }
  int64_t eval_n = 200;
  if (a.has("--eval-samples") && !(st = parse_int_option("--eval-samples", a.get("--eval-samples"), eval_n)).is_ok()) return fail(st);
  double max_drop = -1;
  try {
    if (a.has("--percentile")) opts.observer.percentile = std::stod(a.get("--percentile"));
    if (a.has("--max-drop")) max_drop = std::stod(a.get("--max-drop"));
  } catch (...) {
    return fail(invalid_argument("--percentile / --max-drop take a number"));
  }
  bool want_sens = a.has("--sensitivity") || max_drop >= 0;
  if (!opts.dynamic && !a.has("--calib"))
    return fail(invalid_argument(
        "static quantization needs calibration data: pass --calib DIR (a folder of representative input samples, "
        "one subfolder per sample as `joule run --inputs` reads), or use --dynamic to quantize MatMul/Gemm "
        "activations at run time without calibration. joule does not calibrate on random noise."));
  if (want_sens && !a.has("--calib")) return fail(invalid_argument("--sensitivity / --max-drop need --calib DIR"));

  ir::Graph g;
  if (!(st = onnx_import::import_model(model, g)).is_ok()) return fail(st);
  std::vector<std::string> input_names;
  for (auto* in : g.inputs) input_names.push_back(in->name);
  std::vector<std::string> acts = quant::activations_to_calibrate(g, opts);

  quant::SampleSource samples;
  std::map<std::string, quant::Range> ranges;
  std::ostringstream rep;
  if (a.has("--calib")) {
    if (!(st = samples.open(a.get("--calib"), input_names)).is_ok()) return fail(st);
    if (!opts.dynamic) {
      std::function<void(size_t, size_t)> prog;
      if (isatty(2)) prog = progress_bar;
      if (!(st = quant::calibrate(model, acts, samples, opts.observer, ranges, prog)).is_ok()) return fail(st);
      rep << "calibrated " << ranges.size() << " activations on " << samples.size() << " samples (method "
          << quant::calib_method_name(opts.observer.method) << ")\n";
    }
  }
  std::vector<int64_t> labels;
  if (a.has("--labels") && !(st = read_labels(a.get("--labels"), labels)).is_ok()) return fail(st);

  std::map<std::string, std::string> float_reason;  // keys kept float by sensitivity
  if (want_sens) {
    std::vector<std::vector<Tensor>> ref;
    if (!(st = quant::reference_outputs(model, samples, static_cast<size_t>(eval_n), ref)).is_ok()) return fail(st);
    std::vector<quant::LayerSensitivity> sens;
    if (!(st = quant::layer_sensitivity(model, ranges, opts, samples, ref, sens)).is_ok()) return fail(st);
    rep << "\nper-layer sensitivity (one layer quantized at a time, " << ref.size() << " samples; most sensitive first)\n";
    rep << "  rank  node                                  op              SQNR dB   cosine\n";
    for (size_t i = 0; i < sens.size(); ++i)
      rep << "  " << std::setw(4) << i + 1 << "  " << std::left << std::setw(36) << sens[i].key << "  " << std::setw(14)
          << sens[i].op << std::right << std::setw(8) << fmt(sens[i].fid.sqnr_db, 2) << "  " << fmt(sens[i].fid.cosine, 6)
          << "\n";
    if (max_drop >= 0) {
      bool acc = !labels.empty();
      double base = acc ? quant::reference_accuracy(ref, labels) : 100.0;
      auto metric = [&](const quant::Fidelity& f) { return acc ? f.accuracy : 100.0 * f.cosine; };
      quant::Fidelity fid;
      size_t kept = 0;
      while (true) {
        if (!(st = quant::evaluate(model, ranges, opts, samples, ref, labels, fid)).is_ok()) return fail(st);
        double drop = base - metric(fid);
        rep << "  " << (acc ? "accuracy " : "fidelity ") << fmt(metric(fid), 3) << " (FP32 " << fmt(base, 3) << ", drop "
            << fmt(drop, 3) << ") with " << kept << " layer(s) kept float\n";
        if (drop <= max_drop || kept >= sens.size()) break;
        opts.keep_float.insert(sens[kept].key);
        float_reason[sens[kept].key] = "kept float by --max-drop (sensitivity rank " + std::to_string(kept + 1) + ")";
        ++kept;
      }
    }
  }

  quant::QuantReport qr;
  if (!(st = quant::quantize_graph(g, ranges, opts, qr)).is_ok()) return fail(st);
  std::error_code ec;
  if (fs::path(out).has_parent_path()) fs::create_directories(fs::path(out).parent_path(), ec);
  if (!(st = onnx_import::export_model(g, out)).is_ok()) return fail(st);

  rep << "\n" << (opts.dynamic ? "dynamic" : "static") << " quantization: " << qr.quantized() << " of " << qr.nodes.size()
      << " Conv/ConvTranspose/Gemm/MatMul nodes quantized; weights "
      << (opts.reduce_range ? "7-bit [-63, 63] (exact on the fast AVX2 u8 x s8 kernels; --full-range for 8-bit)"
                            : "8-bit [-127, 127] (--full-range: AVX2 CPUs without VNNI run joule's slower exact int16 kernels)")
      << "\n";
  for (auto& d : qr.nodes) {
    std::string why = d.reason;
    if (float_reason.count(d.key)) why = float_reason[d.key];
    rep << "  " << (d.quantized ? "int8   " : "float  ") << std::left << std::setw(36) << d.key << std::right << "  " << d.op
        << (d.quantized ? "" : "  (" + why + ")") << "\n";
  }
  for (auto& note : qr.notes) rep << "  note: " << note << "\n";
  auto in_size = fs::file_size(model, ec);
  auto out_size = fs::file_size(out, ec);
  rep << "size: " << in_size << " -> " << out_size << " bytes (" << fmt(in_size ? double(out_size) / double(in_size) : 0, 3)
      << "x)\nwrote " << out << "\n";
  std::cout << rep.str();
  if (a.has("--report")) {
    std::ofstream f(a.get("--report"));
    if (!f) return fail(io_error(a.get("--report") + ": cannot write report"));
    f << "joule quantize " << model << "\n" << rep.str();
  }
  return 0;
}

}  // namespace joule::cli
