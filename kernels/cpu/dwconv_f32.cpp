// Depthwise Conv (group == C == M, weights [C,1,K,K], K = 3 or 5, stride 1 or 2, dilation 1, 2-D)
// on dwconv_f32__avx2, one task per (image, channel) plane; bias and a fused Relu/Clip
// ("joule.activation") are applied per plane after the taps.
#include <algorithm>
#include <vector>

#include "kernels/cpu/dwconv_f32.h"
#include "kernels/cpu/fused_activation.h"
#include "kernels/kernel_registry.h"
#include "runtime/ops/window_geometry.h"

namespace joule::kernels::cpu {
namespace {

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
  const int64_t k = w.shape[2];
  if (w.shape[1] != 1 || w.shape[0] != group || group < 1 || k != w.shape[3] || (k != 3 && k != 5)) return false;
  auto strides = q.node.attr_ints("strides", {1, 1});
  auto dil = q.node.attr_ints("dilations", {1, 1});
  if (strides.size() != 2 || strides[0] != strides[1] || (strides[0] != 1 && strides[0] != 2)) return false;
  for (int64_t d : dil)
    if (d != 1) return false;
  GemmEpilogue ep;
  return read_fused_activation(q.node, ep);
}

Status dwconv_run(KernelContext& ctx) {
  for (size_t i = 0; i < ctx.num_inputs(); ++i)
    if (ctx.has_input(i) && ctx.in(i).dtype() != DType::kF32) return ctx.fail_unsupported("inputs are not all float32");
  const Tensor& x = ctx.in(0);
  const Tensor& w = ctx.in(1);
  Tensor& y = ctx.out(0);
  if (x.rank() != 4 || w.rank() != 4 || x.dim(1) != w.dim(0)) return ctx.fail("depthwise input and weight shapes do not match");
  ops::WindowGeometry g;
  std::string err = ops::resolve_window(ctx.node, Shape(x.shape().begin() + 2, x.shape().end()), {w.dim(2), w.dim(3)},
                                        ops::WindowRounding::kFloor, g);
  if (!err.empty()) return ctx.fail(err);
  DwConvPlane p;
  p.h = g.in[0];
  p.w = g.in[1];
  p.oh = g.out[0];
  p.ow = g.out[1];
  p.k = w.dim(2);
  p.stride = g.strides[0];
  p.pad_t = g.pad_begin[0];
  p.pad_l = g.pad_begin[1];
  const int64_t N = x.dim(0), C = x.dim(1);
  if (y.numel() != N * C * p.oh * p.ow) return ctx.fail("output shape does not match the convolution");
  GemmEpilogue ep;
  read_fused_activation(ctx.node, ep);
  const float* bias = ctx.has_input(2) && ctx.in(2).numel() == C ? ctx.in(2).data<float>() : nullptr;
  auto planes = [&](int64_t b, int64_t e) {
    thread_local std::vector<float> rowbuf;
    rowbuf.resize(static_cast<size_t>(p.ow * p.stride + p.k + 8));
    for (int64_t t = b; t < e; ++t) {
      const int64_t c = t % C;
      float* yp = y.data<float>() + t * p.oh * p.ow;
      dwconv_f32__avx2(p, x.data<float>() + t * p.h * p.w, w.data<float>() + c * p.k * p.k, bias ? bias[c] : 0.0f, yp,
                       rowbuf.data());
      if (ep.act == Activation::kRelu) {
        for (int64_t i = 0; i < p.oh * p.ow; ++i) yp[i] = std::max(yp[i], 0.0f);
      } else if (ep.act == Activation::kClip) {
        for (int64_t i = 0; i < p.oh * p.ow; ++i) yp[i] = std::min(std::max(yp[i], ep.lo), ep.hi);
      }
    }
  };
  if (ctx.pool && ctx.pool->threads() > 1) {
    ctx.pool->parallel_for(N * C, 1, planes);
  } else {
    planes(0, N * C);
  }
  return Status::ok();
}

}  // namespace

void register_cpu_dwconv(KernelRegistry& r) {
  r.add({"", "Conv", "dwconv_f32__avx2", Device::kCpu, Isa::kAvx2, 15, dwconv_accepts, nullptr, dwconv_run});
}

}  // namespace joule::kernels::cpu
