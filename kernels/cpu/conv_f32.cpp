// f32 Conv (1-D/2-D, any group but depthwise) on the packed GEMM, one KernelDef per micro-kernel ISA.
// Per image n and group g, in one of two orientations (chosen per node from the padded-lane count):
//  - channels x pixels:  Y_g[OCg, OH*OW] = W_g[OCg, K] x col[K, OH*OW], K = ICg*KH*KW; W_g is the packed
//    A operand (packed once at prepare) and col is written by im2col straight into the micro-kernel's
//    B panel layout (one pass, no separate im2col matrix) when output rows
//    are at least min(NR, 16) wide, else by a plain im2col and one packing pass; 1x1 convs with unit strides
//    and no pads pack X[n] itself. Good when OH*OW fills the NR lanes.
//  - pixels x channels (small planes, e.g. the 2x2 / 4x4 late stages): Y_g^T[OH*OW, OCg] = col^T x W_g^T,
//    so the output channels fill the NR lanes instead of a handful of pixels; W_g^T is the packed B
//    operand (packed at prepare), col^T is written straight in the packed A layout, and the result is
//    transposed into NCHW.
//   col[(ic*KH + kh)*KW + kw][oh*OW + ow] = X[n, g*ICg + ic, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw] (0 outside)
// Bias (per output channel) and a fused Relu/Clip ("joule.activation") run in the GEMM epilogue.
#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>

#include "kernels/cpu/fused_activation.h"
#include "kernels/cpu/gemm_f32.h"
#include "kernels/kernel_registry.h"
#include "runtime/ops/window_geometry.h"

