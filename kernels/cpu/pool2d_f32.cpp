// FP32 2-D MaxPool (without the Indices output) and AveragePool on NCHW: geometry from the node
// (kernel_shape, strides, pads / auto_pad, dilations, ceil_mode) resolved once per run, then
// pool2d_f32__<isa>.cpp runs whole (n, c) planes, split over ctx.pool by plane (1 and N threads agree
// bitwise). Other ranks, the Indices output and non-f32 tensors go to the reference kernel.
#include <functional>

#include "kernels/kernel_registry.h"
#include "runtime/ops/window_geometry.h"

namespace joule::kernels::cpu {

void pool2d_f32_planes_avx2(bool max, bool include_pad, const ops::WindowGeometry& g, const float* x, float* y, int64_t planes);
void pool2d_f32_planes_avx512(bool max, bool include_pad, const ops::WindowGeometry& g, const float* x, float* y, int64_t planes);

namespace {

bool accepts_pool2d(const KernelQuery& q) {
  if (q.inputs.empty() || q.node.has_attr("joule.activation")) return false;
  const ir::TensorDesc& d = q.inputs[0];
  if (d.dtype != DType::kF32 && d.dtype != DType::kUndefined) return false;
  if (d.rank_known && d.rank() != 4) return false;
  return !(q.node.outputs.size() > 1 && q.node.outputs[1] != nullptr);  // MaxPool Indices: reference
}

template <Isa I, bool Max>
Status pool2d_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  if (x.dtype() != DType::kF32 || x.rank() != 4) {
    static const KernelDef* ref = KernelRegistry::builtin().reference("", Max ? "MaxPool" : "AveragePool");
    return ref->run(ctx);
  }
  ops::WindowGeometry g2;
  const bool ceil_mode = ctx.node.attr_int("ceil_mode", 0) != 0;
  std::string err = ops::resolve_window(ctx.node, Shape(x.shape().begin() + 2, x.shape().end()), ctx.node.attr_ints("kernel_shape"),
                                        ceil_mode ? ops::WindowRounding::kCeil : ops::WindowRounding::kFloor, g2);
  if (!err.empty()) return ctx.fail(err);
  const ops::WindowGeometry g = g2.as_3d();
  const bool include_pad = ctx.node.attr_int("count_include_pad", 0) != 0;
  const int64_t planes = x.dim(0) * x.dim(1), in_plane = g.in[1] * g.in[2], out_plane = g.out[1] * g.out[2];
  if (planes == 0 || out_plane == 0) return Status::ok();
  const float* xp = x.data<float>();
  float* yp = ctx.out(0).data<float>();
  auto run = [&](int64_t p0, int64_t p1) {
    if constexpr (I == Isa::kAvx2) pool2d_f32_planes_avx2(Max, include_pad, g, xp + p0 * in_plane, yp + p0 * out_plane, p1 - p0);
    else pool2d_f32_planes_avx512(Max, include_pad, g, xp + p0 * in_plane, yp + p0 * out_plane, p1 - p0);
  };
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, in_plane));
  if (!ctx.pool || ctx.pool->threads() == 1 || planes <= grain) run(0, planes);
  else ctx.pool->parallel_for(planes, grain, run);
  return Status::ok();
}

template <Isa I>
void register_isa(KernelRegistry& r, const std::string& suffix, int priority) {
  r.add({"", "MaxPool", "max_pool2d_f32__" + suffix, Device::kCpu, I, priority, accepts_pool2d, nullptr, pool2d_kernel<I, true>});
  r.add({"", "AveragePool", "average_pool2d_f32__" + suffix, Device::kCpu, I, priority, accepts_pool2d, nullptr, pool2d_kernel<I, false>});
}

}  // namespace

void register_cpu_pool2d(KernelRegistry& r) {
  register_isa<Isa::kAvx2>(r, "avx2", 10);
  register_isa<Isa::kAvx512>(r, "avx512", 20);
}

}  // namespace joule::kernels::cpu
