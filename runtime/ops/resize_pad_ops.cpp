// Op definitions (arity, shape and type inference) for the resize_pad family: Pad, Resize, Upsample.
// Output shapes depend on input VALUES (pads, scales, sizes); when those are not known at load
// time inference returns needs_value and the shape is computed at run time.
#include "runtime/ops/infer_helpers.h"
#include "runtime/ops/op_registry.h"
#include "runtime/ops/resize_pad_params.h"

namespace joule::ops {

namespace {

// True when input i is present with at least one element (an empty tensor counts as omitted).
bool input_given(const InferContext& ctx, size_t i) {
  return ctx.has_input(i) && shape_numel(ctx.input(i).shape) != 0;
}

Status label(const InferContext& ctx, const Status& s) { return s.with_context(ctx.node().label()); }

// Pad: data, pads (>= 11), constant_value (>= 11, optional), axes (>= 18, optional).
Status infer_pad(InferContext& ctx) {
  const Node& node = ctx.node();
  const Tensor* pads = nullptr;
  const Tensor* axes = nullptr;
  if (node.opset >= 11) {
    if (!ctx.has_input(1)) return ctx.fail("missing the pads input");
    if (!(pads = ctx.input_value(1))) return ctx.needs_value(1);
    if (ctx.has_input(2) && ctx.input(2).dtype != ctx.input(0).dtype && shape_numel(ctx.input(2).shape) != 0)
      return ctx.fail("constant_value is " + std::string(dtype_name(ctx.input(2).dtype)) + " but data is " +
                      std::string(dtype_name(ctx.input(0).dtype)));
    if (ctx.has_input(2) && shape_numel(ctx.input(2).shape) > 1)
      return ctx.fail("constant_value must be a scalar, got shape " + shape_to_string(ctx.input(2).shape));
    if (node.opset >= 18 && ctx.has_input(3) && !(axes = ctx.input_value(3))) return ctx.needs_value(3);
  }
  PadParams p;
  JOULE_RETURN_IF_ERROR(label(ctx, decode_pad(node, ctx.input(0).shape, pads, axes, p)));
  JOULE_RETURN_IF_ERROR(label(ctx, check_output_size(p.out_shape, dtype_size(ctx.input(0).dtype))));
  ctx.output(0) = TensorDesc::known(ctx.input(0).dtype, p.out_shape);
  return Status::ok();
}

// Resize (10: X, scales; 11+: X, roi, scales, sizes) and Upsample (7: scales attribute; 9: X, scales).
Status infer_resize(InferContext& ctx) {
  const Node& node = ctx.node();
  ResizeInputs slots = resize_input_slots(node);
  auto value_of = [&](int slot, const Tensor*& t) -> Status {
    t = nullptr;
    if (slot < 0 || !input_given(ctx, static_cast<size_t>(slot))) return Status::ok();
    t = ctx.input_value(static_cast<size_t>(slot));
    return t ? Status::ok() : ctx.needs_value(static_cast<size_t>(slot));
  };
  const Tensor *roi = nullptr, *scales = nullptr, *sizes = nullptr;
  JOULE_RETURN_IF_ERROR(value_of(slots.scales, scales));
  JOULE_RETURN_IF_ERROR(value_of(slots.sizes, sizes));
  // roi only matters for tf_crop_and_resize, and never for the output shape; the kernel reads it.
  ResizeParams p;
  JOULE_RETURN_IF_ERROR(label(ctx, decode_resize(node, ctx.input(0).shape, roi, scales, sizes, p)));
  JOULE_RETURN_IF_ERROR(label(ctx, check_output_size(p.out_shape, dtype_size(ctx.input(0).dtype))));
  ctx.output(0) = TensorDesc::known(ctx.input(0).dtype, p.out_shape);
  return Status::ok();
}

}  // namespace

void register_resize_pad_ops(OpRegistry& r) {
  r.add({"", "Pad", 1, 4, 1, 1, infer_pad});
  r.add({"", "Resize", 1, 4, 1, 1, infer_resize});
  r.add({"", "Upsample", 1, 2, 1, 1, infer_resize});
}

}  // namespace joule::ops
