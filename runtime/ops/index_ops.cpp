// Op definitions (arity, shape and type inference) for the index family: Gather*, Scatter*,
// NonZero, OneHot, Compress, ReverseSequence. Index VALUES are checked by the kernels (an
// out-of-range index is a clean run-time error); shapes are checked here.
#include <cmath>

#include "runtime/ir/dtype_dispatch.h"
#include "runtime/ops/infer_helpers.h"
#include "runtime/ops/op_registry.h"
#include "runtime/ops/shape_util.h"

namespace joule::ops {

namespace {

bool is_index_type(DType t) { return t == DType::kI32 || t == DType::kI64; }

Status check_indices(const InferContext& ctx, size_t i) {
  if (!is_index_type(ctx.input(i).dtype))
    return ctx.fail("indices must be int32 or int64, not " + std::string(dtype_name(ctx.input(i).dtype)));
  return Status::ok();
}

// Gather: out = data[:axis] + indices.shape + data[axis+1:].
Status infer_gather(InferContext& ctx) {
  JOULE_RETURN_IF_ERROR(check_indices(ctx, 1));
  const Shape& data = ctx.input(0).shape;
  const int r = static_cast<int>(data.size());
  auto ax = normalize_axis(ctx.node().attr_int("axis", 0), r);
  if (!ax) return ctx.fail("axis " + std::to_string(ctx.node().attr_int("axis", 0)) + " is out of range for rank " + std::to_string(r));
  Shape out(data.begin(), data.begin() + *ax);
  out.insert(out.end(), ctx.input(1).shape.begin(), ctx.input(1).shape.end());
  out.insert(out.end(), data.begin() + *ax + 1, data.end());
  JOULE_RETURN_IF_ERROR(guard_size(ctx.node(), out, ctx.input(0).dtype));
  ctx.output(0) = TensorDesc::known(ctx.input(0).dtype, out);
  return Status::ok();
}

// GatherElements / ScatterElements / Scatter: indices have data's rank, and outside `axis`
// no larger dims than data (so every index tuple stays inside data).
Status check_elementwise_indices(const InferContext& ctx, size_t idx_input, int& axis) {
  JOULE_RETURN_IF_ERROR(check_indices(ctx, idx_input));
  const Shape& data = ctx.input(0).shape;
  const Shape& ind = ctx.input(idx_input).shape;
  const int r = static_cast<int>(data.size());
  if (r == 0) return ctx.fail("data must have rank >= 1");
  auto ax = normalize_axis(ctx.node().attr_int("axis", 0), r);
  if (!ax) return ctx.fail("axis " + std::to_string(ctx.node().attr_int("axis", 0)) + " is out of range for rank " + std::to_string(r));
  axis = *ax;
  bool ok = ind.size() == data.size();
  for (int d = 0; ok && d < r; ++d)
    if (d != axis && ind[static_cast<size_t>(d)] > data[static_cast<size_t>(d)]) ok = false;
  if (!ok) return ctx.fail("indices shape " + shape_to_string(ind) + " does not fit data shape " + shape_to_string(data));
  return Status::ok();
}

Status infer_gather_elements(InferContext& ctx) {
  int axis = 0;
  JOULE_RETURN_IF_ERROR(check_elementwise_indices(ctx, 1, axis));
  ctx.output(0) = TensorDesc::known(ctx.input(0).dtype, ctx.input(1).shape);
  return Status::ok();
}

Status check_reduction(const InferContext& ctx) {
  std::string red = ctx.node().attr_string("reduction", "none");
  if (red != "none" && red != "add" && red != "mul" && red != "max" && red != "min")
    return ctx.fail("unknown reduction '" + red + "'");
  if (red != "none" && ctx.input(0).dtype == DType::kBool) return ctx.fail_unsupported("reduction '" + red + "' on bool");
  return Status::ok();
}

Status infer_scatter_elements(InferContext& ctx) {
  int axis = 0;
  JOULE_RETURN_IF_ERROR(check_elementwise_indices(ctx, 1, axis));
  JOULE_RETURN_IF_ERROR(check_reduction(ctx));
  if (ctx.input(2).shape != ctx.input(1).shape)
    return ctx.fail("updates shape " + shape_to_string(ctx.input(2).shape) + " differs from indices shape " + shape_to_string(ctx.input(1).shape));
  if (ctx.input(2).dtype != ctx.input(0).dtype) return ctx.fail("updates and data have different dtypes");
  ctx.output(0) = ctx.input(0);
  return Status::ok();
}

// GatherND with batch_dims b: indices [..., k] index data's dims b..b+k-1;
// out = indices.shape[:-1] + data.shape[b+k:].
Status infer_gather_nd(InferContext& ctx) {
  JOULE_RETURN_IF_ERROR(check_indices(ctx, 1));
  const Shape& data = ctx.input(0).shape;
  const Shape& ind = ctx.input(1).shape;
  const int64_t b = ctx.node().attr_int("batch_dims", 0);
  const int64_t r = static_cast<int64_t>(data.size()), q = static_cast<int64_t>(ind.size());
  if (q < 1 || r < 1) return ctx.fail("data and indices must have rank >= 1");
  if (b < 0 || b >= std::min(q, r)) return ctx.fail("batch_dims " + std::to_string(b) + " must be less than both ranks");
  const int64_t k = ind.back();
  if (k < 1 || k > r - b) return ctx.fail("indices' last dim " + std::to_string(k) + " must be in [1, " + std::to_string(r - b) + "]");
  for (int64_t i = 0; i < b; ++i)
    if (data[static_cast<size_t>(i)] != ind[static_cast<size_t>(i)]) return ctx.fail("batch dims of data " + shape_to_string(data) + " and indices " + shape_to_string(ind) + " differ");
  Shape out(ind.begin(), ind.end() - 1);
  out.insert(out.end(), data.begin() + b + k, data.end());
  JOULE_RETURN_IF_ERROR(guard_size(ctx.node(), out, ctx.input(0).dtype));
  ctx.output(0) = TensorDesc::known(ctx.input(0).dtype, out);
  return Status::ok();
}

// ScatterND: updates = indices.shape[:-1] + data.shape[k:].
Status infer_scatter_nd(InferContext& ctx) {
  JOULE_RETURN_IF_ERROR(check_indices(ctx, 1));
  JOULE_RETURN_IF_ERROR(check_reduction(ctx));
  const Shape& data = ctx.input(0).shape;
  const Shape& ind = ctx.input(1).shape;
  if (ind.empty() || data.empty()) return ctx.fail("data and indices must have rank >= 1");
  const int64_t k = ind.back();
  if (k < 1 || k > static_cast<int64_t>(data.size())) return ctx.fail("indices' last dim " + std::to_string(k) + " must be in [1, " + std::to_string(data.size()) + "]");
  Shape want(ind.begin(), ind.end() - 1);
  want.insert(want.end(), data.begin() + k, data.end());
  if (ctx.input(2).shape != want) return ctx.fail("updates shape " + shape_to_string(ctx.input(2).shape) + " should be " + shape_to_string(want));
  if (ctx.input(2).dtype != ctx.input(0).dtype) return ctx.fail("updates and data have different dtypes");
  ctx.output(0) = ctx.input(0);
  return Status::ok();
}

// NonZero: int64 [rank, count of non-zero elements]; a scalar counts as rank 1 (as numpy).
Status infer_nonzero(InferContext& ctx) {
  const Tensor* x = ctx.input_value(0);
  if (!x) return ctx.needs_value(0);
  int64_t nnz = 0;
  bool ok = dispatch_all(x->dtype(), [&]<class T>() {
    const T* p = x->data<T>();
    for (int64_t i = 0; i < x->numel(); ++i) nnz += to_compute(p[i]) != ComputeT<T>(0);
  });
  if (!ok) return ctx.fail_unsupported("dtype " + std::string(dtype_name(x->dtype())));
  ctx.output(0) = TensorDesc::known(DType::kI64, {std::max<int64_t>(x->rank(), 1), nnz});
  return Status::ok();
}

// OneHot: inserts a dim of size `depth` at `axis` (default -1) of the indices' shape.
Status infer_one_hot(InferContext& ctx) {
  const Tensor* dv = ctx.input_value(1);
  if (!dv) return ctx.needs_value(1);
  if (dv->numel() != 1) return ctx.fail("depth must hold one value");
  const double depth_f = dv->value_as_double(0);
  if (!std::isfinite(depth_f) || depth_f < 1 || depth_f > static_cast<double>(int64_t{1} << 40))
    return ctx.fail("depth " + std::to_string(depth_f) + " is not a valid positive size");
  const int64_t depth = static_cast<int64_t>(depth_f);
  if (shape_numel(ctx.input(2).shape) != 2) return ctx.fail("values must hold two elements [off, on]");
  const Shape& ind = ctx.input(0).shape;
  const int r = static_cast<int>(ind.size()) + 1;
  auto ax = normalize_axis(ctx.node().attr_int("axis", -1), r);
  if (!ax) return ctx.fail("axis " + std::to_string(ctx.node().attr_int("axis", -1)) + " is out of range for output rank " + std::to_string(r));
  Shape out = ind;
  out.insert(out.begin() + *ax, depth);
  JOULE_RETURN_IF_ERROR(guard_size(ctx.node(), out, ctx.input(2).dtype));
  ctx.output(0) = TensorDesc::known(ctx.input(2).dtype, out);
  return Status::ok();
}

// Compress: keeps the slices along `axis` (or elements of the flattened input) whose condition
// is true; a condition shorter than the dim drops the rest.
Status infer_compress(InferContext& ctx) {
  const Tensor* c = ctx.input_value(1);
  if (!c) return ctx.needs_value(1);
  if (c->rank() != 1) return ctx.fail("condition must be 1-D");
  const Shape& in = ctx.input(0).shape;
  Shape out;
  size_t ax = 0;  // the dim of `out` that shrinks
  if (ctx.node().has_attr("axis")) {
    auto a = normalize_axis(ctx.node().attr_int("axis", 0), static_cast<int>(in.size()));
    if (!a) return ctx.fail("axis " + std::to_string(ctx.node().attr_int("axis", 0)) + " is out of range for rank " + std::to_string(in.size()));
    out = in;
    ax = static_cast<size_t>(*a);
  } else {
    out = {shape_numel(in)};
  }
  int64_t kept = 0;
  for (int64_t i = 0; i < std::min(out[ax], c->numel()); ++i) kept += c->value_as_double(i) != 0;
  out[ax] = kept;
  ctx.output(0) = TensorDesc::known(ctx.input(0).dtype, out);
  return Status::ok();
}

// ReverseSequence: same shape; batch_axis/time_axis are 0 and 1 in some order.
Status infer_reverse_sequence(InferContext& ctx) {
  const Shape& in = ctx.input(0).shape;
  const int64_t ba = ctx.node().attr_int("batch_axis", 1), ta = ctx.node().attr_int("time_axis", 0);
  if (in.size() < 2) return ctx.fail("input must have rank >= 2");
  if (!((ba == 0 && ta == 1) || (ba == 1 && ta == 0))) return ctx.fail("batch_axis and time_axis must be 0 and 1 in some order");
  if (ctx.input(1).shape != Shape{in[static_cast<size_t>(ba)]})
    return ctx.fail("sequence_lens shape " + shape_to_string(ctx.input(1).shape) + " should be [" + std::to_string(in[static_cast<size_t>(ba)]) + "]");
  JOULE_RETURN_IF_ERROR(check_indices(ctx, 1));
  ctx.output(0) = ctx.input(0);
  return Status::ok();
}

}  // namespace

void register_index_ops(OpRegistry& r) {
  r.add({"", "Gather", 2, 2, 1, 1, infer_gather});
  r.add({"", "GatherElements", 2, 2, 1, 1, infer_gather_elements});
  r.add({"", "GatherND", 2, 2, 1, 1, infer_gather_nd});
  r.add({"", "ScatterElements", 3, 3, 1, 1, infer_scatter_elements});
  r.add({"", "Scatter", 3, 3, 1, 1, infer_scatter_elements});
  r.add({"", "ScatterND", 3, 3, 1, 1, infer_scatter_nd});
  r.add({"", "NonZero", 1, 1, 1, 1, infer_nonzero});
  r.add({"", "OneHot", 3, 3, 1, 1, infer_one_hot});
  r.add({"", "Compress", 2, 2, 1, 1, infer_compress});
  r.add({"", "ReverseSequence", 2, 2, 1, 1, infer_reverse_sequence});
  register_unique_op(r);
}

}  // namespace joule::ops
