// AVX-512 MatMulNBits micro-kernels (layout in matmul_nbits_f32.h): one zmm holds a panel's 16 columns;
// the 8 code bytes of a k become 16 ordered bytes (low nibbles, then high nibbles), widened to 16 floats.
#include <immintrin.h>

#include <algorithm>

#include "kernels/cpu/matmul_nbits_f32.h"

namespace joule::kernels::cpu {

namespace {

inline __m512 decode16(const uint8_t* c, __m128i mask) {
  __m128i v = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(c));
  __m128i both = _mm_unpacklo_epi64(_mm_and_si128(v, mask), _mm_and_si128(_mm_srli_epi16(v, 4), mask));
  return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(both));
}

}  // namespace

void matmul_nbits_gemv_f32__avx512(const Int4Panels& w, const float* a, float* y, int64_t p0, int64_t p1) {
  const __m128i mask = _mm_set1_epi8(0x0F);
  for (int64_t p = p0; p < p1; ++p) {
    const uint8_t* codes = w.panel_codes(p);
    const float* sc = w.panel_scales(p);
    const float* zr = w.panel_zeros(p);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t b = 0; b < w.k_blocks; ++b) {
      const __m512 z = _mm512_loadu_ps(zr + b * 16);
      __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
      const int64_t k0 = b * w.block, k1 = k0 + w.block;
      for (int64_t k = k0; k < k1; k += 2) {
        s0 = _mm512_fmadd_ps(_mm512_set1_ps(a[k]), _mm512_sub_ps(decode16(codes + k * 8, mask), z), s0);
        s1 = _mm512_fmadd_ps(_mm512_set1_ps(a[k + 1]), _mm512_sub_ps(decode16(codes + k * 8 + 8, mask), z), s1);
      }
      acc = _mm512_fmadd_ps(_mm512_add_ps(s0, s1), _mm512_loadu_ps(sc + b * 16), acc);
    }
    _mm512_storeu_ps(y + p * 16, acc);
  }
}

void matmul_nbits_dequant_panel_f32__avx512(const Int4Panels& w, int64_t p, int64_t count, int64_t ld, float* dst) {
  const __m128i mask = _mm_set1_epi8(0x0F);
  for (int64_t i = 0; i < count; ++i) {
    const uint8_t* codes = w.panel_codes(p + i);
    const float* sc = w.panel_scales(p + i);
    const float* zr = w.panel_zeros(p + i);
    for (int64_t b = 0; b < w.k_blocks; ++b) {
      const __m512 z = _mm512_loadu_ps(zr + b * 16), s = _mm512_loadu_ps(sc + b * 16);
      const int64_t k1 = std::min((b + 1) * w.block, w.k);
      for (int64_t k = b * w.block; k < k1; ++k)
        _mm512_storeu_ps(dst + k * ld + i * 16, _mm512_mul_ps(_mm512_sub_ps(decode16(codes + k * 8, mask), z), s));
    }
  }
}

}  // namespace joule::kernels::cpu
