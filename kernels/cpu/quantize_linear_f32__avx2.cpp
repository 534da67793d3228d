// AVX2 per-tensor QuantizeLinear (f32 -> u8/s8) and DequantizeLinear (u8/s8 -> f32), bit-exact with the
// reference kernels (kernels/ref/quant.cpp): q = clamp(rint(x / scale) + zp), x = float(q - zp) * scale.
#include <immintrin.h>

#include <cmath>
#include <cstdint>

#include "kernels/ref/quant_common.h"

namespace joule::kernels::cpu {

void quantize_f32_to_8bit__avx2(const float* x, int64_t n, float scale, int32_t zp, bool is_signed, void* out) {
  const int32_t lo = is_signed ? -128 : 0, hi = is_signed ? 127 : 255;
  const __m256 s = _mm256_set1_ps(scale);
  // Clamp in float before converting (NaN -> the zero point, as the reference): bounds lo - zp, hi - zp.
  const __m256 flo = _mm256_set1_ps(static_cast<float>(lo - zp)), fhi = _mm256_set1_ps(static_cast<float>(hi - zp));
  const __m256i z = _mm256_set1_epi32(zp);
  uint8_t* o = static_cast<uint8_t*>(out);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_div_ps(_mm256_loadu_ps(x + i), s);
    const __m256 ord = _mm256_cmp_ps(v, v, _CMP_ORD_Q);
    v = _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    v = _mm256_and_ps(_mm256_min_ps(_mm256_max_ps(v, flo), fhi), ord);  // NaN -> 0
    const __m256i q = _mm256_add_epi32(_mm256_cvtps_epi32(v), z);
    const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(o + i), is_signed ? _mm_packs_epi16(w, w) : _mm_packus_epi16(w, w));
  }
  for (; i < n; ++i) o[i] = static_cast<uint8_t>(quant::saturate_round(static_cast<double>(x[i] / scale), zp, lo, hi));
}

void dequantize_8bit_to_f32__avx2(const void* q, int64_t n, float scale, int32_t zp, bool is_signed, float* out) {
  const uint8_t* p = static_cast<const uint8_t*>(q);
  const __m256 s = _mm256_set1_ps(scale);
  const __m256i z = _mm256_set1_epi32(zp);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + i));
    const __m256i v = is_signed ? _mm256_cvtepi8_epi32(b) : _mm256_cvtepu8_epi32(b);
    _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(v, z)), s));
  }
  for (; i < n; ++i) {
    const int32_t v = is_signed ? int32_t{static_cast<int8_t>(p[i])} : int32_t{p[i]};
    out[i] = static_cast<float>(v - zp) * scale;
  }
}

}  // namespace joule::kernels::cpu
