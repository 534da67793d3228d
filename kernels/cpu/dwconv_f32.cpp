// Depthwise Conv (group == C == M > 1, weights [C,1,KH,KW], 2-D, any kernel size, stride, dilation, pads).
// Three AVX2 paths, chosen per node at run time:
//  - dwconv3x3_rows_f32__avx2: 3x3, dilation 1, stride 1 (the kernel also does stride 2), OW >= kRowsMinOW
//    (MobileNetV2's 112x112 and 56x56 stride-1 depthwise): NCHW planes, 8 output columns x 4 output
//    rows per pass, no interleave/de-interleave; one task per plane. On smaller planes and at stride 2
//    its per-plane set-up (padded copy, row tails) cost more than c8's transposes (measured per layer).
//  - dwconv_f32_c8__avx2 (default): 8 channels per ymm (one lane each), so small planes keep full
//    vectors; one task per (image, block of 8 channels); weights interleaved [C/8][KH*KW][8] at prepare.
//  - dwconv_f32__avx2 (wide planes): one plane at a time, 8 output columns per ymm; taken for 5x5 (3x3
//    goes to the rows kernel), stride 1, dilation 1 when OW >= kWidePlane.
// Bias and a fused Relu/Clip ("joule.activation") are applied in the kernel.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "kernels/cpu/dwconv_f32.h"
#include "kernels/cpu/fused_activation.h"
#include "kernels/kernel_registry.h"
#include "runtime/ops/window_geometry.h"

namespace joule::kernels::cpu {
namespace {

constexpr int64_t kWidePlane = 32;
constexpr int64_t kRowsMinOW = 32;

/// JOULE_DWCONV_PATH=c8|wide|rows|z16 forces a path where its kernel can run the node (benchmarks, tests).
const char* forced_path() {
  const char* e = std::getenv("JOULE_DWCONV_PATH");
  return e && *e ? e : nullptr;
}

bool dwconv_accepts(const KernelQuery& q) {
  if (q.inputs.size() < 2) return false;
  bool known = false;
  for (const TensorDesc& d : q.inputs) {
    if (d.dtype == DType::kUndefined) continue;
    if (d.dtype != DType::kF32) return false;
    known = true;
  }
  const TensorDesc& w = q.inputs[1];
  if (!known || !w.rank_known || w.rank() != 4) return false;
  const int64_t group = q.node.attr_int("group", 1);
  if (w.shape[1] != 1 || w.shape[0] != group || group < 2 || w.shape[2] < 1 || w.shape[3] < 1) return false;
  GemmEpilogue ep;
  return read_fused_activation(q.node, ep);
}

/// Weights [C,1,KH,KW] interleaved per block of 8 channels: [ceil(C/8)][KH*KW][8], zero padded.
void interleave_weights(const float* w, int64_t c, int64_t taps, float* dst) {
  for (int64_t cb = 0; cb < c; cb += 8)
    for (int64_t t = 0; t < taps; ++t)
      for (int64_t l = 0; l < 8; ++l) *dst++ = cb + l < c ? w[(cb + l) * taps + t] : 0.0f;
}

struct InterleavedDwWeight {
  Shape w_shape;
  std::vector<float> data;
};

Status dwconv_prepare(const KernelQuery& q, std::shared_ptr<const void>& state) {
  const Tensor* w = q.constant_inputs.size() > 1 ? q.constant_inputs[1] : nullptr;
  if (!w || w->dtype() != DType::kF32 || w->rank() != 4) return Status::ok();
  auto s = std::make_shared<InterleavedDwWeight>();
  const int64_t c = w->dim(0), taps = w->dim(2) * w->dim(3);
  s->w_shape = w->shape();
  s->data.resize(static_cast<size_t>((c + 7) / 8 * 8 * taps));
  interleave_weights(w->data<float>(), c, taps, s->data.data());
  state = s;
  return Status::ok();
}

void apply_act(float* y, int64_t n, const GemmEpilogue& ep) {
  if (ep.act == Activation::kRelu) {
    for (int64_t i = 0; i < n; ++i) y[i] = std::max(y[i], 0.0f);
  } else if (ep.act == Activation::kClip) {
    for (int64_t i = 0; i < n; ++i) y[i] = std::min(std::max(y[i], ep.lo), ep.hi);
  }
}

template <bool Z16>
Status dwconv_run(KernelContext& ctx) {
  for (size_t i = 0; i < ctx.num_inputs(); ++i)
    if (ctx.has_input(i) && ctx.in(i).dtype() != DType::kF32) return ctx.fail_unsupported("inputs are not all float32");
  const Tensor& x = ctx.in(0);
  const Tensor& w = ctx.in(1);
  Tensor& y = ctx.out(0);
  if (x.rank() != 4 || w.rank() != 4 || x.dim(1) != w.dim(0) || w.dim(1) != 1)
    return ctx.fail("depthwise input and weight shapes do not match");
  ops::WindowGeometry wg;
  std::string err = ops::resolve_window(ctx.node, Shape(x.shape().begin() + 2, x.shape().end()), {w.dim(2), w.dim(3)},
                                        ops::WindowRounding::kFloor, wg);
  if (!err.empty()) return ctx.fail(err);
  DwConvGeom g;
  g.h = wg.in[0];
  g.w = wg.in[1];
  g.oh = wg.out[0];
  g.ow = wg.out[1];
  g.kh = w.dim(2);
  g.kw = w.dim(3);
  g.sh = wg.strides[0];
  g.sw = wg.strides[1];
  g.dh = wg.dilations[0];
  g.dw = wg.dilations[1];
  g.pad_t = wg.pad_begin[0];
  g.pad_l = wg.pad_begin[1];
  const int64_t N = x.dim(0), C = x.dim(1), in_plane = g.h * g.w, out_plane = g.oh * g.ow;
  if (y.numel() != N * C * out_plane) return ctx.fail("output shape does not match the convolution");
  if (y.numel() == 0) return Status::ok();
  GemmEpilogue ep;
  read_fused_activation(ctx.node, ep);
  const float* bias = ctx.has_input(2) && ctx.in(2).numel() == C ? ctx.in(2).data<float>() : nullptr;

  const char* force = forced_path();
  auto forced = [&](const char* name) { return force && std::strcmp(force, name) == 0; };
  const bool rows_ok = g.kh == 3 && g.kw == 3 && g.dh == 1 && g.dw == 1 && g.sh == g.sw && (g.sh == 1 || g.sh == 2);
  const bool wide_ok = g.kh == g.kw && (g.kh == 3 || g.kh == 5) && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1;
  if (Z16 && rows_ok && (force ? forced("z16") : true)) {
    auto planes = [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const int64_t c = t % C;
        dwconv3x3_z16_f32__avx512(g, x.data<float>() + t * in_plane, w.data<float>() + c * 9, bias ? bias[c] : 0.0f, ep,
                                  y.data<float>() + t * out_plane);
      }
    };
    if (ctx.pool && ctx.pool->threads() > 1) {
      ctx.pool->parallel_for(N * C, 1, planes);
    } else {
      planes(0, N * C);
    }
    return Status::ok();
  }
  const bool rows = rows_ok && (force ? forced("rows") : g.sh == 1 && g.ow >= kRowsMinOW);
  const bool wide = !rows && wide_ok && (force ? forced("wide") : g.ow >= kWidePlane);
  if (rows) {
    const int64_t scratch = dwconv3x3_rows_scratch(g);
    auto planes = [&](int64_t b, int64_t e) {
      thread_local std::vector<float> buf;
      if (buf.size() < static_cast<size_t>(scratch)) buf.resize(static_cast<size_t>(scratch));
      for (int64_t t = b; t < e; ++t) {
        const int64_t c = t % C;
        dwconv3x3_rows_f32__avx2(g, x.data<float>() + t * in_plane, w.data<float>() + c * 9, bias ? bias[c] : 0.0f, ep,
                                 y.data<float>() + t * out_plane, buf.data());
      }
    };
    if (ctx.pool && ctx.pool->threads() > 1) {
      ctx.pool->parallel_for(N * C, 1, planes);
    } else {
      planes(0, N * C);
    }
    return Status::ok();
  }
  if (wide) {
    DwConvPlane p{g.h, g.w, g.oh, g.ow, g.kh, 1, g.pad_t, g.pad_l};
    auto planes = [&](int64_t b, int64_t e) {
      thread_local std::vector<float> rowbuf;
      rowbuf.resize(static_cast<size_t>(p.ow * p.stride + p.k + 8));
      for (int64_t t = b; t < e; ++t) {
        const int64_t c = t % C;
        float* yp = y.data<float>() + t * out_plane;
        dwconv_f32__avx2(p, x.data<float>() + t * in_plane, w.data<float>() + c * p.k * p.k, bias ? bias[c] : 0.0f, yp,
                         rowbuf.data());
        apply_act(yp, out_plane, ep);
      }
    };
    if (ctx.pool && ctx.pool->threads() > 1) {
      ctx.pool->parallel_for(N * C, 1, planes);
    } else {
      planes(0, N * C);
    }
    return Status::ok();
  }

