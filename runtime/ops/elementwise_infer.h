// Inference helpers shared by the elementwise and activation op definitions: dtype classes
// (which element types an op accepts) and the common "same shape" / "broadcast" inference.
#pragma once

#include <string>

#include "runtime/ops/infer_helpers.h"
#include "runtime/ops/op_registry.h"

namespace joule::ops {

/// Which element types an op input accepts (the union over the opsets joule supports).
enum class Types {
  kFloat,    // f16, bf16, f32, f64
  kSigned,   // floats and signed integers
  kNumeric,  // floats and all integers (not bool)
  kInt,      // integers only
  kBool,     // bool only
  kAll,      // every fixed-size type, bool included
};

inline bool type_ok(Types c, DType t) {
  bool is_int = t == DType::kI8 || t == DType::kU8 || t == DType::kI16 || t == DType::kU16 || t == DType::kI32 ||
                t == DType::kU32 || t == DType::kI64 || t == DType::kU64;
  bool is_signed_int = t == DType::kI8 || t == DType::kI16 || t == DType::kI32 || t == DType::kI64;
  bool is_float = t == DType::kF16 || t == DType::kBF16 || t == DType::kF32 || t == DType::kF64;
  switch (c) {
    case Types::kFloat: return is_float;
    case Types::kSigned: return is_float || is_signed_int;
    case Types::kNumeric: return is_float || is_int;
    case Types::kInt: return is_int;
    case Types::kBool: return t == DType::kBool;
    case Types::kAll: return is_float || is_int || t == DType::kBool;
  }
  return false;
}

inline const char* types_name(Types c) {
  switch (c) {
    case Types::kFloat: return "a floating-point type";
    case Types::kSigned: return "a floating-point or signed integer type";
    case Types::kNumeric: return "a numeric type (not bool)";
    case Types::kInt: return "an integer type";
    case Types::kBool: return "bool";
    case Types::kAll: return "a numeric or bool type";
  }
  return "?";
}

/// Fails unless input i's dtype is in class c.
inline Status check_input_type(InferContext& ctx, size_t i, Types c) {
  DType t = ctx.input(i).dtype;
  if (type_ok(c, t)) return Status::ok();
  return ctx.fail("input " + std::to_string(i) + " has dtype " + std::string(dtype_name(t)) + ", but " +
                  ctx.node().op_type + " expects " + types_name(c));
}

/// Fails unless inputs i and j (when present) have the same dtype.
inline Status check_same_type(InferContext& ctx, size_t i, size_t j) {
  if (!ctx.has_input(j) || ctx.input(i).dtype == ctx.input(j).dtype) return Status::ok();
  return ctx.fail("input " + std::to_string(j) + " is " + std::string(dtype_name(ctx.input(j).dtype)) + " but input " +
                  std::to_string(i) + " is " + std::string(dtype_name(ctx.input(i).dtype)) + " (they must match)");
}

/// Multidirectional broadcast of the shapes of the present inputs in [first, last).
inline Status broadcast_inputs(InferContext& ctx, size_t first, size_t last, Shape& out) {
  bool have = false;
  for (size_t i = first; i < last && i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) continue;
    if (!have) {
      out = ctx.input(i).shape;
      have = true;
      continue;
    }
    auto b = broadcast_shapes(out, ctx.input(i).shape);
    if (!b)
      return ctx.fail("input shapes cannot be broadcast together: " + shape_to_string(out) + " and " +
                      shape_to_string(ctx.input(i).shape) + " (input " + std::to_string(i) + ")");
    out = *b;
  }
  return Status::ok();
}

/// Output 0 = input 0 (dtype and shape), input 0 in class C.
template <Types C>
Status infer_unary(InferContext& ctx) {
  JOULE_RETURN_IF_ERROR(check_input_type(ctx, 0, C));
  ctx.output(0) = TensorDesc::known(ctx.input(0).dtype, ctx.input(0).shape);
  return Status::ok();
}

/// PRelu's slope viewed with the shape it broadcasts with against X: the slope's own shape when
/// it broadcasts unidirectionally to X (opset 7+ rule), or [C, 1, ..., 1] for a 1-D slope of
/// X's channel count (the per-channel rule of opset 6 and older, which exporters of that era
/// relied on). nullopt when neither applies.
inline std::optional<Shape> prelu_slope_shape(const Shape& x, const Shape& slope, int opset) {
  bool per_channel = slope.size() == 1 && x.size() >= 2 && slope[0] == x[1] && x[1] != 1;
  if (opset < 7 && per_channel) {
    Shape s(x.size() - 1, 1);
    s[0] = slope[0];
    return s;
  }
  auto b = broadcast_shapes(x, slope);
  if (b && *b == x) return slope;
  if (per_channel) return prelu_slope_shape(x, slope, 6);
  return std::nullopt;
}

}  // namespace joule::ops
