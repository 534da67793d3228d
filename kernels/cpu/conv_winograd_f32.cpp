// f32 Conv by Winograd F(4x4, 3x3) (see conv_winograd_f32.h for the math and layouts), for 2-D 3x3
// convs with stride 1, dilation 1, group 1 and enough channels and tiles to pay for the transforms;
// planes too small for 16 tiles of 4x4 (ResNet's 7x7 stage) use F(2x2, 3x3) (16 elements) instead.
// Per image, three passes over the thread pool (equal-size units, no pass depends on the split, so
// 1 and N threads give bitwise identical results):
//   1. input transform: V_e[IC, T] for the 36 (F2: 16) elements e, written straight as packed GEMM B panels
//      (units: input channels);
//   2. 36 (16) GEMMs M_e[OC, Tpad] = U_e x V_e on the packed micro-kernel (units: e), U_e = G g G^T per
//      (oc, ic) transformed and packed as the A operand once at prepare;
//   3. output transform A^T M A + bias + Relu/Clip into NCHW (units: output channels).
// The AVX-512 kernels run the 6x16 micro-kernel instead of 12x32 where 12x32 tiles would pad the GEMMs
// (OC x tiles) by 10% more (pick_ukernel: 14x14 planes in F4, 7x7 ones in F2, ResNet's 56x56 stage).
// Error: about 5x that of the direct conv (transform constants up to 8; tests/kernels/conv_winograd_test.cpp).
#include <algorithm>
#include <memory>

#include "kernels/cpu/conv_winograd_f32.h"
#include "kernels/cpu/fused_activation.h"
#include "kernels/cpu/gemm_f32.h"
#include "kernels/kernel_registry.h"
#include "runtime/ops/window_geometry.h"

namespace joule::kernels::cpu {

void winograd_f4_filter(const float* g3, float u[36]) {
  static const double G[6][3] = {{1.0 / 4, 0, 0},           {-1.0 / 6, -1.0 / 6, -1.0 / 6}, {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                 {1.0 / 24, 1.0 / 12, 1.0 / 6}, {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}};
  double t[6][3];  // G g
  for (int i = 0; i < 6; ++i)
    for (int c = 0; c < 3; ++c) t[i][c] = G[i][0] * g3[c] + G[i][1] * g3[3 + c] + G[i][2] * g3[6 + c];
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 6; ++j) u[6 * i + j] = static_cast<float>(t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2]);
}

void winograd_f2_filter(const float* g3, float u[16]) {
  static const double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  double t[4][3];  // G g
  for (int i = 0; i < 4; ++i)
    for (int c = 0; c < 3; ++c) t[i][c] = G[i][0] * g3[c] + G[i][1] * g3[3 + c] + G[i][2] * g3[6 + c];
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) u[4 * i + j] = static_cast<float>(t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2]);
}

