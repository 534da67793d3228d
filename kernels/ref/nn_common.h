// Small helpers shared by the nn reference kernels (conv, conv_transpose, pool, normalization,
// softmax): compute-type buffers for 16-bit floats and a parallel loop over independent planes.
#pragma once

#include <cstdint>
#include <functional>
#include <type_traits>
#include <vector>

#include "joule/tensor.h"
#include "runtime/ir/dtype_dispatch.h"
#include "runtime/thread_pool.h"

namespace joule::kernels::nnref {

/// Runs fn(begin, end) over [0, n): on the pool when there is one and more than one item.
inline void parallel_over(ThreadPool* pool, int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (pool && pool->threads() > 1 && n > 1) pool->parallel_for(n, 1, fn);
  else fn(0, n);
}

/// Read-only view of a tensor as its compute type C (float for f16/bf16): borrows the data when
/// T == C, otherwise converts into an owned buffer.
template <class T, class C = ComputeT<T>>
class ComputeView {
 public:
  explicit ComputeView(const Tensor* t) {
    if (!t) return;
    if constexpr (std::is_same_v<T, C>) {
      ptr_ = t->data<T>();
    } else {
      buf_.resize(static_cast<size_t>(t->numel()));
      const T* src = t->data<T>();
      for (size_t i = 0; i < buf_.size(); ++i) buf_[i] = static_cast<C>(to_compute(src[i]));
      ptr_ = buf_.data();
    }
  }
  const C* data() const { return ptr_; }

 private:
  const C* ptr_ = nullptr;
  std::vector<C> buf_;
};

/// Writable view of an output tensor as compute type C; commit() copies back when converted.
template <class T, class C = ComputeT<T>>
class ComputeOut {
 public:
  explicit ComputeOut(Tensor& t) : t_(t) {
    if constexpr (std::is_same_v<T, C>) ptr_ = t.data<T>();
    else {
      buf_.assign(static_cast<size_t>(t.numel()), C(0));
      ptr_ = buf_.data();
    }
  }
  C* data() { return ptr_; }
  void commit() {
    if constexpr (!std::is_same_v<T, C>) {
      T* dst = t_.data<T>();
      for (size_t i = 0; i < buf_.size(); ++i) dst[i] = from_compute<T>(buf_[i]);
    }
  }

 private:
  Tensor& t_;
  C* ptr_ = nullptr;
  std::vector<C> buf_;
};

/// Range [lo, hi) of output positions o in [0, out_len) whose input position
/// i = o * stride + offset lies inside [0, in_len). `offset` may be negative.
inline void valid_output_range(int64_t in_len, int64_t out_len, int64_t stride, int64_t offset, int64_t& lo, int64_t& hi) {
  int64_t first = -offset;  // need o * stride >= first
  lo = first <= 0 ? 0 : (first + stride - 1) / stride;
  int64_t last = in_len - 1 - offset;  // need o * stride <= last
  hi = last < 0 ? 0 : last / stride + 1;
  if (hi > out_len) hi = out_len;
  if (lo > hi) lo = hi;
}

}  // namespace joule::kernels::nnref
