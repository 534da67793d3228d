// Runs one node on concrete tensors: infer output shapes from the actual inputs, allocate, call the kernel.
// Used by Session::run and by constant folding, so both take the same path.
#pragma once

#include <vector>

#include "kernels/kernel_registry.h"
#include "runtime/ops/op_registry.h"

namespace joule {

/// Output descs of `node` for the given concrete inputs (nullptr = omitted).
Status infer_node(const ops::OpDef& op, const ir::Node& node, const std::vector<const Tensor*>& inputs,
                  std::vector<ir::TensorDesc>& outputs);

/// A tensor allocator: the session's arena when a plan exists, the heap otherwise.
struct OutputAllocator {
  virtual ~OutputAllocator() = default;
  /// Returns storage for output `index` of the node; `max_bytes` bounds a single tensor.
  virtual Status allocate(size_t output_index, DType dtype, const Shape& shape, Tensor& out) = 0;
};

/// Heap allocation with a size limit.
struct HeapAllocator final : OutputAllocator {
  explicit HeapAllocator(uint64_t max_bytes) : max_bytes(max_bytes) {}
  Status allocate(size_t, DType dtype, const Shape& shape, Tensor& out) override;
  uint64_t max_bytes;
};

/// Infers, allocates and runs `node` with `kernel`. `outputs` is resized to node.outputs.size().
Status execute_node(const ops::OpDef& op, const kernels::KernelDef& kernel, const void* state, const ir::Node& node,
                    const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs, ThreadPool* pool,
                    OutputAllocator& alloc, const kernels::SubgraphRunner* subgraphs = nullptr);

}  // namespace joule