namespace {

const GemmUkernel& ukernel(int u) { return gemm_f32_ukernels()[static_cast<size_t>(u)]; }

// Below these the transforms and the 36 small GEMMs lose to im2col (bench/kernels/conv_bench.cpp).
constexpr int64_t kMinChannels = 16;
constexpr int64_t kMinChannelsF2 = 64;
constexpr int64_t kMinTiles = 16;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// 2-D geometry of the node for input spatial dims H x W and output tiles of `tile` x `tile`; false
// unless 3x3 / stride 1 / dilation 1.
bool winograd_geometry(const Node& node, int64_t H, int64_t W, int64_t tile, WinogradGeom& wg, std::string* err) {
  ops::WindowGeometry g;
  std::string e = ops::resolve_window(node, Shape{H, W}, {3, 3}, ops::WindowRounding::kFloor, g);
  if (!e.empty()) {
    if (err) *err = e;
    return false;
  }
  for (size_t i = 0; i < 2; ++i)
    if (g.strides[i] != 1 || g.dilations[i] != 1) return false;
  wg.H = H;
  wg.W = W;
  wg.OH = g.out[0];
  wg.OW = g.out[1];
  wg.pad_top = g.pad_begin[0];
  wg.pad_left = g.pad_begin[1];
  wg.TW = ceil_div(wg.OW, tile);
  wg.TH = ceil_div(wg.OH, tile);
  wg.T = wg.TW * wg.TH;
  return wg.OH > 0 && wg.OW > 0;
}

// F = 4: F(4x4, 3x3) where the plane has at least kMinTiles 4x4 tiles; F = 2: F(2x2, 3x3) where it
// has fewer 4x4 tiles but at least kMinTiles 2x2 ones (and kMinChannelsF2 channels: deep 7x7 stages).
template <int F>
bool winograd_accepts(const KernelQuery& q) {
  if (q.inputs.size() < 2) return false;
  for (const TensorDesc& d : q.inputs)
    if (d.dtype != DType::kUndefined && d.dtype != DType::kF32) return false;
  const TensorDesc& x = q.inputs[0];
  const TensorDesc& w = q.inputs[1];
  if (!w.rank_known || w.rank() != 4 || w.shape[2] != 3 || w.shape[3] != 3) return false;
  if (!x.rank_known || x.rank() != 4 || x.shape[2] <= 0 || x.shape[3] <= 0) return false;
  if (q.node.attr_int("group", 1) != 1) return false;
  const int64_t min_channels = F == 4 ? kMinChannels : kMinChannelsF2;
  if (w.shape[0] < min_channels || w.shape[1] < min_channels) return false;
  WinogradGeom g4, g2;
  if (!winograd_geometry(q.node, x.shape[2], x.shape[3], 4, g4, nullptr)) return false;
  if (F == 4 ? g4.T < kMinTiles : (g4.T >= kMinTiles || !winograd_geometry(q.node, x.shape[2], x.shape[3], 2, g2, nullptr) || g2.T < kMinTiles))
    return false;
  GemmEpilogue ep;
  return read_fused_activation(q.node, ep);
}

/// U_e = G g G^T of every (oc, ic), packed per e as the GEMM A operand [OC, IC] for micro-kernel
/// `ukernel`: E blocks of per_e floats.
struct WinogradWeights {
  Shape w_shape;
  int ukernel = 0;
  int64_t per_e = 0;
  std::vector<float> u;
};

// The micro-kernel for T tiles and OC output channels, up to index U: the widest one (12x32 on AVX-512)
// unless its padded GEMM area (OC rounded up to MR times T rounded up to NR; each GEMM computes every
// padded lane and row) is 10% or more above the next narrower one's. On Zen 4 that picks 6x16 for the
// 16 tiles of 14x14 planes in F4 and 7x7 ones in F2 (32 vs 16 lanes: 2x) and for ResNet's 56x56 stage
// (196 tiles, OC 64: 72 x 224 vs 66 x 208, 1.17x; measured 4.7-4.9 -> 3.9-4.4 ms for its three convs),
// and keeps 12x32 for 28x28 (49 tiles, OC 128: 132 x 64 either way).
template <int U>
int pick_ukernel(int64_t tiles, int64_t oc) {
  int u = U;
  while (u > 0) {
    const GemmUkernel &w = ukernel(u), &n = ukernel(u - 1);
    const int64_t wide = ceil_div(tiles, w.nr) * w.nr * ceil_div(oc, w.mr) * w.mr;
    const int64_t narrow = ceil_div(tiles, n.nr) * n.nr * ceil_div(oc, n.mr) * n.mr;
    if (10 * wide < 11 * narrow) break;
    --u;
  }
  return u;
}

template <int F>
void transform_weights(const GemmUkernel& uk, const float* w, int64_t OC, int64_t IC, std::vector<float>& out, int64_t& per_e) {
  constexpr int E = (F + 2) * (F + 2);
  std::vector<float> ue(static_cast<size_t>(E * OC * IC));  // [e][oc][ic]
  float u[E];
  for (int64_t oc = 0; oc < OC; ++oc)
    for (int64_t ic = 0; ic < IC; ++ic) {
      if constexpr (F == 4) {
        winograd_f4_filter(w + (oc * IC + ic) * 9, u);
      } else {
        winograd_f2_filter(w + (oc * IC + ic) * 9, u);
      }
      for (int e = 0; e < E; ++e) ue[static_cast<size_t>((e * OC + oc) * IC + ic)] = u[e];
    }
  per_e = packed_a_size(uk, OC, IC);
  out.resize(static_cast<size_t>(E * per_e));
  for (int e = 0; e < E; ++e) pack_a_f32(uk, ue.data() + e * OC * IC, IC, 1, OC, IC, out.data() + e * per_e);
}

template <int U, int F>
Status winograd_prepare(const KernelQuery& q, std::shared_ptr<const void>& state) {
  const Tensor* w = q.constant_inputs.size() > 1 ? q.constant_inputs[1] : nullptr;
  if (!w || w->dtype() != DType::kF32 || w->rank() != 4 || w->dim(2) != 3 || w->dim(3) != 3) return Status::ok();
  auto ww = std::make_shared<WinogradWeights>();
  ww->w_shape = w->shape();
  // Tiles of the plane when its dims are known at load time, else the widest micro-kernel.
  ww->ukernel = U;
  const TensorDesc& x = q.inputs[0];
  WinogradGeom g;
  if (x.rank_known && x.rank() == 4 && x.shape[2] > 0 && x.shape[3] > 0 && winograd_geometry(q.node, x.shape[2], x.shape[3], F, g, nullptr))
    ww->ukernel = pick_ukernel<U>(g.T, w->dim(0));
  transform_weights<F>(ukernel(ww->ukernel), w->data<float>(), w->dim(0), w->dim(1), ww->u, ww->per_e);
  state = ww;
  return Status::ok();
}

// F(2x2, 3x3) transforms, one channel at a time over all tiles (natural order); the plane is copied with
// its zero borders into scratch ((2*TH + 2) x (2*TW + 2)) first.
int64_t f2_scratch_floats(const WinogradGeom& g) { return (2 * g.TH + 2) * (2 * g.TW + 2); }

void f2_input_channel(const float* x, const WinogradGeom& g, int64_t tpad, float* dst, int64_t nr, int64_t panel_stride, int64_t estride,
                      float* scratch) {
  const int64_t pw = 2 * g.TW + 2, ph = 2 * g.TH + 2;
  for (int64_t pr = 0; pr < ph; ++pr) {
    float* row = scratch + pr * pw;
    const int64_t ih = pr - g.pad_top;
    for (int64_t pc = 0; pc < pw; ++pc) {
      const int64_t iw = pc - g.pad_left;
      row[pc] = (ih >= 0 && ih < g.H && iw >= 0 && iw < g.W) ? x[ih * g.W + iw] : 0.0f;
    }
  }
  for (int64_t t = 0; t < tpad; ++t) {
    float* out = dst + (t / nr) * panel_stride + t % nr;
    if (t >= g.T) {
      for (int e = 0; e < 16; ++e) out[e * estride] = 0.0f;
      continue;
    }
    const float* d = scratch + 2 * (t / g.TW) * pw + 2 * (t % g.TW);
    float w[4][4];  // d B: B^T rows [1 0 -1 0] [0 1 1 0] [0 -1 1 0] [0 1 0 -1]
    for (int r = 0; r < 4; ++r) {
      const float* dr = d + r * pw;
      w[r][0] = dr[0] - dr[2];
      w[r][1] = dr[1] + dr[2];
      w[r][2] = dr[2] - dr[1];
      w[r][3] = dr[1] - dr[3];
    }
    for (int j = 0; j < 4; ++j) {
      out[(0 + j) * estride] = w[0][j] - w[2][j];
      out[(4 + j) * estride] = w[1][j] + w[2][j];
      out[(8 + j) * estride] = w[2][j] - w[1][j];
      out[(12 + j) * estride] = w[1][j] - w[3][j];
    }
  }
}

void f2_output_channel(const float* m, int64_t mstride, const WinogradGeom& g, float bias, const GemmEpilogue& ep, float* y) {
  for (int64_t t = 0; t < g.T; ++t) {
    float s[4][2];  // m A: A^T rows [1 1 1 0] [0 1 -1 -1]
    for (int i = 0; i < 4; ++i) {
      const float m0 = m[(4 * i) * mstride + t], m1 = m[(4 * i + 1) * mstride + t], m2 = m[(4 * i + 2) * mstride + t],
                  m3 = m[(4 * i + 3) * mstride + t];
      s[i][0] = m0 + m1 + m2;
      s[i][1] = m1 - m2 - m3;
    }
    const int64_t oh0 = 2 * (t / g.TW), ow0 = 2 * (t % g.TW);
    for (int r = 0; r < 2; ++r)
      for (int c = 0; c < 2; ++c) {
        float v = (r == 0 ? s[0][c] + s[1][c] + s[2][c] : s[1][c] - s[2][c] - s[3][c]) + bias;
        if (ep.act == Activation::kRelu) v = v > 0.0f ? v : 0.0f;
        if (ep.act == Activation::kClip) v = std::min(std::max(v, ep.lo), ep.hi);
        if (oh0 + r < g.OH && ow0 + c < g.OW) y[(oh0 + r) * g.OW + ow0 + c] = v;
      }
  }
}

template <typename F>
void run_units(ThreadPool* pool, int64_t n, const F& fn) {
  if (pool && pool->threads() > 1 && n > 1) {
    pool->parallel_for(n, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) fn(i);
    });
  } else {
    for (int64_t i = 0; i < n; ++i) fn(i);
  }
}

