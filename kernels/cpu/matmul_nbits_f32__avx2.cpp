// AVX2 MatMulNBits micro-kernels (layout in matmul_nbits_f32.h): 16 output columns per panel as two ymm,
// codes of one k unpacked from 8 bytes (low nibbles = cols 0-7, high = cols 8-15), zero point subtracted
// in float (exact for 4-bit codes), FMA with the activation; the block scale multiplies the block sum.
#include <immintrin.h>

#include <algorithm>

#include "kernels/cpu/matmul_nbits_f32.h"

namespace joule::kernels::cpu {

namespace {

inline void decode16(const uint8_t* c, __m128i mask, __m256& q0, __m256& q1) {
  __m128i v = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(c));
  __m128i lo = _mm_and_si128(v, mask), hi = _mm_and_si128(_mm_srli_epi16(v, 4), mask);
  q0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo));
  q1 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi));
}

}  // namespace

void matmul_nbits_gemv_f32__avx2(const Int4Panels& w, const float* a, float* y, int64_t p0, int64_t p1) {
  const __m128i mask = _mm_set1_epi8(0x0F);
  for (int64_t p = p0; p < p1; ++p) {
    const uint8_t* codes = w.panel_codes(p);
    const float* sc = w.panel_scales(p);
    const float* zr = w.panel_zeros(p);
    __m256 y0 = _mm256_setzero_ps(), y1 = _mm256_setzero_ps();
    for (int64_t b = 0; b < w.k_blocks; ++b) {
      const __m256 z0 = _mm256_loadu_ps(zr + b * 16), z1 = _mm256_loadu_ps(zr + b * 16 + 8);
      __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), t0 = _mm256_setzero_ps(), t1 = _mm256_setzero_ps();
      const int64_t k0 = b * w.block, k1 = k0 + w.block;
      for (int64_t k = k0; k < k1; k += 2) {  // block is a multiple of 16
        __m256 q0, q1, r0, r1;
        decode16(codes + k * 8, mask, q0, q1);
        decode16(codes + k * 8 + 8, mask, r0, r1);
        const __m256 a0 = _mm256_broadcast_ss(a + k), a1 = _mm256_broadcast_ss(a + k + 1);
        s0 = _mm256_fmadd_ps(a0, _mm256_sub_ps(q0, z0), s0);
        s1 = _mm256_fmadd_ps(a0, _mm256_sub_ps(q1, z1), s1);
        t0 = _mm256_fmadd_ps(a1, _mm256_sub_ps(r0, z0), t0);
        t1 = _mm256_fmadd_ps(a1, _mm256_sub_ps(r1, z1), t1);
      }
      y0 = _mm256_fmadd_ps(_mm256_add_ps(s0, t0), _mm256_loadu_ps(sc + b * 16), y0);
      y1 = _mm256_fmadd_ps(_mm256_add_ps(s1, t1), _mm256_loadu_ps(sc + b * 16 + 8), y1);
    }
    _mm256_storeu_ps(y + p * 16, y0);
    _mm256_storeu_ps(y + p * 16 + 8, y1);
  }
}

void matmul_nbits_dequant_panel_f32__avx2(const Int4Panels& w, int64_t p, int64_t count, int64_t ld, float* dst) {
  const __m128i mask = _mm_set1_epi8(0x0F);
  for (int64_t i = 0; i < count; ++i) {
    const uint8_t* codes = w.panel_codes(p + i);
    const float* sc = w.panel_scales(p + i);
    const float* zr = w.panel_zeros(p + i);
    for (int64_t b = 0; b < w.k_blocks; ++b) {
      const __m256 z0 = _mm256_loadu_ps(zr + b * 16), z1 = _mm256_loadu_ps(zr + b * 16 + 8);
      const __m256 s0 = _mm256_loadu_ps(sc + b * 16), s1 = _mm256_loadu_ps(sc + b * 16 + 8);
      const int64_t k1 = std::min((b + 1) * w.block, w.k);
      for (int64_t k = b * w.block; k < k1; ++k) {
        __m256 q0, q1;
        decode16(codes + k * 8, mask, q0, q1);
        float* d = dst + k * ld + i * 16;
        _mm256_storeu_ps(d, _mm256_mul_ps(_mm256_sub_ps(q0, z0), s0));
        _mm256_storeu_ps(d + 8, _mm256_mul_ps(_mm256_sub_ps(q1, z1), s1));
      }
    }
  }
}

void matmul_nbits_f16_to_f32__avx2(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
  for (; i < n; ++i) dst[i] = _cvtsh_ss(src[i]);
}

void matmul_nbits_f32_to_f16__avx2(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; ++i) dst[i] = _cvtss_sh(src[i], _MM_FROUND_TO_NEAREST_INT);
}

}  // namespace joule::kernels::cpu
