// Reference kernels for broadcasting arithmetic: Add, Sub, Mul, Div, Mod, Pow, variadic
// Max/Min/Sum/Mean, Where, and Identity. The elementwise family's registration function also
// pulls in the comparison/logic, unary math and cast files.
//
// Integer semantics: add/sub/mul wrap modulo 2^bits (computed in uint64, never signed overflow);
// division truncates toward zero; x / 0 and x % 0 give 0 and INT_MIN / -1 wraps, so no input
// can raise SIGFPE. 16-bit floats compute in float.
#include <cmath>
#include <cstring>

#include "kernels/ref/elementwise_common.h"

namespace joule::kernels {

namespace {

template <class C>
constexpr bool kIsInt = std::is_integral_v<C>;

struct AddOp {
  template <class C> C operator()(C x, C y) const {
    if constexpr (kIsInt<C>) return static_cast<C>(static_cast<uint64_t>(x) + static_cast<uint64_t>(y));
    else return x + y;
  }
};
struct SubOp {
  template <class C> C operator()(C x, C y) const {
    if constexpr (kIsInt<C>) return static_cast<C>(static_cast<uint64_t>(x) - static_cast<uint64_t>(y));
    else return x - y;
  }
};
struct MulOp {
  template <class C> C operator()(C x, C y) const {
    if constexpr (kIsInt<C>) return static_cast<C>(static_cast<uint64_t>(x) * static_cast<uint64_t>(y));
    else return x * y;
  }
};
struct DivOp {
  template <class C> C operator()(C x, C y) const {
    if constexpr (kIsInt<C>) {
      if (y == 0) return C(0);
      if constexpr (std::is_signed_v<C>)
        if (y == C(-1)) return static_cast<C>(uint64_t{0} - static_cast<uint64_t>(x));  // wraps at INT_MIN
      return static_cast<C>(x / y);
    } else {
      return x / y;
    }
  }
};
// fmod=1: remainder has the sign of the dividend (C fmod / %).
struct FmodOp {
  template <class C> C operator()(C x, C y) const {
    if constexpr (kIsInt<C>) {
      if (y == 0) return C(0);
      if constexpr (std::is_signed_v<C>)
        if (y == C(-1)) return C(0);
      return static_cast<C>(x % y);
    } else {
      return std::fmod(x, y);
    }
  }
};
// fmod=0 (integers only): remainder has the sign of the divisor (Python / numpy mod).
struct IntModOp {
  template <class C> C operator()(C x, C y) const {
    C r = FmodOp{}(x, y);
    if constexpr (std::is_signed_v<C>)
      if (r != 0 && ((r < 0) != (y < 0))) r = static_cast<C>(r + y);
    return r;
  }
};
// Max/Min propagate NaN, like numpy's maximum/minimum.
struct MaxOp {
  template <class C> C operator()(C x, C y) const {
    if constexpr (!kIsInt<C>)
      if (std::isnan(x) || std::isnan(y)) return std::numeric_limits<C>::quiet_NaN();
    return x < y ? y : x;
  }
};
struct MinOp {
  template <class C> C operator()(C x, C y) const {
    if constexpr (!kIsInt<C>)
      if (std::isnan(x) || std::isnan(y)) return std::numeric_limits<C>::quiet_NaN();
    return y < x ? y : x;
  }
};

std::string dtype_msg(const Tensor& t) { return "dtype " + std::string(dtype_name(t.dtype())); }

// out = op(a, b) with broadcasting; a, b, out share a numeric dtype.
template <class Op>
Status arith(KernelContext& ctx, const Tensor& a, const Tensor& b, Tensor& out, Op op) {
  bool ok = dispatch_numeric(a.dtype(), [&]<class T>() {
    binary_map<T, T, T>(a, b, out, [&](T x, T y) { return from_compute<T>(op(to_compute(x), to_compute(y))); });
  });
  return ok ? Status::ok() : ctx.fail_unsupported(dtype_msg(a));
}

template <class Op>
Status binary_ref(KernelContext& ctx) {
  return arith(ctx, ctx.in(0), ctx.in(1), ctx.out(0), Op{});
}

Status mod_ref(KernelContext& ctx) {
  if (ctx.node.attr_int("fmod", 0) != 0) return arith(ctx, ctx.in(0), ctx.in(1), ctx.out(0), FmodOp{});
  return arith(ctx, ctx.in(0), ctx.in(1), ctx.out(0), IntModOp{});
}

// Integer power by squaring with wrap-around; negative exponents give 1/x^|e| truncated.
template <class T>
T int_pow(T x, double e) {
  if (e < 0) {
    if (x == 1) return T(1);
    if constexpr (std::is_signed_v<T>)
      if (x == T(-1)) return std::fmod(e, 2.0) == 0 ? T(1) : T(-1);
    return T(0);
  }
  uint64_t base = static_cast<uint64_t>(x), acc = 1;
  for (uint64_t n = static_cast<uint64_t>(e); n; n >>= 1, base *= base)
    if (n & 1) acc *= base;
  return static_cast<T>(acc);
}

// Pow(X: T, Y: T1) -> T. The exponent is first widened to double (exact for every int32 and
// for int64 up to 2^53); integer bases with integral exponents use exact integer power.
Status pow_ref(KernelContext& ctx) {
  const Tensor& y = ctx.in(1);
  std::vector<double> yd(static_cast<size_t>(y.numel()));
  bool ok = dispatch_numeric(y.dtype(), [&]<class E>() {
    const E* p = y.data<E>();
    for (size_t i = 0; i < yd.size(); ++i) yd[i] = static_cast<double>(to_compute(p[i]));
  });
  if (!ok) return ctx.fail_unsupported("exponent " + dtype_msg(y));
  Tensor yt = Tensor::borrow(DType::kF64, y.shape(), yd.data());
  ok = dispatch_numeric(ctx.in(0).dtype(), [&]<class T>() {
    binary_map<T, double, T>(ctx.in(0), yt, ctx.out(0), [](T x, double e) {
      if constexpr (std::is_integral_v<T>) {
        if (e == std::floor(e) && std::fabs(e) < 1e18) return int_pow<T>(x, e);
        return saturate_cast<T>(std::pow(static_cast<double>(x), e));
      } else {
        using C = ComputeT<T>;
        return from_compute<T>(std::pow(to_compute(x), static_cast<C>(e)));
      }
    });
  });
  return ok ? Status::ok() : ctx.fail_unsupported("base " + dtype_msg(ctx.in(0)));
}

// Variadic Max/Min/Sum: out = in0 op in1 op in2 ... each step broadcast into out (in place).
template <class Op>
Status variadic(KernelContext& ctx, Op op) {
  Tensor& out = ctx.out(0);
  const Tensor& first = ctx.in(0);
  if (ctx.num_inputs() == 1) return arith(ctx, first, first, out, [](auto x, auto) { return x; });
  JOULE_RETURN_IF_ERROR(arith(ctx, first, ctx.in(1), out, op));
  for (size_t i = 2; i < ctx.num_inputs(); ++i) JOULE_RETURN_IF_ERROR(arith(ctx, out, ctx.in(i), out, op));
  return Status::ok();
}

Status max_ref(KernelContext& ctx) { return variadic(ctx, MaxOp{}); }
Status min_ref(KernelContext& ctx) { return variadic(ctx, MinOp{}); }
Status sum_ref(KernelContext& ctx) { return variadic(ctx, AddOp{}); }
Status mean_ref(KernelContext& ctx) {
  JOULE_RETURN_IF_ERROR(variadic(ctx, AddOp{}));
  double n = static_cast<double>(ctx.num_inputs());
  Tensor& out = ctx.out(0);
  bool ok = dispatch_float(out.dtype(), [&]<class T>() {
    T* p = out.data<T>();
    for (int64_t i = 0; i < out.numel(); ++i) p[i] = from_compute<T>(to_compute(p[i]) / static_cast<ComputeT<T>>(n));
  });
  return ok ? Status::ok() : ctx.fail_unsupported(dtype_msg(out));
}

// Where: out[i] = cond[bcast(i)] ? x[bcast(i)] : y[bcast(i)], any element type.
Status where_ref(KernelContext& ctx) {
  const Tensor &c = ctx.in(0), &x = ctx.in(1), &y = ctx.in(2);
  Tensor& out = ctx.out(0);
  bool ok = dispatch_all(x.dtype(), [&]<class T>() {
    const bool* pc = c.data<bool>();
    const T* px = x.data<T>();
    const T* py = y.data<T>();
    T* po = out.data<T>();
    for_each_broadcast_row<3>({&c.shape(), &x.shape(), &y.shape()}, out.shape(),
                              [&](int64_t o, const std::array<int64_t, 3>& off, int64_t n, const std::array<int64_t, 3>& s) {
                                for (int64_t j = 0; j < n; ++j)
                                  po[o + j] = pc[off[0] + j * s[0]] ? px[off[1] + j * s[1]] : py[off[2] + j * s[2]];
                              });
  });
  return ok ? Status::ok() : ctx.fail_unsupported(dtype_msg(x));
}

Status identity_ref(KernelContext& ctx) {
  std::memcpy(ctx.out(0).raw(), ctx.in(0).raw(), ctx.in(0).nbytes());
  return Status::ok();
}

KernelDef ref(const char* op, const char* name, KernelFn fn) {
  return {"", op, name, Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, fn};
}

}  // namespace

void register_ref_arith(KernelRegistry& r) {
  r.add(ref("Add", "add__ref", binary_ref<AddOp>));
  r.add(ref("Sub", "sub__ref", binary_ref<SubOp>));
  r.add(ref("Mul", "mul__ref", binary_ref<MulOp>));
  r.add(ref("Div", "div__ref", binary_ref<DivOp>));
  r.add(ref("Mod", "mod__ref", mod_ref));
  r.add(ref("Pow", "pow__ref", pow_ref));
  r.add(ref("Max", "max__ref", max_ref));
  r.add(ref("Min", "min__ref", min_ref));
  r.add(ref("Sum", "sum__ref", sum_ref));
  r.add(ref("Mean", "mean__ref", mean_ref));
  r.add(ref("Where", "where__ref", where_ref));
  r.add(ref("Identity", "identity__ref", identity_ref));
}

void register_ref_elementwise(KernelRegistry& r) {
  register_ref_arith(r);
  register_ref_compare_logic(r);
  register_ref_unary_math(r);
  register_ref_cast(r);
}

}  // namespace joule::kernels
