// Op definitions (arity, shape and type inference) for elementwise ops.
#include "runtime/ops/infer_helpers.h"
#include "runtime/ops/op_registry.h"

namespace joule::ops {

namespace {

// Output = broadcast of all inputs, dtype of input 0.
Status infer_broadcast(InferContext& ctx) {
  Shape out = ctx.input(0).shape;
  for (size_t i = 1; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) continue;
    if (ctx.input(i).dtype != ctx.input(0).dtype)
      return ctx.fail("input " + std::to_string(i) + " is " + std::string(dtype_name(ctx.input(i).dtype)) + " but input 0 is " +
                      std::string(dtype_name(ctx.input(0).dtype)));
    auto b = broadcast_shapes(out, ctx.input(i).shape);
    if (!b) return ctx.fail("shapes " + shape_to_string(out) + " and " + shape_to_string(ctx.input(i).shape) + " cannot be broadcast");
    out = *b;
  }
  ctx.output(0) = TensorDesc::known(ctx.input(0).dtype, out);
  return Status::ok();
}

// Output has input 0's dtype and shape.
Status infer_same_as_input(InferContext& ctx) {
  ctx.output(0) = ctx.input(0);
  return Status::ok();
}

}  // namespace

void register_elementwise_ops(OpRegistry& r) {
  for (const char* op : {"Add", "Sub", "Mul", "Div"}) r.add({"", op, 2, 2, 1, 1, infer_broadcast});
  r.add({"", "Identity", 1, 1, 1, 1, infer_same_as_input});
}

}  // namespace joule::ops
