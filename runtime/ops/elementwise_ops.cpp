// Op definitions (arity, shape and type inference) for elementwise ops: arithmetic, math
// functions, comparisons, logic, Where, variadic Max/Min/Sum/Mean, Cast/CastLike, Identity.
#include "runtime/ops/elementwise_infer.h"

namespace joule::ops {

namespace {

// All inputs of class C with one dtype, multidirectional broadcast; output has that dtype
// (or bool when OutBool: comparisons).
template <Types C, bool OutBool = false>
Status infer_broadcast(InferContext& ctx) {
  JOULE_RETURN_IF_ERROR(check_input_type(ctx, 0, C));
  for (size_t i = 1; i < ctx.num_inputs(); ++i) JOULE_RETURN_IF_ERROR(check_same_type(ctx, 0, i));
  Shape out;
  JOULE_RETURN_IF_ERROR(broadcast_inputs(ctx, 0, ctx.num_inputs(), out));
  ctx.output(0) = TensorDesc::known(OutBool ? DType::kBool : ctx.input(0).dtype, out);
  return Status::ok();
}

// Mod: integer or float; floats need fmod=1 (the spec forbids fmod=0 for floating inputs).
Status infer_mod(InferContext& ctx) {
  int64_t fmod = ctx.node().attr_int("fmod", 0);
  if (fmod != 0 && fmod != 1) return ctx.fail("attribute fmod must be 0 or 1, got " + std::to_string(fmod));
  if (fmod == 0 && dtype_is_float(ctx.input(0).dtype))
    return ctx.fail("fmod must be 1 for floating-point inputs (" + std::string(dtype_name(ctx.input(0).dtype)) + ")");
  return infer_broadcast<Types::kNumeric>(ctx);
}

// Pow: base X and exponent Y may have different numeric types (opset 12+); output has X's type.
Status infer_pow(InferContext& ctx) {
  JOULE_RETURN_IF_ERROR(check_input_type(ctx, 0, Types::kNumeric));
  JOULE_RETURN_IF_ERROR(check_input_type(ctx, 1, Types::kNumeric));
  if (ctx.node().opset < 12) JOULE_RETURN_IF_ERROR(check_same_type(ctx, 0, 1));
  Shape out;
  JOULE_RETURN_IF_ERROR(broadcast_inputs(ctx, 0, 2, out));
  ctx.output(0) = TensorDesc::known(ctx.input(0).dtype, out);
  return Status::ok();
}

// Equal accepts bool as well as numbers; Less/Greater/... only numbers.
template <Types C>
Status infer_compare(InferContext& ctx) {
  return infer_broadcast<C, true>(ctx);
}

// Where(condition: bool, X: T, Y: T) -> T, three-way broadcast.
Status infer_where(InferContext& ctx) {
  JOULE_RETURN_IF_ERROR(check_input_type(ctx, 0, Types::kBool));
  JOULE_RETURN_IF_ERROR(check_input_type(ctx, 1, Types::kAll));
  JOULE_RETURN_IF_ERROR(check_same_type(ctx, 1, 2));
  Shape out;
  JOULE_RETURN_IF_ERROR(broadcast_inputs(ctx, 0, 3, out));
  ctx.output(0) = TensorDesc::known(ctx.input(1).dtype, out);
  return Status::ok();
}

// IsNaN / IsInf: float input, bool output of the same shape.
Status infer_is_class(InferContext& ctx) {
  JOULE_RETURN_IF_ERROR(check_input_type(ctx, 0, Types::kFloat));
  ctx.output(0) = TensorDesc::known(DType::kBool, ctx.input(0).shape);
  return Status::ok();
}

Status check_cast_target(InferContext& ctx, DType to, int64_t raw) {
  if (to == DType::kString) return ctx.fail_unsupported("casts to string are not supported");
  if (!type_ok(Types::kAll, to))
    return ctx.fail_unsupported("cast target type " + std::to_string(raw) + " (" + std::string(dtype_name(to)) +
                                ") is not supported");
  return Status::ok();
}

// Cast: attribute `to` (an ONNX TensorProto.DataType). `saturate` (opset 19) only concerns
// float8 targets, which joule does not support, so it is ignored.
Status infer_cast(InferContext& ctx) {
  if (!ctx.node().has_attr("to")) return ctx.fail("missing required attribute 'to'");
  int64_t raw = ctx.node().attr_int("to", 0);
  DType to = dtype_from_onnx(static_cast<int32_t>(raw));
  if (!type_ok(Types::kAll, ctx.input(0).dtype))
    return ctx.fail_unsupported("casts from " + std::string(dtype_name(ctx.input(0).dtype)) + " are not supported");
  JOULE_RETURN_IF_ERROR(check_cast_target(ctx, to, raw));
  ctx.output(0) = TensorDesc::known(to, ctx.input(0).shape);
  return Status::ok();
}

// CastLike(input, target_type): output has target_type's dtype and input's shape.
Status infer_castlike(InferContext& ctx) {
  if (!type_ok(Types::kAll, ctx.input(0).dtype))
    return ctx.fail_unsupported("casts from " + std::string(dtype_name(ctx.input(0).dtype)) + " are not supported");
  DType to = ctx.input(1).dtype;
  JOULE_RETURN_IF_ERROR(check_cast_target(ctx, to, static_cast<int64_t>(to)));
  ctx.output(0) = TensorDesc::known(to, ctx.input(0).shape);
  return Status::ok();
}

// Identity: any tensor type, copied.
Status infer_identity(InferContext& ctx) {
  ctx.output(0) = TensorDesc::known(ctx.input(0).dtype, ctx.input(0).shape);
  return Status::ok();
}

}  // namespace

void register_elementwise_ops(OpRegistry& r) {
  // Binary arithmetic (multidirectional broadcast, one dtype).
  for (const char* op : {"Add", "Sub", "Mul", "Div"}) r.add({"", op, 2, 2, 1, 1, infer_broadcast<Types::kNumeric>});
  r.add({"", "Mod", 2, 2, 1, 1, infer_mod});
  r.add({"", "Pow", 2, 2, 1, 1, infer_pow});
  // Variadic, broadcasting.
  for (const char* op : {"Max", "Min"}) r.add({"", op, 1, -1, 1, 1, infer_broadcast<Types::kNumeric>});
  for (const char* op : {"Sum", "Mean"}) r.add({"", op, 1, -1, 1, 1, infer_broadcast<Types::kFloat>});
  // Comparisons and logic (bool output).
  r.add({"", "Equal", 2, 2, 1, 1, infer_compare<Types::kAll>});
  for (const char* op : {"Less", "Greater", "LessOrEqual", "GreaterOrEqual"})
    r.add({"", op, 2, 2, 1, 1, infer_compare<Types::kNumeric>});
  for (const char* op : {"And", "Or", "Xor"}) r.add({"", op, 2, 2, 1, 1, infer_broadcast<Types::kBool>});
  r.add({"", "Not", 1, 1, 1, 1, infer_unary<Types::kBool>});
  r.add({"", "Where", 3, 3, 1, 1, infer_where});
  r.add({"", "IsNaN", 1, 1, 1, 1, infer_is_class});
  r.add({"", "IsInf", 1, 1, 1, 1, infer_is_class});
  // Unary math.
  for (const char* op : {"Sqrt", "Exp", "Log", "Reciprocal", "Floor", "Ceil", "Round", "Erf", "Sin", "Cos", "Tan", "Asin",
                         "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh"})
    r.add({"", op, 1, 1, 1, 1, infer_unary<Types::kFloat>});
  r.add({"", "Neg", 1, 1, 1, 1, infer_unary<Types::kSigned>});
  r.add({"", "Abs", 1, 1, 1, 1, infer_unary<Types::kNumeric>});
  r.add({"", "Sign", 1, 1, 1, 1, infer_unary<Types::kNumeric>});
  // Type conversion and copies.
  r.add({"", "Cast", 1, 1, 1, 1, infer_cast});
  r.add({"", "CastLike", 2, 2, 1, 1, infer_castlike});
  r.add({"", "Identity", 1, 1, 1, 1, infer_identity});
}

}  // namespace joule::ops
