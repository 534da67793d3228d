// Micro-kernels of the pointwise Conv (conv1x1_f32.cpp): 6 output channels x 16 pixels in 12 ymm
// accumulators (per k: one 16-pixel row of X read in place, 2 loads, and 6 weight broadcasts feed 12
// FMAs), and a 6 channels x 1 pixel column kernel for the 1..4 pixels left over by the 16-pixel strips
// (e.g. 7x7 planes: 3 strips + 1 pixel instead of a 4th strip 1/16 full). Bias and Relu/Clip are
// applied in registers before the only store.
#include <immintrin.h>

#include "kernels/cpu/conv1x1_f32.h"

namespace joule::kernels::cpu {
namespace {

inline __m256 activate(__m256 v, const GemmEpilogue& ep) {
  if (ep.act == Activation::kRelu) return _mm256_max_ps(v, _mm256_setzero_ps());
  if (ep.act == Activation::kClip) return _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(ep.lo)), _mm256_set1_ps(ep.hi));
  return v;
}

inline __m256i lane_mask(int64_t n) {
  alignas(32) static const int32_t bits[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bits + 8 - (n < 0 ? 0 : n > 8 ? 8 : n)));
}

}  // namespace

void conv1x1_6x16__avx2(int64_t k, const float* a, const float* b, int64_t b_rs, const float* bias, const GemmEpilogue& ep,
                        float* y, int64_t ldy, int64_t mv, int64_t nv) {
  constexpr int MR = 6;
  __m256 acc[MR][2];
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  for (int64_t p = 0; p < k; ++p) {
    const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      const __m256 av = _mm256_broadcast_ss(a + r);
      acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
    }
    a += MR;
    b += b_rs;
  }
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) {
    const __m256 bv = bias && r < mv ? _mm256_set1_ps(bias[r]) : _mm256_setzero_ps();
    acc[r][0] = activate(_mm256_add_ps(acc[r][0], bv), ep);
    acc[r][1] = activate(_mm256_add_ps(acc[r][1], bv), ep);
  }
  if (mv == MR && nv == 16) {
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      _mm256_storeu_ps(y + r * ldy, acc[r][0]);
      _mm256_storeu_ps(y + r * ldy + 8, acc[r][1]);
    }
    return;
  }
  // Edge tile: through a buffer indexed by constants (a runtime index into acc would keep the
  // accumulators in memory for the whole k loop).
  alignas(32) float tile[MR][16];
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) {
    _mm256_store_ps(tile[r], acc[r][0]);
    _mm256_store_ps(tile[r] + 8, acc[r][1]);
  }
  const __m256i m0 = lane_mask(nv), m1 = lane_mask(nv - 8);
  for (int64_t r = 0; r < mv; ++r) {
    _mm256_maskstore_ps(y + r * ldy, m0, _mm256_load_ps(tile[r]));
    _mm256_maskstore_ps(y + r * ldy + 8, m1, _mm256_load_ps(tile[r] + 8));
  }
}

void conv1x1_6x1__avx2(int64_t k, const float* a, const float* b, int64_t b_rs, const float* bias, const GemmEpilogue& ep,
                       float* y, int64_t ldy, int64_t mv) {
  // Lanes 0..5 are the panel's 6 rows (lanes 6, 7 read the next k step and are dropped).
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  int64_t p = 0;
  for (; p + 4 <= k; p += 4) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + 6 * p), _mm256_broadcast_ss(b + p * b_rs), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + 6 * p + 6), _mm256_broadcast_ss(b + (p + 1) * b_rs), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + 6 * p + 12), _mm256_broadcast_ss(b + (p + 2) * b_rs), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + 6 * p + 18), _mm256_broadcast_ss(b + (p + 3) * b_rs), s3);
  }
  for (; p < k; ++p) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + 6 * p), _mm256_broadcast_ss(b + p * b_rs), s0);
  __m256 acc = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
  alignas(32) float out[8];
  if (bias) {
    alignas(32) float bb[8] = {};
    for (int64_t r = 0; r < mv; ++r) bb[r] = bias[r];
    acc = _mm256_add_ps(acc, _mm256_load_ps(bb));
  }
  _mm256_store_ps(out, activate(acc, ep));
  for (int64_t r = 0; r < mv; ++r) y[r * ldy] = out[r];
}

}  // namespace joule::kernels::cpu
