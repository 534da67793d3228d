// joule.QAdd, uint8 in / out, AVX-512 (F + BW + VL): kernels/ref/qadd_common.h 16 lanes at a time, the tail with
// masked loads and stores (same operations and rounding as the reference, so bit-exact with it).
#include <immintrin.h>

#include "kernels/ref/qadd_common.h"

namespace joule::kernels::cpu {

void qadd_u8__avx512(const uint8_t* a, const uint8_t* b, int64_t n, const quant::QAddParams& p, uint8_t* y) {
  const __m512 ma = _mm512_set1_ps(p.ma), mb = _mm512_set1_ps(p.mb), flo = _mm512_set1_ps(p.flo), fhi = _mm512_set1_ps(p.fhi);
  const __m512i za = _mm512_set1_epi32(p.za), zb = _mm512_set1_epi32(p.zb), zy = _mm512_set1_epi32(p.zy);
  auto sixteen = [&](__m128i ba, __m128i bb) {
    const __m512i ia = _mm512_sub_epi32(_mm512_cvtepu8_epi32(ba), za);
    const __m512i ib = _mm512_sub_epi32(_mm512_cvtepu8_epi32(bb), zb);
    __m512 v = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ib), mb, _mm512_mul_ps(_mm512_cvtepi32_ps(ia), ma));
    v = _mm512_min_ps(_mm512_max_ps(v, flo), fhi);
    return _mm512_cvtepi32_epi8(_mm512_add_epi32(_mm512_cvtps_epi32(v), zy));  // values in [0, 255]: truncation exact
  };
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m128i r0 = sixteen(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i)), _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i)));
    const __m128i r1 =
        sixteen(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i + 16)), _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i + 16)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), r0);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i + 16), r1);
  }
  for (; i < n; i += 16) {
    const int64_t left = n - i < 16 ? n - i : 16;
    const __mmask16 m = static_cast<__mmask16>((1u << left) - 1u);
    _mm_mask_storeu_epi8(y + i, m, sixteen(_mm_maskz_loadu_epi8(m, a + i), _mm_maskz_loadu_epi8(m, b + i)));
  }
}

}  // namespace joule::kernels::cpu
