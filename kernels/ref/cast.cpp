// Reference kernels for Cast and CastLike between every numeric, bool, float16 and bfloat16 type.
//
// Conversion rules (numpy's astype where that is well defined):
//   * to bool: value != 0 (NaN is true);  from bool: 0 or 1.
//   * integer -> integer: two's-complement wrap (C++20 modular conversion).
//   * float -> integer: truncate toward zero; out-of-range values saturate and NaN gives 0
//     (numpy leaves these undefined; C++ would be undefined behaviour).
//   * -> float16 / bfloat16: round to nearest even through float.
#include <cstring>

#include "kernels/ref/elementwise_common.h"

namespace joule::kernels {

namespace {

template <class To, class From>
To convert(From v) {
  auto c = to_compute(v);  // float for 16-bit floats, the value itself otherwise
  using C = decltype(c);
  if constexpr (std::is_same_v<To, bool>) return c != C(0);
  else if constexpr (std::is_same_v<C, bool>) return from_compute<To>(c ? 1 : 0);
  else if constexpr (std::is_floating_point_v<C> && std::is_integral_v<To>) return saturate_cast<To>(static_cast<double>(c));
  else return from_compute<To>(c);
}

Status cast_to(KernelContext& ctx, const Tensor& in, Tensor& out) {
  if (in.dtype() == out.dtype()) {
    std::memcpy(out.raw(), in.raw(), in.nbytes());
    return Status::ok();
  }
  bool inner_ok = false;
  bool ok = dispatch_all(in.dtype(), [&]<class From>() {
    inner_ok = dispatch_all(out.dtype(), [&]<class To>() { unary_map<From, To>(in, out, convert<To, From>); });
  });
  if (!ok || !inner_ok)
    return ctx.fail_unsupported("cast from " + std::string(dtype_name(in.dtype())) + " to " +
                                std::string(dtype_name(out.dtype())));
  return Status::ok();
}

Status cast_ref(KernelContext& ctx) { return cast_to(ctx, ctx.in(0), ctx.out(0)); }
// CastLike: input 1 only supplies the target dtype (already applied to the output by inference).
Status castlike_ref(KernelContext& ctx) { return cast_to(ctx, ctx.in(0), ctx.out(0)); }

}  // namespace

void register_ref_cast(KernelRegistry& r) {
  r.add({"", "Cast", "cast__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, cast_ref});
  r.add({"", "CastLike", "castlike__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, castlike_ref});
}

}  // namespace joule::kernels
