// Shared loops for the reference elementwise / activation kernels.
//
// Layout: every tensor is dense row-major. A broadcast op's inputs are right-aligned to the output
// shape (numpy rules); a broadcast dim has stride 0. The loops below walk the output row by row
// (a "row" is the innermost run of output elements after merging dims that are contiguous for
// every operand), so the inner loop is a plain strided loop with step 0 or 1 per input.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "kernels/kernel_registry.h"
#include "runtime/ir/dtype_dispatch.h"
#include "runtime/ops/infer_helpers.h"

namespace joule::kernels {

// Sub-families of register_ref_elementwise (kernels/ref/*.cpp).
void register_ref_arith(KernelRegistry& r);          // elementwise.cpp
void register_ref_compare_logic(KernelRegistry& r);  // compare_logic.cpp
void register_ref_unary_math(KernelRegistry& r);     // unary_math.cpp
void register_ref_cast(KernelRegistry& r);           // cast.cpp

/// Calls row(out_offset, in_offsets, n, in_steps) for each row of `out`, where input k's elements
/// for that row are at in_offsets[k] + j * in_steps[k], j in [0, n), and the output's at out_offset + j.
template <size_t K, class Row>
void for_each_broadcast_row(const std::array<const Shape*, K>& ins, const Shape& out, Row&& row) {
  int64_t total = shape_numel(out);
  if (total <= 0) return;
  // Per-input strides over the output dims, then merge dims d and d+1 whenever every operand is
  // contiguous across them (stride[d] == stride[d+1] * out[d+1]); size-1 dims are dropped.
  std::array<std::vector<int64_t>, K> full;
  for (size_t k = 0; k < K; ++k) full[k] = ops::broadcast_strides(*ins[k], out);
  std::vector<int64_t> dims;
  std::array<std::vector<int64_t>, K> st;
  for (size_t d = 0; d < out.size(); ++d) {
    if (out[d] == 1) continue;
    bool merge = !dims.empty();
    for (size_t k = 0; k < K && merge; ++k) merge = st[k].back() == full[k][d] * out[d];
    if (merge) {
      dims.back() *= out[d];
      for (size_t k = 0; k < K; ++k) st[k].back() = full[k][d];
    } else {
      dims.push_back(out[d]);
      for (size_t k = 0; k < K; ++k) st[k].push_back(full[k][d]);
    }
  }
  if (dims.empty()) {  // a single element
    dims.push_back(1);
    for (size_t k = 0; k < K; ++k) st[k].push_back(0);
  }
  const size_t r = dims.size();
  const int64_t inner = dims[r - 1];
  std::array<int64_t, K> step{}, off{};
  for (size_t k = 0; k < K; ++k) step[k] = st[k][r - 1];
  std::vector<int64_t> idx(r, 0);
  const int64_t rows = total / inner;
  for (int64_t i = 0; i < rows; ++i) {
    row(i * inner, off, inner, step);
    for (size_t d = r - 1; d-- > 0;) {  // odometer over the outer dims
      ++idx[d];
      for (size_t k = 0; k < K; ++k) off[k] += st[k][d];
      if (idx[d] < dims[d]) break;
      for (size_t k = 0; k < K; ++k) off[k] -= st[k][d] * dims[d];
      idx[d] = 0;
    }
  }
}

/// out[i] = f(a[bcast(i)], b[bcast(i)]) on storage types (f converts as it needs).
template <class TA, class TB, class TO, class F>
void binary_map(const Tensor& a, const Tensor& b, Tensor& out, F&& f) {
  const TA* pa = a.data<TA>();
  const TB* pb = b.data<TB>();
  TO* po = out.data<TO>();
  for_each_broadcast_row<2>({&a.shape(), &b.shape()}, out.shape(),
                            [&](int64_t o, const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& s) {
                              const TA* x = pa + off[0];
                              const TB* y = pb + off[1];
                              TO* z = po + o;
                              // Same loop, specialised on the common step patterns so it vectorises.
                              if (s[0] == 1 && s[1] == 1) {
                                for (int64_t j = 0; j < n; ++j) z[j] = f(x[j], y[j]);
                              } else if (s[0] == 1 && s[1] == 0) {
                                for (int64_t j = 0; j < n; ++j) z[j] = f(x[j], y[0]);
                              } else if (s[0] == 0 && s[1] == 1) {
                                for (int64_t j = 0; j < n; ++j) z[j] = f(x[0], y[j]);
                              } else {
                                for (int64_t j = 0; j < n; ++j) z[j] = f(x[j * s[0]], y[j * s[1]]);
                              }
                            });
}

/// out[i] = f(x[i]) over same-shape tensors, storage types in and out.
template <class TI, class TO, class F>
void unary_map(const Tensor& in, Tensor& out, F&& f) {
  const TI* x = in.data<TI>();
  TO* y = out.data<TO>();
  int64_t n = in.numel();
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}

/// Applies f (on compute types: float for 16-bit floats) to a float tensor; fails on other dtypes.
template <class F>
Status run_unary_float(KernelContext& ctx, F&& f) {
  bool ok = dispatch_float(ctx.in(0).dtype(), [&]<class T>() {
    unary_map<T, T>(ctx.in(0), ctx.out(0), [&](T v) { return from_compute<T>(f(to_compute(v))); });
  });
  return ok ? Status::ok() : ctx.fail_unsupported("dtype " + std::string(dtype_name(ctx.in(0).dtype())));
}

}  // namespace joule::kernels

namespace joule::kernels {

/// Converts a double to T without undefined behaviour: floats round, integers truncate toward
/// zero and saturate at T's range (NaN becomes 0), bool is "non-zero" (NaN counts as true).
template <class T>
T saturate_cast(double v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v != 0.0;
  } else if constexpr (std::is_integral_v<T>) {
    if (v != v) return T(0);
    // 2^63 / 2^64 style bounds are exact in double; the inner range check keeps static_cast defined.
    constexpr double lo = static_cast<double>(std::numeric_limits<T>::min());
    constexpr double hi = static_cast<double>(std::numeric_limits<T>::max());
    if (v <= lo) return std::numeric_limits<T>::min();
    if (v >= hi) return std::numeric_limits<T>::max();
    return static_cast<T>(v);
  } else {
    return from_compute<T>(v);
  }
}

}  // namespace joule::kernels
