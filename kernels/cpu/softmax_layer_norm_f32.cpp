// FP32 Softmax (any axis), LayerNormalization (rows over dims [axis, rank)) and GlobalAveragePool on the
// AVX2 / AVX-512 row kernels of elementwise_f32.h. Statistics are float (the reference sums in double);
// the oracle bound covers the difference. Rows (or [len][inner] blocks, or planes) are split over
// ctx.pool whole, so 1 and N threads give bitwise identical results.
//
// Softmax views X as (outer, len, inner) like the reference: opset >= 13 len = dims[axis]; opset < 13
// len = prod(dims[axis:]), inner = 1. inner == 1 runs contiguous rows; inner > 1 runs [len][inner] blocks
// vectorised across inner. LayerNormalization takes Scale / B of exactly prod(dims[axis:]) elements
// (numpy broadcasting of smaller ones goes to the reference kernel) and f32 Mean / InvStdDev outputs.
#include <algorithm>
#include <functional>

#include "kernels/cpu/elementwise_f32.h"
#include "kernels/kernel_registry.h"
#include "runtime/ops/infer_helpers.h"

namespace joule::kernels::cpu {

namespace {

// Floats per task below which another thread is not worth waking: every task gets at least this many (at
// least one row). Was 8192 with tasks allowed below it: MiniLM-L6's 128x384 LayerNorms (~18 us) then split
// in two and cost ~2.3x their 1-thread CPU time at 2 threads (Zen 4); 128-row softmaxes (196608 floats) split.
constexpr int64_t kGrainFloats = 32768;

// Runs fn over [0, n) in at most n / grain tasks (each at least `grain` items), on the caller alone below 2.
void parallel(ThreadPool* pool, int64_t n, int64_t grain, RangeFn fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t tasks = std::min<int64_t>(n / grain, pool ? pool->threads() : 1);
  if (tasks <= 1) return fn(0, n);
  pool->parallel_for(n, (n + tasks - 1) / tasks, fn);
}

int64_t grain_for(int64_t per_item) { return std::max<int64_t>(1, kGrainFloats / std::max<int64_t>(1, per_item)); }

// Input dtypes may be unknown when the kernel is chosen: accepted unless known and not f32; a node whose
// inputs turn out not to be f32 at run time goes to the reference kernel.
bool maybe_f32(const ir::TensorDesc& d) { return d.dtype == DType::kF32 || d.dtype == DType::kUndefined; }

bool f32_no_fused(const KernelQuery& q) {
  return !q.node.has_attr("joule.activation") && !q.inputs.empty() && maybe_f32(q.inputs[0]);
}

bool inputs_f32(const KernelContext& ctx) {
  for (size_t i = 0; i < ctx.num_inputs(); ++i)
    if (ctx.has_input(i) && ctx.in(i).dtype() != DType::kF32) return false;
  for (size_t i = 0; i < ctx.outputs.size(); ++i)
    if (ctx.has_output(i) && ctx.outputs[i]->dtype() != DType::kF32) return false;
  return true;
}

Status run_reference(KernelContext& ctx) {
  const KernelDef* ref = KernelRegistry::builtin().reference(ctx.node.domain, ctx.node.op_type);
  if (!ref) return ctx.fail_unsupported("no reference kernel");
  return ref->run(ctx);
}

template <Isa I>
Status softmax_kernel(KernelContext& ctx) {
  if (!inputs_f32(ctx)) return run_reference(ctx);
  const ElementwiseF32Kernels& k = elementwise_f32_kernels(I);
  const Tensor& x = ctx.in(0);
  const bool coerce_2d = ctx.node.opset < 13;
  const int rank = x.rank();
  int64_t axis = ctx.node.attr_int("axis", coerce_2d ? 1 : -1);
  if (axis < 0) axis += std::max(rank, 1);
  int64_t outer = 1, len = 1, inner = 1;
  for (int i = 0; i < rank; ++i) {
    const int64_t d = x.dim(i);
    if (i < axis) outer *= d;
    else if (i == axis || coerce_2d) len *= d;
    else inner *= d;
  }
  const float* xp = x.data<float>();
  float* yp = ctx.out(0).data<float>();
  if (inner == 1) {
    parallel(ctx.pool, outer, grain_for(len), [&](int64_t r0, int64_t r1) { k.softmax_rows(xp + r0 * len, yp + r0 * len, r1 - r0, len); });
  } else {
    const int64_t block = len * inner;
    parallel(ctx.pool, outer, grain_for(block), [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) k.softmax_strided(xp + b * block, yp + b * block, len, inner);
    });
  }
  return Status::ok();
}

bool accepts_layer_norm(const KernelQuery& q) {
  if (!f32_no_fused(q) || q.inputs.size() < 2 || !maybe_f32(q.inputs[1])) return false;
  if (q.inputs.size() > 2 && q.node.has_input(2) && !maybe_f32(q.inputs[2])) return false;
  return q.node.attr_int("stash_type", 1) == 1;  // Mean / InvStdDev in float
}

template <Isa I>
Status layer_norm_kernel(KernelContext& ctx) {
  if (!inputs_f32(ctx)) return run_reference(ctx);
  const Tensor& x = ctx.in(0);
  const int rank = x.rank();
  auto axis = ops::normalize_axis(ctx.node.attr_int("axis", -1), rank);
  if (!axis) return ctx.fail("axis " + std::to_string(ctx.node.attr_int("axis", -1)) + " out of range for rank " + std::to_string(rank));
  int64_t len = 1;
  for (int i = *axis; i < rank; ++i) len *= x.dim(i);
  const bool has_bias = ctx.has_input(2);
  if (ctx.in(1).numel() != len || (has_bias && ctx.in(2).numel() != len) || len == 0) {
    return run_reference(ctx);  // Scale / B broadcast from fewer elements: numpy broadcasting there
  }
  const int64_t rows = x.numel() / len;
  const float eps = ctx.node.attr_float("epsilon", 1e-5f);
  const float* xp = x.data<float>();
  const float* scale = ctx.in(1).data<float>();
  const float* bias = has_bias ? ctx.in(2).data<float>() : nullptr;
  float* yp = ctx.out(0).data<float>();
  float* mean = ctx.has_output(1) ? ctx.out(1).data<float>() : nullptr;
  float* inv = ctx.has_output(2) ? ctx.out(2).data<float>() : nullptr;
  const ElementwiseF32Kernels& k = elementwise_f32_kernels(I);
  parallel(ctx.pool, rows, grain_for(len), [&](int64_t r0, int64_t r1) {
    k.layer_norm_rows(xp + r0 * len, scale, bias, yp + r0 * len, r1 - r0, len, eps, mean ? mean + r0 : nullptr,
                      inv ? inv + r0 : nullptr);
  });
  return Status::ok();
}

// GlobalAveragePool over NC[spatial...]: one mean per (n, c) plane.
bool accepts_global_average_pool(const KernelQuery& q) { return f32_no_fused(q); }

template <Isa I>
Status global_average_pool_kernel(KernelContext& ctx) {
  if (!inputs_f32(ctx)) return run_reference(ctx);
  const Tensor& x = ctx.in(0);
  if (x.rank() < 2) return ctx.fail("input of rank " + std::to_string(x.rank()) + ", expected N x C x ...");
  const int64_t planes = x.dim(0) * x.dim(1);
  if (planes == 0) return Status::ok();
  const int64_t len = x.numel() / planes;
  const float* xp = x.data<float>();
  float* yp = ctx.out(0).data<float>();
  const ElementwiseF32Kernels& k = elementwise_f32_kernels(I);
  parallel(ctx.pool, planes, grain_for(len), [&](int64_t p0, int64_t p1) { k.plane_means(xp + p0 * len, yp + p0, p1 - p0, len); });
  return Status::ok();
}

template <Isa I>
void register_isa(KernelRegistry& r, const std::string& suffix, int priority) {
  r.add({"", "Softmax", "softmax_f32__" + suffix, Device::kCpu, I, priority, f32_no_fused, nullptr, softmax_kernel<I>});
  r.add({"", "LayerNormalization", "layer_norm_f32__" + suffix, Device::kCpu, I, priority, accepts_layer_norm, nullptr,
         layer_norm_kernel<I>});
  r.add({"", "GlobalAveragePool", "global_average_pool_f32__" + suffix, Device::kCpu, I, priority, accepts_global_average_pool,
         nullptr, global_average_pool_kernel<I>});
}

}  // namespace

void register_cpu_softmax_layer_norm(KernelRegistry& r) {
  register_isa<Isa::kAvx2>(r, "avx2", 10);
  register_isa<Isa::kAvx512>(r, "avx512", 20);
}

}  // namespace joule::kernels::cpu
