// Reference kernels for ArgMax, ArgMin, TopK and CumSum.
// Each views the input as [outer, dim, inner] around its axis and walks the dim for every
// (outer, inner) pair.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <type_traits>

#include "kernels/kernel_registry.h"
#include "runtime/ir/dtype_dispatch.h"
#include "runtime/ops/infer_helpers.h"

namespace joule::kernels {

namespace {

struct AxisView {
  int64_t outer = 1, dim = 1, inner = 1;
};

AxisView view_around(const Shape& s, int axis) {
  AxisView v;
  for (int d = 0; d < axis; ++d) v.outer *= s[size_t(d)];
  v.dim = s[size_t(axis)];
  for (size_t d = size_t(axis) + 1; d < s.size(); ++d) v.inner *= s[d];
  return v;
}

// Strict weak order with NaN above every number (so sorting never sees an inconsistent order).
template <class C>
bool less_nan_high(C a, C b) {
  if constexpr (std::is_floating_point_v<C>) {
    if (std::isnan(a)) return false;
    if (std::isnan(b)) return true;
  }
  return a < b;
}

// ---- ArgMax / ArgMin: first (or with select_last_index, last) position of the extremum.
template <class T>
void arg_typed(bool is_max, bool last, const Tensor& x, int axis, Tensor& y) {
  AxisView v = view_around(x.shape(), axis);
  const T* px = x.data<T>();
  int64_t* py = y.data<int64_t>();
  for (int64_t o = 0; o < v.outer; ++o)
    for (int64_t in = 0; in < v.inner; ++in) {
      const T* base = px + o * v.dim * v.inner + in;
      int64_t best = 0;
      auto bv = to_compute(base[0]);
      for (int64_t i = 1; i < v.dim; ++i) {
        auto c = to_compute(base[i * v.inner]);
        bool better = is_max ? (last ? !less_nan_high(c, bv) : less_nan_high(bv, c))
                             : (last ? !less_nan_high(bv, c) : less_nan_high(c, bv));
        if (better) {
          best = i;
          bv = c;
        }
      }
      py[o * v.inner + in] = best;
    }
}

template <bool IsMax>
Status arg_ref(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  int64_t a = ctx.node.attr_int("axis", 0);
  auto axis = ops::normalize_axis(a, x.rank());
  if (!axis) return ctx.fail("axis " + std::to_string(a) + " is out of range");
  if (x.dim(*axis) == 0) return ctx.fail("cannot take the arg of an empty axis");
  bool last = ctx.node.attr_int("select_last_index", 0) != 0;
  bool ok = dispatch_all(x.dtype(), [&]<class T>() { arg_typed<T>(IsMax, last, x, *axis, ctx.out(0)); });
  return ok ? Status::ok() : ctx.fail_unsupported("dtype " + std::string(dtype_name(x.dtype())));
}

// ---- TopK: k largest (or smallest) along the axis, ties broken by lower index; always sorted.
template <class T>
void topk_typed(const Tensor& x, int axis, int64_t k, bool largest, Tensor& values, Tensor* indices) {
  AxisView v = view_around(x.shape(), axis);
  const T* px = x.data<T>();
  T* pv = values.data<T>();
  std::vector<int64_t> order(static_cast<size_t>(v.dim));
  for (int64_t o = 0; o < v.outer; ++o)
    for (int64_t in = 0; in < v.inner; ++in) {
      const T* base = px + o * v.dim * v.inner + in;
      std::iota(order.begin(), order.end(), int64_t{0});
      auto before = [&](int64_t i, int64_t j) {
        auto a = to_compute(base[i * v.inner]), b = to_compute(base[j * v.inner]);
        if (largest ? less_nan_high(b, a) : less_nan_high(a, b)) return true;
        if (largest ? less_nan_high(a, b) : less_nan_high(b, a)) return false;
        return i < j;
      };
      std::partial_sort(order.begin(), order.begin() + k, order.end(), before);
      for (int64_t j = 0; j < k; ++j) {
        int64_t dst = o * k * v.inner + j * v.inner + in;
        pv[dst] = base[order[size_t(j)] * v.inner];
        if (indices) indices->data<int64_t>()[dst] = order[size_t(j)];
      }
    }
}

Status topk_ref(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  int64_t a = ctx.node.attr_int("axis", -1);
  auto axis = ops::normalize_axis(a, x.rank());
  if (!axis) return ctx.fail("axis " + std::to_string(a) + " is out of range");
  int64_t k = ctx.out(0).dim(*axis);  // inference already validated k against the input
  bool largest = ctx.node.attr_int("largest", 1) != 0;
  Tensor* idx = ctx.has_output(1) ? &ctx.out(1) : nullptr;
  bool ok = dispatch_numeric(x.dtype(), [&]<class T>() { topk_typed<T>(x, *axis, k, largest, ctx.out(0), idx); });
  return ok ? Status::ok() : ctx.fail_unsupported("dtype " + std::string(dtype_name(x.dtype())));
}

// ---- CumSum: running sum along the axis; exclusive shifts by one, reverse runs from the end.
template <class T>
void cumsum_typed(const Tensor& x, int axis, bool exclusive, bool reverse, Tensor& y) {
  using A = std::conditional_t<std::is_floating_point_v<ComputeT<T>>, double, std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>>;
  AxisView v = view_around(x.shape(), axis);
  const T* px = x.data<T>();
  T* py = y.data<T>();
  for (int64_t o = 0; o < v.outer; ++o)
    for (int64_t in = 0; in < v.inner; ++in) {
      A sum = 0;
      for (int64_t s = 0; s < v.dim; ++s) {
        int64_t i = reverse ? v.dim - 1 - s : s;
        int64_t off = o * v.dim * v.inner + i * v.inner + in;
        A xv = static_cast<A>(to_compute(px[off]));
        if (!exclusive) sum += xv;
        py[off] = from_compute<T>(static_cast<ComputeT<T>>(sum));
        if (exclusive) sum += xv;
      }
    }
}

Status cumsum_ref(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  if (ctx.in(1).numel() != 1) return ctx.fail("axis must hold one value");
  int64_t a = ctx.in(1).value_as_int(0);
  auto axis = ops::normalize_axis(a, x.rank());
  if (!axis) return ctx.fail("axis " + std::to_string(a) + " is out of range for rank " + std::to_string(x.rank()));
  bool exclusive = ctx.node.attr_int("exclusive", 0) != 0, reverse = ctx.node.attr_int("reverse", 0) != 0;
  bool ok = dispatch_numeric(x.dtype(), [&]<class T>() { cumsum_typed<T>(x, *axis, exclusive, reverse, ctx.out(0)); });
  return ok ? Status::ok() : ctx.fail_unsupported("dtype " + std::string(dtype_name(x.dtype())));
}

}  // namespace

void register_ref_arg_topk(KernelRegistry& r) {
  r.add({"", "ArgMax", "argmax__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, arg_ref<true>});
  r.add({"", "ArgMin", "argmin__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, arg_ref<false>});
  r.add({"", "TopK", "topk__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, topk_ref});
  r.add({"", "CumSum", "cumsum__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, cumsum_ref});
}

}  // namespace joule::kernels