namespace joule::kernels::cpu {
namespace {

const GemmUkernel& ukernel(int u) { return gemm_f32_ukernels()[static_cast<size_t>(u)]; }

// Pixel chunks (see conv_run) for weights up to kSmallWeightBytes: packed columns of about kChunkBytes.
constexpr int64_t kSmallWeightBytes = 64 << 10;
constexpr int64_t kChunkBytes = 256 << 10;

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

// Splits the rows of icg planes (H x W) into sw column phases: phase px of plane ic, row ih is
// dst[((ic*sw + px)*H + ih)*ceil(W/sw) + j] = x[ic, ih, j*sw + px].
void split_column_phases(const float* x, int64_t icg, int64_t H, int64_t W, int64_t sw, float* dst) {
  const int64_t wph = (W + sw - 1) / sw;
  for (int64_t ic = 0; ic < icg; ++ic)
    for (int64_t px = 0; px < sw; ++px)
      for (int64_t ih = 0; ih < H; ++ih) {
        const float* src = x + (ic * H + ih) * W + px;
        float* row = dst + ((ic * sw + px) * H + ih) * wph;
        const int64_t cnt = (W - px + sw - 1) / sw;
        for (int64_t j = 0; j < cnt; ++j) row[j] = src[j * sw];
      }
}

// Writes the pixel columns [p0, p1) of col (as above; p0 a multiple of nr) for one group of one image
// directly as packed GEMM B panels: dst[ceil((p1-p0)/nr)][kdim][nr], pixels past p1 zero; x points
// at the group's first channel.
// With a column stride sw > 1, `phases` holds x split by split_column_phases, so that every tap reads
// a contiguous run of a phase row.
template <int64_t nr>
void im2col_packed(const float* x, const float* phases, int64_t icg, const ops::WindowGeometry& g, int64_t p0, int64_t p1,
                   float* dst) {
  const int64_t H = g.in[1], W = g.in[2], OH = g.out[1], OW = g.out[2];
  const int64_t KH = g.kernel[1], KW = g.kernel[2];
  const int64_t sh = g.strides[1], sw = g.strides[2], dh = g.dilations[1], dw = g.dilations[2];
  const int64_t ph = g.pad_begin[1], pw = g.pad_begin[2];
  const int64_t kdim = icg * KH * KW, P = p1 - p0, panels = (P + nr - 1) / nr, tail = P - (panels - 1) * nr;
  if (tail < nr)
    for (int64_t r = 0; r < kdim; ++r) std::fill(dst + ((panels - 1) * kdim + r) * nr + tail, dst + ((panels - 1) * kdim + r + 1) * nr, 0.0f);
  const int64_t wph = (W + sw - 1) / sw;  // row length of a column phase
  for (int64_t ic = 0; ic < icg; ++ic)
    for (int64_t kh = 0; kh < KH; ++kh)
      for (int64_t kw = 0; kw < KW; ++kw) {
        float* base = dst + ((ic * KH + kh) * KW + kw) * nr;
        // Output column ow reads input column ow*sw + o = (ow + q)*sw + px: element ow + q of phase px.
        const int64_t o = kw * dw - pw, px = ((o % sw) + sw) % sw, q = (o - px) / sw;
        const int64_t wv = sw > 1 ? (W - px + sw - 1) / sw : W;  // valid columns in that phase
        const float* plane = sw > 1 ? phases + (ic * sw + px) * H * wph : x + ic * H * W;
        const int64_t row_len = sw > 1 ? wph : W;
        const int64_t lo = std::clamp<int64_t>(-q, 0, OW), hi = std::clamp<int64_t>(wv - q, lo, OW);
        for (int64_t oh = p0 / OW; oh < OH && oh * OW < p1; ++oh) {
          const int64_t ih = oh * sh - ph + kh * dh;
          const bool row_ok = ih >= 0 && ih < H;
          const float* xr = row_ok ? plane + ih * row_len : nullptr;
          const int64_t ow_end = std::min(OW, p1 - oh * OW);
          int64_t ow = std::max<int64_t>(0, p0 - oh * OW);
          int64_t panel = (oh * OW + ow - p0) / nr, off = (oh * OW + ow - p0) % nr;
          while (ow < ow_end) {
            const int64_t len = std::min(nr - off, ow_end - ow);
            float* d = base + panel * kdim * nr + off;  // d[t - ow] for output column t
            if (row_ok && ow >= lo && ow + len <= hi) {
              const float* src = xr + ow + q;
              if (len == nr) {
                std::memcpy(d, src, nr * sizeof(float));  // full panel row: fixed-length copy, inlined
              } else {
                for (int64_t t = 0; t < len; ++t) d[t] = src[t];
              }
            } else if (!row_ok) {
              for (int64_t t = 0; t < len; ++t) d[t] = 0.0f;
            } else {
              const int64_t a = std::clamp(lo, ow, ow + len), b = std::clamp(hi, a, ow + len);
              for (int64_t t = ow; t < a; ++t) d[t - ow] = 0.0f;
              for (int64_t t = a; t < b; ++t) d[t - ow] = xr[t + q];
              for (int64_t t = b; t < ow + len; ++t) d[t - ow] = 0.0f;
            }
            off += len;
            if (off == nr) {
              off = 0;
              ++panel;
            }
            ow += len;
          }
        }
      }
}

// Writes col^T (pixels x K, for the pixels x channels orientation) for one group of one image directly
// in pack_a_f32's layout for `uk` (M = OH*OW pixels), so the GEMM driver needs no packing pass.
void im2col_packed_a(const float* x, int64_t icg, const ops::WindowGeometry& g, const GemmUkernel& uk, float* dst) {
  const int64_t H = g.in[1], W = g.in[2], OH = g.out[1], OW = g.out[2];
  const int64_t KH = g.kernel[1], KW = g.kernel[2];
  const int64_t kdim = icg * KH * KW, P = OH * OW, mr = uk.mr, MC = gemm_f32_mc(), KC = gemm_f32_kc(uk);
  std::fill(dst, dst + packed_a_size(uk, P, kdim), 0.0f);  // padding rows of the last MR group
  thread_local std::vector<int64_t> ih0, iw0, slot;
  ih0.resize(static_cast<size_t>(P));
  iw0.resize(static_cast<size_t>(P));
  slot.resize(static_cast<size_t>(P));
  for (int64_t i = 0; i < P; ++i) {
    ih0[i] = (i / OW) * g.strides[1] - g.pad_begin[1];
    iw0[i] = (i % OW) * g.strides[2] - g.pad_begin[2];
  }
  for (int64_t p0 = 0; p0 < kdim; p0 += KC) {
    const int64_t kc = std::min(KC, kdim - p0);
    for (int64_t i0 = 0; i0 < P; i0 += MC) {
      const int64_t mc = std::min(MC, P - i0), mcp = (mc + mr - 1) / mr * mr;
      // Offset of pixel i's value for depth row p0 in block (i0, p0); depth row p adds (p - p0)*mr.
      for (int64_t i = i0; i < i0 + mc; ++i) slot[i] = i0 * kdim + p0 * mcp + ((i - i0) / mr) * kc * mr + (i - i0) % mr;
    }
    for (int64_t p = p0; p < p0 + kc; ++p) {
      const int64_t ic = p / (KH * KW), kh = (p / KW) % KH, kw = p % KW;
      const float* xc = x + ic * H * W;
      const int64_t dh = kh * g.dilations[1], dw = kw * g.dilations[2];
      float* d = dst + (p - p0) * mr;
      for (int64_t i = 0; i < P; ++i) {
        const int64_t ih = ih0[i] + dh, iw = iw0[i] + dw;
        if (ih >= 0 && ih < H && iw >= 0 && iw < W) d[slot[i]] = xc[ih * W + iw];
      }
    }
  }
}

// Writes the packed GEMM B panels (as im2col_packed) of a 1x1 conv without pads (any strides): row ic
// of col is channel ic of x sampled at the output pixels' input offsets `src` (one per output pixel);
// panels [q0, q1) of nr pixels, pixels past P zero.
void pack_subsampled(const float* x, int64_t icg, int64_t in_plane, const int64_t* src, int64_t P, int64_t nr, int64_t q0,
                     int64_t q1, float* dst) {
  for (int64_t q = q0; q < q1; ++q) {
    const int64_t p0 = q * nr, n = std::min(nr, P - p0);
    const int64_t* sq = src + p0;
    float* d = dst + q * icg * nr;
    for (int64_t ic = 0; ic < icg; ++ic, d += nr) {
      const float* xc = x + ic * in_plane;
      for (int64_t j = 0; j < n; ++j) d[j] = xc[sq[j]];
      for (int64_t j = n; j < nr; ++j) d[j] = 0.0f;
    }
  }
}

// Pixels x channels when it pads at least 20% fewer lanes than channels x pixels (see the top).
bool pixels_by_channels(const GemmUkernel& uk, int64_t mg, int64_t pixels) {
  auto up = [](int64_t v, int64_t m) { return (v + m - 1) / m * m; };
  return up(pixels, uk.mr) * up(mg, uk.nr) * 10 < up(mg, uk.mr) * up(pixels, uk.nr) * 8;
}

/// Prepared state: W packed per group, groups back to back: pack_a_f32 of W_g[OCg, ICg*KH*KW], or
/// (transposed, for the pixels x channels orientation) pack_b_f32 of W_g^T.
struct PackedConvWeight {
  std::vector<float> data;
  Shape w_shape;
  int64_t group = 1, per_group = 0;
  bool transposed = false;
  // The other orientation, packed on the first run that needs it (spatial dims unknown at load time).
  mutable std::once_flag other_once;
  mutable std::vector<float> other;
  mutable int64_t other_per_group = 0;
};

// Output pixels per image of the conv when the input's spatial dims are known at load time (the
// batch dim may be symbolic), else -1.
int64_t known_out_pixels(const KernelQuery& q, const Tensor& w) {
  if (q.inputs.empty() || !q.inputs[0].rank_known || q.inputs[0].rank() != w.rank()) return -1;
  const Shape& xs = q.inputs[0].shape;
  for (size_t i = 2; i < xs.size(); ++i)
    if (xs[i] < 0) return -1;
  ops::WindowGeometry g;
  if (!ops::resolve_window(q.node, Shape(xs.begin() + 2, xs.end()), std::vector<int64_t>(w.shape().begin() + 2, w.shape().end()),
                           ops::WindowRounding::kFloor, g)
           .empty())
    return -1;
  return g.out_size();
}

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
  const int64_t pixels = known_out_pixels(q, *w);
  pw->transposed = pixels > 0 && pixels_by_channels(ukernel(U), mg, pixels);
  pw->per_group = pw->transposed ? packed_b_size(ukernel(U), kdim, mg) : packed_a_size(ukernel(U), mg, kdim);
  pw->data.resize(static_cast<size_t>(pw->per_group * group));
  for (int64_t gi = 0; gi < group; ++gi) {
    const float* wg = w->data<float>() + gi * mg * kdim;
    float* dst = pw->data.data() + gi * pw->per_group;
    if (pw->transposed) {
      pack_b_f32(ukernel(U), wg, 1, kdim, kdim, mg, dst);
    } else {
      pack_a_f32(ukernel(U), wg, kdim, 1, mg, kdim, dst);
    }
  }
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
  const bool transposed = pixels_by_channels(uk, mg, out_plane);
  if (pw && (pw->w_shape != w.shape() || pw->group != group)) pw = nullptr;
  // Packed weights of the orientation this run uses: from prepare, or packed once on first use.
  const float* wpacked = nullptr;
  int64_t wpacked_per_group = 0;
  if (pw && pw->transposed == transposed) {
    wpacked = pw->data.data();
    wpacked_per_group = pw->per_group;
  } else if (pw) {
    if (!w.raw()) return ctx.fail("weights were released after packing, but this input shape needs them repacked");
    std::call_once(pw->other_once, [&] {
      pw->other_per_group = transposed ? packed_b_size(uk, kdim, mg) : packed_a_size(uk, mg, kdim);
      pw->other.resize(static_cast<size_t>(pw->other_per_group * group));
      for (int64_t gi = 0; gi < group; ++gi) {
        const float* wg = w.data<float>() + gi * mg * kdim;
        float* dst = pw->other.data() + gi * pw->other_per_group;
        if (transposed) {
          pack_b_f32(uk, wg, 1, kdim, kdim, mg, dst);
        } else {
          pack_a_f32(uk, wg, kdim, 1, mg, kdim, dst);
        }
      }
    });
    wpacked = pw->other.data();
    wpacked_per_group = pw->other_per_group;
  }
  thread_local std::vector<float> col, bpack, ytmp;
  if (transposed) {
    // Y_g^T[pixels, OCg] = col^T x W_g^T, then transposed into NCHW.
    if (!pointwise) col.resize(static_cast<size_t>(packed_a_size(uk, out_plane, kdim)));
    if (!wpacked) bpack.resize(static_cast<size_t>(packed_b_size(uk, kdim, mg)));
    ytmp.resize(static_cast<size_t>(out_plane * mg));
    for (int64_t n = 0; n < N; ++n)
      for (int64_t gi = 0; gi < group; ++gi) {
        const float* xg = x.data<float>() + (n * C + gi * icg) * in_plane;
        if (!pointwise) im2col_packed_a(xg, icg, g, uk, col.data());
        const float* wt = wpacked ? wpacked + gi * wpacked_per_group : bpack.data();
        if (!wpacked) pack_b_f32(uk, w.data<float>() + gi * mg * kdim, 1, kdim, kdim, mg, bpack.data());
        GemmEpilogue e = ep;
        if (has_bias) {
          e.bias = ctx.in(2).data<float>() + gi * mg;
          e.bias_rs = 0;
          e.bias_cs = 1;
        }
        gemm_f32_packed(uk, out_plane, mg, kdim, xg, 1, out_plane, wt, ytmp.data(), mg, e, ctx.pool,
                        pointwise ? nullptr : col.data());
        float* yg = y.data<float>() + (n * M + gi * mg) * out_plane;
        for (int64_t p = 0; p < out_plane; ++p)
          for (int64_t m = 0; m < mg; ++m) yg[m * out_plane + p] = ytmp[static_cast<size_t>(p * mg + m)];
      }
    return Status::ok();
  }
  // 1x1 kernels with strides (ResNet's stride-2 projection shortcuts) do not take the column-phase
  // split below (it would copy all of the input first): their B panels are just the subsampled input
  // (a quarter of it at stride 2), written by pack_subsampled.
  bool one_by_one = g.kernel_size() == 1;
  for (size_t i = 0; i < 3; ++i) one_by_one = one_by_one && g.pad_begin[i] == 0 && g.pad_end[i] == 0;
  // Rows of 16 to 31 pixels (12x32 panels: ResNet's 28x28 / 14x14 stride-2 convs) are written straight into
  // the panels: on Zen 4 that measured 10% faster (28x28) than the two passes.
  const bool narrow = !pointwise && (g.out[2] < std::min<int64_t>(uk.nr, 16) || one_by_one);
  // The whole plane is packed at once (unless the weights are small, see `chunked`): packing it in
  // L2-sized pixel chunks (one GEMM per chunk) measured slower on Zen 3, as each chunk streams the weights again.
  const int64_t chunk = out_plane;
  const int64_t sw = g.strides[2];
  if (narrow && !one_by_one) col.resize(static_cast<size_t>(kdim * out_plane));
  if (!pointwise && !narrow && sw > 1) col.resize(static_cast<size_t>(icg * sw * g.in[1] * ((g.in[2] + sw - 1) / sw)));
  // Small weights (the 7x7 stem: 64 x 147) on a large plane: pixel chunks whose packed columns (and
  // output rows) stay in L2, each packed and multiplied by one thread (chunks split over the pool), so
  // the GEMM and its bias/activation pass read cache instead of a plane-sized panel; chunk bounds do
  // not depend on the thread count, so neither do the results.
  const int64_t chunk_px = std::max<int64_t>(uk.nr, kChunkBytes / (4 * kdim) / uk.nr * uk.nr);
  const bool chunked = !pointwise && !narrow && mg * kdim * 4 <= kSmallWeightBytes && out_plane >= 4 * chunk_px;
  if (!chunked) bpack.resize(static_cast<size_t>(packed_b_size(uk, kdim, out_plane)));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t gi = 0; gi < group; ++gi) {
      const float* xg = x.data<float>() + (n * C + gi * icg) * in_plane;
      GemmEpilogue e = ep;
      if (has_bias) {
        e.bias = ctx.in(2).data<float>() + gi * mg;
        e.bias_rs = 1;
        e.bias_cs = 0;
      }
      const float* wpack = wpacked ? wpacked + gi * wpacked_per_group : nullptr;
      float* yg = y.data<float>() + (n * M + gi * mg) * out_plane;
      if (!pointwise && !narrow && sw > 1) {
        // Channels split over the pool.
        float* ph = col.data();
        const int64_t H = g.in[1], W = g.in[2], per_channel = sw * H * ((W + sw - 1) / sw);
        auto split = [&](int64_t c0, int64_t c1) { split_column_phases(xg + c0 * H * W, c1 - c0, H, W, sw, ph + c0 * per_channel); };
        if (ctx.pool && ctx.pool->threads() > 1 && icg > 1) {
          ctx.pool->parallel_for(icg, 1, split);
        } else {
          split(0, icg);
        }
      }
      if (chunked) {
        const float* phases = col.data();  // (thread_local: name it here, not inside the workers)
        const float* wraw = w.data<float>() + gi * mg * kdim;
        const int64_t chunks = (out_plane + chunk_px - 1) / chunk_px;
        auto run_chunks = [&](int64_t c0, int64_t c1) {
          thread_local std::vector<float> cpack;
          cpack.resize(static_cast<size_t>(packed_b_size(uk, kdim, chunk_px)));
          for (int64_t c = c0; c < c1; ++c) {
            const int64_t p0 = c * chunk_px, p1 = std::min(out_plane, p0 + chunk_px);
            if (uk.nr == 16) {
              im2col_packed<16>(xg, phases, icg, g, p0, p1, cpack.data());
            } else {
              im2col_packed<32>(xg, phases, icg, g, p0, p1, cpack.data());
            }
            gemm_f32_packed(uk, mg, p1 - p0, kdim, wraw, kdim, 1, cpack.data(), yg + p0, out_plane, e, nullptr, wpack);
          }
        };
        if (ctx.pool && ctx.pool->threads() > 1) {
          ctx.pool->parallel_for(chunks, 1, run_chunks);
        } else {
          run_chunks(0, chunks);
        }
        continue;
      }
      if (narrow && one_by_one) {
        // Strided 1x1 (ResNet's projection shortcuts): the subsampled input goes straight into the
        // panels (no im2col matrix + packing pass); panels split over the pool, each written by one thread.
        thread_local std::vector<int64_t> src;
        src.resize(static_cast<size_t>(out_plane));
        {
          int64_t p = 0;
          for (int64_t od = 0; od < g.out[0]; ++od)
            for (int64_t oh = 0; oh < g.out[1]; ++oh)
              for (int64_t ow = 0; ow < g.out[2]; ++ow)
                src[static_cast<size_t>(p++)] = ((od * g.strides[0]) * g.in[1] + oh * g.strides[1]) * g.in[2] + ow * g.strides[2];
        }
        const int64_t* sp = src.data();  // (thread_local: name it here, not inside the workers)
        float* bp = bpack.data();
        const int64_t panels = (out_plane + uk.nr - 1) / uk.nr;
        auto pack_panels = [&](int64_t q0, int64_t q1) { pack_subsampled(xg, icg, in_plane, sp, out_plane, uk.nr, q0, q1, bp); };
        if (ctx.pool && ctx.pool->threads() > 1 && panels > 1) {
          ctx.pool->parallel_for(panels, 1, pack_panels);
        } else {
          pack_panels(0, panels);
        }
        gemm_f32_packed(uk, mg, out_plane, kdim, w.data<float>() + gi * mg * kdim, kdim, 1, bpack.data(), yg, out_plane, e,
                        ctx.pool, wpack);
        continue;
      }
      if (narrow) {
        // Output rows shorter than 16: a plain im2col (long
        // contiguous runs per tap) and one packing pass beat writing many short segments into the panels.
        im2col(xg, icg, g, col.data());
        pack_b_f32(uk, col.data(), out_plane, 1, kdim, out_plane, bpack.data());
        gemm_f32_packed(uk, mg, out_plane, kdim, w.data<float>() + gi * mg * kdim, kdim, 1, bpack.data(), yg, out_plane, e,
                        ctx.pool, wpack);
        continue;
      }
      for (int64_t p0 = 0; p0 < out_plane; p0 += chunk) {
        const int64_t p1 = std::min(out_plane, p0 + chunk);
        if (pointwise) {
          pack_b_f32(uk, xg, out_plane, 1, kdim, out_plane, bpack.data());
        } else {
          // Panels split over the pool (each written by one thread whatever the split).
          const float* phases = col.data();  // (thread_local: name it here, not inside the workers)
          float* bp = bpack.data();
          const int64_t panels = (p1 - p0 + uk.nr - 1) / uk.nr;
          auto pack_panels = [&](int64_t q0, int64_t q1) {
            const int64_t a = p0 + q0 * uk.nr, b = std::min(p1, p0 + q1 * uk.nr);
            if (uk.nr == 16) {
              im2col_packed<16>(xg, phases, icg, g, a, b, bp + q0 * kdim * uk.nr);
            } else {
              im2col_packed<32>(xg, phases, icg, g, a, b, bp + q0 * kdim * uk.nr);
            }
          };
          if (ctx.pool && ctx.pool->threads() > 1 && panels > 1) {
            ctx.pool->parallel_for(panels, 1, pack_panels);
          } else {
            pack_panels(0, panels);
          }
        }
        gemm_f32_packed(uk, mg, p1 - p0, kdim, w.data<float>() + gi * mg * kdim, kdim, 1, bpack.data(), yg + p0, out_plane, e,
                        ctx.pool, wpack);
      }
    }
  return Status::ok();
}

}  // namespace

// No KernelDef::packed_inputs here: run() may read the raw weights (the other orientation is packed
// on first use when the spatial dims were unknown at load, and non-prepared weights are packed per run).
void register_cpu_conv(KernelRegistry& r) {
  r.add({"", "Conv", "conv_f32_gemm_6x16__avx2", Device::kCpu, Isa::kAvx2, 11, conv_accepts, conv_prepare<0>, conv_run<0>});
  r.add({"", "Conv", "conv_f32_gemm_12x32__avx512", Device::kCpu, Isa::kAvx512, 12, conv_accepts, conv_prepare<1>, conv_run<1>});
}

}  // namespace joule::kernels::cpu