template <int U, int F>
Status winograd_run(KernelContext& ctx) {
  constexpr int E = (F + 2) * (F + 2);
  for (size_t i = 0; i < ctx.num_inputs(); ++i)
    if (ctx.has_input(i) && ctx.in(i).dtype() != DType::kF32) return ctx.fail_unsupported("inputs are not all float32");
  const Tensor& x = ctx.in(0);
  const Tensor& w = ctx.in(1);
  Tensor& y = ctx.out(0);
  if (x.rank() != 4 || w.rank() != 4 || w.dim(2) != 3 || w.dim(3) != 3) return ctx.fail("Winograd conv needs a 2-D input and a 3x3 kernel");
  const int64_t N = x.dim(0), IC = x.dim(1), OC = w.dim(0);
  if (w.dim(1) != IC) return ctx.fail("input channels (" + std::to_string(IC) + ") do not match the weight's (" + std::to_string(w.dim(1)) + ")");
  WinogradGeom g;
  std::string err;
  if (!winograd_geometry(ctx.node, x.dim(2), x.dim(3), F, g, &err))
    return ctx.fail(err.empty() ? "Winograd conv needs stride 1 and dilation 1" : err);
  if (y.numel() != N * OC * g.OH * g.OW) return ctx.fail("output shape does not match the convolution");
  const bool has_bias = ctx.has_input(2) && ctx.in(2).numel() == OC;
  if (ctx.has_input(2) && !has_bias) return ctx.fail("bias must have one value per output channel");
  GemmEpilogue ep;
  read_fused_activation(ctx.node, ep);

  auto* ww = static_cast<const WinogradWeights*>(ctx.state);
  if (ww && ww->w_shape != w.shape()) ww = nullptr;
  // Prepared weights fix the micro-kernel (any one computes any plane); else pick it for this plane.
  const GemmUkernel& uk = ukernel(ww ? ww->ukernel : pick_ukernel<U>(g.T, OC));
  thread_local std::vector<float> u_run, v, m;
  const float* u = ww ? ww->u.data() : nullptr;
  int64_t per_e = ww ? ww->per_e : 0;
  if (!u) {
    if (!w.raw()) return ctx.fail("weights were released after packing");
    transform_weights<F>(uk, w.data<float>(), OC, IC, u_run, per_e);
    u = u_run.data();
  }
  const int64_t nr = uk.nr, panels = ceil_div(g.T, nr), tpad = panels * nr;
  const int64_t vstride = panels * IC * nr, mstride = OC * tpad;
  v.resize(static_cast<size_t>(E * vstride));
  m.resize(static_cast<size_t>(E * mstride));
  const int64_t groups_pad = tpad / 8;
  const float* bias = has_bias ? ctx.in(2).data<float>() : nullptr;
  float* vd = v.data();
  float* md = m.data();
  for (int64_t n = 0; n < N; ++n) {
    const float* xn = x.data<float>() + n * IC * g.H * g.W;
    float* yn = y.data<float>() + n * OC * g.OH * g.OW;
    // Padding tiles (T <= t < Tpad) are transformed too: they write the zero lanes of the last panel.
    run_units(ctx.pool, IC, [&](int64_t ic) {
      thread_local std::vector<float> scratch;
      if constexpr (F == 4) {
        scratch.resize(static_cast<size_t>(winograd_f4_scratch_floats(g)));
        winograd_f4_input_channel__avx2(xn + ic * g.H * g.W, g, groups_pad, vd + ic * nr, nr, IC * nr, vstride, scratch.data());
      } else {
        scratch.resize(static_cast<size_t>(f2_scratch_floats(g)));
        f2_input_channel(xn + ic * g.H * g.W, g, tpad, vd + ic * nr, nr, IC * nr, vstride, scratch.data());
      }
    });
    run_units(ctx.pool, E, [&](int64_t e) {
      gemm_f32_packed(uk, OC, tpad, IC, nullptr, 0, 0, vd + e * vstride, md + e * mstride, tpad, GemmEpilogue{}, nullptr,
                      u + e * per_e);
    });
    run_units(ctx.pool, OC, [&](int64_t oc) {
      const float b = bias ? bias[oc] : 0.0f;
      if constexpr (F == 4) {
        thread_local std::vector<float> scratch;
        scratch.resize(static_cast<size_t>(winograd_f4_scratch_floats(g)));
        winograd_f4_output_channel__avx2(md + oc * tpad, mstride, g, b, ep, yn + oc * g.OH * g.OW, scratch.data());
      } else {
        f2_output_channel(md + oc * tpad, mstride, g, b, ep, yn + oc * g.OH * g.OW);
      }
    });
  }
  return Status::ok();
}

}  // namespace

