// Op definitions for the shape family's tensor creators: Shape, Size, Constant, ConstantOfShape,
// Range, EyeLike and Trilu (masking, but with EyeLike's diagonal logic).
#include <cmath>
#include <type_traits>

#include "runtime/ir/dtype_dispatch.h"
#include "runtime/ops/infer_helpers.h"
#include "runtime/ops/op_registry.h"
#include "runtime/ops/shape_util.h"

namespace joule::ops {

namespace {

// Shape: int64 [end - start] with start/end (opset 15) clamped to [0, rank] after adding rank to negatives.
Status infer_shape(InferContext& ctx) {
  const int64_t r = ctx.input(0).rank();
  int64_t start = ctx.node().attr_int("start", 0), end = ctx.node().attr_int("end", r);
  if (start < 0) start += r;
  if (end < 0) end += r;
  start = std::clamp<int64_t>(start, 0, r);
  end = std::clamp<int64_t>(end, 0, r);
  ctx.output(0) = TensorDesc::known(DType::kI64, {std::max<int64_t>(end - start, 0)});
  return Status::ok();
}

Status infer_size(InferContext& ctx) {
  ctx.output(0) = TensorDesc::known(DType::kI64, {});
  return Status::ok();
}

Status infer_constant(InferContext& ctx) {
  Tensor t;
  JOULE_RETURN_IF_ERROR(constant_attr_value(ctx.node(), t));
  ctx.output(0) = TensorDesc::known(t.dtype(), t.shape());
  return Status::ok();
}

// ConstantOfShape: the shape input's values (empty = scalar) filled with `value` (default float 0).
Status infer_constant_of_shape(InferContext& ctx) {
  const Tensor* s = ctx.input_value(0);
  if (!s) return ctx.needs_value(0);
  if (s->rank() > 1 || !dtype_is_integer(s->dtype())) return ctx.fail("the shape input must be a 1-D integer tensor");
  Shape out = s->to_int64_vector();
  for (int64_t d : out)
    if (d < 0) return ctx.fail("shape " + shape_to_string(out) + " has a negative dim");
  DType t = DType::kF32;
  if (const Tensor* v = ctx.node().attr_tensor("value")) {
    if (v->numel() != 1) return ctx.fail("value must hold exactly one element, got shape " + shape_to_string(v->shape()));
    t = v->dtype();
  }
  JOULE_RETURN_IF_ERROR(guard_size(ctx.node(), out, t));
  ctx.output(0) = TensorDesc::known(t, out);
  return Status::ok();
}

// Range: max(ceil((limit - start) / delta), 0) elements. Integers count in 128-bit so that
// extreme int64 values cannot overflow; floats count in their own type as ONNX Runtime does.
Status infer_range(InferContext& ctx) {
  for (size_t i = 0; i < 3; ++i)
    if (!ctx.input_value(i)) return ctx.needs_value(i);
  const Tensor& s = *ctx.input_value(0);
  const Tensor& l = *ctx.input_value(1);
  const Tensor& d = *ctx.input_value(2);
  const DType t = s.dtype();
  if (l.dtype() != t || d.dtype() != t) return ctx.fail("start, limit and delta must have the same type");
  if (s.numel() != 1 || l.numel() != 1 || d.numel() != 1) return ctx.fail("start, limit and delta must be scalars");
  std::string err;
  int64_t n = 0;
  const int64_t kHuge = int64_t{1} << 62;
  bool known = dispatch_numeric(t, [&]<class T>() {
    using C = ComputeT<T>;
    const C start = to_compute(s.data<T>()[0]), limit = to_compute(l.data<T>()[0]), delta = to_compute(d.data<T>()[0]);
    if (delta == C(0)) {
      err = "delta is 0";
      return;
    }
    if constexpr (std::is_floating_point_v<C>) {
      const double q = std::ceil(static_cast<double>((limit - start) / delta));
      if (std::isnan(q)) err = "start, limit and delta give no finite element count";
      else n = q <= 0 ? 0 : (q >= static_cast<double>(kHuge) ? kHuge : static_cast<int64_t>(q));
    } else {
      const __int128 diff = static_cast<__int128>(limit) - static_cast<__int128>(start);
      const __int128 dl = static_cast<__int128>(delta);
      __int128 q = diff / dl;
      if (diff % dl != 0 && ((diff > 0) == (dl > 0))) ++q;  // round the quotient up
      n = q <= 0 ? 0 : (q >= kHuge ? kHuge : static_cast<int64_t>(q));
    }
  });
  if (!known) return ctx.fail_unsupported("dtype " + std::string(dtype_name(t)));
  if (!err.empty()) return ctx.fail(err);
  JOULE_RETURN_IF_ERROR(guard_size(ctx.node(), {n}, t));
  ctx.output(0) = TensorDesc::known(t, {n});
  return Status::ok();
}

// EyeLike: 2-D, ones where col - row == k; dtype attribute (default: the input's).
Status infer_eye_like(InferContext& ctx) {
  if (ctx.input(0).rank() != 2) return ctx.fail("input must be 2-D, got " + shape_to_string(ctx.input(0).shape));
  DType t = ctx.input(0).dtype;
  if (ctx.node().has_attr("dtype")) {
    t = dtype_from_onnx(static_cast<int32_t>(ctx.node().attr_int("dtype", 1)));
    if (!dtype_is_supported(t) || dtype_size(t) == 0)
      return ctx.fail_unsupported("dtype " + std::to_string(ctx.node().attr_int("dtype", 1)));
  }
  ctx.output(0) = TensorDesc::known(t, ctx.input(0).shape);
  return Status::ok();
}

Status infer_trilu(InferContext& ctx) {
  if (ctx.input(0).rank() < 2) return ctx.fail("input must have rank >= 2, got " + shape_to_string(ctx.input(0).shape));
  if (ctx.has_input(1) && shape_numel(ctx.input(1).shape) != 1) return ctx.fail("k must be a scalar");
  ctx.output(0) = ctx.input(0);
  return Status::ok();
}

}  // namespace

void register_shape_generator_ops(OpRegistry& r) {
  r.add({"", "Shape", 1, 1, 1, 1, infer_shape});
  r.add({"", "Size", 1, 1, 1, 1, infer_size});
  r.add({"", "Constant", 0, 0, 1, 1, infer_constant});
  r.add({"", "ConstantOfShape", 1, 1, 1, 1, infer_constant_of_shape});
  r.add({"", "Range", 3, 3, 1, 1, infer_range});
  r.add({"", "EyeLike", 1, 1, 1, 1, infer_eye_like});
  r.add({"", "Trilu", 1, 2, 1, 1, infer_trilu});
}

}  // namespace joule::ops
