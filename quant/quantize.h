// Post-training quantization: calibration over sample folders, a QDQ rewrite of the IR (static) or a
// DynamicQuantizeLinear + MatMulInteger rewrite (dynamic), and per-layer sensitivity analysis.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "joule/status.h"
#include "joule/tensor.h"
#include "quant/observers.h"
#include "runtime/ir/graph.h"

namespace joule::quant {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

/// Calibration samples, read one at a time (memory holds one sample, or the .npy files of the
/// batched layout). Layouts: DIR/<sample>/input_0.pb|.npy ... (what `joule run --inputs` reads), or
/// DIR/<input name>.npy per graph input with many samples along axis 0 (split into batch-1 samples).
class SampleSource {
 public:
  Status open(const std::string& dir, const std::vector<std::string>& input_names);
  size_t size() const { return count_; }
  Status get(size_t i, NamedTensors& out) const;

 private:
  std::vector<std::string> input_names_;
  std::vector<std::string> dirs_;  // per-folder layout
  std::vector<Tensor> batched_;    // batched .npy layout, one per input
  size_t count_ = 0;
};

struct QuantizeOptions {
  ObserverConfig observer;
  bool per_channel = true;        // weights per output channel (else per tensor)
  bool int8_activations = false;  // activations int8 symmetric (default uint8 asymmetric, ORT's fast path)
  bool dynamic = false;           // MatMul/Gemm only, activations quantized at run time
  bool reduce_range = true;       // 7-bit weights [-63, 63] (false: [-127, 127]): u8 x s8 pair sums fit int16, so AVX2
                                  // CPUs without VNNI run the vpmaddubsw kernels exactly (joule's and ONNX Runtime's)
  std::set<std::string> keep_float;  // node keys (see node_key) left in float
};

/// A node's name, or "<op>_<index>" when the model left it unnamed (stable across imports).
std::string node_key(const ir::Graph& g, const ir::Node& n);

/// What happened to one candidate node.
struct NodeDecision {
  std::string key, op;
  bool quantized = false;
  std::string reason;  // why it stayed float
};

struct QuantReport {
  std::vector<NodeDecision> nodes;
  std::vector<std::string> notes;  // what stays float besides candidates: recurrent weights, subgraph bodies
  size_t quantized() const;
};

/// Nodes (by key) a static or dynamic pass would consider (Conv, ConvTranspose, Gemm, MatMul).
std::vector<std::string> quantizable_nodes(const ir::Graph& g, const QuantizeOptions& opts);
/// Float activations whose ranges static quantization needs (inputs and outputs of candidates).
std::vector<std::string> activations_to_calibrate(const ir::Graph& g, const QuantizeOptions& opts);

/// Runs the model over `samples` with the named tensors added as extra outputs, feeding one
/// HistogramObserver per tensor; returns each tensor's clipping range.
Status calibrate(const std::string& model_path, const std::vector<std::string>& tensors, const SampleSource& samples,
                 const ObserverConfig& cfg, std::map<std::string, Range>& ranges,
                 const std::function<void(size_t, size_t)>& progress = {});

/// Rewrites `g` in place: QDQ pairs around candidates (static; `ranges` from calibrate) or the
/// dynamic pattern (opts.dynamic; ranges unused). Keeps graph inputs/outputs and their names.
Status quantize_graph(ir::Graph& g, const std::map<std::string, Range>& ranges, const QuantizeOptions& opts,
                      QuantReport& report);

/// Output quality of a quantized model against FP32 on the same samples.
struct Fidelity {
  double cosine = 1;     // mean over samples of the cosine similarity of all outputs
  double sqnr_db = 0;    // 10 log10(sum ref^2 / sum (ref - q)^2) over all samples
  double accuracy = -1;  // top-1 accuracy of output 0 against labels (percent), -1 without labels
  double agreement = 0;  // top-1 agreement with FP32 (percent)
};

/// FP32 reference outputs for the first `limit` samples (0 = all).
Status reference_outputs(const std::string& model_path, const SampleSource& samples, size_t limit,
                         std::vector<std::vector<Tensor>>& out);
/// Quantizes a fresh import of the model with `opts` and measures it against `ref`.
Status evaluate(const std::string& model_path, const std::map<std::string, Range>& ranges, const QuantizeOptions& opts,
                const SampleSource& samples, const std::vector<std::vector<Tensor>>& ref, const std::vector<int64_t>& labels,
                Fidelity& out);
/// Top-1 accuracy (percent) of the FP32 outputs against labels.
double reference_accuracy(const std::vector<std::vector<Tensor>>& ref, const std::vector<int64_t>& labels);

struct LayerSensitivity {
  std::string key, op;
  Fidelity fid;
};
/// Quantizes one candidate at a time; returns them most sensitive first (lowest SQNR).
Status layer_sensitivity(const std::string& model_path, const std::map<std::string, Range>& ranges,
                         const QuantizeOptions& opts, const SampleSource& samples,
                         const std::vector<std::vector<Tensor>>& ref, std::vector<LayerSensitivity>& out);

}  // namespace joule::quant
