// Op definitions for the pooling ops: MaxPool, AveragePool, LpPool and their Global* forms.
// All take X (N, C, D1..Dk) and produce Y (N, C, O1..Ok); MaxPool may add Indices (int64, same shape).
#include "runtime/ops/infer_helpers.h"
#include "runtime/ops/op_registry.h"
#include "runtime/ops/window_geometry.h"

namespace joule::ops {

namespace {

Status check_pool_input(InferContext& ctx, bool allow_int8) {
  const TensorDesc& x = ctx.input(0);
  bool ok = dtype_is_float(x.dtype) || (allow_int8 && (x.dtype == DType::kI8 || x.dtype == DType::kU8));
  if (!ok) return ctx.fail_unsupported("input dtype " + std::string(dtype_name(x.dtype)) + " is not supported");
  if (x.rank() < 3) return ctx.fail("input shape " + shape_to_string(x.shape) + " needs rank >= 3 (N, C, spatial...)");
  return Status::ok();
}

// Shared by MaxPool / AveragePool / LpPool: kernel_shape is required, ceil_mode selects rounding.
Status infer_window_pool(InferContext& ctx, bool allow_int8) {
  JOULE_RETURN_IF_ERROR(check_pool_input(ctx, allow_int8));
  const Node& node = ctx.node();
  if (!node.has_attr("kernel_shape")) return ctx.fail("kernel_shape attribute is required");
  const Shape& xs = ctx.input(0).shape;
  int64_t ceil_mode = node.attr_int("ceil_mode", 0);
  if (ceil_mode != 0 && ceil_mode != 1) return ctx.fail("ceil_mode must be 0 or 1");
  WindowGeometry g;
  std::string err = resolve_window(node, Shape(xs.begin() + 2, xs.end()), node.attr_ints("kernel_shape"),
                                   ceil_mode ? WindowRounding::kCeil : WindowRounding::kFloor, g);
  if (!err.empty()) return ctx.fail(err);
  Shape out = {xs[0], xs[1]};
  out.insert(out.end(), g.out.begin(), g.out.end());
  ctx.output(0) = TensorDesc::known(ctx.input(0).dtype, out);
  if (ctx.num_outputs() > 1) ctx.output(1) = TensorDesc::known(DType::kI64, out);
  return Status::ok();
}

Status infer_max_pool(InferContext& ctx) {
  int64_t order = ctx.node().attr_int("storage_order", 0);
  if (order != 0 && order != 1) return ctx.fail("storage_order must be 0 (row major) or 1 (column major)");
  return infer_window_pool(ctx, true);
}

Status infer_average_pool(InferContext& ctx) { return infer_window_pool(ctx, false); }

Status infer_lp_pool(InferContext& ctx) {
  if (ctx.node().attr_int("p", 2) < 1) return ctx.fail("p must be >= 1");
  return infer_window_pool(ctx, false);
}

// Global pools reduce every spatial dim to 1.
Status infer_global_pool(InferContext& ctx) {
  JOULE_RETURN_IF_ERROR(check_pool_input(ctx, ctx.node().op_type == "GlobalMaxPool"));
  if (ctx.node().op_type == "GlobalLpPool" && ctx.node().attr_int("p", 2) < 1) return ctx.fail("p must be >= 1");
  Shape out = ctx.input(0).shape;
  for (size_t i = 2; i < out.size(); ++i) out[i] = 1;
  ctx.output(0) = TensorDesc::known(ctx.input(0).dtype, out);
  return Status::ok();
}

}  // namespace

void register_pool_ops(OpRegistry& r) {
  r.add({"", "MaxPool", 1, 1, 1, 2, infer_max_pool});
  r.add({"", "AveragePool", 1, 1, 1, 1, infer_average_pool});
  r.add({"", "LpPool", 1, 1, 1, 1, infer_lp_pool});
  r.add({"", "GlobalAveragePool", 1, 1, 1, 1, infer_global_pool});
  r.add({"", "GlobalMaxPool", 1, 1, 1, 1, infer_global_pool});
  r.add({"", "GlobalLpPool", 1, 1, 1, 1, infer_global_pool});
}

}  // namespace joule::ops
