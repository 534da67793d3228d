// Op definitions (arity, shape and type inference) for the nn family. Conv, pooling and
// normalization live in conv_ops.cpp, pool_ops.cpp and norm_ops.cpp; the softmax family is here.
#include <algorithm>

#include "runtime/ops/infer_helpers.h"
#include "runtime/ops/op_registry.h"

namespace joule::ops {

void register_conv_ops(OpRegistry& r);
void register_pool_ops(OpRegistry& r);
void register_norm_ops(OpRegistry& r);

namespace {

// Softmax / LogSoftmax / Hardmax: before opset 13 the input is coerced to 2-D at `axis`
// (default 1); from 13 the op works along the one dim `axis` (default -1). Output = input desc.
Status infer_softmax(InferContext& ctx) {
  const TensorDesc& x = ctx.input(0);
  if (!dtype_is_float(x.dtype))
    return ctx.fail_unsupported("input dtype " + std::string(dtype_name(x.dtype)) + " is not a float type");
  int64_t axis = ctx.node().attr_int("axis", ctx.node().opset < 13 ? 1 : -1);
  // Before 13, axis == rank is allowed (coerces to N x 1); a scalar behaves like shape [1].
  int rank = std::max(x.rank(), 1);
  bool ok = ctx.node().opset < 13 ? (axis >= -rank && axis <= rank) : normalize_axis(axis, rank).has_value();
  if (!ok) return ctx.fail("axis " + std::to_string(axis) + " is out of range for input shape " + shape_to_string(x.shape));
  ctx.output(0) = x;
  return Status::ok();
}

}  // namespace

void register_nn_ops(OpRegistry& r) {
  register_conv_ops(r);
  register_pool_ops(r);
  register_norm_ops(r);
  for (const char* op : {"Softmax", "LogSoftmax", "Hardmax"}) r.add({"", op, 1, 1, 1, 1, infer_softmax});
}

}  // namespace joule::ops
