// Reference kernels for the linalg family: Gemm and MatMul (Einsum lives in einsum.cpp).
// Layout: row-major. Floats accumulate in double, signed ints in int64, unsigned in uint64,
// and the result is converted to the storage type once per output element.
#include <type_traits>

#include "kernels/kernel_registry.h"
#include "runtime/ir/dtype_dispatch.h"
#include "runtime/ops/infer_helpers.h"

namespace joule::kernels {

void register_ref_einsum(KernelRegistry& r);  // einsum.cpp

namespace {

template <class T>
using AccT = std::conditional_t<std::is_floating_point_v<ComputeT<T>>, double,
                                std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>>;

// Dtypes the ONNX spec allows for Gemm and MatMul.
template <class Fn>
bool dispatch_gemm_types(DType t, Fn&& fn) {
  switch (t) {
    case DType::kI32: fn.template operator()<int32_t>(); return true;
    case DType::kI64: fn.template operator()<int64_t>(); return true;
    case DType::kU32: fn.template operator()<uint32_t>(); return true;
    case DType::kU64: fn.template operator()<uint64_t>(); return true;
    default: return dispatch_float(t, fn);
  }
}

// One [M,K] x [K,N] product: c[i*N+j] = sum_k a[i*sa_m + k*sa_k] * b[k*sb_k + j*sb_n].
// acc is an N-element scratch row; finish(i, j, sum) converts the sum to the stored value.
template <class T, class Finish>
void matmul_block(const T* a, int64_t sa_m, int64_t sa_k, const T* b, int64_t sb_k, int64_t sb_n, int64_t m, int64_t k,
                  int64_t n, std::vector<AccT<T>>& acc, T* c, Finish finish) {
  using A = AccT<T>;
  for (int64_t i = 0; i < m; ++i) {
    std::fill(acc.begin(), acc.end(), A(0));
    for (int64_t p = 0; p < k; ++p) {
      A av = static_cast<A>(to_compute(a[i * sa_m + p * sa_k]));
      const T* brow = b + p * sb_k;
      for (int64_t j = 0; j < n; ++j) acc[static_cast<size_t>(j)] += av * static_cast<A>(to_compute(brow[j * sb_n]));
    }
    for (int64_t j = 0; j < n; ++j) c[i * n + j] = finish(i, j, acc[static_cast<size_t>(j)]);
  }
}

// numpy.matmul: 1-D operands promoted to [1,K] / [K,1]; batch dims broadcast.
template <class T>
void matmul_typed(const Tensor& ta, const Tensor& tb, Tensor& out) {
  Shape a = ta.rank() == 1 ? Shape{1, ta.dim(0)} : ta.shape();
  Shape b = tb.rank() == 1 ? Shape{tb.dim(0), 1} : tb.shape();
  int64_t m = a[a.size() - 2], k = a.back(), n = b.back();
  Shape ba(a.begin(), a.end() - 2), bb(b.begin(), b.end() - 2);
  Shape batch = *ops::broadcast_shapes(ba, bb);
  auto sa = ops::broadcast_strides(ba, batch), sb = ops::broadcast_strides(bb, batch);
  int64_t nb = shape_numel(batch);
  std::vector<AccT<T>> acc(static_cast<size_t>(n));
  std::vector<int64_t> idx(batch.size(), 0);
  for (int64_t bi = 0; bi < nb; ++bi) {
    int64_t oa = 0, ob = 0;
    for (size_t d = 0; d < batch.size(); ++d) {
      oa += idx[d] * sa[d];
      ob += idx[d] * sb[d];
    }
    matmul_block<T>(ta.data<T>() + oa * m * k, k, 1, tb.data<T>() + ob * k * n, n, 1, m, k, n, acc, out.data<T>() + bi * m * n,
                    [](int64_t, int64_t, AccT<T> v) { return from_compute<T>(static_cast<ComputeT<T>>(v)); });
    for (size_t d = batch.size(); d-- > 0;) {
      if (++idx[d] < batch[d]) break;
      idx[d] = 0;
    }
  }
}

Status matmul_ref(KernelContext& ctx) {
  bool ok = dispatch_gemm_types(ctx.in(0).dtype(), [&]<class T>() { matmul_typed<T>(ctx.in(0), ctx.in(1), ctx.out(0)); });
  return ok ? Status::ok() : ctx.fail_unsupported("dtype " + std::string(dtype_name(ctx.in(0).dtype())));
}

// Y = alpha * A' B' + beta * C; C (optional) broadcast to [M,N].
template <class T>
void gemm_typed(KernelContext& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  Tensor& y = ctx.out(0);
  bool ta = ctx.node.attr_int("transA", 0) != 0, tb = ctx.node.attr_int("transB", 0) != 0;
  double alpha = ctx.node.attr_float("alpha", 1.0f), beta = ctx.node.attr_float("beta", 1.0f);
  int64_t m = y.dim(0), n = y.dim(1), k = ta ? a.dim(0) : a.dim(1);
  // A' (i,p) lives at i*sa_m + p*sa_k in A's storage; likewise for B'.
  int64_t sa_m = ta ? 1 : k, sa_k = ta ? m : 1;
  int64_t sb_k = tb ? 1 : n, sb_n = tb ? k : 1;
  std::vector<AccT<T>> acc(static_cast<size_t>(n));
  const Tensor* c = ctx.has_input(2) ? &ctx.in(2) : nullptr;
  std::vector<int64_t> sc = c ? ops::broadcast_strides(c->shape(), {m, n}) : std::vector<int64_t>{0, 0};
  matmul_block<T>(a.data<T>(), sa_m, sa_k, b.data<T>(), sb_k, sb_n, m, k, n, acc, y.data<T>(),
                  [&](int64_t i, int64_t j, AccT<T> sum) {
                    if (alpha == 1.0 && !c) return from_compute<T>(static_cast<ComputeT<T>>(sum));  // exact for ints
                    double v = alpha * static_cast<double>(sum);
                    if (c) v += beta * static_cast<double>(to_compute(c->data<T>()[i * sc[0] + j * sc[1]]));
                    return from_compute<T>(static_cast<ComputeT<T>>(v));
                  });
}

Status gemm_ref(KernelContext& ctx) {
  bool ok = dispatch_gemm_types(ctx.in(0).dtype(), [&]<class T>() { gemm_typed<T>(ctx); });
  return ok ? Status::ok() : ctx.fail_unsupported("dtype " + std::string(dtype_name(ctx.in(0).dtype())));
}

}  // namespace

void register_ref_linalg(KernelRegistry& r) {
  r.add({"", "Gemm", "gemm__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, gemm_ref});
  r.add({"", "MatMul", "matmul__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, matmul_ref});
  register_ref_einsum(r);
}

}  // namespace joule::kernels
