// f32 Conv by Winograd F(4x4, 3x3) (see conv_winograd_f32.h for the math and layouts), for 2-D 3x3
// convs with stride 1, dilation 1, group 1 and enough channels and tiles to pay for the transforms.
// Per image, three passes over the thread pool (equal-size units, no pass depends on the split, so
// 1 and N threads give bitwise identical results):
//   1. input transform: V_e[IC, T] for the 36 elements e, written straight as packed GEMM B panels
//      (units: input channels);
//   2. 36 GEMMs M_e[OC, Tpad] = U_e x V_e on the packed micro-kernel (units: e), U_e = G g G^T per
//      (oc, ic) transformed and packed as the A operand once at prepare;
//   3. output transform A^T M A + bias + Relu/Clip into NCHW (units: output channels).
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

namespace {

const GemmUkernel& ukernel(int u) { return gemm_f32_ukernels()[static_cast<size_t>(u)]; }

// Below these the transforms and the 36 small GEMMs lose to im2col (bench/kernels/conv_bench.cpp).
constexpr int64_t kMinChannels = 16;
constexpr int64_t kMinTiles = 16;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// 2-D geometry of the node for input spatial dims `hw`; false unless 3x3 / stride 1 / dilation 1.
bool winograd_geometry(const Node& node, int64_t H, int64_t W, WinogradF4Geom& wg, std::string* err) {
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
  wg.TW = ceil_div(wg.OW, 4);
  wg.TH = ceil_div(wg.OH, 4);
  wg.T = wg.TW * wg.TH;
  return wg.OH > 0 && wg.OW > 0;
}

bool winograd_accepts(const KernelQuery& q) {
  if (q.inputs.size() < 2) return false;
  for (const TensorDesc& d : q.inputs)
    if (d.dtype != DType::kUndefined && d.dtype != DType::kF32) return false;
  const TensorDesc& x = q.inputs[0];
  const TensorDesc& w = q.inputs[1];
  if (!w.rank_known || w.rank() != 4 || w.shape[2] != 3 || w.shape[3] != 3) return false;
  if (!x.rank_known || x.rank() != 4 || x.shape[2] <= 0 || x.shape[3] <= 0) return false;
  if (q.node.attr_int("group", 1) != 1) return false;
  if (w.shape[0] < kMinChannels || w.shape[1] < kMinChannels) return false;
  WinogradF4Geom g;
  if (!winograd_geometry(q.node, x.shape[2], x.shape[3], g, nullptr) || g.T < kMinTiles) return false;
  GemmEpilogue ep;
  return read_fused_activation(q.node, ep);
}

/// U_e = G g G^T of every (oc, ic), packed per e as the GEMM A operand [OC, IC]: 36 blocks of per_e floats.
struct WinogradWeights {
  Shape w_shape;
  int64_t per_e = 0;
  std::vector<float> u;
};

void transform_weights(const GemmUkernel& uk, const float* w, int64_t OC, int64_t IC, std::vector<float>& out, int64_t& per_e) {
  std::vector<float> ue(static_cast<size_t>(36 * OC * IC));  // [e][oc][ic]
  float u[36];
  for (int64_t oc = 0; oc < OC; ++oc)
    for (int64_t ic = 0; ic < IC; ++ic) {
      winograd_f4_filter(w + (oc * IC + ic) * 9, u);
      for (int e = 0; e < 36; ++e) ue[static_cast<size_t>((e * OC + oc) * IC + ic)] = u[e];
    }
  per_e = packed_a_size(uk, OC, IC);
  out.resize(static_cast<size_t>(36 * per_e));
  for (int e = 0; e < 36; ++e) pack_a_f32(uk, ue.data() + e * OC * IC, IC, 1, OC, IC, out.data() + e * per_e);
}

template <int U>
Status winograd_prepare(const KernelQuery& q, std::shared_ptr<const void>& state) {
  const Tensor* w = q.constant_inputs.size() > 1 ? q.constant_inputs[1] : nullptr;
  if (!w || w->dtype() != DType::kF32 || w->rank() != 4 || w->dim(2) != 3 || w->dim(3) != 3) return Status::ok();
  auto ww = std::make_shared<WinogradWeights>();
  ww->w_shape = w->shape();
  transform_weights(ukernel(U), w->data<float>(), w->dim(0), w->dim(1), ww->u, ww->per_e);
  state = ww;
  return Status::ok();
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

template <int U>
Status winograd_run(KernelContext& ctx) {
  const GemmUkernel& uk = ukernel(U);
  for (size_t i = 0; i < ctx.num_inputs(); ++i)
    if (ctx.has_input(i) && ctx.in(i).dtype() != DType::kF32) return ctx.fail_unsupported("inputs are not all float32");
  const Tensor& x = ctx.in(0);
  const Tensor& w = ctx.in(1);
  Tensor& y = ctx.out(0);
  if (x.rank() != 4 || w.rank() != 4 || w.dim(2) != 3 || w.dim(3) != 3) return ctx.fail("Winograd conv needs a 2-D input and a 3x3 kernel");
  const int64_t N = x.dim(0), IC = x.dim(1), OC = w.dim(0);
  if (w.dim(1) != IC) return ctx.fail("input channels (" + std::to_string(IC) + ") do not match the weight's (" + std::to_string(w.dim(1)) + ")");
  WinogradF4Geom g;
  std::string err;
  if (!winograd_geometry(ctx.node, x.dim(2), x.dim(3), g, &err))
    return ctx.fail(err.empty() ? "Winograd conv needs stride 1 and dilation 1" : err);
  if (y.numel() != N * OC * g.OH * g.OW) return ctx.fail("output shape does not match the convolution");
  const bool has_bias = ctx.has_input(2) && ctx.in(2).numel() == OC;
  if (ctx.has_input(2) && !has_bias) return ctx.fail("bias must have one value per output channel");
  GemmEpilogue ep;
  read_fused_activation(ctx.node, ep);

  auto* ww = static_cast<const WinogradWeights*>(ctx.state);
  if (ww && ww->w_shape != w.shape()) ww = nullptr;
  thread_local std::vector<float> u_run, v, m;
  const float* u = ww ? ww->u.data() : nullptr;
  int64_t per_e = ww ? ww->per_e : 0;
  if (!u) {
    if (!w.raw()) return ctx.fail("weights were released after packing");
    transform_weights(uk, w.data<float>(), OC, IC, u_run, per_e);
    u = u_run.data();
  }
  const int64_t nr = uk.nr, panels = ceil_div(g.T, nr), tpad = panels * nr;
  const int64_t vstride = panels * IC * nr, mstride = OC * tpad;
  v.resize(static_cast<size_t>(36 * vstride));
  m.resize(static_cast<size_t>(36 * mstride));
  const int64_t groups_pad = tpad / 8;
  const float* bias = has_bias ? ctx.in(2).data<float>() : nullptr;
  float* vd = v.data();
  float* md = m.data();
  for (int64_t n = 0; n < N; ++n) {
    const float* xn = x.data<float>() + n * IC * g.H * g.W;
    float* yn = y.data<float>() + n * OC * g.OH * g.OW;
    // Padding groups (t >= T) are transformed too: they write the zero lanes of the last panel.
    run_units(ctx.pool, IC, [&](int64_t ic) {
      thread_local std::vector<float> scratch;
      scratch.resize(static_cast<size_t>(winograd_f4_scratch_floats(g)));
      winograd_f4_input_channel__avx2(xn + ic * g.H * g.W, g, groups_pad, vd + ic * nr, nr, IC * nr, vstride, scratch.data());
    });
    run_units(ctx.pool, 36, [&](int64_t e) {
      gemm_f32_packed(uk, OC, tpad, IC, nullptr, 0, 0, vd + e * vstride, md + e * mstride, tpad, GemmEpilogue{}, nullptr,
                      u + e * per_e);
    });
    run_units(ctx.pool, OC, [&](int64_t oc) {
      thread_local std::vector<float> scratch;
      scratch.resize(static_cast<size_t>(winograd_f4_scratch_floats(g)));
      winograd_f4_output_channel__avx2(md + oc * tpad, mstride, g, bias ? bias[oc] : 0.0f, ep, yn + oc * g.OH * g.OW, scratch.data());
    });
  }
  return Status::ok();
}

}  // namespace

// Above conv_f32_gemm_* (11 / 12) for the shapes winograd_accepts() takes. Once prepare() has
// transformed constant weights, run() reads only their shape (packed_inputs: the original is dropped).
void register_cpu_conv_winograd(KernelRegistry& r) {
  r.add(with_packed_inputs({"", "Conv", "conv_f32_winograd_f4x4_6x16__avx2", Device::kCpu, Isa::kAvx2, 13, winograd_accepts,
                            winograd_prepare<0>, winograd_run<0>},
                           1u << 1));
  r.add(with_packed_inputs({"", "Conv", "conv_f32_winograd_f4x4_12x32__avx512", Device::kCpu, Isa::kAvx512, 14, winograd_accepts,
                            winograd_prepare<1>, winograd_run<1>},
                           1u << 1));
}

}  // namespace joule::kernels::cpu
