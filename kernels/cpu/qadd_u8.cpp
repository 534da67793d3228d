// joule.QAdd on uint8 a, b and y (the quantizer's default activation type) with AVX2 and AVX-512
// (qadd_u8__avx2.cpp, qadd_u8__avx512.cpp); int8 operands stay on the reference kernel (kernels/ref/qfused.cpp).
// Both repeat kernels/ref/qadd_common.h lane for lane (same float operations, round half to even), so they match
// the reference bit for bit. The elements are split over the thread pool in 4096-element chunks.
#include <algorithm>

#include "kernels/kernel_registry.h"
#include "kernels/ref/qadd_common.h"
#include "kernels/ref/quant_common.h"
#include "runtime/thread_pool.h"

namespace joule::kernels::cpu {

void qadd_u8__avx2(const uint8_t* a, const uint8_t* b, int64_t n, const quant::QAddParams& p, uint8_t* y);
void qadd_u8__avx512(const uint8_t* a, const uint8_t* b, int64_t n, const quant::QAddParams& p, uint8_t* y);

namespace {

bool scalar_param(const KernelQuery& q, size_t i, DType t) {
  return q.inputs.size() > i && q.inputs[i].dtype == t && q.inputs[i].rank_known && shape_numel(q.inputs[i].shape) == 1;
}

bool qadd_accepts(const KernelQuery& q) {
  if (q.inputs.size() != 8 || q.inputs[0].dtype != DType::kU8 || q.inputs[3].dtype != DType::kU8) return false;
  for (size_t i : {1, 4, 6})
    if (!scalar_param(q, i, DType::kF32)) return false;
  for (size_t i : {2, 5, 7})
    if (!scalar_param(q, i, DType::kU8)) return false;
  return true;
}

template <void (*Fn)(const uint8_t*, const uint8_t*, int64_t, const quant::QAddParams&, uint8_t*)>
Status qadd_run(KernelContext& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(3);
  Tensor& y = ctx.out(0);
  if (a.shape() != b.shape()) return ctx.fail("a and b must have the same shape");
  int32_t lo = 0, hi = 255;
  lo = std::max<int32_t>(lo, static_cast<int32_t>(ctx.node.attr_int("qmin", lo)));
  hi = std::min<int32_t>(hi, static_cast<int32_t>(ctx.node.attr_int("qmax", hi)));
  const quant::QAddParams p = quant::qadd_params(ctx.in(1).data<float>()[0], ctx.in(2).data<uint8_t>()[0], ctx.in(4).data<float>()[0],
                                                 ctx.in(5).data<uint8_t>()[0], ctx.in(6).data<float>()[0], ctx.in(7).data<uint8_t>()[0], lo, hi);
  const uint8_t* pa = a.data<uint8_t>();
  const uint8_t* pb = b.data<uint8_t>();
  uint8_t* py = y.data<uint8_t>();
  const int64_t n = a.numel(), chunk = 4096;
  if (!ctx.pool || n < 2 * chunk) {
    Fn(pa, pb, n, p, py);
    return Status::ok();
  }
  ctx.pool->parallel_for((n + chunk - 1) / chunk, 1, [&](int64_t t0, int64_t t1) {
    const int64_t i0 = t0 * chunk, i1 = std::min(t1 * chunk, n);
    Fn(pa + i0, pb + i0, i1 - i0, p, py + i0);
  });
  return Status::ok();
}

}  // namespace

void register_cpu_qadd(KernelRegistry& r) {
  r.add({"joule", "QAdd", "qadd_u8__avx2", Device::kCpu, Isa::kAvx2, 10, qadd_accepts, nullptr, qadd_run<qadd_u8__avx2>});
  r.add({"joule", "QAdd", "qadd_u8__avx512", Device::kCpu, Isa::kAvx512, 20, qadd_accepts, nullptr, qadd_run<qadd_u8__avx512>});
}

}  // namespace joule::kernels::cpu