  const int64_t taps = g.kh * g.kw, blocks = (C + 7) / 8;
  auto* pw = static_cast<const InterleavedDwWeight*>(ctx.state);
  if (pw && pw->w_shape != w.shape()) pw = nullptr;
  std::vector<float> wlocal;
  if (!pw) {
    wlocal.resize(static_cast<size_t>(blocks * 8 * taps));
    interleave_weights(w.data<float>(), C, taps, wlocal.data());
  }
  const float* w8 = pw ? pw->data.data() : wlocal.data();
  const int64_t scratch = dwconv_f32_c8_scratch(g);
  auto run_blocks = [&](int64_t b, int64_t e) {
    thread_local std::vector<float> buf;
    if (buf.size() < static_cast<size_t>(scratch)) buf.resize(static_cast<size_t>(scratch));
    for (int64_t t = b; t < e; ++t) {
      const int64_t n = t / blocks, cb = (t % blocks) * 8, nch = std::min<int64_t>(8, C - cb);
      float bias8[8] = {};
      for (int64_t l = 0; l < nch && bias; ++l) bias8[l] = bias[cb + l];
      dwconv_f32_c8__avx2(g, x.data<float>() + (n * C + cb) * in_plane, nch, w8 + cb * taps, bias8, ep,
                          y.data<float>() + (n * C + cb) * out_plane, buf.data());
    }
  };
  if (ctx.pool && ctx.pool->threads() > 1) {
    ctx.pool->parallel_for(N * blocks, 1, run_blocks);
  } else {
    run_blocks(0, N * blocks);
  }
  return Status::ok();
}

}  // namespace

// No KernelDef::packed_inputs here: the wide-plane path reads the raw weights at run time.
void register_cpu_dwconv(KernelRegistry& r) {
  r.add({"", "Conv", "dwconv_f32__avx2", Device::kCpu, Isa::kAvx2, 15, dwconv_accepts, dwconv_prepare, dwconv_run<false>});
  r.add({"", "Conv", "dwconv_f32__avx512", Device::kCpu, Isa::kAvx512, 16, dwconv_accepts, dwconv_prepare, dwconv_run<true>});
}

}  // namespace joule::kernels::cpu
