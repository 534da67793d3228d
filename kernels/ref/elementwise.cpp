// Reference kernels for elementwise ops: plain loops over broadcast index arithmetic.
#include <cstring>

#include "kernels/kernel_registry.h"
#include "runtime/ir/dtype_dispatch.h"
#include "runtime/ops/infer_helpers.h"

namespace joule::kernels {

namespace {

// out[i] = f(a[bcast(i)], b[bcast(i)]) for any rank; T is the storage type.
template <class T, class F>
void binary_broadcast(const Tensor& a, const Tensor& b, Tensor& out, F f) {
  const Shape& os = out.shape();
  auto sa = ops::broadcast_strides(a.shape(), os), sb = ops::broadcast_strides(b.shape(), os);
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  T* po = out.data<T>();
  int64_t n = out.numel();
  int r = static_cast<int>(os.size());
  std::vector<int64_t> idx(static_cast<size_t>(r), 0);
  int64_t ia = 0, ib = 0;
  for (int64_t i = 0; i < n; ++i) {
    po[i] = from_compute<T>(f(to_compute(pa[ia]), to_compute(pb[ib])));
    for (int d = r - 1; d >= 0; --d) {  // odometer increment
      size_t du = static_cast<size_t>(d);
      ++idx[du];
      ia += sa[du];
      ib += sb[du];
      if (idx[du] < os[du]) break;
      ia -= sa[du] * os[du];
      ib -= sb[du] * os[du];
      idx[du] = 0;
    }
  }
}

template <class F>
Status run_binary(KernelContext& ctx, F f) {
  bool ok = dispatch_numeric(ctx.in(0).dtype(), [&]<class T>() { binary_broadcast<T>(ctx.in(0), ctx.in(1), ctx.out(0), f); });
  return ok ? Status::ok() : ctx.fail_unsupported("dtype " + std::string(dtype_name(ctx.in(0).dtype())));
}

Status add_ref(KernelContext& ctx) { return run_binary(ctx, [](auto x, auto y) { return x + y; }); }
Status sub_ref(KernelContext& ctx) { return run_binary(ctx, [](auto x, auto y) { return x - y; }); }
Status mul_ref(KernelContext& ctx) { return run_binary(ctx, [](auto x, auto y) { return x * y; }); }
Status div_ref(KernelContext& ctx) {
  return run_binary(ctx, [](auto x, auto y) {
    using C = decltype(x);
    if constexpr (std::is_integral_v<C>) return y == 0 ? C(0) : static_cast<C>(x / y);  // no trap on /0
    else return x / y;
  });
}

Status identity_ref(KernelContext& ctx) {
  std::memcpy(ctx.out(0).raw(), ctx.in(0).raw(), ctx.in(0).nbytes());
  return Status::ok();
}

}  // namespace

void register_ref_elementwise(KernelRegistry& r) {
  r.add({"", "Add", "add__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, add_ref});
  r.add({"", "Sub", "sub__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, sub_ref});
  r.add({"", "Mul", "mul__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, mul_ref});
  r.add({"", "Div", "div__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, div_ref});
  r.add({"", "Identity", "identity__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, identity_ref});
}

}  // namespace joule::kernels
