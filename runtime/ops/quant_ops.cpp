// Op definitions (arity, shape and type inference) for the quant family: QuantizeLinear,
// DequantizeLinear, DynamicQuantizeLinear, MatMulInteger, ConvInteger, QLinearMatMul, QLinearConv.
#include "runtime/ops/infer_helpers.h"
#include "runtime/ops/linalg_shapes.h"
#include "runtime/ops/op_registry.h"
#include "runtime/ops/quant_layout.h"

namespace joule::ops {

namespace {

std::string dt(DType t) { return std::string(dtype_name(t)); }

bool is_quant_int(DType t) {
  return t == DType::kU8 || t == DType::kI8 || t == DType::kU16 || t == DType::kI16 || t == DType::kU4 || t == DType::kI4;
}

// Checks scale (input si) and optional zero point (input si + 1) against x's layout.
Status check_params(InferContext& ctx, size_t si) {
  QuantLayout l;
  Status st = resolve_quant_layout(ctx.node(), ctx.input(0).shape, ctx.input(si).shape, l);
  if (!st.is_ok()) return ctx.fail(st.message());
  if (!dtype_is_float(ctx.input(si).dtype)) return ctx.fail("scale must be a float type, got " + dt(ctx.input(si).dtype));
  if (ctx.has_input(si + 1) && ctx.input(si + 1).shape != ctx.input(si).shape && shape_numel(ctx.input(si + 1).shape) != shape_numel(ctx.input(si).shape))
    return ctx.fail("zero point shape " + shape_to_string(ctx.input(si + 1).shape) + " differs from scale shape " +
                    shape_to_string(ctx.input(si).shape));
  return Status::ok();
}

// y = saturate(round(x / scale) + zero_point); y's type is the zero point's (or output_dtype, or uint8).
Status infer_quantize(InferContext& ctx) {
  JOULE_RETURN_IF_ERROR(check_params(ctx, 1));
  DType out = DType::kU8;
  if (ctx.has_input(2)) out = ctx.input(2).dtype;
  else if (ctx.node().opset >= 21 && ctx.node().attr_int("output_dtype", 0) != 0)
    out = dtype_from_onnx(static_cast<int32_t>(ctx.node().attr_int("output_dtype", 0)));
  if (!is_quant_int(out)) return ctx.fail("unsupported quantized type " + dt(out));
  if (ctx.has_input(2) && ctx.node().opset >= 21 && ctx.node().attr_int("output_dtype", 0) != 0 &&
      dtype_from_onnx(static_cast<int32_t>(ctx.node().attr_int("output_dtype", 0))) != out)
    return ctx.fail("output_dtype disagrees with the zero point's type " + dt(out));
  DType xt = ctx.input(0).dtype;
  if (!dtype_is_float(xt) && xt != DType::kI32) return ctx.fail("x must be float or int32, got " + dt(xt));
  ctx.output(0) = TensorDesc::known(out, ctx.input(0).shape);
  return Status::ok();
}

// y = (x - zero_point) * scale, in the scale's float type.
Status infer_dequantize(InferContext& ctx) {
  JOULE_RETURN_IF_ERROR(check_params(ctx, 1));
  DType xt = ctx.input(0).dtype;
  if (!is_quant_int(xt) && xt != DType::kI32) return ctx.fail("unsupported quantized type " + dt(xt));
  if (ctx.has_input(2) && ctx.input(2).dtype != xt)
    return ctx.fail("zero point is " + dt(ctx.input(2).dtype) + " but x is " + dt(xt));
  ctx.output(0) = TensorDesc::known(ctx.input(1).dtype, ctx.input(0).shape);
  return Status::ok();
}

Status infer_dynamic_quantize(InferContext& ctx) {
  if (ctx.input(0).dtype != DType::kF32) return ctx.fail("x must be float32, got " + dt(ctx.input(0).dtype));
  ctx.output(0) = TensorDesc::known(DType::kU8, ctx.input(0).shape);
  if (ctx.num_outputs() > 1) ctx.output(1) = TensorDesc::known(DType::kF32, {});
  if (ctx.num_outputs() > 2) ctx.output(2) = TensorDesc::known(DType::kU8, {});
  return Status::ok();
}

bool is_8bit(DType t) { return t == DType::kU8 || t == DType::kI8; }

// MatMulInteger: (A - a_zp) @ (B - b_zp) in int32.
Status infer_matmul_integer(InferContext& ctx) {
  if (!is_8bit(ctx.input(0).dtype) || !is_8bit(ctx.input(1).dtype))
    return ctx.fail("A and B must be int8/uint8, got " + dt(ctx.input(0).dtype) + " and " + dt(ctx.input(1).dtype));
  Shape out;
  Status st = matmul_output_shape(ctx.input(0).shape, ctx.input(1).shape, out);
  if (!st.is_ok()) return ctx.fail(st.message());
  ctx.output(0) = TensorDesc::known(DType::kI32, out);
  return Status::ok();
}

// QLinearMatMul(a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp): output in y_zp's type.
Status infer_qlinear_matmul(InferContext& ctx) {
  if (!is_8bit(ctx.input(0).dtype) || !is_8bit(ctx.input(3).dtype) || !is_8bit(ctx.input(7).dtype))
    return ctx.fail("a, b and y must be int8/uint8");
  Shape out;
  Status st = matmul_output_shape(ctx.input(0).shape, ctx.input(3).shape, out);
  if (!st.is_ok()) return ctx.fail(st.message());
  ctx.output(0) = TensorDesc::known(ctx.input(7).dtype, out);
  return Status::ok();
}

Status conv_output(InferContext& ctx, size_t xi, size_t wi, DType out_type) {
  if (!is_8bit(ctx.input(xi).dtype) || !is_8bit(ctx.input(wi).dtype))
    return ctx.fail("x and w must be int8/uint8, got " + dt(ctx.input(xi).dtype) + " and " + dt(ctx.input(wi).dtype));
  ConvGeometry g;
  Status st = conv_geometry(ctx.node(), ctx.input(xi).shape, ctx.input(wi).shape, g);
  if (!st.is_ok()) return ctx.fail(st.message());
  Shape out{ctx.input(xi).shape[0], ctx.input(wi).shape[0]};
  out.insert(out.end(), g.out_spatial.begin(), g.out_spatial.end());
  ctx.output(0) = TensorDesc::known(out_type, out);
  return Status::ok();
}

Status infer_conv_integer(InferContext& ctx) { return conv_output(ctx, 0, 1, DType::kI32); }

// QLinearConv(x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, [B int32]).
Status infer_qlinear_conv(InferContext& ctx) {
  if (!is_8bit(ctx.input(7).dtype)) return ctx.fail("y_zero_point must be int8/uint8");
  int64_t oc = ctx.input(3).shape.empty() ? 0 : ctx.input(3).shape[0];
  int64_t ws = shape_numel(ctx.input(4).shape);
  if (ws != 1 && ws != oc) return ctx.fail("w_scale must hold 1 or " + std::to_string(oc) + " values, got " + std::to_string(ws));
  if (ctx.has_input(8) && (ctx.input(8).dtype != DType::kI32 || shape_numel(ctx.input(8).shape) != oc))
    return ctx.fail("B must be int32 of length " + std::to_string(oc));
  return conv_output(ctx, 0, 3, ctx.input(7).dtype);
}

}  // namespace

void register_qfused_ops(OpRegistry& r);  // qfused_ops.cpp: joule.QConv, joule.QGemm, joule.DynQMatMul

void register_quant_ops(OpRegistry& r) {
  register_qfused_ops(r);
  r.add({"", "QuantizeLinear", 2, 3, 1, 1, infer_quantize});
  r.add({"", "DequantizeLinear", 2, 3, 1, 1, infer_dequantize});
  r.add({"", "DynamicQuantizeLinear", 1, 1, 3, 3, infer_dynamic_quantize});
  r.add({"", "MatMulInteger", 2, 4, 1, 1, infer_matmul_integer});
  r.add({"", "ConvInteger", 2, 4, 1, 1, infer_conv_integer});
  r.add({"", "QLinearMatMul", 8, 8, 1, 1, infer_qlinear_matmul});
  r.add({"", "QLinearConv", 8, 9, 1, 1, infer_qlinear_conv});
}

}  // namespace joule::ops
