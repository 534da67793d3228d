// Reference kernels for comparisons (Equal, Less, Greater, LessOrEqual, GreaterOrEqual),
// logic (And, Or, Xor, Not) and float classification (IsNaN, IsInf). All produce bool tensors;
// binary ones broadcast numpy-style. Comparisons follow IEEE: any comparison with NaN is false.
#include <cmath>

#include "kernels/ref/elementwise_common.h"

namespace joule::kernels {

namespace {

struct EqOp { template <class C> bool operator()(C x, C y) const { return x == y; } };
struct LtOp { template <class C> bool operator()(C x, C y) const { return x < y; } };
struct GtOp { template <class C> bool operator()(C x, C y) const { return x > y; } };
struct LeOp { template <class C> bool operator()(C x, C y) const { return x <= y; } };
struct GeOp { template <class C> bool operator()(C x, C y) const { return x >= y; } };

// out(bool) = op(a, b) on the compute type of the shared input dtype (bool included).
template <class Op>
Status compare_ref(KernelContext& ctx) {
  const Tensor &a = ctx.in(0), &b = ctx.in(1);
  bool ok = dispatch_all(a.dtype(), [&]<class T>() {
    binary_map<T, T, bool>(a, b, ctx.out(0), [](T x, T y) { return Op{}(to_compute(x), to_compute(y)); });
  });
  return ok ? Status::ok() : ctx.fail_unsupported("dtype " + std::string(dtype_name(a.dtype())));
}

// Logic on bool inputs. Bytes are read as uint8 (0 = false, anything else = true) so that a
// stray byte value in caller memory cannot be undefined behaviour.
template <class F>
Status logic_ref(KernelContext& ctx, F f) {
  if (ctx.in(0).dtype() != DType::kBool || ctx.in(1).dtype() != DType::kBool)
    return ctx.fail_unsupported("logic ops take bool inputs");
  binary_map<uint8_t, uint8_t, bool>(ctx.in(0), ctx.in(1), ctx.out(0), [&](uint8_t x, uint8_t y) { return f(x != 0, y != 0); });
  return Status::ok();
}

Status and_ref(KernelContext& ctx) { return logic_ref(ctx, [](bool x, bool y) { return x && y; }); }
Status or_ref(KernelContext& ctx) { return logic_ref(ctx, [](bool x, bool y) { return x || y; }); }
Status xor_ref(KernelContext& ctx) { return logic_ref(ctx, [](bool x, bool y) { return x != y; }); }

Status not_ref(KernelContext& ctx) {
  if (ctx.in(0).dtype() != DType::kBool) return ctx.fail_unsupported("Not takes a bool input");
  unary_map<uint8_t, bool>(ctx.in(0), ctx.out(0), [](uint8_t x) { return x == 0; });
  return Status::ok();
}

Status isnan_ref(KernelContext& ctx) {
  bool ok = dispatch_float(ctx.in(0).dtype(), [&]<class T>() {
    unary_map<T, bool>(ctx.in(0), ctx.out(0), [](T x) { return std::isnan(to_compute(x)); });
  });
  return ok ? Status::ok() : ctx.fail_unsupported("dtype " + std::string(dtype_name(ctx.in(0).dtype())));
}

// IsInf: attributes detect_positive / detect_negative (both default 1) pick which infinities count.
Status isinf_ref(KernelContext& ctx) {
  bool pos = ctx.node.attr_int("detect_positive", 1) != 0;
  bool neg = ctx.node.attr_int("detect_negative", 1) != 0;
  bool ok = dispatch_float(ctx.in(0).dtype(), [&]<class T>() {
    unary_map<T, bool>(ctx.in(0), ctx.out(0), [&](T x) {
      auto v = to_compute(x);
      return std::isinf(v) && (v > 0 ? pos : neg);
    });
  });
  return ok ? Status::ok() : ctx.fail_unsupported("dtype " + std::string(dtype_name(ctx.in(0).dtype())));
}

KernelDef ref(const char* op, const char* name, KernelFn fn) {
  return {"", op, name, Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, fn};
}

}  // namespace

void register_ref_compare_logic(KernelRegistry& r) {
  r.add(ref("Equal", "equal__ref", compare_ref<EqOp>));
  r.add(ref("Less", "less__ref", compare_ref<LtOp>));
  r.add(ref("Greater", "greater__ref", compare_ref<GtOp>));
  r.add(ref("LessOrEqual", "less_or_equal__ref", compare_ref<LeOp>));
  r.add(ref("GreaterOrEqual", "greater_or_equal__ref", compare_ref<GeOp>));
  r.add(ref("And", "and__ref", and_ref));
  r.add(ref("Or", "or__ref", or_ref));
  r.add(ref("Xor", "xor__ref", xor_ref));
  r.add(ref("Not", "not__ref", not_ref));
  r.add(ref("IsNaN", "isnan__ref", isnan_ref));
  r.add(ref("IsInf", "isinf__ref", isinf_ref));
}

}  // namespace joule::kernels
