// Op definitions for joule's fused integer ops (domain "joule"), written by quant/qdq_fusion.cpp:
//   joule.QConv(x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, [B int32])  QLinearConv's inputs and
//       attributes, plus "qmin"/"qmax": a fused Relu/Clip as a clamp in the output's integer domain.
//   joule.QGemm(a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp, [B int32])  QLinearMatMul with a
//       constant 2-D b ([K, N], or [N, K] with transB = 1), an int32 bias per column and qmin/qmax.
//   Both may carry "lut": a 256-entry tensor (the final output type) applied to the requantized value
//       (index q - type_min): a fused DequantizeLinear -> Relu/Clip -> QuantizeLinear that follows them.
//   joule.QAdd(a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp)  8-bit a, b of one shape (no broadcasting),
//       per-tensor parameters: DQ(a) + DQ(b) [-> Relu|Clip as qmin/qmax] -> Q in integer arithmetic.
//   joule.DynQMatMul(a f32, b 8-bit [K, N], b_zp, b_scale f32 (1 or N), [bias f32 N])  the chain
//       DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul(a_scale * b_scale) [-> Add bias], float out.
#include "runtime/ops/infer_helpers.h"
#include "runtime/ops/linalg_shapes.h"
#include "runtime/ops/op_registry.h"

namespace joule::ops {

namespace {

bool is_8bit(DType t) { return t == DType::kU8 || t == DType::kI8; }

// The output type: the lookup table's when there is one, else y_zero_point's.
DType out_type(InferContext& ctx) {
  const Tensor* lut = ctx.node().attr_tensor("lut");
  return lut ? lut->dtype() : ctx.input(7).dtype;
}

Status infer_qconv(InferContext& ctx) {
  if (!is_8bit(ctx.input(0).dtype) || !is_8bit(ctx.input(3).dtype) || !is_8bit(ctx.input(7).dtype))
    return ctx.fail("x, w and y_zero_point must be int8/uint8");
  int64_t oc = ctx.input(3).shape.empty() ? 0 : ctx.input(3).shape[0];
  if (ctx.has_input(8) && (ctx.input(8).dtype != DType::kI32 || shape_numel(ctx.input(8).shape) != oc))
    return ctx.fail("B must be int32 of length " + std::to_string(oc));
  if (!ctx.input(0).rank_known) return Status::ok();
  ConvGeometry g;
  Status st = conv_geometry(ctx.node(), ctx.input(0).shape, ctx.input(3).shape, g);
  if (!st.is_ok()) return ctx.fail(st.message());
  Shape out{ctx.input(0).shape[0], oc};
  out.insert(out.end(), g.out_spatial.begin(), g.out_spatial.end());
  ctx.output(0) = TensorDesc::known(out_type(ctx), out);
  return Status::ok();
}

// [..., K] x [K, N] -> [..., N] for a 2-D constant weight (stored [N, K] when trans).
Status rows_times_weight(InferContext& ctx, size_t ai, size_t bi, bool trans, DType out_type) {
  const TensorDesc& b = ctx.input(bi);
  if (b.rank_known && b.rank() != 2) return ctx.fail("weight must be 2-D, got " + shape_to_string(b.shape));
  if (!ctx.input(ai).rank_known || !b.rank_known) {
    ctx.output(0).dtype = out_type;
    return Status::ok();
  }
  Shape out = ctx.input(ai).shape;
  if (out.empty()) return ctx.fail("input must have rank >= 1");
  int64_t k = trans ? b.shape[1] : b.shape[0], n = trans ? b.shape[0] : b.shape[1];
  if (out.back() >= 0 && k >= 0 && out.back() != k)
    return ctx.fail("inner dimensions differ: " + shape_to_string(ctx.input(ai).shape) + " x " + shape_to_string(b.shape));
  out.back() = n;
  ctx.output(0) = TensorDesc::known(out_type, out);
  return Status::ok();
}

Status infer_qgemm(InferContext& ctx) {
  if (!is_8bit(ctx.input(0).dtype) || !is_8bit(ctx.input(3).dtype) || !is_8bit(ctx.input(7).dtype))
    return ctx.fail("a, b and y_zero_point must be int8/uint8");
  if (ctx.has_input(8) && ctx.input(8).dtype != DType::kI32) return ctx.fail("B must be int32");
  return rows_times_weight(ctx, 0, 3, ctx.node().attr_int("transB", 0) != 0, out_type(ctx));
}

Status infer_qadd(InferContext& ctx) {
  if (!is_8bit(ctx.input(0).dtype) || !is_8bit(ctx.input(3).dtype) || !is_8bit(ctx.input(7).dtype))
    return ctx.fail("a, b and y_zero_point must be int8/uint8");
  const TensorDesc &a = ctx.input(0), &b = ctx.input(3);
  if (a.rank_known && b.rank_known && a.shape != b.shape)
    return ctx.fail("a and b must have the same shape, got " + shape_to_string(a.shape) + " and " + shape_to_string(b.shape));
  if (!a.rank_known) {
    ctx.output(0).dtype = ctx.input(7).dtype;
    return Status::ok();
  }
  ctx.output(0) = TensorDesc::known(ctx.input(7).dtype, a.shape);
  return Status::ok();
}

Status infer_dynq_matmul(InferContext& ctx) {
  if (ctx.input(0).dtype != DType::kF32 || !is_8bit(ctx.input(1).dtype))
    return ctx.fail("a must be float32 and b int8/uint8");
  return rows_times_weight(ctx, 0, 1, false, DType::kF32);
}

}  // namespace

void register_qfused_ops(OpRegistry& r) {
  r.add({"joule", "QConv", 8, 9, 1, 1, infer_qconv});
  r.add({"joule", "QGemm", 8, 9, 1, 1, infer_qgemm});
  r.add({"joule", "QAdd", 8, 8, 1, 1, infer_qadd});
  r.add({"joule", "DynQMatMul", 4, 5, 1, 1, infer_dynq_matmul});
}

}  // namespace joule::ops
