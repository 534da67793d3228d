// CUDA kernels of Softmax / LogSoftmax, LayerNormalization, Transpose and pooling (launchers in
// softmax_layernorm.cu and transpose_pool.cu). Attribute handling mirrors the reference kernels.
#include "kernels/cuda/cuda_kernel_def.h"
#include "runtime/ops/infer_helpers.h"
#include "runtime/ops/window_geometry.h"

namespace joule::kernels::cuda {

namespace {

int64_t product(const Shape& s, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; ++i) p *= s[i];
  return p;
}

bool accepts_float0(const KernelQuery& q) { return same_float_inputs(q, {0}) && q.inputs[0].rank_known; }

// ---- Softmax / LogSoftmax: opset >= 13 along one axis; older opsets over the flattened dims >= axis.
Status run_softmax(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const int rank = x.rank();
  const bool v13 = ctx.node.opset >= 13;
  auto axis = ops::normalize_axis(ctx.node.attr_int("axis", v13 ? -1 : 1), std::max(rank, 1));
  if (!axis) return ctx.fail("axis out of range");
  const size_t ax = static_cast<size_t>(*axis);
  const Shape& s = x.shape();
  if (rank == 0) return launch_softmax(x.dtype(), x.raw(), ctx.out(0).raw(), 1, 1, 1, ctx.node.op_type == "LogSoftmax", stream_of_ctx(ctx));
  const int64_t outer = product(s, 0, ax);
  const int64_t len = v13 ? s[ax] : product(s, ax, s.size());
  const int64_t inner = v13 ? product(s, ax + 1, s.size()) : 1;
  return launch_softmax(x.dtype(), x.raw(), ctx.out(0).raw(), outer, len, inner, ctx.node.op_type == "LogSoftmax",
                        stream_of_ctx(ctx));
}

// ---- LayerNormalization (Y only; the optional Mean / InvStdDev outputs are not produced on CUDA).
bool accepts_layer_norm(const KernelQuery& q) {
  if (!same_float_inputs(q, {0, 1, 2}) || !q.inputs[0].rank_known) return false;
  for (size_t i = 1; i < q.node.outputs.size(); ++i)
    if (q.node.outputs[i]) return false;
  return true;
}

Status run_layer_norm(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  auto axis = ops::normalize_axis(ctx.node.attr_int("axis", -1), x.rank());
  if (!axis) return ctx.fail("axis out of range");
  const int64_t rows = product(x.shape(), 0, static_cast<size_t>(*axis));
  const int64_t cols = product(x.shape(), static_cast<size_t>(*axis), x.shape().size());
  const Tensor& scale = ctx.in(1);
  if (scale.numel() != cols) return ctx.fail_unsupported("Scale must hold the " + std::to_string(cols) + " normalized elements on CUDA");
  const void* bias = nullptr;
  if (ctx.has_input(2)) {
    if (ctx.in(2).numel() != cols) return ctx.fail_unsupported("B must hold the " + std::to_string(cols) + " normalized elements on CUDA");
    bias = ctx.in(2).raw();
  }
  return launch_layer_norm(x.dtype(), x.raw(), scale.raw(), bias, ctx.out(0).raw(), rows, cols,
                           ctx.node.attr_float("epsilon", 1e-5f), stream_of_ctx(ctx));
}

// ---- Transpose: any dtype of 1, 2, 4 or 8 bytes.
bool accepts_transpose(const KernelQuery& q) {
  const size_t es = dtype_size(q.inputs[0].dtype);
  return (es == 1 || es == 2 || es == 4 || es == 8) && q.inputs[0].dtype != DType::kString &&
         q.inputs[0].rank_known && q.inputs[0].shape.size() <= kMaxRank;
}

Status run_transpose(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const int rank = x.rank();
  std::vector<int64_t> perm = ctx.node.attr_ints("perm");
  if (perm.empty())
    for (int d = rank - 1; d >= 0; --d) perm.push_back(d);
  if (static_cast<int>(perm.size()) != rank) return ctx.fail("perm has the wrong length");
  std::vector<int64_t> xs = ops::strides_of(x.shape());
  int64_t out_dims[kMaxRank], in_stride[kMaxRank];
  for (int d = 0; d < rank; ++d) {
    if (perm[size_t(d)] < 0 || perm[size_t(d)] >= rank) return ctx.fail("perm value out of range");
    out_dims[d] = x.dim(static_cast<int>(perm[size_t(d)]));
    in_stride[d] = xs[size_t(perm[size_t(d)])];
  }
  return launch_transpose(static_cast<int>(dtype_size(x.dtype())), x.raw(), ctx.out(0).raw(), rank, out_dims, in_stride,
                          x.numel(), stream_of_ctx(ctx));
}

// ---- Pooling over 1-3 spatial dims, NC... layout.
bool accepts_pool(const KernelQuery& q) {
  if (!accepts_float0(q)) return false;
  const size_t r = q.inputs[0].shape.size();
  if (r < 3 || r > 5) return false;
  return q.node.outputs.size() < 2 || !q.node.outputs[1];  // MaxPool Indices: not on CUDA
}

Status run_pool(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  ops::WindowGeometry w;
  const bool ceil_mode = ctx.node.attr_int("ceil_mode", 0) != 0;
  std::string err = ops::resolve_window(ctx.node, Shape(x.shape().begin() + 2, x.shape().end()), ctx.node.attr_ints("kernel_shape"),
                                        ceil_mode ? ops::WindowRounding::kCeil : ops::WindowRounding::kFloor, w);
  if (!err.empty()) return ctx.fail(err);
  w = w.as_3d();
  PoolGeometry3d g;
  for (int d = 0; d < 3; ++d) {
    g.in[d] = w.in[size_t(d)];
    g.kernel[d] = w.kernel[size_t(d)];
    g.strides[d] = w.strides[size_t(d)];
    g.dilations[d] = w.dilations[size_t(d)];
    g.pad_begin[d] = w.pad_begin[size_t(d)];
    g.pad_end[d] = w.pad_end[size_t(d)];
    g.out[d] = w.out[size_t(d)];
  }
  if (g.out[0] * g.out[1] * g.out[2] * x.dim(0) * x.dim(1) != ctx.out(0).numel()) return ctx.fail("output size mismatch");
  PoolKind kind = ctx.node.op_type == "MaxPool" ? PoolKind::kMax
                  : ctx.node.attr_int("count_include_pad", 0) != 0 ? PoolKind::kAverageIncludePad
                                                                  : PoolKind::kAverage;
  return launch_pool(kind, x.dtype(), x.raw(), ctx.out(0).raw(), x.dim(0) * x.dim(1), g, stream_of_ctx(ctx));
}

bool accepts_global_pool(const KernelQuery& q) { return accepts_float0(q) && q.inputs[0].shape.size() >= 3; }

Status run_global_pool(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  return launch_global_pool(ctx.node.op_type == "GlobalMaxPool", x.dtype(), x.raw(), ctx.out(0).raw(), x.dim(0) * x.dim(1),
                            product(x.shape(), 2, x.shape().size()), stream_of_ctx(ctx));
}

}  // namespace

void register_cuda_nn(KernelRegistry& r) {
  r.add(cuda_kernel("", "Softmax", "softmax_f32_f16__cuda", accepts_float0, nullptr, run_softmax));
  r.add(cuda_kernel("", "LogSoftmax", "log_softmax_f32_f16__cuda", accepts_float0, nullptr, run_softmax));
  r.add(cuda_kernel("", "LayerNormalization", "layer_norm_f32_f16__cuda", accepts_layer_norm, nullptr, run_layer_norm));
  r.add(cuda_kernel("", "Transpose", "transpose__cuda", accepts_transpose, nullptr, run_transpose));
  r.add(cuda_kernel("", "MaxPool", "max_pool_f32_f16__cuda", accepts_pool, nullptr, run_pool));
  r.add(cuda_kernel("", "AveragePool", "average_pool_f32_f16__cuda", accepts_pool, nullptr, run_pool));
  r.add(cuda_kernel("", "GlobalAveragePool", "global_average_pool_f32_f16__cuda", accepts_global_pool, nullptr, run_global_pool));
  r.add(cuda_kernel("", "GlobalMaxPool", "global_max_pool_f32_f16__cuda", accepts_global_pool, nullptr, run_global_pool));
}

}  // namespace joule::kernels::cuda
