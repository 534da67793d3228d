// Unique: op definition plus the slice-deduplication both inference (which needs the count of
// unique slices, a data-dependent shape) and the reference kernel use.
#include <algorithm>
#include <numeric>

#include "runtime/ir/dtype_dispatch.h"
#include "runtime/ops/infer_helpers.h"
#include "runtime/ops/op_registry.h"
#include "runtime/ops/shape_util.h"

namespace joule::ops {

bool compute_unique(const Tensor& x, int axis, bool sorted, UniqueResult& r) {
  const Shape& s = x.shape();
  int64_t outer = 1, n = x.numel(), inner = 1;
  if (axis >= 0) {
    n = s[static_cast<size_t>(axis)];
    for (int d = 0; d < axis; ++d) outer *= s[static_cast<size_t>(d)];
    for (size_t d = static_cast<size_t>(axis) + 1; d < s.size(); ++d) inner *= s[d];
  }
  return dispatch_all(x.dtype(), [&]<class T>() {
    const T* p = x.data<T>();
    // Three-way lexicographic comparison of slices a and b (element order: outer, then inner).
    auto cmp = [&](int64_t a, int64_t b) {
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
          auto va = to_compute(p[(o * n + a) * inner + i]), vb = to_compute(p[(o * n + b) * inner + i]);
          if (va < vb) return -1;
          if (vb < va) return 1;
        }
      return 0;
    };
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    // Stable, so the first member of each group of equal slices is its first occurrence.
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return cmp(a, b) < 0; });
    r = {};
    r.inverse.assign(static_cast<size_t>(n), 0);
    std::vector<int64_t> group_of(static_cast<size_t>(n));  // sorted group of each slice
    for (size_t k = 0; k < order.size(); ++k) {
      if (k == 0 || cmp(order[k - 1], order[k]) != 0) {
        r.first.push_back(order[k]);
        r.counts.push_back(0);
      }
      group_of[static_cast<size_t>(order[k])] = static_cast<int64_t>(r.first.size()) - 1;
      ++r.counts.back();
    }
    std::vector<int64_t> rank(r.first.size());  // output position of each sorted group
    std::iota(rank.begin(), rank.end(), 0);
    if (!sorted) {
      std::vector<int64_t> g(r.first.size());
      std::iota(g.begin(), g.end(), 0);
      std::sort(g.begin(), g.end(), [&](int64_t a, int64_t b) { return r.first[static_cast<size_t>(a)] < r.first[static_cast<size_t>(b)]; });
      std::vector<int64_t> first(g.size()), counts(g.size());
      for (size_t k = 0; k < g.size(); ++k) {
        first[k] = r.first[static_cast<size_t>(g[k])];
        counts[k] = r.counts[static_cast<size_t>(g[k])];
        rank[static_cast<size_t>(g[k])] = static_cast<int64_t>(k);
      }
      r.first = std::move(first);
      r.counts = std::move(counts);
    }
    for (int64_t k = 0; k < n; ++k) r.inverse[static_cast<size_t>(k)] = rank[static_cast<size_t>(group_of[static_cast<size_t>(k)])];
  });
}

namespace {

// Y: input shape with the axis dim (or the flattened size) replaced by the unique count U;
// indices and counts: [U]; inverse_indices: [n slices].
Status infer_unique(InferContext& ctx) {
  const Tensor* x = ctx.input_value(0);
  if (!x) return ctx.needs_value(0);
  int axis = -1;
  if (ctx.node().has_attr("axis")) {
    auto ax = normalize_axis(ctx.node().attr_int("axis", 0), x->rank());
    if (!ax) return ctx.fail("axis " + std::to_string(ctx.node().attr_int("axis", 0)) + " is out of range for rank " + std::to_string(x->rank()));
    axis = *ax;
  }
  UniqueResult r;
  if (!compute_unique(*x, axis, ctx.node().attr_int("sorted", 1) != 0, r))
    return ctx.fail_unsupported("dtype " + std::string(dtype_name(x->dtype())));
  const int64_t u = static_cast<int64_t>(r.first.size());
  Shape y = {u};
  if (axis >= 0) {
    y = x->shape();
    y[static_cast<size_t>(axis)] = u;
  }
  ctx.output(0) = TensorDesc::known(x->dtype(), y);
  for (size_t i = 1; i < ctx.num_outputs(); ++i)
    ctx.output(i) = TensorDesc::known(DType::kI64, {i == 2 ? static_cast<int64_t>(r.inverse.size()) : u});
  return Status::ok();
}

}  // namespace

void register_unique_op(OpRegistry& r) { r.add({"", "Unique", 1, 1, 1, 4, infer_unique}); }

}  // namespace joule::ops
