// Bodies of the FP32 row kernels declared in elementwise_f32.h, written once over a vector type V that
// the including ISA file defines (elementwise_f32__avx2.cpp: 8 floats in a ymm; __avx512.cpp: 16 in a zmm):
//   V::R (register), V::M (lane mask), V::N (lanes), load/store/set1, add/sub/mul/div/fma/sqrt/min/max,
//   lt(a, b) -> M, any(m) / all(m), select(m, t, f) (t where m), max_nan/min_nan (NaN if either is NaN), abs, neg,
//   or_sign(a, sign_of) (|a| with the sign of sign_of), round (nearest even), pow2(n) (2^n for integral n
//   in [-126, 127]), hsum / hmax (reductions, fixed order).
// A run's ragged tail (< N floats) goes through a zero-padded stack copy and the same vector code, so an
// element's value never depends on where it sits in the run (threads may split runs anywhere).
//
// Approximations (float32, measured against double-precision libm by tests/kernels/
// elementwise_f32_simd_test.cpp, over a dense sweep of the whole useful range):
//   exp:  x = n ln2 + r (Cody-Waite, ln2 split in two), |r| <= ln2/2, degree-7 Taylor polynomial for e^r,
//         times 2^n; x < -87.3 gives 0 (no denormals), x > 88.7 gives +inf.
//   tanh: |x| < 0.625: x * P(x^2), P degree 6 (least-squares fit of tanh(x)/x); else
//         sign(x) (1 - 2 / (e^{2|x|} + 1)).
//   erf:  |x| < 1: x * P(x^2), P degree 7 (fit of erf(x)/x); else sign(x) (1 - e^{-x^2} R(1/|x|)), R degree 12
//         (least-squares fit of erfc(x) e^{x^2} on [1, 9.2], |x| clamped to 9.2 inside R, where erfc < 1e-38).
//   sigmoid: e = exp(-|x|), s = 1 / (1 + e), x >= 0 ? s : e s (no cancellation on either side).
//   Gelu(erf): 0.5 x (1 + erf(x / sqrt 2)), with erfc's form for x / sqrt 2 <= -1 so the negative tail
//         keeps its relative accuracy.  Gelu(tanh): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cpu/elementwise_f32.h"

