// joule.QAdd, uint8 in / out, AVX2 + FMA: kernels/ref/qadd_common.h 8 lanes at a time (same operations and
// rounding: float multiply, fma, clamp, cvtps round half to even), so bit-exact with the reference.
#include <immintrin.h>

#include "kernels/ref/qadd_common.h"

namespace joule::kernels::cpu {

void qadd_u8__avx2(const uint8_t* a, const uint8_t* b, int64_t n, const quant::QAddParams& p, uint8_t* y) {
  const __m256 ma = _mm256_set1_ps(p.ma), mb = _mm256_set1_ps(p.mb), flo = _mm256_set1_ps(p.flo), fhi = _mm256_set1_ps(p.fhi);
  const __m256i za = _mm256_set1_epi32(p.za), zb = _mm256_set1_epi32(p.zb), zy = _mm256_set1_epi32(p.zy);
  auto eight = [&](const uint8_t* pa, const uint8_t* pb) {
    const __m256i ia = _mm256_sub_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(pa))), za);
    const __m256i ib = _mm256_sub_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(pb))), zb);
    __m256 v = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ib), mb, _mm256_mul_ps(_mm256_cvtepi32_ps(ia), ma));
    v = _mm256_min_ps(_mm256_max_ps(v, flo), fhi);
    return _mm256_add_epi32(_mm256_cvtps_epi32(v), zy);  // in [lo, hi] subset of [0, 255]
  };
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i q0 = eight(a + i, b + i), q1 = eight(a + i + 8, b + i + 8);
    const __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(q0, q1), 0xD8);  // 16 x int16 in order
    const __m128i lo = _mm256_castsi256_si128(w), hi = _mm256_extracti128_si256(w, 1);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), _mm_packus_epi16(lo, hi));
  }
  for (; i < n; ++i) y[i] = static_cast<uint8_t>(quant::qadd_one(p, a[i], b[i]));
}

}  // namespace joule::kernels::cpu
