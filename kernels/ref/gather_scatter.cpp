// Reference kernels for Gather, GatherElements, GatherND, ScatterElements/Scatter, ScatterND.
// Every index is checked against its dim (negative ones count from the end) before any memory
// is touched; an out-of-range index is a clean error naming the index and the dim.
#include <cstring>

#include "kernels/kernel_registry.h"
#include "kernels/ref/movement.h"
#include "runtime/ir/dtype_dispatch.h"
#include "runtime/ops/infer_helpers.h"

namespace joule::kernels {

namespace {

// Index i of an int32/int64 tensor.
int64_t index_at(const Tensor& t, int64_t i) {
  return t.dtype() == DType::kI32 ? t.data<int32_t>()[i] : t.data<int64_t>()[i];
}

// Maps `idx` into [0, dim); false when it is outside [-dim, dim).
bool wrap_index(int64_t& idx, int64_t dim) {
  if (idx < -dim || idx >= dim) return false;
  if (idx < 0) idx += dim;
  return true;
}

Status bad_index(const KernelContext& ctx, int64_t idx, int64_t dim) {
  return ctx.fail("index " + std::to_string(idx) + " is out of range for a dim of size " + std::to_string(dim));
}

int64_t prod(const Shape& s, size_t from, size_t to) {
  int64_t p = 1;
  for (size_t i = from; i < to; ++i) p *= s[i];
  return p;
}

// Gather: data viewed as [outer, dim, inner]; out[o, j, :] = data[o, indices[j], :].
Status gather_ref(KernelContext& ctx) {
  const Tensor& data = ctx.in(0);
  const Tensor& ind = ctx.in(1);
  const Shape& ds = data.shape();
  const size_t axis = static_cast<size_t>(*ops::normalize_axis(ctx.node.attr_int("axis", 0), static_cast<int>(ds.size())));
  const int64_t outer = prod(ds, 0, axis), dim = ds[axis], inner = prod(ds, axis + 1, ds.size());
  const size_t es = dtype_size(data.dtype());
  if (es == 0) return ctx.fail_unsupported("dtype " + std::string(dtype_name(data.dtype())));
  const int64_t n = ind.numel();
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) {
    idx[static_cast<size_t>(j)] = index_at(ind, j);
    if (!wrap_index(idx[static_cast<size_t>(j)], dim)) return bad_index(ctx, index_at(ind, j), dim);
  }
  const size_t row = static_cast<size_t>(inner) * es;
  const auto* src = static_cast<const std::byte*>(data.raw());
  auto* dst = static_cast<std::byte*>(ctx.out(0).raw());
  if (row == 0) return Status::ok();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < n; ++j)
      std::memcpy(dst + static_cast<size_t>(o * n + j) * row, src + static_cast<size_t>(o * dim + idx[static_cast<size_t>(j)]) * row, row);
  return Status::ok();
}

// Walks the indices tensor of GatherElements/ScatterElements in row-major order and calls
// fn(i, data_offset) where data_offset addresses data at the same multi-index, except along
// `axis` where the index value is used. Fails on an out-of-range index.
template <class Fn>
Status for_each_element_index(const KernelContext& ctx, const Shape& data_shape, const Tensor& ind, int axis, Fn fn) {
  const Shape& is = ind.shape();
  const int r = static_cast<int>(is.size());
  const std::vector<int64_t> dst = ops::strides_of(data_shape);
  const int64_t n = ind.numel(), dim = data_shape[static_cast<size_t>(axis)];
  std::vector<int64_t> mi(static_cast<size_t>(r), 0);
  int64_t base = 0;  // data offset of the multi-index with 0 along axis
  for (int64_t i = 0; i < n; ++i) {
    int64_t v = index_at(ind, i);
    if (!wrap_index(v, dim)) return bad_index(ctx, index_at(ind, i), dim);
    fn(i, base + v * dst[static_cast<size_t>(axis)]);
    for (int d = r - 1; d >= 0; --d) {
      size_t u = static_cast<size_t>(d);
      ++mi[u];
      if (d != axis) base += dst[u];
      if (mi[u] < is[u]) break;
      if (d != axis) base -= dst[u] * is[u];
      mi[u] = 0;
    }
  }
  return Status::ok();
}

Status gather_elements_ref(KernelContext& ctx) {
  const Tensor& data = ctx.in(0);
  const int axis = *ops::normalize_axis(ctx.node.attr_int("axis", 0), data.rank());
  Status st;
  bool ok = dispatch_word(dtype_size(data.dtype()), [&]<class W>() {
    const W* src = data.data<W>();
    W* out = ctx.out(0).data<W>();
    st = for_each_element_index(ctx, data.shape(), ctx.in(1), axis, [&](int64_t i, int64_t off) { out[i] = src[off]; });
  });
  return ok ? st : ctx.fail_unsupported("dtype " + std::string(dtype_name(data.dtype())));
}

// Applies `reduction` (none/add/mul/max/min) of update u onto x.
template <class T>
T reduce_into(T x, T u, int red) {
  if constexpr (std::is_same_v<T, bool>) {
    return u;
  } else {
    auto a = to_compute(x), b = to_compute(u);
    switch (red) {
      case 1: return from_compute<T>(a + b);
      case 2: return from_compute<T>(a * b);
      case 3: return from_compute<T>(a > b ? a : b);
      case 4: return from_compute<T>(a < b ? a : b);
      default: return u;
    }
  }
}

int reduction_code(const Node& n) {
  std::string r = n.attr_string("reduction", "none");
  return r == "add" ? 1 : r == "mul" ? 2 : r == "max" ? 3 : r == "min" ? 4 : 0;
}