namespace joule::kernels::cpu {
namespace {

using R = typename V::R;

// ---- math ----------------------------------------------------------------------------------------

inline R exp_v(R x) {
  const R hi = V::set1(88.72283172607421875f), lo = V::set1(-87.33654022216796875f);
  const typename V::M over = V::lt(hi, x), under = V::lt(x, lo);
  R xc = V::min(V::max(x, lo), hi);
  R n = V::round(V::mul(xc, V::set1(1.44269504088896341f)));
  R r = V::fma(n, V::set1(-0.693145751953125f), xc);  // ln2 = 0.693145751953125 + 1.428606765330187e-6
  r = V::fma(n, V::set1(-1.428606765330187045e-06f), r);
  R p = V::set1(1.0f / 5040);
  p = V::fma(p, r, V::set1(1.0f / 720));
  p = V::fma(p, r, V::set1(1.0f / 120));
  p = V::fma(p, r, V::set1(1.0f / 24));
  p = V::fma(p, r, V::set1(1.0f / 6));
  p = V::fma(p, r, V::set1(0.5f));
  p = V::fma(p, r, V::set1(1.0f));
  p = V::fma(p, r, V::set1(1.0f));
  // 2^n with n in [-126, 128]: split as 2^(n - h) 2^h so both factors are normal.
  R h = V::select(V::lt(V::set1(126.5f), n), V::set1(1.0f), V::set1(0.0f));
  R y = V::mul(V::mul(p, V::pow2(V::sub(n, h))), V::pow2(h));
  y = V::select(under, V::set1(0.0f), y);
  y = V::select(over, V::set1(INFINITY), y);
  return V::select(V::is_nan(x), x, y);
}

inline R tanh_v(R x) {
  R ax = V::abs(x);
  R x2 = V::mul(x, x);
  R p = V::set1(0.002142236025279011f);
  p = V::fma(p, x2, V::set1(-0.008176164350889126f));
  p = V::fma(p, x2, V::set1(0.02169989732250166f));
  p = V::fma(p, x2, V::set1(-0.053946507851487f));
  p = V::fma(p, x2, V::set1(0.13333201986838514f));
  p = V::fma(p, x2, V::set1(-0.33333330519120535f));
  p = V::fma(p, x2, V::set1(0.9999999999379138f));
  R small = V::mul(x, p);
  const typename V::M is_small = V::lt(ax, V::set1(0.625f));
  if (V::all(is_small)) return small;
  R e = exp_v(V::mul(V::set1(2.0f), V::min(ax, V::set1(10.0f))));
  R big = V::sub(V::set1(1.0f), V::div(V::set1(2.0f), V::add(e, V::set1(1.0f))));
  big = V::or_sign(big, x);
  return V::select(is_small, small, V::select(V::is_nan(x), x, big));
}

// erf(x) for |x| < 1 (x * P(x^2)).
inline R erf_small_v(R x) {
  R x2 = V::mul(x, x);
  R p = V::set1(-9.689741107432592e-06f);
  p = V::fma(p, x2, V::set1(0.0001127473794650391f));
  p = V::fma(p, x2, V::set1(-0.0008485438917932991f));
  p = V::fma(p, x2, V::set1(0.005221138696164973f));
  p = V::fma(p, x2, V::set1(-0.026865475514884385f));
  p = V::fma(p, x2, V::set1(0.11283783443881518f));
  p = V::fma(p, x2, V::set1(-0.37612638552827166f));
  p = V::fma(p, x2, V::set1(1.1283791670801044f));
  return V::mul(x, p);
}

// erfc(|x|) for |x| >= 1: e^{-(hi + lo)} R(1/|x|), where hi + lo = x^2 exactly (from FMA) and
// e^{-(hi + lo)} = e^{-hi} (1 - lo): a rounded x^2 would cost 2 x^2 ulp of relative error in the tail.
inline R erfc_big_v(R ax, R hi, R lo) {
  R u = V::div(V::set1(1.0f), V::min(V::max(ax, V::set1(1.0f)), V::set1(9.2f)));
  R q = V::set1(0.07011304059532375f);
  q = V::fma(q, u, V::set1(-0.4496384306386462f));
  q = V::fma(q, u, V::set1(1.227621793627687f));
  q = V::fma(q, u, V::set1(-1.7820747557006107f));
  q = V::fma(q, u, V::set1(1.2689219606074524f));
  q = V::fma(q, u, V::set1(0.07305859571802026f));
  q = V::fma(q, u, V::set1(-0.9965736966277028f));
  q = V::fma(q, u, V::set1(0.8146694037821982f));
  q = V::fma(q, u, V::set1(-0.09366791551633576f));
  q = V::fma(q, u, V::set1(-0.26773122171160263f));
  q = V::fma(q, u, V::set1(-0.001378228458899164f));
  q = V::fma(q, u, V::set1(0.5642648102269788f));
  q = V::fma(q, u, V::set1(-1.7779048078200604e-06f));
  R e = exp_v(V::neg(hi));
  return V::mul(V::fma(V::neg(lo), e, e), q);
}

// Branches are skipped when no lane needs them (the result is the same: each lane takes one branch).
inline R erf_v(R x) {
  const typename V::M small = V::lt(V::abs(x), V::set1(1.0f));
  if (V::all(small)) return erf_small_v(x);
  R hi = V::mul(x, x);
  R lo = V::fma(x, x, V::neg(hi));
  R big = V::or_sign(V::sub(V::set1(1.0f), erfc_big_v(V::abs(x), hi, lo)), x);
  big = V::select(V::is_nan(x), x, big);
  return V::any(small) ? V::select(small, erf_small_v(x), big) : big;
}

inline R sigmoid_v(R x) {
  R e = exp_v(V::neg(V::abs(x)));
  R s = V::div(V::set1(1.0f), V::add(V::set1(1.0f), e));
  return V::select(V::lt(x, V::set1(0.0f)), V::mul(e, s), V::select(V::is_nan(x), x, s));
}

inline R gelu_erf_v(R x) {
  R t = V::mul(x, V::set1(0.70710678118654752440f));
  R half_x = V::mul(V::set1(0.5f), x);
  // 1 + erf(t): 1 + erf_small for |t| < 1, 2 - erfc for t >= 1, erfc(-t) for t <= -1; t^2 = x^2 / 2 exactly.
  const typename V::M small = V::lt(V::abs(t), V::set1(1.0f));
  R one_plus;
  if (V::all(small)) {
    one_plus = V::add(V::set1(1.0f), erf_small_v(t));
  } else {
    R hi = V::mul(x, x);
    R lo = V::mul(V::set1(0.5f), V::fma(x, x, V::neg(hi)));
    R erfc_t = erfc_big_v(V::abs(t), V::mul(V::set1(0.5f), hi), lo);
    one_plus = V::select(V::lt(t, V::set1(0.0f)), erfc_t, V::sub(V::set1(2.0f), erfc_t));
    if (V::any(small)) one_plus = V::select(small, V::add(V::set1(1.0f), erf_small_v(t)), one_plus);
  }
  return V::select(V::is_nan(x), x, V::mul(half_x, one_plus));
}

inline R gelu_tanh_v(R x) {
  R x3 = V::mul(V::mul(x, x), x);
  R inner = V::mul(V::set1(0.79788456080286535588f), V::fma(V::set1(0.044715f), x3, x));
  return V::mul(V::mul(V::set1(0.5f), x), V::add(V::set1(1.0f), tanh_v(inner)));
}

// ---- elementwise rows ----------------------------------------------------------------------------

template <BinaryOpF32 Op>
inline R binary_v(R a, R b) {
  if constexpr (Op == BinaryOpF32::kAdd) return V::add(a, b);
  else if constexpr (Op == BinaryOpF32::kSub) return V::sub(a, b);
  else if constexpr (Op == BinaryOpF32::kMul) return V::mul(a, b);
  else if constexpr (Op == BinaryOpF32::kDiv) return V::div(a, b);
  else if constexpr (Op == BinaryOpF32::kMax) return V::max_nan(a, b);
  else return V::min_nan(a, b);
}

template <BinaryOpF32 Op>
void binary_run(const float* a, int64_t sa, const float* b, int64_t sb, float* y, int64_t n) {
  int64_t j = 0;
  if (sa && sb) {
    for (; j + V::N <= n; j += V::N) V::store(y + j, binary_v<Op>(V::load(a + j), V::load(b + j)));
  } else if (sa) {
    const R vb = V::set1(b[0]);
    for (; j + V::N <= n; j += V::N) V::store(y + j, binary_v<Op>(V::load(a + j), vb));
  } else if (sb) {
    const R va = V::set1(a[0]);
    for (; j + V::N <= n; j += V::N) V::store(y + j, binary_v<Op>(va, V::load(b + j)));
  } else {
    const R v = binary_v<Op>(V::set1(a[0]), V::set1(b[0]));
    float lane[V::N];
    V::store(lane, v);
    std::fill(y, y + n, lane[0]);
    return;
  }
  if (j < n) {
    float ta[V::N] = {}, tb[V::N] = {}, ty[V::N];
    const int64_t m = n - j;
    for (int64_t k = 0; k < m; ++k) {
      ta[k] = a[sa * (j + k)];
      tb[k] = b[sb * (j + k)];
    }
    V::store(ty, binary_v<Op>(V::load(ta), V::load(tb)));
    std::memcpy(y + j, ty, static_cast<size_t>(m) * sizeof(float));
  }
}

void binary_row(BinaryOpF32 op, const float* a, int64_t sa, const float* b, int64_t sb, float* y, int64_t n) {
  switch (op) {
    case BinaryOpF32::kAdd: return binary_run<BinaryOpF32::kAdd>(a, sa, b, sb, y, n);
    case BinaryOpF32::kSub: return binary_run<BinaryOpF32::kSub>(a, sa, b, sb, y, n);
    case BinaryOpF32::kMul: return binary_run<BinaryOpF32::kMul>(a, sa, b, sb, y, n);
    case BinaryOpF32::kDiv: return binary_run<BinaryOpF32::kDiv>(a, sa, b, sb, y, n);
    case BinaryOpF32::kMax: return binary_run<BinaryOpF32::kMax>(a, sa, b, sb, y, n);
    case BinaryOpF32::kMin: return binary_run<BinaryOpF32::kMin>(a, sa, b, sb, y, n);
  }
}

template <UnaryOpF32 Op>
inline R unary_v(R x, R pa, R pb) {
  if constexpr (Op == UnaryOpF32::kRelu) return V::max(x, V::set1(0.0f));  // NaN -> 0, as the reference
  else if constexpr (Op == UnaryOpF32::kLeakyRelu) return V::select(V::lt(x, V::set1(0.0f)), V::mul(pa, x), x);
  else if constexpr (Op == UnaryOpF32::kSigmoid) return sigmoid_v(x);
  else if constexpr (Op == UnaryOpF32::kTanh) return tanh_v(x);
  else if constexpr (Op == UnaryOpF32::kErf) return erf_v(x);
  else if constexpr (Op == UnaryOpF32::kGeluErf) return gelu_erf_v(x);
  else if constexpr (Op == UnaryOpF32::kGeluTanh) return gelu_tanh_v(x);
  else if constexpr (Op == UnaryOpF32::kHardSwish)
    return V::mul(x, V::max(V::min(V::add(V::div(x, V::set1(6.0f)), V::set1(0.5f)), V::set1(1.0f)), V::set1(0.0f)));
  else if constexpr (Op == UnaryOpF32::kHardSigmoid)
    return V::max(V::min(V::add(V::mul(pa, x), pb), V::set1(1.0f)), V::set1(0.0f));  // std::min/max order: NaN -> 1
  else if constexpr (Op == UnaryOpF32::kClip) return V::min_keep_nan(V::max_keep_nan(x, pa), pb);  // NaN stays NaN
  else if constexpr (Op == UnaryOpF32::kExp) return exp_v(x);
  else if constexpr (Op == UnaryOpF32::kSqrt) return V::sqrt(x);
  else if constexpr (Op == UnaryOpF32::kNeg) return V::neg(x);
  else return V::mul(x, x);
}

template <UnaryOpF32 Op>
void unary_run(const UnaryParamsF32& p, const float* x, float* y, int64_t n) {
  const R pa = V::set1(p.a), pb = V::set1(p.b);
  int64_t j = 0;
  for (; j + V::N <= n; j += V::N) V::store(y + j, unary_v<Op>(V::load(x + j), pa, pb));
  if (j < n) {
    float t[V::N] = {};
    const size_t bytes = static_cast<size_t>(n - j) * sizeof(float);
    std::memcpy(t, x + j, bytes);
    V::store(t, unary_v<Op>(V::load(t), pa, pb));
    std::memcpy(y + j, t, bytes);
  }
}

void unary_row(UnaryOpF32 op, const UnaryParamsF32& p, const float* x, float* y, int64_t n) {
  switch (op) {
#define JOULE_UNARY_CASE(k) \
  case UnaryOpF32::k: return unary_run<UnaryOpF32::k>(p, x, y, n);
    JOULE_UNARY_CASE(kRelu)
    JOULE_UNARY_CASE(kLeakyRelu)
    JOULE_UNARY_CASE(kSigmoid)
    JOULE_UNARY_CASE(kTanh)
    JOULE_UNARY_CASE(kErf)
    JOULE_UNARY_CASE(kGeluErf)
    JOULE_UNARY_CASE(kGeluTanh)
    JOULE_UNARY_CASE(kHardSwish)
    JOULE_UNARY_CASE(kHardSigmoid)
    JOULE_UNARY_CASE(kClip)
    JOULE_UNARY_CASE(kExp)
    JOULE_UNARY_CASE(kSqrt)
    JOULE_UNARY_CASE(kNeg)
    JOULE_UNARY_CASE(kSquare)
#undef JOULE_UNARY_CASE
  }
}

// ---- reductions along rows -----------------------------------------------------------------------

// Loads x[j .. j + N) with lanes past `n` set to `fill`.
inline R load_tail(const float* x, int64_t j, int64_t n, float fill) {
  float t[V::N];
  for (int k = 0; k < V::N; ++k) t[k] = j + k < n ? x[j + k] : fill;
  return V::load(t);
}

// Sum of x[0, n) in a fixed order: N lanes, two accumulators, then hsum.
inline float sum_row(const float* x, int64_t n) {
  R s0 = V::set1(0.0f), s1 = V::set1(0.0f);
  int64_t j = 0;
  for (; j + 2 * V::N <= n; j += 2 * V::N) {
    s0 = V::add(s0, V::load(x + j));
    s1 = V::add(s1, V::load(x + j + V::N));
  }
  for (; j < n; j += V::N) s0 = V::add(s0, j + V::N <= n ? V::load(x + j) : load_tail(x, j, n, 0.0f));
  return V::hsum(V::add(s0, s1));
}

void softmax_rows(const float* x, float* y, int64_t rows, int64_t len) {
  for (int64_t r = 0; r < rows; ++r, x += len, y += len) {
    R mv = V::set1(-INFINITY);
    int64_t j = 0;
    for (; j + V::N <= len; j += V::N) mv = V::max(mv, V::load(x + j));
    if (j < len) mv = V::max(mv, load_tail(x, j, len, -INFINITY));
    const R mx = V::set1(V::hmax(mv));
    R s = V::set1(0.0f);
    for (j = 0; j + V::N <= len; j += V::N) {
      R e = exp_v(V::sub(V::load(x + j), mx));
      V::store(y + j, e);
      s = V::add(s, e);
    }
    if (j < len) {
      float t[V::N];
      R e = exp_v(V::sub(load_tail(x, j, len, -INFINITY), mx));  // exp(-inf) = 0 in the padding
      V::store(t, e);
      std::memcpy(y + j, t, static_cast<size_t>(len - j) * sizeof(float));
      s = V::add(s, e);
    }
    const float inv_sum = 1.0f / V::hsum(s);
    const R inv = V::set1(inv_sum);
    for (j = 0; j + V::N <= len; j += V::N) V::store(y + j, V::mul(V::load(y + j), inv));
    for (; j < len; ++j) y[j] *= inv_sum;
  }
}

// Softmax of a [len][inner] block along len, N columns of inner at a time (columns are independent).
void softmax_strided(const float* x, float* y, int64_t len, int64_t inner) {
  for (int64_t c = 0; c < inner; c += V::N) {
    const int64_t w = std::min<int64_t>(V::N, inner - c);
    auto ld = [&](const float* p, int64_t i, float fill) {
      return w == V::N ? V::load(p + i * inner + c) : load_tail(p + i * inner + c, 0, w, fill);
    };
    auto st = [&](int64_t i, R v) {
      if (w == V::N) {
        V::store(y + i * inner + c, v);
      } else {
        float t[V::N];
        V::store(t, v);
        std::memcpy(y + i * inner + c, t, static_cast<size_t>(w) * sizeof(float));
      }
    };
    R mx = V::set1(-INFINITY);
    for (int64_t i = 0; i < len; ++i) mx = V::max(mx, ld(x, i, 0.0f));
    R s = V::set1(0.0f);
    for (int64_t i = 0; i < len; ++i) {
      R e = exp_v(V::sub(ld(x, i, 0.0f), mx));
      st(i, e);
      s = V::add(s, e);
    }
    const R inv = V::div(V::set1(1.0f), s);
    for (int64_t i = 0; i < len; ++i) st(i, V::mul(ld(y, i, 0.0f), inv));
  }
}

void layer_norm_rows(const float* x, const float* scale, const float* bias, float* y, int64_t rows, int64_t len, float eps,
                     float* mean_out, float* inv_out) {
  const float inv_len = 1.0f / static_cast<float>(len);
  for (int64_t r = 0; r < rows; ++r, x += len, y += len) {
    const float mean = sum_row(x, len) * inv_len;
    const R mv = V::set1(mean);
    R q0 = V::set1(0.0f);
    int64_t j = 0;
    for (; j + V::N <= len; j += V::N) {
      R d = V::sub(V::load(x + j), mv);
      q0 = V::fma(d, d, q0);
    }
    if (j < len) {
      R d = V::sub(load_tail(x, j, len, mean), mv);  // padding contributes 0
      q0 = V::fma(d, d, q0);
    }
    const float inv = 1.0f / std::sqrt(V::hsum(q0) * inv_len + eps);
    if (mean_out) mean_out[r] = mean;
    if (inv_out) inv_out[r] = inv;
    const R iv = V::set1(inv);
    for (j = 0; j + V::N <= len; j += V::N) {
      R v = V::mul(V::mul(V::sub(V::load(x + j), mv), iv), V::load(scale + j));
      V::store(y + j, bias ? V::add(v, V::load(bias + j)) : v);
    }
    if (j < len) {  // same vector arithmetic on a padded copy
      float t[V::N];
      R v = V::mul(V::mul(V::sub(load_tail(x, j, len, 0.0f), mv), iv), load_tail(scale, j, len, 0.0f));
      V::store(t, bias ? V::add(v, load_tail(bias, j, len, 0.0f)) : v);
      std::memcpy(y + j, t, static_cast<size_t>(len - j) * sizeof(float));
    }
  }
}

void plane_means(const float* x, float* y, int64_t planes, int64_t len) {
  for (int64_t p = 0; p < planes; ++p) y[p] = sum_row(x + p * len, len) / static_cast<float>(len);
}

const ElementwiseF32Kernels kTable = {binary_row, unary_row, softmax_rows, softmax_strided, layer_norm_rows, plane_means};

}  // namespace
}  // namespace joule::kernels::cpu
