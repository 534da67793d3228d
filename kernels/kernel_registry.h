// Kernel registry keyed by {domain, op, device, isa}: the session asks it for the best kernel
// a node's dtypes, the device and the CPU allow. Reference kernels are the oracle for the rest.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/cpu_features.h"
#include "runtime/ir/graph.h"
#include "runtime/thread_pool.h"

namespace joule::kernels {

using ir::Node;
using ir::TensorDesc;

enum class Device { kCpu = 0, kCuda = 1 };

/// Runs the body graphs (If branches, Loop/Scan bodies) of the node being executed. Implemented by the
/// session: bodies are prepared once at build; outer-scope values resolve from the enclosing runs' live
/// tensors (nested to any depth). Outputs never alias the body's inputs or outer values (they are copied).
class SubgraphRunner {
 public:
  virtual ~SubgraphRunner() = default;
  /// Runs `body` (a graph attribute of the running node) with `inputs` bound to its inputs in order.
  virtual Status run(const ir::Graph& body, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) const = 0;
  /// The per-tensor allocation limit of the session, for kernels that grow outputs (Loop scan outputs).
  virtual uint64_t max_tensor_bytes() const = 0;
};

/// What a kernel sees when it runs: inputs (nullptr where an optional input is omitted),
/// outputs already allocated with their inferred dtype and shape, the pool, and prepared state.
struct KernelContext {
  const Node& node;
  std::vector<const Tensor*> inputs;
  std::vector<Tensor*> outputs;  // nullptr where an optional output is omitted
  ThreadPool* pool = nullptr;
  const void* state = nullptr;   // from KernelDef::prepare, or null
  const SubgraphRunner* subgraphs = nullptr;  // set for nodes with graph attributes
  void* device = nullptr;  // Device::kCuda kernels: the session's cuda::CudaContext (stream, cuBLAS handles)

  size_t num_inputs() const { return inputs.size(); }
  bool has_input(size_t i) const { return i < inputs.size() && inputs[i] != nullptr; }
  const Tensor& in(size_t i) const { return *inputs[i]; }
  bool has_output(size_t i) const { return i < outputs.size() && outputs[i] != nullptr; }
  Tensor& out(size_t i) { return *outputs[i]; }
  Status fail(const std::string& msg) const { return invalid_argument(node.label() + ": " + msg); }
  Status fail_unsupported(const std::string& msg) const { return unsupported(node.label() + ": " + msg); }
};

/// Information available when choosing and preparing a kernel (once, at session build).
struct KernelQuery {
  const Node& node;
  std::vector<TensorDesc> inputs;             // inferred descs (dtype always known)
  std::vector<const Tensor*> constant_inputs;  // constant values (weights) or nullptr
};

using KernelFn = Status (*)(KernelContext&);
/// Optional: packs weights / precomputes constants; the returned state is shared by all runs.
using PrepareFn = Status (*)(const KernelQuery&, std::shared_ptr<const void>& state);
/// Optional: returns false when this kernel cannot handle the node (dtype, attribute...).
using AcceptsFn = bool (*)(const KernelQuery&);

struct KernelDef {
  std::string domain;  // "" for ai.onnx
  std::string op_type;
  std::string name;    // e.g. "conv_f32__ref", "gemm_f32_6x16__avx2"
  Device device = Device::kCpu;
  Isa isa = Isa::kScalar;
  int priority = 0;    // higher wins among acceptable kernels; reference kernels use 0
  AcceptsFn accepts = nullptr;
  PrepareFn prepare = nullptr;
  KernelFn run = nullptr;
  /// The kernel assigns its outputs itself (ctx.out(i) = tensor) instead of receiving them allocated:
  /// for control flow, whose output shapes are known only after running a body.
  bool allocates_outputs = false;
  /// Bit i set: once prepare() has returned a non-null state, run() never reads the data of constant
  /// input i (only its dtype and shape): prepare packed it into the state, and no run-time path (other
  /// shapes, a fallback to another kernel) goes back to the original. When every reader of a constant
  /// says so, the session drops the constant's storage after build (release_packed_constants in
  /// runtime/graph_plan.h). Leave it 0 for a kernel that may read the original at run time.
  uint32_t packed_inputs = 0;
  /// run() writes every element of each output it is handed and never reads one first, on every path
  /// (fallbacks included), so the session need not zero the buffer beforehand.
  bool overwrites_outputs = false;
};

/// `def` with KernelDef::packed_inputs = `mask` (for registrations written as aggregate initialisers).
inline KernelDef with_packed_inputs(KernelDef def, uint32_t mask) {
  def.packed_inputs = mask;
  return def;
}

/// Immutable after construction.
class KernelRegistry {
 public:
  void add(KernelDef def);
  /// Best kernel for the query on `device` whose ISA is <= `max_isa`; nullptr if none.
  const KernelDef* select(const KernelQuery& q, Device device, Isa max_isa) const;
  /// The reference (scalar, priority 0) kernel for an op, for oracle tests.
  const KernelDef* reference(std::string_view domain, std::string_view op_type) const;
  std::vector<const KernelDef*> all() const;
  bool has_op(std::string_view domain, std::string_view op_type) const;
  static const KernelRegistry& builtin();

 private:
  std::map<std::pair<std::string, std::string>, std::vector<KernelDef>> defs_;
};

// One registration function per reference family (kernels/ref/<family>.cpp).
void register_ref_elementwise(KernelRegistry& r);
void register_ref_activation(KernelRegistry& r);
void register_ref_nn(KernelRegistry& r);
void register_ref_linalg(KernelRegistry& r);
void register_ref_reduce(KernelRegistry& r);
void register_ref_shape(KernelRegistry& r);
void register_ref_index(KernelRegistry& r);
void register_ref_resize_pad(KernelRegistry& r);
void register_ref_quant(KernelRegistry& r);
void register_ref_control(KernelRegistry& r);
void register_ref_rnn(KernelRegistry& r);
void register_ref_matmul_nbits(KernelRegistry& r);  // com.microsoft MatMulNBits
// Optimized CPU kernels (kernels/cpu/), registered only when built with SIMD.
void register_cpu_kernels(KernelRegistry& r);
// CUDA kernels (kernels/cuda/), registered only when built with JOULE_CUDA.
void register_cuda_kernels(KernelRegistry& r);

}  // namespace joule::kernels
