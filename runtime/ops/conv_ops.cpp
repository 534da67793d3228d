// Op definitions for Conv and ConvTranspose: arity, channel/group validation and output shapes.
//
// Conv:          X (N, C, D1..Dk), W (M, C/group, k1..kk), B (M)   -> Y (N, M, O1..Ok)
// ConvTranspose: X (N, C, D1..Dk), W (C, M/group, k1..kk), B (M)   -> Y (N, M, O1..Ok)
#include "runtime/ops/infer_helpers.h"
#include "runtime/ops/op_registry.h"
#include "runtime/ops/window_geometry.h"

namespace joule::ops {

namespace {

std::string dims_string(const Shape& s) { return shape_to_string(s); }

// Checks dtypes and ranks shared by Conv and ConvTranspose; fills `group` and the kernel shape.
Status check_conv_common(InferContext& ctx, int64_t& group, std::vector<int64_t>& kernel) {
  const TensorDesc& x = ctx.input(0);
  const TensorDesc& w = ctx.input(1);
  if (!dtype_is_float(x.dtype))
    return ctx.fail_unsupported("input dtype " + std::string(dtype_name(x.dtype)) + " is not a float type");
  if (w.dtype != x.dtype)
    return ctx.fail("weight dtype " + std::string(dtype_name(w.dtype)) + " differs from input dtype " +
                    std::string(dtype_name(x.dtype)));
  if (x.rank() < 3) return ctx.fail("input shape " + dims_string(x.shape) + " needs rank >= 3 (N, C, spatial...)");
  if (w.rank() != x.rank())
    return ctx.fail("weight shape " + dims_string(w.shape) + " must have the same rank as input shape " + dims_string(x.shape));
  group = ctx.node().attr_int("group", 1);
  if (group < 1) return ctx.fail("group " + std::to_string(group) + " must be >= 1");
  kernel.assign(w.shape.begin() + 2, w.shape.end());
  if (ctx.node().has_attr("kernel_shape") && ctx.node().attr_ints("kernel_shape") != kernel)
    return ctx.fail("kernel_shape attribute does not match the weight shape " + dims_string(w.shape));
  return Status::ok();
}

Status check_bias(InferContext& ctx, int64_t m) {
  if (!ctx.has_input(2)) return Status::ok();
  const TensorDesc& b = ctx.input(2);
  if (b.dtype != ctx.input(0).dtype) return ctx.fail("bias dtype " + std::string(dtype_name(b.dtype)) + " differs from input dtype");
  if (b.rank() != 1 || b.shape[0] != m)
    return ctx.fail("bias shape " + dims_string(b.shape) + " should be (" + std::to_string(m) + ") for " + std::to_string(m) +
                    " output channels");
  return Status::ok();
}

Status infer_conv(InferContext& ctx) {
  int64_t group = 1;
  std::vector<int64_t> kernel;
  JOULE_RETURN_IF_ERROR(check_conv_common(ctx, group, kernel));
  const Shape& xs = ctx.input(0).shape;
  const Shape& ws = ctx.input(1).shape;
  int64_t c = xs[1], m = ws[0];
  if (c % group != 0)
    return ctx.fail("group " + std::to_string(group) + " does not divide the " + std::to_string(c) + " input channels");
  if (ws[1] * group != c)
    return ctx.fail("weight shape " + dims_string(ws) + " expects " + std::to_string(ws[1] * group) + " input channels (" +
                    std::to_string(ws[1]) + " per group x group " + std::to_string(group) + ") but input shape " +
                    dims_string(xs) + " has " + std::to_string(c));
  if (m % group != 0)
    return ctx.fail("group " + std::to_string(group) + " does not divide the " + std::to_string(m) + " output channels");
  JOULE_RETURN_IF_ERROR(check_bias(ctx, m));
  WindowGeometry g;
  std::string err = resolve_window(ctx.node(), Shape(xs.begin() + 2, xs.end()), kernel, WindowRounding::kFloor, g);
  if (!err.empty()) return ctx.fail(err);
  Shape out = {xs[0], m};
  out.insert(out.end(), g.out.begin(), g.out.end());
  ctx.output(0) = TensorDesc::known(ctx.input(0).dtype, out);
  return Status::ok();
}

Status infer_conv_transpose(InferContext& ctx) {
  int64_t group = 1;
  std::vector<int64_t> kernel;
  JOULE_RETURN_IF_ERROR(check_conv_common(ctx, group, kernel));
  const Shape& xs = ctx.input(0).shape;
  const Shape& ws = ctx.input(1).shape;
  int64_t c = xs[1];
  if (ws[0] != c)
    return ctx.fail("weight shape " + dims_string(ws) + " expects " + std::to_string(ws[0]) + " input channels but input shape " +
                    dims_string(xs) + " has " + std::to_string(c));
  if (c % group != 0)
    return ctx.fail("group " + std::to_string(group) + " does not divide the " + std::to_string(c) + " input channels");
  int64_t m = ws[1] * group;
  JOULE_RETURN_IF_ERROR(check_bias(ctx, m));
  WindowGeometry g;
  std::string err = resolve_transpose_window(ctx.node(), Shape(xs.begin() + 2, xs.end()), kernel, g);
  if (!err.empty()) return ctx.fail(err);
  Shape out = {xs[0], m};
  out.insert(out.end(), g.out.begin(), g.out.end());
  ctx.output(0) = TensorDesc::known(ctx.input(0).dtype, out);
  return Status::ok();
}

}  // namespace

void register_conv_ops(OpRegistry& r) {
  r.add({"", "Conv", 2, 3, 1, 1, infer_conv});
  r.add({"", "ConvTranspose", 2, 3, 1, 1, infer_conv_transpose});
}

}  // namespace joule::ops