Status scatter_elements_ref(KernelContext& ctx) {
  const Tensor& data = ctx.in(0);
  Tensor& out = ctx.out(0);
  if (out.raw() != data.raw() && data.nbytes()) std::memcpy(out.raw(), data.raw(), data.nbytes());
  const int axis = *ops::normalize_axis(ctx.node.attr_int("axis", 0), data.rank());
  const int red = reduction_code(ctx.node);
  Status st;
  bool ok = dispatch_all(data.dtype(), [&]<class T>() {
    const T* upd = ctx.in(2).data<T>();
    T* o = out.data<T>();
    st = for_each_element_index(ctx, data.shape(), ctx.in(1), axis, [&](int64_t i, int64_t off) { o[off] = reduce_into(o[off], upd[i], red); });
  });
  return ok ? st : ctx.fail_unsupported("dtype " + std::string(dtype_name(data.dtype())));
}

// GatherND: data [B..., D_b .. D_{b+k-1}, S...], indices [B..., M..., k]; for batch bi and
// tuple m, out[bi, m, :] = data[bi, idx_0, ..., idx_{k-1}, :] (slices of S elements).
Status gather_nd_ref(KernelContext& ctx) {
  const Tensor& data = ctx.in(0);
  const Tensor& ind = ctx.in(1);
  const Shape& ds = data.shape();
  const Shape& is = ind.shape();
  const size_t b = static_cast<size_t>(ctx.node.attr_int("batch_dims", 0));
  const size_t k = static_cast<size_t>(is.back());
  const int64_t batches = prod(ds, 0, b), per_batch = prod(ds, b, ds.size()), slice = prod(ds, b + k, ds.size());
  const int64_t tuples = prod(is, b, is.size() - 1);  // per batch
  const std::vector<int64_t> st = ops::strides_of(Shape(ds.begin() + static_cast<std::ptrdiff_t>(b), ds.end()));
  const size_t es = dtype_size(data.dtype());
  if (es == 0) return ctx.fail_unsupported("dtype " + std::string(dtype_name(data.dtype())));
  const auto* src = static_cast<const std::byte*>(data.raw());
  auto* dst = static_cast<std::byte*>(ctx.out(0).raw());
  const size_t row = static_cast<size_t>(slice) * es;
  for (int64_t bi = 0; bi < batches; ++bi) {
    for (int64_t m = 0; m < tuples; ++m) {
      const int64_t t = bi * tuples + m;
      int64_t off = 0;
      for (size_t j = 0; j < k; ++j) {
        int64_t v = index_at(ind, t * static_cast<int64_t>(k) + static_cast<int64_t>(j));
        if (!wrap_index(v, ds[b + j])) return bad_index(ctx, index_at(ind, t * static_cast<int64_t>(k) + static_cast<int64_t>(j)), ds[b + j]);
        off += v * st[j];
      }
      if (row) std::memcpy(dst + static_cast<size_t>(t) * row, src + static_cast<size_t>(bi * per_batch + off) * es, row);
    }
  }
  return Status::ok();
}

// ScatterND: out = data; for each tuple t of indices [M..., k]:
//   out[idx_0, ..., idx_{k-1}, :] = reduce(out[...], updates[t, :]).
Status scatter_nd_ref(KernelContext& ctx) {
  const Tensor& data = ctx.in(0);
  const Tensor& ind = ctx.in(1);
  Tensor& out = ctx.out(0);
  if (out.raw() != data.raw() && data.nbytes()) std::memcpy(out.raw(), data.raw(), data.nbytes());
  const Shape& ds = data.shape();
  const size_t k = static_cast<size_t>(ind.shape().back());
  const int64_t tuples = k ? ind.numel() / static_cast<int64_t>(k) : 0, slice = prod(ds, k, ds.size());
  const std::vector<int64_t> st = ops::strides_of(ds);
  const int red = reduction_code(ctx.node);
  Status status;
  bool ok = dispatch_all(data.dtype(), [&]<class T>() {
    const T* upd = ctx.in(2).data<T>();
    T* o = out.data<T>();
    for (int64_t t = 0; t < tuples; ++t) {
      int64_t off = 0;
      for (size_t j = 0; j < k; ++j) {
        int64_t v = index_at(ind, t * static_cast<int64_t>(k) + static_cast<int64_t>(j));
        if (!wrap_index(v, ds[j])) {
          status = bad_index(ctx, index_at(ind, t * static_cast<int64_t>(k) + static_cast<int64_t>(j)), ds[j]);
          return;
        }
        off += v * st[j];
      }
      for (int64_t s = 0; s < slice; ++s) o[off + s] = reduce_into(o[off + s], upd[t * slice + s], red);
    }
  });
  return ok ? status : ctx.fail_unsupported("dtype " + std::string(dtype_name(data.dtype())));
}

KernelDef ref(const char* op, const char* name, KernelFn fn) {
  return {"", op, name, Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, fn};
}

}  // namespace

void register_ref_gather_scatter(KernelRegistry& r) {
  r.add(ref("Gather", "gather__ref", gather_ref));
  r.add(ref("GatherElements", "gatherelements__ref", gather_elements_ref));
  r.add(ref("GatherND", "gathernd__ref", gather_nd_ref));
  r.add(ref("ScatterElements", "scatterelements__ref", scatter_elements_ref));
  r.add(ref("Scatter", "scatter__ref", scatter_elements_ref));
  r.add(ref("ScatterND", "scatternd__ref", scatter_nd_ref));
}

}  // namespace joule::kernels
