// Op definitions for the normalization ops: BatchNormalization (inference), InstanceNormalization,
// LayerNormalization, LRN and MeanVarianceNormalization. Outputs keep the input's shape and dtype
// except LayerNormalization's optional Mean / InvStdDev statistics.
#include "runtime/ops/infer_helpers.h"
#include "runtime/ops/op_registry.h"

namespace joule::ops {

namespace {

Status check_float_input(InferContext& ctx, int min_rank) {
  const TensorDesc& x = ctx.input(0);
  if (!dtype_is_float(x.dtype))
    return ctx.fail_unsupported("input dtype " + std::string(dtype_name(x.dtype)) + " is not a float type");
  if (x.rank() < min_rank)
    return ctx.fail("input shape " + shape_to_string(x.shape) + " needs rank >= " + std::to_string(min_rank));
  return Status::ok();
}

// Checks that input i is a float tensor of `want` elements (named for the message).
Status check_param(InferContext& ctx, size_t i, const char* name, int64_t want, const std::string& expect) {
  const TensorDesc& p = ctx.input(i);
  if (!dtype_is_float(p.dtype)) return ctx.fail(std::string(name) + " dtype " + std::string(dtype_name(p.dtype)) + " is not a float type");
  if (shape_numel(p.shape) != want)
    return ctx.fail(std::string(name) + " shape " + shape_to_string(p.shape) + " should hold " + expect);
  return Status::ok();
}

// BatchNormalization, inference form: Y = (X - mean) / sqrt(var + epsilon) * scale + B per channel.
Status infer_batch_norm(InferContext& ctx) {
  const Node& node = ctx.node();
  JOULE_RETURN_IF_ERROR(check_float_input(ctx, 2));
  if (node.opset >= 14 && node.attr_int("training_mode", 0) != 0)
    return ctx.fail_unsupported("training_mode=1 (normalizing with batch statistics) is not supported; joule runs inference only");
  for (size_t i = 1; i < node.outputs.size(); ++i)
    if (node.outputs[i])
      return ctx.fail_unsupported("training outputs (running/saved mean and variance) are not supported; joule runs inference only");
  const Shape& xs = ctx.input(0).shape;
  int64_t c = xs[1];
  int64_t spatial = 1;
  for (size_t i = 2; i < xs.size(); ++i) spatial *= xs[i];
  // Before opset 9, spatial=0 means one statistic per (channel, position) instead of per channel.
  bool per_element = node.opset < 9 && node.attr_int("spatial", 1) == 0;
  int64_t want = per_element ? c * spatial : c;
  std::string expect = per_element ? std::to_string(want) + " values (C x spatial, spatial=0)" : std::to_string(c) + " values (one per channel)";
  const char* names[] = {"scale", "B", "mean", "var"};
  for (size_t i = 1; i <= 4; ++i) JOULE_RETURN_IF_ERROR(check_param(ctx, i, names[i - 1], want, expect));
  ctx.output(0) = ctx.input(0);
  return Status::ok();
}

Status infer_instance_norm(InferContext& ctx) {
  JOULE_RETURN_IF_ERROR(check_float_input(ctx, 2));
  int64_t c = ctx.input(0).shape[1];
  JOULE_RETURN_IF_ERROR(check_param(ctx, 1, "scale", c, std::to_string(c) + " values (one per channel)"));
  JOULE_RETURN_IF_ERROR(check_param(ctx, 2, "B", c, std::to_string(c) + " values (one per channel)"));
  ctx.output(0) = ctx.input(0);
  return Status::ok();
}

// LayerNormalization (opset 17): normalizes over dims [axis, rank); Scale and B broadcast to them.
// Mean and InvStdDev have shape X.shape[:axis] + [1] * (rank - axis) and the stash_type dtype.
Status infer_layer_norm(InferContext& ctx) {
  const Node& node = ctx.node();
  JOULE_RETURN_IF_ERROR(check_float_input(ctx, 1));
  const Shape& xs = ctx.input(0).shape;
  int rank = static_cast<int>(xs.size());
  auto axis = normalize_axis(node.attr_int("axis", -1), rank);
  if (!axis) return ctx.fail("axis " + std::to_string(node.attr_int("axis", -1)) + " is out of range for rank " + std::to_string(rank));
  Shape norm_shape(xs.begin() + *axis, xs.end());
  for (size_t i = 1; i <= 2; ++i) {
    if (!ctx.has_input(i)) continue;
    const TensorDesc& p = ctx.input(i);
    const char* name = i == 1 ? "Scale" : "B";
    if (!dtype_is_float(p.dtype)) return ctx.fail(std::string(name) + " dtype " + std::string(dtype_name(p.dtype)) + " is not a float type");
    auto b = broadcast_shapes(norm_shape, p.shape);
    if (p.rank() > static_cast<int>(norm_shape.size()) || !b || *b != norm_shape)
      return ctx.fail(std::string(name) + " shape " + shape_to_string(p.shape) + " does not broadcast to the normalized shape " +
                      shape_to_string(norm_shape));
  }
  DType stash = dtype_from_onnx(static_cast<int32_t>(node.attr_int("stash_type", 1)));
  if (!dtype_is_float(stash)) return ctx.fail("stash_type " + std::to_string(node.attr_int("stash_type", 1)) + " is not a float type");
  ctx.output(0) = ctx.input(0);
  Shape stat_shape = xs;
  for (int i = *axis; i < rank; ++i) stat_shape[static_cast<size_t>(i)] = 1;
  for (size_t i = 1; i < ctx.num_outputs(); ++i) ctx.output(i) = TensorDesc::known(stash, stat_shape);
  return Status::ok();
}

Status infer_lrn(InferContext& ctx) {
  JOULE_RETURN_IF_ERROR(check_float_input(ctx, 2));
  if (!ctx.node().has_attr("size")) return ctx.fail("size attribute is required");
  if (ctx.node().attr_int("size", 0) < 1) return ctx.fail("size " + std::to_string(ctx.node().attr_int("size", 0)) + " must be >= 1");
  ctx.output(0) = ctx.input(0);
  return Status::ok();
}

Status infer_mvn(InferContext& ctx) {
  JOULE_RETURN_IF_ERROR(check_float_input(ctx, 1));
  int rank = ctx.input(0).rank();
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (int64_t a : ctx.node().attr_ints("axes", {0, 2, 3})) {
    auto ax = normalize_axis(a, rank);
    if (!ax) return ctx.fail("axis " + std::to_string(a) + " is out of range for rank " + std::to_string(rank));
    if (seen[static_cast<size_t>(*ax)]) return ctx.fail("axis " + std::to_string(a) + " is listed twice");
    seen[static_cast<size_t>(*ax)] = true;
  }
  ctx.output(0) = ctx.input(0);
  return Status::ok();
}

}  // namespace

void register_norm_ops(OpRegistry& r) {
  r.add({"", "BatchNormalization", 5, 5, 1, 5, infer_batch_norm});
  r.add({"", "InstanceNormalization", 3, 3, 1, 1, infer_instance_norm});
  r.add({"", "LayerNormalization", 2, 3, 1, 3, infer_layer_norm});
  r.add({"", "LRN", 1, 1, 1, 1, infer_lrn});
  r.add({"", "MeanVarianceNormalization", 1, 1, 1, 1, infer_mvn});
}

}  // namespace joule::ops
