// Calibration and evaluation: sample sources, activation statistics through extra graph outputs,
// FP32-vs-quantized fidelity, and per-layer sensitivity.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>

#include "joule/session.h"
#include "onnx_import/onnx_import.h"
#include "onnx_import/sample_io.h"
#include "quant/quantize.h"

namespace joule::quant {

namespace fs = std::filesystem;

Status SampleSource::open(const std::string& dir, const std::vector<std::string>& input_names) {
  input_names_ = input_names;
  dirs_.clear();
  batched_.clear();
  count_ = 0;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return io_error(dir + ": calibration folder not found");
  // Batched layout: <input name>.npy for every input, directly in `dir`.
  bool batched = !input_names.empty();
  for (auto& n : input_names) batched = batched && fs::exists(fs::path(dir) / (n + ".npy"), ec);
  if (batched) {
    int64_t n0 = -1;
    for (auto& n : input_names) {
      Tensor t;
      JOULE_RETURN_IF_ERROR(onnx_import::load_npy((fs::path(dir) / (n + ".npy")).string(), t));
      if (t.shape().empty()) return invalid_argument(dir + "/" + n + ".npy: a batched sample file needs a batch axis");
      if (n0 >= 0 && t.shape()[0] != n0) return invalid_argument(dir + ": .npy files disagree on the number of samples");
      n0 = t.shape()[0];
      batched_.push_back(std::move(t));
    }
    count_ = static_cast<size_t>(n0);
    return Status::ok();
  }
  JOULE_RETURN_IF_ERROR(onnx_import::list_sample_dirs(dir, dirs_));
  count_ = dirs_.size();
  if (count_ == 0) return invalid_argument(dir + ": no samples found");
  return Status::ok();
}

Status SampleSource::get(size_t i, NamedTensors& out) const {
  out.clear();
  if (i >= count_) return invalid_argument("sample index out of range");
  if (!batched_.empty()) {
    // Sample i of each batched tensor, keeping a batch axis of 1.
    for (size_t k = 0; k < batched_.size(); ++k) {
      const Tensor& b = batched_[k];
      Shape s = b.shape();
      s[0] = 1;
      Tensor t(b.dtype(), s);
      size_t bytes = t.nbytes();
      std::memcpy(t.raw(), static_cast<const char*>(b.raw()) + i * bytes, bytes);
      out.emplace_back(input_names_[k], std::move(t));
    }
    return Status::ok();
  }
  JOULE_RETURN_IF_ERROR(onnx_import::load_sample_dir(dirs_[i], out));
  bool named = true;
  for (auto& [n, t] : out) named = named && std::find(input_names_.begin(), input_names_.end(), n) != input_names_.end();
  if (!named) {  // positional: files feed inputs in order
    if (out.size() != input_names_.size())
      return invalid_argument(dirs_[i] + ": has " + std::to_string(out.size()) + " inputs, the model takes " +
                              std::to_string(input_names_.size()));
    for (size_t k = 0; k < out.size(); ++k) out[k].first = input_names_[k];
  }
  return Status::ok();
}

Status calibrate(const std::string& model_path, const std::vector<std::string>& tensors, const SampleSource& samples,
                 const ObserverConfig& cfg, std::map<std::string, Range>& ranges,
                 const std::function<void(size_t, size_t)>& progress) {
  ir::Graph g;
  JOULE_RETURN_IF_ERROR(onnx_import::import_model(model_path, g));
  size_t first = g.outputs.size();
  std::vector<std::string> observed;
  for (auto& name : tensors) {
    ir::Value* v = g.find_value(name);
    if (!v) return invalid_argument(model_path + ": no tensor named '" + name + "' to calibrate");
    g.outputs.push_back(v);  // a value may appear twice; the session returns it twice
    observed.push_back(name);
  }
  std::unique_ptr<Session> sess;
  JOULE_RETURN_IF_ERROR(Session::create(std::move(g), SessionOptions{}, sess));
  std::vector<HistogramObserver> obs(observed.size(), HistogramObserver(cfg));
  std::vector<bool> is_float(observed.size(), true);
  NamedTensors in;
  std::vector<Tensor> out;
  for (size_t i = 0; i < samples.size(); ++i) {
    JOULE_RETURN_IF_ERROR(samples.get(i, in));
    JOULE_RETURN_IF_ERROR(sess->run(in, out).with_context(model_path));
    for (size_t k = 0; k < observed.size(); ++k) {
      const Tensor& t = out[first + k];
      if (t.dtype() != DType::kF32) is_float[k] = false;
      else obs[k].observe(t.data<float>(), t.numel());
    }
    if (progress) progress(i + 1, samples.size());
  }
  ranges.clear();
  for (size_t k = 0; k < observed.size(); ++k)
    if (is_float[k] && !obs[k].empty()) ranges[observed[k]] = obs[k].range();
  return Status::ok();
}

namespace {

Status run_all(const Session& sess, const SampleSource& samples, size_t limit, std::vector<std::vector<Tensor>>& out) {
  size_t n = limit ? std::min(limit, samples.size()) : samples.size();
  out.assign(n, {});
  NamedTensors in;
  for (size_t i = 0; i < n; ++i) {
    JOULE_RETURN_IF_ERROR(samples.get(i, in));
    JOULE_RETURN_IF_ERROR(sess.run(in, out[i]));
  }
  return Status::ok();
}

int64_t argmax(const Tensor& t) {
  int64_t best = 0;
  for (int64_t i = 1; i < t.numel(); ++i)
    if (t.value_as_double(i) > t.value_as_double(best)) best = i;
  return best;
}

}  // namespace

Status reference_outputs(const std::string& model_path, const SampleSource& samples, size_t limit,
                         std::vector<std::vector<Tensor>>& out) {
  std::unique_ptr<Session> sess;
  JOULE_RETURN_IF_ERROR(Session::create(model_path, SessionOptions{}, sess));
  return run_all(*sess, samples, limit, out);
}

double reference_accuracy(const std::vector<std::vector<Tensor>>& ref, const std::vector<int64_t>& labels) {
  if (labels.empty() || ref.empty()) return -1;
  size_t n = std::min(ref.size(), labels.size()), hit = 0;
  for (size_t i = 0; i < n; ++i) hit += argmax(ref[i][0]) == labels[i];
  return 100.0 * static_cast<double>(hit) / static_cast<double>(n);
}

Status evaluate(const std::string& model_path, const std::map<std::string, Range>& ranges, const QuantizeOptions& opts,
                const SampleSource& samples, const std::vector<std::vector<Tensor>>& ref, const std::vector<int64_t>& labels,
                Fidelity& out) {
  ir::Graph g;
  JOULE_RETURN_IF_ERROR(onnx_import::import_model(model_path, g));
  QuantReport rep;
  JOULE_RETURN_IF_ERROR(quantize_graph(g, ranges, opts, rep));
  std::unique_ptr<Session> sess;
  JOULE_RETURN_IF_ERROR(Session::create(std::move(g), SessionOptions{}, sess));
  std::vector<std::vector<Tensor>> got;
  JOULE_RETURN_IF_ERROR(run_all(*sess, samples, ref.size(), got));
  double sig = 0, noise = 0, cos_sum = 0;
  size_t hit = 0, agree = 0, nl = std::min(labels.size(), got.size());
  for (size_t i = 0; i < got.size(); ++i) {
    double dot = 0, na = 0, nb = 0;
    for (size_t k = 0; k < got[i].size() && k < ref[i].size(); ++k) {
      const Tensor &a = ref[i][k], &b = got[i][k];
      if (a.numel() != b.numel() || !dtype_is_float(a.dtype())) continue;
      for (int64_t j = 0; j < a.numel(); ++j) {
        double x = a.value_as_double(j), y = b.value_as_double(j);
        dot += x * y, na += x * x, nb += y * y, sig += x * x, noise += (x - y) * (x - y);
      }
    }
    cos_sum += (na > 0 && nb > 0) ? dot / std::sqrt(na * nb) : (na == nb ? 1.0 : 0.0);
    int64_t p = argmax(got[i][0]);
    agree += p == argmax(ref[i][0]);
    if (i < nl) hit += p == labels[i];
  }
  size_t n = std::max<size_t>(got.size(), 1);
  out.cosine = cos_sum / static_cast<double>(n);
  out.sqnr_db = noise > 0 ? 10 * std::log10(sig / noise) : 200.0;
  out.agreement = 100.0 * static_cast<double>(agree) / static_cast<double>(n);
  out.accuracy = nl ? 100.0 * static_cast<double>(hit) / static_cast<double>(nl) : -1;
  return Status::ok();
}

Status layer_sensitivity(const std::string& model_path, const std::map<std::string, Range>& ranges,
                         const QuantizeOptions& opts, const SampleSource& samples,
                         const std::vector<std::vector<Tensor>>& ref, std::vector<LayerSensitivity>& out) {
  ir::Graph g;
  JOULE_RETURN_IF_ERROR(onnx_import::import_model(model_path, g));
  std::vector<std::string> cands = quantizable_nodes(g, opts);
  std::map<std::string, std::string> op_of;
  for (auto& n : g.nodes) op_of[node_key(g, *n)] = n->op_type;
  out.clear();
  for (auto& key : cands) {
    if (opts.keep_float.count(key)) continue;
    QuantizeOptions one = opts;
    for (auto& other : cands)
      if (other != key) one.keep_float.insert(other);
    LayerSensitivity ls{key, op_of[key], {}};
    JOULE_RETURN_IF_ERROR(evaluate(model_path, ranges, one, samples, ref, {}, ls.fid));
    out.push_back(ls);
  }
  std::stable_sort(out.begin(), out.end(), [](const LayerSensitivity& a, const LayerSensitivity& b) { return a.fid.sqnr_db < b.fid.sqnr_db; });
  return Status::ok();
}

}  // namespace joule::quant
