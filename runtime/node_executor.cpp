// Per-node execution shared by sessions and constant folding.
#include "runtime/node_executor.h"

namespace joule {

Status infer_node(const ops::OpDef& op, const ir::Node& node, const std::vector<const Tensor*>& inputs,
                  std::vector<ir::TensorDesc>& outputs) {
  JOULE_RETURN_IF_ERROR(ops::check_arity(op, node));
  std::vector<ir::TensorDesc> descs(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i]) descs[i] = ir::TensorDesc::known(inputs[i]->dtype(), inputs[i]->shape());
  ops::InferContext ctx(node, std::move(descs), inputs, node.outputs.size());
  JOULE_RETURN_IF_ERROR(op.infer(ctx));
  outputs = std::move(ctx.outputs());
  return Status::ok();
}

Status HeapAllocator::allocate(size_t, DType dtype, const Shape& shape, Tensor& out) {
  int64_t n = shape_numel(shape);
  if (n < 0) return internal_error("allocation with unknown shape " + shape_to_string(shape));
  // Guard against overflow of numel * size before comparing with the limit.
  uint64_t bytes = storage_bytes(dtype, n);
  if (bytes > max_bytes || static_cast<uint64_t>(n) > max_bytes)
    return resource_limit("tensor of shape " + shape_to_string(shape) + " (" + std::string(dtype_name(dtype)) +
                          ") needs " + std::to_string(bytes) + " bytes, over the limit of " + std::to_string(max_bytes));
  out = Tensor(dtype, shape);
  return Status::ok();
}

namespace {
bool shape_overflows(const Shape& s) {
  uint64_t n = 1;
  for (int64_t d : s) {
    if (d < 0) return true;
    if (d != 0 && n > (uint64_t{1} << 62) / static_cast<uint64_t>(d)) return true;
    n *= static_cast<uint64_t>(d);
  }
  return false;
}
}  // namespace

Status execute_node(const ops::OpDef& op, const kernels::KernelDef& kernel, const void* state, const ir::Node& node,
                    const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs, ThreadPool* pool,
                    OutputAllocator& alloc, const kernels::SubgraphRunner* subgraphs) {
  if (kernel.allocates_outputs) {
    JOULE_RETURN_IF_ERROR(ops::check_arity(op, node));
    outputs.assign(node.outputs.size(), Tensor());
    kernels::KernelContext ctx{node, inputs, {}, pool, state, subgraphs};
    ctx.outputs.assign(node.outputs.size(), nullptr);
    for (size_t i = 0; i < node.outputs.size(); ++i)
      if (node.outputs[i]) ctx.outputs[i] = &outputs[i];
    JOULE_RETURN_IF_ERROR(kernel.run(ctx));
    for (size_t i = 0; i < node.outputs.size(); ++i)
      if (node.outputs[i] && !outputs[i].defined())
        return internal_error(node.label() + ": kernel left output " + std::to_string(i) + " unset");
    return Status::ok();
  }
  std::vector<ir::TensorDesc> descs;
  JOULE_RETURN_IF_ERROR(infer_node(op, node, inputs, descs));
  outputs.assign(node.outputs.size(), Tensor());
  kernels::KernelContext ctx{node, inputs, {}, pool, state, subgraphs};
  ctx.outputs.assign(node.outputs.size(), nullptr);
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    if (!node.outputs[i]) continue;
    const ir::TensorDesc& d = descs[i];
    if (d.dtype == DType::kUndefined || !d.rank_known)
      return internal_error(node.label() + ": inference left output " + std::to_string(i) + " without dtype or shape");
    if (shape_overflows(d.shape))
      return resource_limit(node.label() + ": output '" + node.outputs[i]->name + "' has an absurd shape " + shape_to_string(d.shape));
    Status st = alloc.allocate(i, d.dtype, d.shape, outputs[i]);  // the context string is built only on failure
    if (!st.is_ok()) return st.with_context(node.label() + " output '" + node.outputs[i]->name + "'");
    ctx.outputs[i] = &outputs[i];
  }
  return kernel.run(ctx);
}

}  // namespace joule
