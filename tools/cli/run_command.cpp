// joule run MODEL --inputs DIR --outputs DIR [--threads N]
#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <iostream>

#include "joule/session.h"
#include "runtime/thread_pool.h"
#include "onnx_import/onnx_import.h"
#include "onnx_import/sample_io.h"
#include "tools/cli/cli_args.h"
#include "tools/cli/commands.h"

namespace joule::cli {

namespace fs = std::filesystem;

namespace {
constexpr const char* kRunHelp =
    "usage: joule run MODEL --inputs DIR [--outputs DIR] [--threads N] [--isa LEVEL] [--repeat N] [--warmup N]\n\n"
    "Runs MODEL once on the inputs in DIR and writes output_0.pb ... (each with its output's name)\n"
    "to --outputs. DIR holds input_0.pb, input_1.pb ... (ONNX TensorProto, graph inputs in order,\n"
    "initializers excluded), input_0.npy ..., or <input name>.npy files.\n\n"
    "  --inputs DIR    folder with the inputs\n"
    "  --outputs DIR   folder for the outputs (created); without it outputs are summarised only\n"
    "  --threads N     intra-op threads (default: all cores)\n"
    "  --isa LEVEL     force scalar|avx2|avx512|avx512vnni kernels\n"
    "  --device D      cpu (default) or cuda (needs a CUDA build and a GPU; static input shapes)\n"
    "  --shape N=DIMS  bind a symbolic input shape, e.g. --shape input=1x3x224x224 (repeatable)\n"
    "  --repeat N      run N times and report the median latency and process CPU time (default 1)\n"
    "  --warmup N      untimed runs before the timed ones (default 0)\n"
    "  --keep-constants  keep the original weights that kernels packed at load (default: dropped,\n"
    "                  so weights are held once; SessionOptions::keep_constants)\n";

int fail(const Status& s) {
  std::cerr << "joule run: error: " << s.message() << "\n";
  return 1;
}
}  // namespace

int run_command(int argc, char** argv) {
  ParsedArgs a;
  Status st = parse_args(argc, argv, 2, {"--help", "-h", "--keep-constants"}, {"--inputs", "--outputs", "--threads", "--isa", "--repeat", "--warmup", "--device", "--shape"}, {}, a);
  if (!st.is_ok()) return fail(st);
  if (a.has("--help") || a.has("-h")) {
    std::cout << kRunHelp;
    return 0;
  }
  if (a.positional.size() != 1) return fail(invalid_argument("expected exactly one MODEL argument (see --help)"));
  if (!a.has("--inputs")) return fail(invalid_argument("--inputs DIR is required"));
  SessionOptions opts;
  int64_t v = 0;
  if (a.has("--threads")) {
    if (!(st = parse_int_option("--threads", a.get("--threads"), v)).is_ok()) return fail(st);
    opts.threads = static_cast<int>(v);
  }
  int64_t repeat = 1;
  if (a.has("--repeat") && !(st = parse_int_option("--repeat", a.get("--repeat"), repeat)).is_ok()) return fail(st);
  if (repeat < 1) repeat = 1;
  int64_t warmup = 0;
  if (a.has("--warmup") && !(st = parse_int_option("--warmup", a.get("--warmup"), warmup)).is_ok()) return fail(st);
  opts.isa = a.get("--isa");
  opts.keep_constants = a.has("--keep-constants");
  opts.device = a.get("--device", "cpu");  // cuda: runtime/cuda_plan.h (static shapes)
  for (const std::string& sh : a.all("--shape")) {  // binds symbolic input dims (the CUDA path needs them)
    std::string name;
    Shape shape;
    if (!(st = parse_shape_arg(sh, name, shape)).is_ok()) return fail(st);
    opts.input_shapes[name] = shape;
  }
  std::unique_ptr<Session> sess;
  auto t0 = std::chrono::steady_clock::now();
  if (!(st = Session::create(a.positional[0], opts, sess)).is_ok()) return fail(st);
  auto t1 = std::chrono::steady_clock::now();

  std::vector<std::pair<std::string, Tensor>> inputs;
  if (!(st = onnx_import::load_sample_dir(a.get("--inputs"), inputs)).is_ok()) return fail(st);
  const auto& model_inputs = sess->inputs();
  bool positional = true;
  for (auto& [name, t] : inputs)
    for (auto& io : model_inputs)
      if (!name.empty() && name == io.name) positional = false;
  if (positional) {
    if (inputs.size() != model_inputs.size())
      return fail(invalid_argument(a.get("--inputs") + ": has " + std::to_string(inputs.size()) + " inputs, the model takes " +
                                   std::to_string(model_inputs.size())));
    for (size_t i = 0; i < inputs.size(); ++i) inputs[i].first = model_inputs[i].name;
  }
  std::vector<Tensor> outs;
  std::vector<double> ms, cpu_ms;
  // Process CPU time beside wall time: a wall median far above the CPU median means the run waited for a core
  // (other processes on a loaded machine), not work inside joule.
  auto cpu_now = [] {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) * 1e-6;
  };
  for (int64_t w = 0; w < warmup; ++w)
    if (!(st = sess->run(inputs, outs)).is_ok()) return fail(st.with_context(a.positional[0]));
  for (int64_t r = 0; r < repeat; ++r) {
    const double c0 = cpu_now();
    auto s0 = std::chrono::steady_clock::now();
    if (!(st = sess->run(inputs, outs)).is_ok()) return fail(st.with_context(a.positional[0]));
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - s0).count());
    cpu_ms.push_back(cpu_now() - c0);
  }
  std::sort(ms.begin(), ms.end());
  std::sort(cpu_ms.begin(), cpu_ms.end());
  if (a.has("--outputs")) {
    std::error_code ec;
    fs::create_directories(a.get("--outputs"), ec);
    if (ec) return fail(io_error(a.get("--outputs") + ": cannot create folder"));
  }
  for (size_t i = 0; i < outs.size(); ++i) {
    const std::string& name = sess->outputs()[i].name;
    std::cout << "output " << i << " '" << name << "': " << dtype_name(outs[i].dtype()) << " " << shape_to_string(outs[i].shape());
    int64_t show = std::min<int64_t>(outs[i].numel(), 8);
    if (show > 0 && outs[i].dtype() != DType::kU4 && outs[i].dtype() != DType::kI4) {
      std::cout << " [";
      for (int64_t k = 0; k < show; ++k) std::cout << (k ? ", " : "") << outs[i].value_as_double(k);
      std::cout << (outs[i].numel() > show ? ", ...]" : "]");
    }
    std::cout << "\n";
    if (a.has("--outputs")) {
      std::string path = (fs::path(a.get("--outputs")) / ("output_" + std::to_string(i) + ".pb")).string();
      if (!(st = onnx_import::save_tensor_pb(outs[i], name, path)).is_ok()) return fail(st);
    }
  }
  std::cout << "load " << std::chrono::duration<double, std::milli>(t1 - t0).count() << " ms, run "
            << (repeat > 1 ? "median " : "") << ms[ms.size() / 2] << " ms (" << repeat << " run" << (repeat > 1 ? "s" : "")
            << ", " << (opts.threads ? opts.threads : default_thread_count()) << " threads, cpu "
            << (repeat > 1 ? "median " : "") << cpu_ms[cpu_ms.size() / 2] << " ms)\n";
  return 0;
}

}  // namespace joule::cli
