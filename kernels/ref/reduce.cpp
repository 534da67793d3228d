// Reference kernels for the Reduce* ops (ArgMax/ArgMin/TopK/CumSum live in arg_topk.cpp).
//
// Every input element is visited once in row-major order (twice for ReduceLogSumExp: max, then
// sum of exp(x - max)) and folded into the accumulator of its output element, whose offset uses
// the output strides with 0 on reduced dims. Floats accumulate in double, ints in 64 bits.
// Reductions over an empty set give: Sum/L1/L2/SumSquare 0, Prod 1, Mean NaN, Max -inf (lowest
// for ints), Min +inf (highest for ints), LogSum and LogSumExp -inf.
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "kernels/kernel_registry.h"
#include "runtime/ir/dtype_dispatch.h"
#include "runtime/ops/infer_helpers.h"
#include "runtime/ops/reduce_axes.h"

namespace joule::kernels {

void register_ref_arg_topk(KernelRegistry& r);  // arg_topk.cpp

namespace {

enum class Kind { kSum, kMean, kProd, kMax, kMin, kL1, kL2, kSumSquare, kLogSum, kLogSumExp };

template <class T>
using AccT = std::conditional_t<std::is_floating_point_v<ComputeT<T>>, double,
                                std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>>;

template <class A>
constexpr bool is_fp = std::is_floating_point_v<A>;

template <class A>
A lowest_value() {
  if constexpr (is_fp<A>) return -std::numeric_limits<A>::infinity();
  else return std::numeric_limits<A>::lowest();
}
template <class A>
A highest_value() {
  if constexpr (is_fp<A>) return std::numeric_limits<A>::infinity();
  else return std::numeric_limits<A>::max();
}

// Max/min that propagate NaN like numpy.
template <class A>
A nan_max(A acc, A x) {
  if constexpr (is_fp<A>) {
    if (std::isnan(acc) || std::isnan(x)) return std::numeric_limits<A>::quiet_NaN();
  }
  return x > acc ? x : acc;
}
template <class A>
A nan_min(A acc, A x) {
  if constexpr (is_fp<A>) {
    if (std::isnan(acc) || std::isnan(x)) return std::numeric_limits<A>::quiet_NaN();
  }
  return x < acc ? x : acc;
}

// Visits every input element: fn(input_index, output_offset).
template <class Fn>
void for_each_mapped(const Shape& in, const std::vector<int64_t>& out_strides, Fn fn) {
  int64_t n = shape_numel(in);
  std::vector<int64_t> idx(in.size(), 0);
  int64_t o = 0;
  for (int64_t i = 0; i < n; ++i) {
    fn(i, o);
    for (size_t d = in.size(); d-- > 0;) {
      o += out_strides[d];
      if (++idx[d] < in[d]) break;
      o -= out_strides[d] * in[d];
      idx[d] = 0;
    }
  }
}

template <class T>
void reduce_typed(Kind kind, const Tensor& x, const std::vector<bool>& reduced, Tensor& y) {
  using A = AccT<T>;
  const Shape& in = x.shape();
  // Output strides over the input's dims (reduced dims get stride 0), in the keepdims layout.
  Shape keep = in;
  int64_t count = 1;  // input elements per output element
  for (size_t d = 0; d < in.size(); ++d)
    if (reduced[d]) {
      keep[d] = 1;
      count *= in[d];
    }
  std::vector<int64_t> ost = ops::strides_of(keep);
  for (size_t d = 0; d < in.size(); ++d)
    if (reduced[d]) ost[d] = 0;

  const T* px = x.data<T>();
  size_t n_out = static_cast<size_t>(y.numel());
  A init = kind == Kind::kProd ? A(1) : kind == Kind::kMax ? lowest_value<A>() : kind == Kind::kMin ? highest_value<A>() : A(0);
  std::vector<A> acc(n_out, init);
  std::vector<A> shift(n_out, A(0));  // per-output max for LogSumExp
  auto val = [&](int64_t i) { return static_cast<A>(to_compute(px[i])); };

  if (kind == Kind::kLogSumExp) {
    std::fill(shift.begin(), shift.end(), lowest_value<A>());
    for_each_mapped(in, ost, [&](int64_t i, int64_t o) { shift[size_t(o)] = nan_max(shift[size_t(o)], val(i)); });
  }
  for_each_mapped(in, ost, [&](int64_t i, int64_t o) {
    A v = val(i);
    A& a = acc[static_cast<size_t>(o)];
    switch (kind) {
      case Kind::kProd: a *= v; break;
      case Kind::kMax: a = nan_max(a, v); break;
      case Kind::kMin: a = nan_min(a, v); break;
      case Kind::kL1:
        if constexpr (std::is_signed_v<A>) a += v < 0 ? A(0) - v : v;
        else a += v;
        break;
      case Kind::kL2:
      case Kind::kSumSquare: a += v * v; break;
      case Kind::kLogSumExp: {
        double s = static_cast<double>(shift[static_cast<size_t>(o)]);
        if (std::isfinite(s)) a += static_cast<A>(std::exp(static_cast<double>(v) - s));
        break;
      }
      default: a += v; break;
    }
  });

  T* py = y.data<T>();
  for (size_t o = 0; o < n_out; ++o) {
    double r = static_cast<double>(acc[o]);
    A out = acc[o];
    switch (kind) {
      case Kind::kMean:
        if constexpr (is_fp<A>) out = count ? acc[o] / static_cast<A>(count) : std::numeric_limits<A>::quiet_NaN();
        else out = count ? static_cast<A>(acc[o] / static_cast<A>(count)) : A(0);
        break;
      case Kind::kL2: out = static_cast<A>(std::sqrt(r)); break;
      case Kind::kLogSum: out = static_cast<A>(std::log(r)); break;
      case Kind::kLogSumExp: {
        double s = static_cast<double>(shift[o]);
        out = static_cast<A>(std::isfinite(s) ? s + std::log(r) : s);  // empty set or all -inf gives -inf
        break;
      }
      default: break;
    }
    py[o] = from_compute<T>(static_cast<ComputeT<T>>(out));
  }
}

template <Kind K>
Status reduce_ref(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  std::vector<bool> reduced;
  bool noop = false;
  Status st = ops::resolve_reduce_axes(ctx.node, x.rank(), ctx.has_input(1) ? &ctx.in(1) : nullptr, reduced, noop);
  if (!st.is_ok()) return ctx.fail(st.message());
  if (noop) {  // noop_with_empty_axes: the spec defines the output as the input itself
    std::memcpy(ctx.out(0).raw(), x.raw(), x.nbytes());
    return Status::ok();
  }
  auto body = [&]<class T>() { reduce_typed<T>(K, x, reduced, ctx.out(0)); };
  bool ok = (K == Kind::kMax || K == Kind::kMin) ? dispatch_all(x.dtype(), body) : dispatch_numeric(x.dtype(), body);
  return ok ? Status::ok() : ctx.fail_unsupported("dtype " + std::string(dtype_name(x.dtype())));
}

}  // namespace

void register_ref_reduce(KernelRegistry& r) {
  r.add({"", "ReduceSum", "reduce_sum__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, reduce_ref<Kind::kSum>});
  r.add({"", "ReduceMean", "reduce_mean__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, reduce_ref<Kind::kMean>});
  r.add({"", "ReduceProd", "reduce_prod__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, reduce_ref<Kind::kProd>});
  r.add({"", "ReduceMax", "reduce_max__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, reduce_ref<Kind::kMax>});
  r.add({"", "ReduceMin", "reduce_min__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, reduce_ref<Kind::kMin>});
  r.add({"", "ReduceL1", "reduce_l1__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, reduce_ref<Kind::kL1>});
  r.add({"", "ReduceL2", "reduce_l2__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, reduce_ref<Kind::kL2>});
  r.add({"", "ReduceSumSquare", "reduce_sum_square__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr,
         reduce_ref<Kind::kSumSquare>});
  r.add({"", "ReduceLogSum", "reduce_log_sum__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, reduce_ref<Kind::kLogSum>});
  r.add({"", "ReduceLogSumExp", "reduce_log_sum_exp__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr,
         reduce_ref<Kind::kLogSumExp>});
  register_ref_arg_topk(r);
}

}  // namespace joule::kernels
