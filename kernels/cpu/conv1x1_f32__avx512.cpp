// AVX-512 micro-kernels of the pointwise Conv (conv1x1_f32.cpp): up to 12 output channels x 32 pixels in
// 24 zmm accumulators (per k: two 16-pixel loads of the packed X strip and 12 weight broadcasts feed 24
// FMAs, 14 loads per 24 FMAs against 8 per 12 for the 6x16 AVX2 tile, so the 32 registers of AVX-512
// halve the load traffic per FMA), panel heights 12, 8 or 4 chosen at compile time (the last panel of M
// rows is rounded up to 4, not to 12: M = 16 runs 12 + 4 rows, not 24); a pixel tail is stored with a
// lane mask. The column kernel does 1 pixel x up to 12 channels for the 1..4 pixels left over after
// the 32-pixel strips. The tile's accumulators start from the bias (then k in order, one FMA per k;
// the AVX2 6x16 tile adds the bias after the sum), Relu/Clip is applied in registers before the only
// store.
#include <immintrin.h>

#include "kernels/cpu/conv1x1_f32.h"

namespace joule::kernels::cpu {
namespace {

inline __m512 activate(__m512 v, const GemmEpilogue& ep) {
  if (ep.act == Activation::kRelu) return _mm512_max_ps(v, _mm512_setzero_ps());
  if (ep.act == Activation::kClip) return _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(ep.lo)), _mm512_set1_ps(ep.hi));
  return v;
}

inline __mmask16 lanes(int64_t n) { return n <= 0 ? 0 : n >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << n) - 1); }

template <int MR, int NV>
void tile(int64_t k, const float* a, const float* b, int64_t b_rs, const float* bias, const GemmEpilogue& ep, float* y,
          int64_t ldy, int64_t mv, int64_t nv) {
  __m512 acc[MR][NV];  // start from the bias (rows past mv: 0), so the epilogue has no add
#pragma GCC unroll 12
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) acc[r][v] = bias && r < mv ? _mm512_set1_ps(bias[r]) : _mm512_setzero_ps();
  for (int64_t p = 0; p < k; ++p) {
    __m512 bv[NV];
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_loadu_ps(b + 16 * v);
#pragma GCC unroll 12
    for (int r = 0; r < MR; ++r) {
      const __m512 av = _mm512_set1_ps(a[r]);
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
    }
    a += MR;
    b += b_rs;
  }
  if (mv == MR && nv == 16 * NV) {  // full tile: plain stores
#pragma GCC unroll 12
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) _mm512_storeu_ps(y + r * ldy + 16 * v, activate(acc[r][v], ep));
    return;
  }
  const __mmask16 m0 = lanes(nv), m1 = lanes(nv - 16);
#pragma GCC unroll 12
  for (int r = 0; r < MR; ++r) {
    if (r >= mv) break;
    _mm512_mask_storeu_ps(y + r * ldy, m0, activate(acc[r][0], ep));
    if (NV > 1) _mm512_mask_storeu_ps(y + r * ldy + 16, m1, activate(acc[r][NV - 1], ep));
  }
}

}  // namespace

void conv1x1_12x32__avx512(int64_t k, const float* a, int64_t mr, const float* b, int64_t b_rs, const float* bias,
                           const GemmEpilogue& ep, float* y, int64_t ldy, int64_t mv, int64_t nv) {
  if (nv > 16) {
    if (mr == 12) return tile<12, 2>(k, a, b, b_rs, bias, ep, y, ldy, mv, nv);
    if (mr == 8) return tile<8, 2>(k, a, b, b_rs, bias, ep, y, ldy, mv, nv);
    return tile<4, 2>(k, a, b, b_rs, bias, ep, y, ldy, mv, nv);
  }
  if (mr == 12) return tile<12, 1>(k, a, b, b_rs, bias, ep, y, ldy, mv, nv);
  if (mr == 8) return tile<8, 1>(k, a, b, b_rs, bias, ep, y, ldy, mv, nv);
  return tile<4, 1>(k, a, b, b_rs, bias, ep, y, ldy, mv, nv);
}

void conv1x1_12x1__avx512(int64_t k, const float* a, int64_t mr, const float* b, int64_t b_rs, const float* bias,
                          const GemmEpilogue& ep, float* y, int64_t ldy, int64_t mv) {
  // Lanes 0..mr-1 are the panel's rows; 4 partial sums over k mod 4, added in order at the end.
  const __mmask16 m = lanes(mr);
  __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  int64_t p = 0;
  for (; p + 4 <= k; p += 4) {
    s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + mr * p), _mm512_set1_ps(b[p * b_rs]), s0);
    s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + mr * (p + 1)), _mm512_set1_ps(b[(p + 1) * b_rs]), s1);
    s2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + mr * (p + 2)), _mm512_set1_ps(b[(p + 2) * b_rs]), s2);
    s3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + mr * (p + 3)), _mm512_set1_ps(b[(p + 3) * b_rs]), s3);
  }
  for (; p < k; ++p) s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + mr * p), _mm512_set1_ps(b[p * b_rs]), s0);
  __m512 acc = _mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3));
  if (bias) acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(lanes(mv), bias));
  alignas(64) float out[16];
  _mm512_store_ps(out, activate(acc, ep));
  for (int64_t r = 0; r < mv; ++r) y[r * ldy] = out[r];
}

}  // namespace joule::kernels::cpu
