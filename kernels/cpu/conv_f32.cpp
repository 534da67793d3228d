// f32 Conv (1-D/2-D, any group but depthwise) on the packed GEMM, one KernelDef per micro-kernel ISA.
// Per image n and group g:  Y_g[OCg, OH*OW] = W_g[OCg, ICg*KH*KW] x col[ICg*KH*KW, OH*OW]
//   col[(ic*KH + kh)*KW + kw][oh*OW + ow] = X[n, g*ICg + ic, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw] (0 outside)
// 1x1 convolutions with unit strides and no pads use X[n] (NCHW) as col directly, without a copy.
// Constant weights are packed once in prepare (pack_a_f32 per group); col is packed per run.
// Bias (per output channel) and a fused Relu/Clip ("joule.activation") run in the GEMM epilogue.
#include <algorithm>
#include <memory>

#include "kernels/cpu/fused_activation.h"
#include "kernels/cpu/gemm_f32.h"
#include "kernels/kernel_registry.h"
#include "runtime/ops/window_geometry.h"

namespace joule::kernels::cpu {
namespace {

const GemmUkernel& ukernel(int u) { return gemm_f32_ukernels()[static_cast<size_t>(u)]; }

bool conv_accepts(const KernelQuery& q) {
  if (q.inputs.size() < 2) return false;
  for (size_t i = 0; i < q.inputs.size(); ++i)
    if (q.inputs[i].dtype != DType::kUndefined && q.inputs[i].dtype != DType::kF32) return false;
  const TensorDesc& w = q.inputs[1];
  if (!w.rank_known || (w.rank() != 3 && w.rank() != 4)) return false;
  // Depthwise (one input and one output channel per group) is left to a dedicated kernel.
  const int64_t group = q.node.attr_int("group", 1);
  if (group > 1 && w.shape[1] == 1 && w.shape[0] == group) return false;
  GemmEpilogue ep;
  return read_fused_activation(q.node, ep);
}

// Writes col (rows ICg*KH*KW, columns OH*OW) for one group of one image; x points at its first channel.
void im2col(const float* x, int64_t icg, const ops::WindowGeometry& g, float* col) {
  const int64_t H = g.in[1], W = g.in[2], OH = g.out[1], OW = g.out[2];
  const int64_t KH = g.kernel[1], KW = g.kernel[2];
  const int64_t sh = g.strides[1], sw = g.strides[2], dh = g.dilations[1], dw = g.dilations[2];
  const int64_t ph = g.pad_begin[1], pw = g.pad_begin[2];
  for (int64_t ic = 0; ic < icg; ++ic) {
    const float* xc = x + ic * H * W;
    for (int64_t kh = 0; kh < KH; ++kh)
      for (int64_t kw = 0; kw < KW; ++kw) {
        float* dst = col + ((ic * KH + kh) * KW + kw) * OH * OW;
        for (int64_t oh = 0; oh < OH; ++oh) {
          const int64_t ih = oh * sh - ph + kh * dh;
          float* d = dst + oh * OW;
          if (ih < 0 || ih >= H) {
            std::fill(d, d + OW, 0.0f);
            continue;
          }
          const float* xr = xc + ih * W;
          const int64_t off = kw * dw - pw;
          if (sw == 1) {
            // Valid ow: 0 <= ow + off < W.
            const int64_t lo = std::clamp<int64_t>(-off, 0, OW), hi = std::clamp<int64_t>(W - off, lo, OW);
            std::fill(d, d + lo, 0.0f);
            std::copy(xr + lo + off, xr + hi + off, d + lo);
            std::fill(d + hi, d + OW, 0.0f);
          } else {
            for (int64_t ow = 0; ow < OW; ++ow) {
              const int64_t iw = ow * sw + off;
              d[ow] = (iw >= 0 && iw < W) ? xr[iw] : 0.0f;
            }
          }
        }
      }
  }
}

/// Prepared state: W packed per group (pack_a_f32 of W_g[OCg, ICg*KH*KW]), groups back to back.
struct PackedConvWeight {
  std::vector<float> data;
  Shape w_shape;
  int64_t group = 1, per_group = 0;
};

template <int U>
Status conv_prepare(const KernelQuery& q, std::shared_ptr<const void>& state) {
  const Tensor* w = q.constant_inputs.size() > 1 ? q.constant_inputs[1] : nullptr;
  if (!w || w->dtype() != DType::kF32 || w->rank() < 3) return Status::ok();
  const int64_t group = q.node.attr_int("group", 1);
  if (group < 1 || w->dim(0) % group != 0) return Status::ok();
  auto pw = std::make_shared<PackedConvWeight>();
  const int64_t mg = w->dim(0) / group, kdim = w->numel() / std::max<int64_t>(w->dim(0), 1);
  pw->w_shape = w->shape();
  pw->group = group;
  pw->per_group = packed_a_size(ukernel(U), mg, kdim);
  pw->data.resize(static_cast<size_t>(pw->per_group * group));
  for (int64_t gi = 0; gi < group; ++gi)
    pack_a_f32(ukernel(U), w->data<float>() + gi * mg * kdim, kdim, 1, mg, kdim, pw->data.data() + gi * pw->per_group);
  state = pw;
  return Status::ok();
}

template <int U>
Status conv_run(KernelContext& ctx) {
  const GemmUkernel& uk = ukernel(U);
  for (size_t i = 0; i < ctx.num_inputs(); ++i)
    if (ctx.has_input(i) && ctx.in(i).dtype() != DType::kF32) return ctx.fail_unsupported("inputs are not all float32");
  const Tensor& x = ctx.in(0);
  const Tensor& w = ctx.in(1);
  Tensor& y = ctx.out(0);
  if (x.rank() != w.rank()) return ctx.fail("input and weight ranks differ");
  const int64_t group = ctx.node.attr_int("group", 1);
  const int64_t N = x.dim(0), C = x.dim(1), M = w.dim(0);
  if (group < 1 || C % group != 0 || M % group != 0 || w.dim(1) * group != C) return ctx.fail("channels do not match group");
  ops::WindowGeometry g;
  std::string err = ops::resolve_window(ctx.node, Shape(x.shape().begin() + 2, x.shape().end()),
                                        std::vector<int64_t>(w.shape().begin() + 2, w.shape().end()), ops::WindowRounding::kFloor, g);
  if (!err.empty()) return ctx.fail(err);
  g = g.as_3d();
  const int64_t icg = C / group, mg = M / group;
  const int64_t in_plane = g.in_size(), out_plane = g.out_size();
  const int64_t kdim = icg * g.kernel_size();
  if (y.numel() != N * M * out_plane) return ctx.fail("output shape does not match the convolution");
  bool pointwise = true;
  for (size_t i = 0; i < 3; ++i)
    pointwise = pointwise && g.kernel[i] == 1 && g.strides[i] == 1 && g.pad_begin[i] == 0 && g.pad_end[i] == 0;

  GemmEpilogue ep;
  read_fused_activation(ctx.node, ep);
  const bool has_bias = ctx.has_input(2) && ctx.in(2).numel() == M;
  auto* pw = static_cast<const PackedConvWeight*>(ctx.state);
  if (pw && (pw->w_shape != w.shape() || pw->group != group)) pw = nullptr;
  thread_local std::vector<float> col, bpack;
  if (!pointwise) col.resize(static_cast<size_t>(kdim * out_plane));
  bpack.resize(static_cast<size_t>(packed_b_size(uk, kdim, out_plane)));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t gi = 0; gi < group; ++gi) {
      const float* xg = x.data<float>() + (n * C + gi * icg) * in_plane;
      const float* b = xg;
      if (!pointwise) {
        im2col(xg, icg, g, col.data());
        b = col.data();
      }
      pack_b_f32(uk, b, out_plane, 1, kdim, out_plane, bpack.data());
      GemmEpilogue e = ep;
      if (has_bias) {
        e.bias = ctx.in(2).data<float>() + gi * mg;
        e.bias_rs = 1;
        e.bias_cs = 0;
      }
      const float* wpack = pw ? pw->data.data() + gi * pw->per_group : nullptr;
      gemm_f32_packed(uk, mg, out_plane, kdim, w.data<float>() + gi * mg * kdim, kdim, 1, bpack.data(),
                      y.data<float>() + (n * M + gi * mg) * out_plane, out_plane, e, ctx.pool, wpack);
    }
  return Status::ok();
}

}  // namespace

void register_cpu_conv(KernelRegistry& r) {
  r.add({"", "Conv", "conv_f32_gemm_6x16__avx2", Device::kCpu, Isa::kAvx2, 11, conv_accepts, conv_prepare<0>, conv_run<0>});
  r.add({"", "Conv", "conv_f32_gemm_12x32__avx512", Device::kCpu, Isa::kAvx512, 12, conv_accepts, conv_prepare<1>, conv_run<1>});
}

}  // namespace joule::kernels::cpu
