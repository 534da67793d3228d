// Op definitions (arity, shape and type inference) for the activation family: pointwise
// activations, Clip, PRelu, Dropout, Gelu (ai.onnx 20 and com.microsoft) and FastGelu.
#include "runtime/ops/elementwise_infer.h"

namespace joule::ops {

namespace {

// Clip: before opset 11 min/max are float attributes; from 11 they are optional scalar inputs
// of the input's type. Opset 12 added integer types.
Status infer_clip(InferContext& ctx) {
  JOULE_RETURN_IF_ERROR(check_input_type(ctx, 0, Types::kNumeric));
  if (ctx.node().opset < 11) {
    if (ctx.num_inputs() > 1) return ctx.fail("min/max are attributes before opset 11, not inputs");
  } else {
    for (size_t i = 1; i < 3; ++i) {
      if (!ctx.has_input(i)) continue;
      JOULE_RETURN_IF_ERROR(check_same_type(ctx, 0, i));
      if (shape_numel(ctx.input(i).shape) != 1)
        return ctx.fail(std::string(i == 1 ? "min" : "max") + " must be a scalar, got shape " +
                        shape_to_string(ctx.input(i).shape));
    }
  }
  ctx.output(0) = TensorDesc::known(ctx.input(0).dtype, ctx.input(0).shape);
  return Status::ok();
}

// PRelu(X, slope): slope broadcasts unidirectionally to X (or per channel, see prelu_slope_shape).
Status infer_prelu(InferContext& ctx) {
  JOULE_RETURN_IF_ERROR(check_input_type(ctx, 0, Types::kNumeric));
  JOULE_RETURN_IF_ERROR(check_same_type(ctx, 0, 1));
  if (!prelu_slope_shape(ctx.input(0).shape, ctx.input(1).shape, ctx.node().opset))
    return ctx.fail("slope of shape " + shape_to_string(ctx.input(1).shape) + " cannot be broadcast to X of shape " +
                    shape_to_string(ctx.input(0).shape));
  ctx.output(0) = TensorDesc::known(ctx.input(0).dtype, ctx.input(0).shape);
  return Status::ok();
}

// Dropout: output = input (inference). Opset 12+ takes optional inputs ratio (float scalar) and
// training_mode (bool scalar); older opsets use a ratio attribute. The optional mask output is
// bool from opset 10, the input's type before.
Status infer_dropout(InferContext& ctx) {
  JOULE_RETURN_IF_ERROR(check_input_type(ctx, 0, Types::kFloat));
  int opset = ctx.node().opset;
  if (opset < 12 && ctx.num_inputs() > 1) return ctx.fail("ratio/training_mode are inputs only from opset 12");
  if (ctx.has_input(1)) {
    JOULE_RETURN_IF_ERROR(check_input_type(ctx, 1, Types::kFloat));
    if (shape_numel(ctx.input(1).shape) != 1) return ctx.fail("ratio must be a scalar");
  }
  if (ctx.has_input(2)) {
    JOULE_RETURN_IF_ERROR(check_input_type(ctx, 2, Types::kBool));
    if (shape_numel(ctx.input(2).shape) != 1) return ctx.fail("training_mode must be a scalar");
  }
  ctx.output(0) = TensorDesc::known(ctx.input(0).dtype, ctx.input(0).shape);
  if (ctx.num_outputs() > 1) ctx.output(1) = TensorDesc::known(opset >= 10 ? DType::kBool : ctx.input(0).dtype, ctx.input(0).shape);
  return Status::ok();
}

// Gelu (ai.onnx 20): approximate = "none" (erf form) or "tanh".
Status infer_gelu(InferContext& ctx) {
  std::string a = ctx.node().attr_string("approximate", "none");
  if (a != "none" && a != "tanh") return ctx.fail("attribute approximate must be 'none' or 'tanh', got '" + a + "'");
  return infer_unary<Types::kFloat>(ctx);
}

// com.microsoft FastGelu(X, bias?): bias (usually 1-D over the last dim) broadcasts to X.
Status infer_fast_gelu(InferContext& ctx) {
  JOULE_RETURN_IF_ERROR(check_input_type(ctx, 0, Types::kFloat));
  if (ctx.has_input(1)) {
    JOULE_RETURN_IF_ERROR(check_same_type(ctx, 0, 1));
    auto b = broadcast_shapes(ctx.input(0).shape, ctx.input(1).shape);
    if (!b || *b != ctx.input(0).shape)
      return ctx.fail("bias of shape " + shape_to_string(ctx.input(1).shape) + " cannot be broadcast to X of shape " +
                      shape_to_string(ctx.input(0).shape));
  }
  ctx.output(0) = TensorDesc::known(ctx.input(0).dtype, ctx.input(0).shape);
  return Status::ok();
}

}  // namespace

void register_activation_ops(OpRegistry& r) {
  r.add({"", "Relu", 1, 1, 1, 1, infer_unary<Types::kSigned>});
  for (const char* op : {"LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Elu", "Selu", "Softplus", "Softsign",
                         "ThresholdedRelu", "Celu", "Mish"})
    r.add({"", op, 1, 1, 1, 1, infer_unary<Types::kFloat>});
  r.add({"", "Shrink", 1, 1, 1, 1, infer_unary<Types::kNumeric>});
  r.add({"", "Clip", 1, 3, 1, 1, infer_clip});
  r.add({"", "PRelu", 2, 2, 1, 1, infer_prelu});
  // Random in training mode, so never constant-folded.
  OpDef dropout{"", "Dropout", 1, 3, 1, 2, infer_dropout};
  dropout.deterministic = false;
  r.add(dropout);
  r.add({"", "Gelu", 1, 1, 1, 1, infer_gelu});
  r.add({"com.microsoft", "Gelu", 1, 1, 1, 1, infer_unary<Types::kFloat>});
  r.add({"com.microsoft", "FastGelu", 1, 2, 1, 1, infer_fast_gelu});
}

}  // namespace joule::ops