// Above conv_f32_gemm_* (11 / 12) for the shapes winograd_accepts() takes. Once prepare() has
// transformed constant weights, run() reads only their shape (packed_inputs: the original is dropped).
void register_cpu_conv_winograd(KernelRegistry& r) {
  r.add(with_packed_inputs({"", "Conv", "conv_f32_winograd_f4x4_6x16__avx2", Device::kCpu, Isa::kAvx2, 13, winograd_accepts<4>,
                            winograd_prepare<0, 4>, winograd_run<0, 4>},
                           1u << 1));
  r.add(with_packed_inputs({"", "Conv", "conv_f32_winograd_f4x4_12x32__avx512", Device::kCpu, Isa::kAvx512, 14, winograd_accepts<4>,
                            winograd_prepare<1, 4>, winograd_run<1, 4>},
                           1u << 1));
  r.add(with_packed_inputs({"", "Conv", "conv_f32_winograd_f2x2_6x16__avx2", Device::kCpu, Isa::kAvx2, 13, winograd_accepts<2>,
                            winograd_prepare<0, 2>, winograd_run<0, 2>},
                           1u << 1));
  r.add(with_packed_inputs({"", "Conv", "conv_f32_winograd_f2x2_12x32__avx512", Device::kCpu, Isa::kAvx512, 14, winograd_accepts<2>,
                            winograd_prepare<1, 2>, winograd_run<1, 2>},
                           1u << 1));
}

}  // namespace joule::kernels::cpu
