// Reference kernels for unary math: y[i] = f(x[i]) over same-shape tensors.
// Float ops (Sqrt, Exp, Log, Reciprocal, Floor, Ceil, Round, Erf, trig and hyperbolic functions)
// compute in the element's compute type (float for float16/bfloat16); Neg, Abs and Sign also take
// integers (Neg/Abs of INT_MIN wrap to INT_MIN, as two's complement does).
#include <cmath>

#include "kernels/ref/elementwise_common.h"

namespace joule::kernels {

namespace {

// Round half to even, independent of the floating-point environment's rounding mode.
template <class C>
C round_half_even(C x) {
  C r = std::round(x);  // half away from zero
  if (std::fabs(x - std::trunc(x)) == C(0.5)) r = C(2) * std::round(x / C(2));
  return r;
}

#define JOULE_UNARY_FLOAT(fn_name, expr)                                     \
  Status fn_name(KernelContext& ctx) {                                       \
    return run_unary_float(ctx, [](auto x) -> decltype(x) { return expr; }); \
  }

JOULE_UNARY_FLOAT(sqrt_ref, std::sqrt(x))
JOULE_UNARY_FLOAT(exp_ref, std::exp(x))
JOULE_UNARY_FLOAT(log_ref, std::log(x))
JOULE_UNARY_FLOAT(reciprocal_ref, decltype(x)(1) / x)
JOULE_UNARY_FLOAT(floor_ref, std::floor(x))
JOULE_UNARY_FLOAT(ceil_ref, std::ceil(x))
JOULE_UNARY_FLOAT(round_ref, round_half_even(x))
JOULE_UNARY_FLOAT(erf_ref, std::erf(x))
JOULE_UNARY_FLOAT(sin_ref, std::sin(x))
JOULE_UNARY_FLOAT(cos_ref, std::cos(x))
JOULE_UNARY_FLOAT(tan_ref, std::tan(x))
JOULE_UNARY_FLOAT(asin_ref, std::asin(x))
JOULE_UNARY_FLOAT(acos_ref, std::acos(x))
JOULE_UNARY_FLOAT(atan_ref, std::atan(x))
JOULE_UNARY_FLOAT(sinh_ref, std::sinh(x))
JOULE_UNARY_FLOAT(cosh_ref, std::cosh(x))
JOULE_UNARY_FLOAT(asinh_ref, std::asinh(x))
JOULE_UNARY_FLOAT(acosh_ref, std::acosh(x))
JOULE_UNARY_FLOAT(atanh_ref, std::atanh(x))

#undef JOULE_UNARY_FLOAT

// f on any numeric dtype (compute type in and out).
template <class F>
Status run_unary_numeric(KernelContext& ctx, F f) {
  bool ok = dispatch_numeric(ctx.in(0).dtype(), [&]<class T>() {
    unary_map<T, T>(ctx.in(0), ctx.out(0), [&](T v) { return from_compute<T>(f(to_compute(v))); });
  });
  return ok ? Status::ok() : ctx.fail_unsupported("dtype " + std::string(dtype_name(ctx.in(0).dtype())));
}

Status neg_ref(KernelContext& ctx) {
  return run_unary_numeric(ctx, [](auto x) -> decltype(x) {
    using C = decltype(x);
    if constexpr (std::is_integral_v<C>) return static_cast<C>(uint64_t{0} - static_cast<uint64_t>(x));
    else return -x;
  });
}

Status abs_ref(KernelContext& ctx) {
  return run_unary_numeric(ctx, [](auto x) -> decltype(x) {
    using C = decltype(x);
    if constexpr (std::is_unsigned_v<C>) return x;
    else if constexpr (std::is_integral_v<C>) return x < 0 ? static_cast<C>(uint64_t{0} - static_cast<uint64_t>(x)) : x;
    else return std::fabs(x);
  });
}

// Sign: -1, 0 or 1 (NaN stays NaN).
Status sign_ref(KernelContext& ctx) {
  return run_unary_numeric(ctx, [](auto x) -> decltype(x) {
    using C = decltype(x);
    if constexpr (!std::is_integral_v<C>)
      if (std::isnan(x)) return x;
    return x > C(0) ? C(1) : (x < C(0) ? static_cast<C>(-1) : C(0));
  });
}

KernelDef ref(const char* op, const char* name, KernelFn fn) {
  return {"", op, name, Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, fn};
}

}  // namespace

void register_ref_unary_math(KernelRegistry& r) {
  r.add(ref("Sqrt", "sqrt__ref", sqrt_ref));
  r.add(ref("Exp", "exp__ref", exp_ref));
  r.add(ref("Log", "log__ref", log_ref));
  r.add(ref("Reciprocal", "reciprocal__ref", reciprocal_ref));
  r.add(ref("Floor", "floor__ref", floor_ref));
  r.add(ref("Ceil", "ceil__ref", ceil_ref));
  r.add(ref("Round", "round__ref", round_ref));
  r.add(ref("Erf", "erf__ref", erf_ref));
  r.add(ref("Sin", "sin__ref", sin_ref));
  r.add(ref("Cos", "cos__ref", cos_ref));
  r.add(ref("Tan", "tan__ref", tan_ref));
  r.add(ref("Asin", "asin__ref", asin_ref));
  r.add(ref("Acos", "acos__ref", acos_ref));
  r.add(ref("Atan", "atan__ref", atan_ref));
  r.add(ref("Sinh", "sinh__ref", sinh_ref));
  r.add(ref("Cosh", "cosh__ref", cosh_ref));
  r.add(ref("Asinh", "asinh__ref", asinh_ref));
  r.add(ref("Acosh", "acosh__ref", acosh_ref));
  r.add(ref("Atanh", "atanh__ref", atanh_ref));
  r.add(ref("Neg", "neg__ref", neg_ref));
  r.add(ref("Abs", "abs__ref", abs_ref));
  r.add(ref("Sign", "sign__ref", sign_ref));
}

}  // namespace joule::kernels
