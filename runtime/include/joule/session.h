// The public inference API: load a model once, run it from many threads.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "joule/status.h"
#include "joule/tensor.h"

namespace joule {

namespace ir {
struct Graph;
}

/// How a Session is built.
struct SessionOptions {
  int threads = 0;              // intra-op threads; 0 = the cores this process may use
  std::string device = "cpu";   // "cpu" (or "cuda" when built with the CUDA backend)
  std::string isa;              // "" = best the CPU has; or scalar|avx2|avx512|avx512vnni
  bool optimize = true;         // constant folding, dead-node elimination (and later fusions)
  /// Concrete shapes for inputs with symbolic dims, used for planning and MAC counts.
  std::map<std::string, Shape> input_shapes;
  /// Largest single tensor a run may allocate; protects against absurd shapes.
  uint64_t max_tensor_bytes = uint64_t{8} << 30;
  /// Keep every constant's original storage. By default a constant read only by kernels that packed it
  /// at load (MatMul/Gemm/MatMulBias B, MatMulNBits weights) is dropped after build, so weights are held
  /// once; graph() then shows such constants with their dtype and shape but no data. Set this to export
  /// or inspect the session's optimized graph with its weights.
  bool keep_constants = false;
};

/// Name, dtype and shape (-1 for symbolic dims) of a model input or output.
struct IoInfo {
  std::string name;
  DType dtype = DType::kUndefined;
  Shape shape;
  bool rank_known = false;
  std::vector<std::string> dim_params;
};

/// Facts the session computed when it was built.
struct SessionStats {
  int64_t peak_activation_bytes = -1;  // from the memory planner; -1 when shapes are dynamic
  int64_t naive_activation_bytes = -1; // sum of all activations without reuse
  int64_t constant_bytes = 0;           // all constants of the optimized graph, as loaded
  int64_t released_constant_bytes = 0;  // of those, dropped after their kernels packed them (keep_constants)
  int64_t resident_constant_bytes = 0;  // constant storage the session still holds (besides packed copies)
  size_t node_count = 0;
  std::map<std::string, std::string> kernel_for_node;  // node label -> kernel name
};

/// A loaded model. run() is const and thread-safe.
class Session {
 public:
  /// Loads an .onnx file. Throws joule::Error with a one-line message naming the file/node.
  static std::unique_ptr<Session> load(const std::string& path, const SessionOptions& options = {});
  /// Builds a session from an already imported (and possibly transformed) graph.
  static std::unique_ptr<Session> from_graph(ir::Graph graph, const SessionOptions& options = {});
  /// Status-returning variants for code that does not use exceptions.
  static Status create(const std::string& path, const SessionOptions& options, std::unique_ptr<Session>& out);
  static Status create(ir::Graph graph, const SessionOptions& options, std::unique_ptr<Session>& out);
  ~Session();

  const std::vector<IoInfo>& inputs() const;
  const std::vector<IoInfo>& outputs() const;
  const SessionStats& stats() const;

  /// Runs with inputs by name; returns outputs in model order. Throws joule::Error on bad input.
  std::vector<Tensor> run(const std::vector<std::pair<std::string, Tensor>>& inputs) const;
  /// Runs with inputs in model order.
  std::vector<Tensor> run(const std::vector<Tensor>& inputs) const;
  /// Non-throwing form.
  Status run(const std::vector<std::pair<std::string, Tensor>>& inputs, std::vector<Tensor>& outputs) const;

  /// Runs writing outputs into caller-provided tensors (IoBinding-like; for streaming / stateful models).
  /// `outputs` has one entry per model output, in model order. A defined entry whose dtype and shape
  /// match what the run produces is written in place (no allocation, no copy) and stays the same
  /// Tensor; undefined or mismatching entries are replaced by new tensors. An entry sharing storage
  /// with an input is not written in place (the result is copied into it at the end instead). To feed a
  /// recurrent state back without copies, keep two state tensors and swap them after every call.
  Status run_into(const std::vector<std::pair<std::string, Tensor>>& inputs, std::vector<Tensor>& outputs) const;

  /// The graph after optimization (read-only, for tools such as inspect).
  const ir::Graph& graph() const;

  struct Impl;

 private:
  explicit Session(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace joule
