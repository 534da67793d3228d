// AVX-512 requantization epilogue of the u8 x s8 QConv (kernels/cpu/qgemm_u8s8.h): one zmm per tile row, any
// multiplier, partial tiles by mask, and the fused lookup table (DQ -> Relu|Clip -> Q) by a 16-lane gather.
// Same values as qrequant_row__avx2: rint(double(acc + bias) * double(mult)) clamped to [lo - zp, hi - zp]
// (clamping before rounding equals clamping after, the bounds being integers), + zp; cvtpd rounds half to even
// in the default MXCSR mode.
#include <immintrin.h>

#include "kernels/cpu/qgemm_u8s8.h"

namespace joule::kernels::cpu {

void qrequant_rows16__avx512(const int32_t* tile, int64_t rows, int64_t nc, const int32_t* bias, const float* mult, int32_t zp, int32_t lo,
                             int32_t hi, bool out_signed, const int32_t* lut32, uint8_t* out, int64_t out_stride) {
  const __mmask16 m = nc >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << nc) - 1u);
  const __m512d dlo = _mm512_set1_pd(lo - zp), dhi = _mm512_set1_pd(hi - zp);
  // With a table: index = the output byte ^ (out_signed ? 0x80 : 0) = q + 128 for int8 outputs, q for uint8.
  const __m512i vzp = _mm512_set1_epi32(zp + (lut32 && out_signed ? 128 : 0));
  for (int64_t r = 0; r < rows; ++r, tile += 16, out += out_stride) {
    const __m512i a = _mm512_add_epi32(_mm512_loadu_si512(tile), _mm512_set1_epi32(bias[r]));
    const __m512d md = _mm512_set1_pd(static_cast<double>(mult[r]));
    const __m512d v0 = _mm512_mul_pd(_mm512_cvtepi32_pd(_mm512_castsi512_si256(a)), md);
    const __m512d v1 = _mm512_mul_pd(_mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(a, 1)), md);
    const __m256i q0 = _mm512_cvtpd_epi32(_mm512_min_pd(_mm512_max_pd(v0, dlo), dhi));
    const __m256i q1 = _mm512_cvtpd_epi32(_mm512_min_pd(_mm512_max_pd(v1, dlo), dhi));
    __m512i q = _mm512_add_epi32(_mm512_inserti64x4(_mm512_castsi256_si512(q0), q1, 1), vzp);
    if (lut32) q = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, q, lut32, 4);
    _mm_mask_storeu_epi8(out, m, _mm512_cvtepi32_epi8(q));  // q within the output type: truncation is exact
  }
}

}  // namespace joule::kernels::cpu
