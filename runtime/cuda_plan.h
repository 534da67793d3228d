// The CUDA execution of a session (SessionOptions::device == "cuda"): one stream and one cuBLAS context per
// session, every activation in device memory (the liveness planner's arena, allocated once), weights
// uploaded at build, host<->device copies only for graph inputs and outputs. Nodes without a CUDA kernel
// run on the CPU with copies around them, and are named by `joule inspect --device cuda`. After the first
// run the whole graph is captured as a CUDA graph and replayed (JOULE_CUDA_GRAPH=0 turns that off), unless
// a CPU fallback step is in it. Shapes must be static (known at build, e.g. through --shape).
//
// In builds without CUDA (JOULE_CUDA=OFF, or no toolkit) create() fails with "built without CUDA".
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "joule/status.h"
#include "joule/tensor.h"
#include "runtime/ir/graph.h"
#include "runtime/thread_pool.h"

namespace joule {

class CudaPlan {
 public:
  /// OK when this build has the CUDA backend and a device is usable; otherwise the reason
  /// ("device 'cuda': joule was built without CUDA ..." or "no CUDA device: <cudaGetErrorString>").
  static Status available();
  /// Plans `g` (optimized, shapes inferred; it must outlive the plan). Fills `kernel_names` (node label ->
  /// kernel, CPU fallbacks marked) and `cpu_fallback_nodes` (labels of nodes that run on the CPU).
  static Status create(const ir::Graph& g, std::unique_ptr<CudaPlan>& out, std::map<std::string, std::string>* kernel_names,
                       std::vector<std::string>* cpu_fallback_nodes);
  /// Which CUDA kernel would run each node of `g` (pairs of node label and kernel name, "" where the node
  /// would fall back to the CPU). A registry query: needs a CUDA build, not a device.
  static Status coverage(const ir::Graph& g, std::vector<std::pair<std::string, std::string>>& label_kernel);
  ~CudaPlan();

  /// Runs with `inputs` in graph-input order (already validated by the session); returns host outputs in
  /// graph-output order. Serialized: one run at a time per session (one stream).
  Status run(const std::vector<Tensor>& inputs, std::vector<Tensor>& outputs, ThreadPool* pool) const;

  struct Impl;

 private:
  explicit CudaPlan(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace joule
