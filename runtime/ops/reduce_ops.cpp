// Op definitions (arity, shape and type inference) for the reduce family:
// Reduce* (10 ops), ArgMax/ArgMin, TopK, CumSum.
#include "runtime/ops/infer_helpers.h"
#include "runtime/ops/op_registry.h"
#include "runtime/ops/reduce_axes.h"

namespace joule::ops {

namespace {

// Reduce*: drops (keepdims=0) or keeps as 1 (keepdims=1) every reduced dim.
Status infer_reduce(InferContext& ctx) {
  const Node& node = ctx.node();
  const Tensor* axes = nullptr;
  if (reduce_axes_from_input(node) && ctx.has_input(1)) {
    axes = ctx.input_value(1);
    if (!axes) return ctx.needs_value(1);
  }
  const Shape& in = ctx.input(0).shape;
  std::vector<bool> reduced;
  bool noop = false;
  Status st = resolve_reduce_axes(node, static_cast<int>(in.size()), axes, reduced, noop);
  if (!st.is_ok()) return ctx.fail(st.message());
  bool keep = node.attr_int("keepdims", 1) != 0;
  Shape out;
  for (size_t d = 0; d < in.size(); ++d) {
    if (!reduced[d]) out.push_back(in[d]);
    else if (keep) out.push_back(1);
  }
  ctx.output(0) = TensorDesc::known(ctx.input(0).dtype, noop ? in : out);
  return Status::ok();
}

// ArgMax/ArgMin: int64 indices along `axis`.
Status infer_arg(InferContext& ctx) {
  const Shape& in = ctx.input(0).shape;
  int64_t axis = ctx.node().attr_int("axis", 0);
  auto a = normalize_axis(axis, static_cast<int>(in.size()));
  if (!a) return ctx.fail("axis " + std::to_string(axis) + " is out of range for input " + shape_to_string(in));
  if (in[static_cast<size_t>(*a)] == 0) return ctx.fail("cannot take the arg of an empty axis");
  Shape out = in;
  if (ctx.node().attr_int("keepdims", 1) != 0) out[static_cast<size_t>(*a)] = 1;
  else out.erase(out.begin() + *a);
  ctx.output(0) = TensorDesc::known(DType::kI64, out);
  return Status::ok();
}

// TopK: k from the attribute (opset < 10) or input 1 (a 1-element int64 tensor).
Status infer_topk(InferContext& ctx) {
  const Shape& in = ctx.input(0).shape;
  int64_t axis = ctx.node().attr_int("axis", -1);
  auto a = normalize_axis(axis, static_cast<int>(in.size()));
  if (!a) return ctx.fail("axis " + std::to_string(axis) + " is out of range for input " + shape_to_string(in));
  int64_t k = 0;
  if (ctx.node().opset < 10) {
    if (!ctx.node().has_attr("k")) return ctx.fail("missing attribute 'k'");
    k = ctx.node().attr_int("k", 0);
  } else {
    if (!ctx.has_input(1)) return ctx.fail("missing input K");
    const Tensor* kt = ctx.input_value(1);
    if (!kt) return ctx.needs_value(1);
    if (kt->numel() != 1) return ctx.fail("K must hold one value, got shape " + shape_to_string(kt->shape()));
    k = kt->value_as_int(0);
  }
  int64_t dim = in[static_cast<size_t>(*a)];
  if (k < 0 || k > dim) return ctx.fail("k = " + std::to_string(k) + " is outside [0, " + std::to_string(dim) + "] for axis " + std::to_string(*a));
  Shape out = in;
  out[static_cast<size_t>(*a)] = k;
  ctx.output(0) = TensorDesc::known(ctx.input(0).dtype, out);
  if (ctx.num_outputs() > 1) ctx.output(1) = TensorDesc::known(DType::kI64, out);
  return Status::ok();
}

// CumSum: same dtype and shape as x; axis is a 0-D (or 1-element) int32/int64 tensor.
Status infer_cumsum(InferContext& ctx) {
  DType at = ctx.input(1).dtype;
  if (at != DType::kI32 && at != DType::kI64) return ctx.fail("axis must be int32 or int64, got " + std::string(dtype_name(at)));
  if (shape_numel(ctx.input(1).shape) != 1) return ctx.fail("axis must hold one value, got shape " + shape_to_string(ctx.input(1).shape));
  if (const Tensor* t = ctx.input_value(1)) {
    int64_t axis = t->value_as_int(0);
    if (!normalize_axis(axis, ctx.input(0).rank()))
      return ctx.fail("axis " + std::to_string(axis) + " is out of range for input " + shape_to_string(ctx.input(0).shape));
  }
  ctx.output(0) = ctx.input(0);
  return Status::ok();
}

}  // namespace

void register_reduce_ops(OpRegistry& r) {
  for (const char* op : {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
                         "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp"})
    r.add({"", op, 1, 2, 1, 1, infer_reduce});
  r.add({"", "ArgMax", 1, 1, 1, 1, infer_arg});
  r.add({"", "ArgMin", 1, 1, 1, 1, infer_arg});
  r.add({"", "TopK", 1, 2, 2, 2, infer_topk});
  r.add({"", "CumSum", 2, 2, 1, 1, infer_cumsum});
}

}  // namespace joule::ops
