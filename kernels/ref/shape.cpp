// Reference kernels for the shape family's data-movement ops. Every op here is one strided
// copy (kernels/ref/movement.h): the output is walked in row-major order and each element is read
// from `base + sum(idx_d * in_stride_d)` of the input, elements moved as 1/2/4/8-byte words.
//   Reshape/Flatten/Squeeze/Unsqueeze: same bytes, new shape (plain memcpy).
//   Transpose:    out dim i reads input dim perm[i]      -> in_stride_i = stride[perm[i]].
//   Expand:       broadcast dims read with stride 0.
//   Tile:         out viewed as [r0, d0, r1, d1, ...]    -> strides [0, s0, 0, s1, ...].
//   Slice:        out dim d reads start_d + i * step_d   -> base = sum start*stride, stride*step.
//   DepthToSpace / SpaceToDepth: 6-D views of NCHW (see below).
#include <cstring>

#include "kernels/kernel_registry.h"
#include "kernels/ref/movement.h"
#include "runtime/ops/infer_helpers.h"
#include "runtime/ops/shape_util.h"

namespace joule::kernels {

namespace {

Status unsupported_dtype(const KernelContext& ctx, DType t) {
  return ctx.fail_unsupported("dtype " + std::string(dtype_name(t)) + " is not supported");
}

// Reshape, Flatten, Squeeze, Unsqueeze: the output holds the input's bytes unchanged.
Status copy_ref(KernelContext& ctx) {
  const Tensor& in = ctx.in(0);
  Tensor& out = ctx.out(0);
  if (out.nbytes() != in.nbytes()) return internal_error(ctx.node.label() + ": output size differs from the input's");
  if (in.nbytes() && out.raw() != in.raw()) std::memcpy(out.raw(), in.raw(), in.nbytes());
  return Status::ok();
}

// Runs strided_copy from input 0 into output 0 with the given logical shape and strides.
Status copy_view(KernelContext& ctx, int64_t base, const std::vector<int64_t>& strides, const Shape& shape) {
  const Tensor& in = ctx.in(0);
  if (!strided_copy(in.raw(), base, strides, shape, ctx.out(0).raw(), dtype_size(in.dtype()))) return unsupported_dtype(ctx, in.dtype());
  return Status::ok();
}

Status transpose_ref(KernelContext& ctx) {
  const Shape& in = ctx.in(0).shape();
  const int r = static_cast<int>(in.size());
  std::vector<int64_t> perm = ctx.node.attr_ints("perm");
  if (!ctx.node.has_attr("perm"))
    for (int i = r - 1; i >= 0; --i) perm.push_back(i);
  std::vector<int64_t> st = ops::strides_of(in), view(static_cast<size_t>(r));
  for (int i = 0; i < r; ++i) view[static_cast<size_t>(i)] = st[static_cast<size_t>(perm[static_cast<size_t>(i)])];
  return copy_view(ctx, 0, view, ctx.out(0).shape());
}

Status expand_ref(KernelContext& ctx) {
  const Shape& out = ctx.out(0).shape();
  return copy_view(ctx, 0, ops::broadcast_strides(ctx.in(0).shape(), out), out);
}

Status tile_ref(KernelContext& ctx) {
  const Shape& in = ctx.in(0).shape();
  const Shape& out = ctx.out(0).shape();
  if (ctx.out(0).numel() == 0) return Status::ok();
  std::vector<int64_t> st = ops::strides_of(in), view_st;
  Shape view;
  for (size_t i = 0; i < in.size(); ++i) {
    view.push_back(out[i] / in[i]);  // repeat count (in[i] > 0 since the output is non-empty)
    view_st.push_back(0);
    view.push_back(in[i]);
    view_st.push_back(st[i]);
  }
  return copy_view(ctx, 0, view_st, view);
}

Status slice_ref(KernelContext& ctx) {
  auto in_at = [&](size_t i) { return ctx.has_input(i) ? ctx.inputs[i] : nullptr; };
  ops::SliceParams p;
  std::string err = ops::resolve_slice(ctx.node, ctx.in(0).shape(), in_at(1), in_at(2), in_at(3), in_at(4), p);
  if (!err.empty()) return ctx.fail(err);
  if (p.out != ctx.out(0).shape()) return internal_error(ctx.node.label() + ": slice shape differs from the inferred one");
  std::vector<int64_t> st = ops::strides_of(ctx.in(0).shape());
  int64_t base = 0;
  for (size_t d = 0; d < st.size(); ++d) {
    base += p.start[d] * st[d];
    // A dim of output length <= 1 never advances (and its |step| may be huge, e.g. INT64_MAX).
    st[d] = p.out[d] <= 1 ? 0 : st[d] * p.step[d];
  }
  return copy_view(ctx, base, st, p.out);
}

// DepthToSpace: out [N, C', H*b, W*b] is read as the 6-D view [N, C', H, b1, W, b2] of
// input [N, C, H, W] with C = C' * b * b. The input channel of (c', b1, b2) is
//   DCR: b1 * b * C' + b2 * C' + c'      CRD: c' * b * b + b1 * b + b2.
Status depth_to_space_ref(KernelContext& ctx) {
  const Shape& in = ctx.in(0).shape();
  const int64_t n = in[0], c = in[1], h = in[2], w = in[3];
  const int64_t b = ctx.node.attr_int("blocksize", 1), co = c / (b * b), hw = h * w;
  const bool crd = ctx.node.attr_string("mode", "DCR") == "CRD";
  const Shape view = {n, co, h, b, w, b};
  const std::vector<int64_t> st = crd ? std::vector<int64_t>{c * hw, b * b * hw, w, b * hw, 1, hw}
                                      : std::vector<int64_t>{c * hw, hw, w, b * co * hw, 1, co * hw};
  return copy_view(ctx, 0, st, view);
}

// SpaceToDepth: out [N, C*b*b, H/b, W/b] is the 6-D view [N, b1, b2, C, H', W'] with
// out channel b1 * b * C + b2 * C + c reading input [n, c, h' * b + b1, w' * b + b2].
Status space_to_depth_ref(KernelContext& ctx) {
  const Shape& in = ctx.in(0).shape();
  const int64_t n = in[0], c = in[1], h = in[2], w = in[3];
  const int64_t b = ctx.node.attr_int("blocksize", 1);
  const Shape view = {n, b, b, c, h / b, w / b};
  const std::vector<int64_t> st = {c * h * w, w, 1, h * w, b * w, b};
  return copy_view(ctx, 0, st, view);
}

KernelDef ref(const char* op, const char* name, KernelFn fn) {
  return {"", op, name, Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, fn};
}

}  // namespace

void register_ref_shape(KernelRegistry& r) {
  r.add(ref("Reshape", "reshape__ref", copy_ref));
  r.add(ref("Flatten", "flatten__ref", copy_ref));
  r.add(ref("Squeeze", "squeeze__ref", copy_ref));
  r.add(ref("Unsqueeze", "unsqueeze__ref", copy_ref));
  r.add(ref("Transpose", "transpose__ref", transpose_ref));
  r.add(ref("Expand", "expand__ref", expand_ref));
  r.add(ref("Tile", "tile__ref", tile_ref));
  r.add(ref("Slice", "slice__ref", slice_ref));
  r.add(ref("DepthToSpace", "depthtospace__ref", depth_to_space_ref));
  r.add(ref("SpaceToDepth", "spacetodepth__ref", space_to_depth_ref));
  register_ref_concat_split(r);
  register_ref_shape_gen(r);
}

}  // namespace joule::kernels
