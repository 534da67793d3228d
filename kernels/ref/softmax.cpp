// Reference Softmax, LogSoftmax and Hardmax.
//
// The input is viewed as (outer, len, inner) and the op runs along the middle dim:
//   opset >= 13: outer = prod(dims[:axis]), len = dims[axis], inner = prod(dims[axis+1:])   (axis default -1)
//   opset <  13: the input is coerced to 2-D at axis, so len = prod(dims[axis:]) and inner = 1 (axis default 1)
// Softmax:    y = exp(x - max) / sum(exp(x - max))        (max-shifted for stability, sums in double)
// LogSoftmax: y = (x - max) - log(sum(exp(x - max)))
// Hardmax:    y = 1 at the first maximum along the dim, 0 elsewhere.
#include <algorithm>
#include <cmath>

#include "kernels/kernel_registry.h"
#include "kernels/ref/nn_common.h"
#include "runtime/ir/dtype_dispatch.h"
#include "runtime/ops/infer_helpers.h"

namespace joule::kernels {

namespace {

enum class SoftKind { kSoftmax, kLogSoftmax, kHardmax };

struct SoftView {
  int64_t outer = 1, len = 1, inner = 1;
};

SoftView soft_view(const Node& node, const Shape& s) {
  const bool coerce_2d = node.opset < 13;
  int64_t axis = node.attr_int("axis", coerce_2d ? 1 : -1);
  const int rank = static_cast<int>(s.size());
  if (axis < 0) axis += std::max(rank, 1);
  SoftView v;
  for (int i = 0; i < rank; ++i) {
    int64_t d = s[static_cast<size_t>(i)];
    if (i < axis) v.outer *= d;
    else if (i == axis || coerce_2d) v.len *= d;
    else v.inner *= d;
  }
  return v;
}

template <SoftKind K>
Status softmax_ref(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const SoftView v = soft_view(ctx.node, x.shape());
  bool ok = dispatch_float(x.dtype(), [&]<class T>() {
    const T* xp = x.data<T>();
    T* yp = ctx.out(0).data<T>();
    // One task per (outer, inner) line; elements of a line are `inner` apart.
    nnref::parallel_over(ctx.pool, v.outer * v.inner, [&](int64_t begin, int64_t end) {
      for (int64_t line = begin; line < end; ++line) {
        const int64_t base = (line / v.inner) * v.len * v.inner + line % v.inner;
        auto at = [&](int64_t j) { return static_cast<double>(to_compute(xp[base + j * v.inner])); };
        double mx = -INFINITY;
        int64_t arg = 0;
        for (int64_t j = 0; j < v.len; ++j) {
          double a = at(j);
          if (a > mx) mx = a, arg = j;
        }
        if constexpr (K == SoftKind::kHardmax) {
          for (int64_t j = 0; j < v.len; ++j) yp[base + j * v.inner] = from_compute<T>(j == arg ? 1.0 : 0.0);
        } else {
          double sum = 0;
          for (int64_t j = 0; j < v.len; ++j) sum += std::exp(at(j) - mx);
          const double log_sum = std::log(sum);
          for (int64_t j = 0; j < v.len; ++j) {
            double r = K == SoftKind::kSoftmax ? std::exp(at(j) - mx) / sum : at(j) - mx - log_sum;
            yp[base + j * v.inner] = from_compute<T>(r);
          }
        }
      }
    });
  });
  return ok ? Status::ok() : ctx.fail_unsupported("dtype " + std::string(dtype_name(x.dtype())));
}

}  // namespace

void register_ref_softmax(KernelRegistry& r) {
  r.add({"", "Softmax", "softmax__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, softmax_ref<SoftKind::kSoftmax>});
  r.add({"", "LogSoftmax", "log_softmax__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, softmax_ref<SoftKind::kLogSoftmax>});
  r.add({"", "Hardmax", "hardmax__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, softmax_ref<SoftKind::kHardmax>});
}

}  // namespace joule::kernels
