// Helpers for the end-to-end tests (see e2e_util.h).
#include "tests/e2e/e2e_util.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "joule/session.h"
#include "onnx_import/onnx_import.h"

namespace fs = std::filesystem;

namespace joule::e2e {

const char* const kSourceDir = JOULE_SOURCE_DIR;
const char* const kBinaryDir = JOULE_BINARY_DIR;
const char* const kE2eModelsDir = JOULE_E2E_MODELS_DIR;
const char* const kDemoDir = JOULE_DEMO_DIR;

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool models_available(std::string& why) {
  fs::path dir(kE2eModelsDir);
  if (fs::exists(dir / "unavailable.txt")) {
    why = "e2e models not generated: " + read_text((dir / "unavailable.txt").string());
    return false;
  }
  if (!fs::exists(dir / "manifest.txt")) {
    why = std::string("e2e models not generated (needs /usr/bin/python3 with python3-torch and python3-onnx): run ctest, "
                      "or /usr/bin/python3 ") + kSourceDir + "/tests/models/make_e2e_models.py --out " + kE2eModelsDir;
    return false;
  }
  return true;
}

bool ort_peer_available(std::string& why) {
  fs::path pkg = fs::path(kSourceDir) / "bench/peer/node_modules/onnxruntime-node/package.json";
  if (!fs::exists(pkg)) {
    why = "ORT peer not installed: run bench/peer/install_ort.sh";
    return false;
  }
  if (std::system("node --version > /dev/null 2>&1") != 0) {
    why = "ORT peer not usable: node is not on PATH";
    return false;
  }
  return true;
}

namespace {

std::string load_indexed(const fs::path& dir, const std::string& prefix, const std::string& suffix, std::vector<Tensor>& out,
                         std::vector<std::string>* names) {
  for (int i = 0;; ++i) {
    fs::path p = dir / (prefix + std::to_string(i) + suffix);
    if (!fs::exists(p)) break;
    Tensor t;
    std::string name;
    Status st = onnx_import::load_tensor_pb(p.string(), t, &name);
    if (!st.is_ok()) return st.message();
    out.push_back(std::move(t));
    if (names) names->push_back(name);
  }
  return "";
}

}  // namespace

std::string load_case(const std::string& model_dir, TestCase& out, const std::string& set) {
  fs::path data = fs::path(model_dir) / set;
  std::vector<Tensor> ins;
  std::vector<std::string> names;
  std::string err = load_indexed(data, "input_", ".pb", ins, &names);
  if (err.empty()) err = load_indexed(data, "output_", ".pb", out.ref32, nullptr);
  if (err.empty()) err = load_indexed(data, "output_", "_f64.pb", out.ref64, nullptr);
  if (!err.empty()) return err;
  if (ins.empty() || out.ref64.empty() || out.ref32.size() != out.ref64.size())
    return data.string() + ": expected input_K.pb, output_K.pb and output_K_f64.pb files";
  for (size_t i = 0; i < ins.size(); ++i) out.inputs.emplace_back(names[i], ins[i]);
  return "";
}

std::string run_joule(const std::string& model, const NamedTensors& inputs, int threads, std::vector<Tensor>& outs) {
  SessionOptions opts;
  opts.threads = threads;
  std::unique_ptr<Session> sess;
  Status st = Session::create(model, opts, sess);
  if (!st.is_ok()) return "load failed: " + st.message();
  st = sess->run(inputs, outs);
  if (!st.is_ok()) return "run failed: " + st.message();
  return "";
}

std::string run_ort_peer(const std::string& model, const std::string& inputs_dir, const std::string& out_dir, size_t n_outputs,
                         std::vector<Tensor>& outs) {
  std::error_code ec;
  fs::remove_all(out_dir, ec);
  fs::create_directories(out_dir, ec);
  std::string log = out_dir + "/ort_run.log";
  std::string cmd = "node '" + (fs::path(kSourceDir) / "bench/peer/ort_run.js").string() + "' '" + model + "' --inputs '" +
                    inputs_dir + "' --outputs '" + out_dir + "' --threads 1 > '" + log + "' 2>&1";
  if (std::system(cmd.c_str()) != 0) return "ORT peer failed: " + cmd + "\n" + read_text(log);
  std::vector<Tensor> all;
  std::string err = load_indexed(out_dir, "output_", ".pb", all, nullptr);
  if (!err.empty()) return err;
  if (all.size() != n_outputs)
    return "ORT peer wrote " + std::to_string(all.size()) + " outputs, expected " + std::to_string(n_outputs);
  outs = std::move(all);
  return "";
}

bool Comparison::ok(double rel, double min_cosine) const {
  return mismatch.empty() && !nonfinite && max_abs_err <= rel * std::max(1.0, ref_max_abs) && cosine >= min_cosine;
}

std::string Comparison::summary() const {
  if (!mismatch.empty()) return mismatch;
  std::ostringstream os;
  os.precision(3);
  os << std::scientific << "max_abs_err " << max_abs_err << " (limit " << 1e-4 * std::max(1.0, ref_max_abs)
     << "), max|ref| " << ref_max_abs << ", cosine " << std::fixed;
  os.precision(9);
  os << cosine;
  if (worst_index >= 0) {
    os.precision(7);
    os << ", worst at " << worst_index << ": got " << got_at_worst << " ref " << ref_at_worst;
  }
  if (nonfinite) os << ", got NaN/Inf where the reference is finite";
  return os.str();
}

Comparison compare_to_reference(const Tensor& got, const Tensor& ref) {
  Comparison c;
  if (got.shape() != ref.shape()) {
    c.mismatch = "shape " + shape_to_string(got.shape()) + " != reference " + shape_to_string(ref.shape());
    return c;
  }
  if (!dtype_is_float(got.dtype()) || !dtype_is_float(ref.dtype())) {
    c.mismatch = "dtype " + std::string(dtype_name(got.dtype())) + " vs reference " + std::string(dtype_name(ref.dtype())) +
                 ": float outputs expected";
    return c;
  }
  double dot = 0, gg = 0, rr = 0;
  for (int64_t i = 0; i < ref.numel(); ++i) {
    double g = got.value_as_double(i), r = ref.value_as_double(i);
    if (!std::isfinite(g) && std::isfinite(r)) c.nonfinite = true;
    double e = std::fabs(g - r);
    if (e > c.max_abs_err || (std::isnan(e) && c.worst_index < 0)) {
      c.max_abs_err = std::isnan(e) ? INFINITY : e;
      c.worst_index = i;
      c.got_at_worst = g;
      c.ref_at_worst = r;
    }
    c.ref_max_abs = std::max(c.ref_max_abs, std::fabs(r));
    dot += g * r;
    gg += g * g;
    rr += r * r;
  }
  if (gg > 0 && rr > 0) c.cosine = dot / std::sqrt(gg * rr);
  else c.cosine = (gg == 0 && rr == 0) ? 1.0 : 0.0;
  return c;
}

Tensor to_double(const Tensor& t) {
  Tensor out(DType::kF64, t.shape());
  for (int64_t i = 0; i < t.numel(); ++i) out.data<double>()[i] = t.value_as_double(i);
  return out;
}

int64_t first_bitwise_difference(const Tensor& a, const Tensor& b) {
  size_t es = dtype_size(a.dtype());
  if (es == 0 || a.dtype() != b.dtype() || a.numel() != b.numel()) return 0;
  const char* pa = static_cast<const char*>(a.raw());
  const char* pb = static_cast<const char*>(b.raw());
  for (int64_t i = 0; i < a.numel(); ++i)
    if (std::memcmp(pa + i * es, pb + i * es, es) != 0) return i;
  return -1;
}

Tensor slice_flat(const Tensor& t, int64_t offset, int64_t n) {
  size_t es = dtype_size(t.dtype());
  if (es == 0 || offset < 0 || n < 0 || offset + n > t.numel()) return Tensor();
  Tensor out(t.dtype(), {n});
  std::memcpy(out.raw(), static_cast<const char*>(t.raw()) + offset * static_cast<int64_t>(es), static_cast<size_t>(n) * es);
  return out;
}

}  // namespace joule::e2e
