// Reference kernels for the activation family. Pointwise ops compute y[i] = f(x[i]) in the
// element's compute type (float for float16/bfloat16); attributes are read from the node with
// the ONNX defaults. Clip, PRelu, Dropout and the Gelu variants follow below.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "kernels/ref/elementwise_common.h"
#include "runtime/ops/elementwise_infer.h"

namespace joule::kernels {

namespace {

std::string dtype_msg(const Tensor& t) { return "dtype " + std::string(dtype_name(t.dtype())); }

// log(1 + exp(x)) without overflow for large x.
template <class C>
C softplus(C x) {
  return x > C(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}

// 1 / (1 + exp(-x)), evaluated so that exp never overflows.
template <class C>
C sigmoid(C x) {
  if (x >= C(0)) return C(1) / (C(1) + std::exp(-x));
  C e = std::exp(x);
  return e / (C(1) + e);
}

// Relu also takes signed integers (opset 14).
Status relu_ref(KernelContext& ctx) {
  bool ok = dispatch_numeric(ctx.in(0).dtype(), [&]<class T>() {
    unary_map<T, T>(ctx.in(0), ctx.out(0), [](T v) {
      auto x = to_compute(v);
      return x > decltype(x)(0) ? v : from_compute<T>(0);
    });
  });
  return ok ? Status::ok() : ctx.fail_unsupported(dtype_msg(ctx.in(0)));
}

Status leaky_relu_ref(KernelContext& ctx) {
  double alpha = ctx.node.attr_float("alpha", 0.01f);
  return run_unary_float(ctx, [=](auto x) { return x >= 0 ? x : static_cast<decltype(x)>(alpha) * x; });
}
Status sigmoid_ref(KernelContext& ctx) { return run_unary_float(ctx, [](auto x) { return sigmoid(x); }); }
Status tanh_ref(KernelContext& ctx) { return run_unary_float(ctx, [](auto x) { return std::tanh(x); }); }

// max(0, min(1, alpha * x + beta))
Status hard_sigmoid_ref(KernelContext& ctx) {
  double alpha = ctx.node.attr_float("alpha", 0.2f), beta = ctx.node.attr_float("beta", 0.5f);
  return run_unary_float(ctx, [=](auto x) {
    using C = decltype(x);
    return std::max(C(0), std::min(C(1), static_cast<C>(alpha) * x + static_cast<C>(beta)));
  });
}
// x * max(0, min(1, x / 6 + 0.5))
Status hard_swish_ref(KernelContext& ctx) {
  return run_unary_float(ctx, [](auto x) {
    using C = decltype(x);
    return x * std::max(C(0), std::min(C(1), x / C(6) + C(0.5)));
  });
}
// x >= 0 ? x : alpha * (exp(x) - 1)
Status elu_ref(KernelContext& ctx) {
  double alpha = ctx.node.attr_float("alpha", 1.0f);
  return run_unary_float(ctx, [=](auto x) { return x >= 0 ? x : static_cast<decltype(x)>(alpha) * std::expm1(x); });
}
// gamma * (x > 0 ? x : alpha * (exp(x) - 1))
Status selu_ref(KernelContext& ctx) {
  double alpha = ctx.node.attr_float("alpha", 1.67326319217681884765625f);
  double gamma = ctx.node.attr_float("gamma", 1.05070102214813232421875f);
  return run_unary_float(ctx, [=](auto x) {
    using C = decltype(x);
    return static_cast<C>(gamma) * (x > 0 ? x : static_cast<C>(alpha) * std::expm1(x));
  });
}
Status softplus_ref(KernelContext& ctx) { return run_unary_float(ctx, [](auto x) { return softplus(x); }); }
Status softsign_ref(KernelContext& ctx) {
  return run_unary_float(ctx, [](auto x) { return x / (decltype(x)(1) + std::fabs(x)); });
}
// x > alpha ? x : 0
Status thresholded_relu_ref(KernelContext& ctx) {
  double alpha = ctx.node.attr_float("alpha", 1.0f);
  return run_unary_float(ctx, [=](auto x) { return x > static_cast<decltype(x)>(alpha) ? x : decltype(x)(0); });
}
// max(0, x) + min(0, alpha * (exp(x / alpha) - 1))
Status celu_ref(KernelContext& ctx) {
  double alpha = ctx.node.attr_float("alpha", 1.0f);
  if (alpha == 0) return ctx.fail("Celu alpha must be non-zero");
  return run_unary_float(ctx, [=](auto x) {
    using C = decltype(x);
    C a = static_cast<C>(alpha);
    return std::max(C(0), x) + std::min(C(0), a * std::expm1(x / a));
  });
}
// x * tanh(softplus(x))
Status mish_ref(KernelContext& ctx) { return run_unary_float(ctx, [](auto x) { return x * std::tanh(softplus(x)); }); }

// Shrink: x < -lambd ? x + bias : (x > lambd ? x - bias : 0). Integers compute in double.
Status shrink_ref(KernelContext& ctx) {
  double bias = ctx.node.attr_float("bias", 0.0f), lambd = ctx.node.attr_float("lambd", 0.5f);
  bool ok = dispatch_numeric(ctx.in(0).dtype(), [&]<class T>() {
    unary_map<T, T>(ctx.in(0), ctx.out(0), [=](T v) {
      if constexpr (std::is_integral_v<T>) {
        double x = static_cast<double>(v);
        return saturate_cast<T>(x < -lambd ? x + bias : (x > lambd ? x - bias : 0.0));
      } else {
        using C = ComputeT<T>;
        C x = to_compute(v), l = static_cast<C>(lambd), b = static_cast<C>(bias);
        return from_compute<T>(x < -l ? x + b : (x > l ? x - b : C(0)));
      }
    });
  });
  return ok ? Status::ok() : ctx.fail_unsupported(dtype_msg(ctx.in(0)));
}

// Gelu, exact: 0.5 x (1 + erf(x / sqrt 2)); tanh: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
template <class C>
C gelu_erf(C x) {
  return C(0.5) * x * (C(1) + std::erf(x * C(0.70710678118654752440)));
}
template <class C>
C gelu_tanh(C x) {
  return C(0.5) * x * (C(1) + std::tanh(C(0.79788456080286535588) * (x + C(0.044715) * x * x * x)));
}
Status gelu_ref(KernelContext& ctx) {
  if (ctx.node.attr_string("approximate", "none") == "tanh") return run_unary_float(ctx, [](auto x) { return gelu_tanh(x); });
  return run_unary_float(ctx, [](auto x) { return gelu_erf(x); });
}
// com.microsoft FastGelu(X, bias?) = gelu_tanh(X + bias).
Status fast_gelu_ref(KernelContext& ctx) {
  if (!ctx.has_input(1)) return run_unary_float(ctx, [](auto x) { return gelu_tanh(x); });
  bool ok = dispatch_float(ctx.in(0).dtype(), [&]<class T>() {
    binary_map<T, T, T>(ctx.in(0), ctx.in(1), ctx.out(0),
                        [](T x, T b) { return from_compute<T>(gelu_tanh(to_compute(x) + to_compute(b))); });
  });
  return ok ? Status::ok() : ctx.fail_unsupported(dtype_msg(ctx.in(0)));
}

// Clip: y = min(max(x, lo), hi) (so hi wins when lo > hi). Bounds come from attributes before
// opset 11 (float types only) and from optional scalar inputs after (default: T's range).
Status clip_ref(KernelContext& ctx) {
  bool ok = dispatch_numeric(ctx.in(0).dtype(), [&]<class T>() {
    using C = ComputeT<T>;
    C lo = std::numeric_limits<C>::lowest(), hi = std::numeric_limits<C>::max();
    if (ctx.node.opset < 11) {
      if (ctx.node.has_attr("min")) lo = static_cast<C>(ctx.node.attr_float("min", 0.0f));
      if (ctx.node.has_attr("max")) hi = static_cast<C>(ctx.node.attr_float("max", 0.0f));
    } else {
      if (ctx.has_input(1)) lo = to_compute(ctx.in(1).data<T>()[0]);
      if (ctx.has_input(2)) hi = to_compute(ctx.in(2).data<T>()[0]);
    }
    unary_map<T, T>(ctx.in(0), ctx.out(0), [=](T v) {
      C x = to_compute(v);
      if constexpr (!std::is_integral_v<C>)
        if (std::isnan(x)) return v;
      return from_compute<T>(std::min(std::max(x, lo), hi));
    });
  });
  return ok ? Status::ok() : ctx.fail_unsupported(dtype_msg(ctx.in(0)));
}

// PRelu: y = x < 0 ? slope[bcast] * x : x.
Status prelu_ref(KernelContext& ctx) {
  const Tensor &x = ctx.in(0), &slope = ctx.in(1);
  auto ss = ops::prelu_slope_shape(x.shape(), slope.shape(), ctx.node.opset);
  if (!ss) return ctx.fail("slope of shape " + shape_to_string(slope.shape()) + " does not broadcast to X");
  Tensor sv = slope.reshaped(*ss);
  bool ok = dispatch_numeric(x.dtype(), [&]<class T>() {
    binary_map<T, T, T>(x, sv, ctx.out(0), [](T v, T s) {
      auto xv = to_compute(v);
      return xv < decltype(xv)(0) ? from_compute<T>(to_compute(s) * xv) : v;
    });
  });
  return ok ? Status::ok() : ctx.fail_unsupported(dtype_msg(x));
}

// Dropout: inference (the default) copies X and sets the mask to all true. In training mode
// (opset 12+ input training_mode = true) each element is kept with probability 1 - ratio and
// scaled by 1 / (1 - ratio); the `seed` attribute makes that reproducible.
Status dropout_ref(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  bool training = ctx.has_input(2) && *ctx.in(2).data<uint8_t>() != 0;
  double ratio = ctx.has_input(1) ? ctx.in(1).value_as_double(0) : ctx.node.attr_float("ratio", 0.5f);
  if (!training || ratio == 0) {
    std::memcpy(y.raw(), x.raw(), x.nbytes());
    if (ctx.has_output(1)) {
      Tensor& m = ctx.out(1);
      if (m.dtype() == DType::kBool) std::memset(m.raw(), 1, m.nbytes());
      else dispatch_float(m.dtype(), [&]<class T>() { std::fill(m.data<T>(), m.data<T>() + m.numel(), from_compute<T>(1.0f)); });
    }
    return Status::ok();
  }
  if (!(ratio > 0 && ratio < 1)) return ctx.fail("ratio must be in [0, 1) in training mode, got " + std::to_string(ratio));
  std::mt19937_64 rng(ctx.node.has_attr("seed") ? static_cast<uint64_t>(ctx.node.attr_int("seed", 0)) : std::random_device{}());
  std::bernoulli_distribution keep(1.0 - ratio);
  bool* mask = ctx.has_output(1) && ctx.out(1).dtype() == DType::kBool ? ctx.out(1).data<bool>() : nullptr;
  bool ok = dispatch_float(x.dtype(), [&]<class T>() {
    const T* px = x.data<T>();
    T* py = y.data<T>();
    double scale = 1.0 / (1.0 - ratio);
    for (int64_t i = 0; i < x.numel(); ++i) {
      bool k = keep(rng);
      if (mask) mask[i] = k;
      py[i] = from_compute<T>(k ? static_cast<double>(to_compute(px[i])) * scale : 0.0);
    }
  });
  return ok ? Status::ok() : ctx.fail_unsupported(dtype_msg(x));
}

KernelDef ref(const char* domain, const char* op, const char* name, KernelFn fn) {
  return {domain, op, name, Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, fn};
}

}  // namespace

void register_ref_activation(KernelRegistry& r) {
  r.add(ref("", "Relu", "relu__ref", relu_ref));
  r.add(ref("", "LeakyRelu", "leaky_relu__ref", leaky_relu_ref));
  r.add(ref("", "Sigmoid", "sigmoid__ref", sigmoid_ref));
  r.add(ref("", "Tanh", "tanh__ref", tanh_ref));
  r.add(ref("", "HardSigmoid", "hard_sigmoid__ref", hard_sigmoid_ref));
  r.add(ref("", "HardSwish", "hard_swish__ref", hard_swish_ref));
  r.add(ref("", "Elu", "elu__ref", elu_ref));
  r.add(ref("", "Selu", "selu__ref", selu_ref));
  r.add(ref("", "Softplus", "softplus__ref", softplus_ref));
  r.add(ref("", "Softsign", "softsign__ref", softsign_ref));
  r.add(ref("", "ThresholdedRelu", "thresholded_relu__ref", thresholded_relu_ref));
  r.add(ref("", "Celu", "celu__ref", celu_ref));
  r.add(ref("", "Mish", "mish__ref", mish_ref));
  r.add(ref("", "Shrink", "shrink__ref", shrink_ref));
  r.add(ref("", "Gelu", "gelu__ref", gelu_ref));
  r.add(ref("com.microsoft", "Gelu", "ms_gelu__ref", gelu_ref));
  r.add(ref("com.microsoft", "FastGelu", "ms_fast_gelu__ref", fast_gelu_ref));
  r.add(ref("", "Clip", "clip__ref", clip_ref));
  r.add(ref("", "PRelu", "prelu__ref", prelu_ref));
  r.add(ref("", "Dropout", "dropout__ref", dropout_ref));
}

}  // namespace joule::kernels
