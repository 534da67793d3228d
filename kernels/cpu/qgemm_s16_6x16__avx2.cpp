// AVX2 pieces of the exact int16 GEMM (kernels/cpu/qgemm_s16.h): the 6x16 vpmaddwd micro-kernel,
// panel packing, u8/s8 widening, the requantizing and float epilogues, dynamic quantization.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")  // the float epilogues must round like the unfused Mul / Add
#endif
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cpu/qgemm_s16.h"
#include "kernels/ref/quant_common.h"

namespace joule::kernels::cpu {

// 12 accumulators (6 rows x 2 x 8 columns); per pair p: 2 panel loads, 6 broadcasts of a row's pair.
void qgemm_s16_6x16__avx2(int64_t kp, const int16_t* const* rows, const int16_t* panel, int32_t* tile) {
  __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256i c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  const int16_t *r0 = rows[0], *r1 = rows[1], *r2 = rows[2], *r3 = rows[3], *r4 = rows[4], *r5 = rows[5];
  for (int64_t p = 0; p < kp; p += 2) {
    const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(panel));
    const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(panel + 16));
    panel += 32;
    __m256i a;
    int32_t v;
#define JOULE_QROW(r, x0, x1)                                  \
  std::memcpy(&v, r + p, 4);                                   \
  a = _mm256_set1_epi32(v);                                    \
  x0 = _mm256_add_epi32(x0, _mm256_madd_epi16(a, b0));         \
  x1 = _mm256_add_epi32(x1, _mm256_madd_epi16(a, b1));
    JOULE_QROW(r0, c00, c01)
    JOULE_QROW(r1, c10, c11)
    JOULE_QROW(r2, c20, c21)
    JOULE_QROW(r3, c30, c31)
    JOULE_QROW(r4, c40, c41)
    JOULE_QROW(r5, c50, c51)
#undef JOULE_QROW
  }
  __m256i* t = reinterpret_cast<__m256i*>(tile);
  _mm256_storeu_si256(t + 0, c00), _mm256_storeu_si256(t + 1, c01);
  _mm256_storeu_si256(t + 2, c10), _mm256_storeu_si256(t + 3, c11);
  _mm256_storeu_si256(t + 4, c20), _mm256_storeu_si256(t + 5, c21);
  _mm256_storeu_si256(t + 6, c30), _mm256_storeu_si256(t + 7, c31);
  _mm256_storeu_si256(t + 8, c40), _mm256_storeu_si256(t + 9, c41);
  _mm256_storeu_si256(t + 10, c50), _mm256_storeu_si256(t + 11, c51);
}

void qpack_panel_s16__avx2(const int16_t* src, int64_t ld, int64_t k, int64_t j0, int64_t nc, int16_t* panel) {
  if (nc != kQgemmNr) {
    qpack_panel_s16(src, ld, k, j0, nc, panel);
    return;
  }
  int64_t p = 0;
  for (; p + 1 < k; p += 2, panel += 32) {
    const __m256i r0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + p * ld + j0));
    const __m256i r1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + (p + 1) * ld + j0));
    const __m256i lo = _mm256_unpacklo_epi16(r0, r1), hi = _mm256_unpackhi_epi16(r0, r1);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(panel), _mm256_permute2x128_si256(lo, hi, 0x20));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(panel + 16), _mm256_permute2x128_si256(lo, hi, 0x31));
  }
  if (p < k) {  // odd K: the last pair's second row is zero
    const __m256i r0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + p * ld + j0));
    const __m256i z = _mm256_setzero_si256();
    const __m256i lo = _mm256_unpacklo_epi16(r0, z), hi = _mm256_unpackhi_epi16(r0, z);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(panel), _mm256_permute2x128_si256(lo, hi, 0x20));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(panel + 16), _mm256_permute2x128_si256(lo, hi, 0x31));
  }
}

void qpack_panel_u8__avx2(const uint8_t* src, int64_t ld, int64_t k, int64_t j0, int64_t nc, bool is_signed, int32_t zp,
                          int16_t* panel) {
  auto widen = [&](const uint8_t* p) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm256_sub_epi16(is_signed ? _mm256_cvtepi8_epi16(b) : _mm256_cvtepu8_epi16(b), _mm256_set1_epi16(static_cast<int16_t>(zp)));
  };
  if (nc != kQgemmNr) {
    for (int64_t p = 0; p < qgemm_kp(k); ++p)
      for (int64_t j = 0; j < kQgemmNr; ++j) {
        int16_t v = 0;
        if (p < k && j < nc) v = static_cast<int16_t>((is_signed ? int32_t{static_cast<int8_t>(src[p * ld + j0 + j])} : int32_t{src[p * ld + j0 + j]}) - zp);
        panel[((p / 2) * kQgemmNr + j) * 2 + (p % 2)] = v;
      }
    return;
  }
  for (int64_t p = 0; p < k; p += 2, panel += 32) {
    const __m256i r0 = widen(src + p * ld + j0);
    const __m256i r1 = p + 1 < k ? widen(src + (p + 1) * ld + j0) : _mm256_setzero_si256();
    const __m256i lo = _mm256_unpacklo_epi16(r0, r1), hi = _mm256_unpackhi_epi16(r0, r1);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(panel), _mm256_permute2x128_si256(lo, hi, 0x20));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(panel + 16), _mm256_permute2x128_si256(lo, hi, 0x31));
  }
}

void qwiden_s16__avx2(const uint8_t* src, bool is_signed, int32_t zp, int64_t n, int16_t* dst) {
  const __m256i z = _mm256_set1_epi16(static_cast<int16_t>(zp));
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    const __m256i w = is_signed ? _mm256_cvtepi8_epi16(b) : _mm256_cvtepu8_epi16(b);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), _mm256_sub_epi16(w, z));
  }
  for (; i < n; ++i)
    dst[i] = static_cast<int16_t>((is_signed ? int32_t{static_cast<int8_t>(src[i])} : int32_t{src[i]}) - zp);
}

namespace {
// 4 sums -> rint(double(acc) * mult) clamped to [lo - zp, hi - zp] (clamping before rounding is the same
// as after, the bounds being integers); cvtpd rounds half to even in the default MXCSR mode.
inline __m128i requant4(__m128i acc, __m256d mult, __m256d dlo, __m256d dhi) {
  __m256d v = _mm256_mul_pd(_mm256_cvtepi32_pd(acc), mult);
  v = _mm256_min_pd(_mm256_max_pd(v, dlo), dhi);
  return _mm256_cvtpd_epi32(v);
}
}  // namespace

void qrequant_row__avx2(const int32_t* acc, int64_t n, const QRequant& rq, void* out) {
  const __m256d dlo = _mm256_set1_pd(rq.lo - rq.zp), dhi = _mm256_set1_pd(rq.hi - rq.zp);
  const __m256i zp = _mm256_set1_epi32(rq.zp);
  const __m256i row_bias = _mm256_set1_epi32(rq.bias ? rq.bias[0] : 0);
  const __m256d row_mult = _mm256_set1_pd(rq.mult[0]);
  uint8_t* o = static_cast<uint8_t*>(out);
  const uint8_t flip = rq.out_signed ? 0x80 : 0;  // byte of q -> lut index q - type_min
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(acc + j));
    a = _mm256_add_epi32(a, rq.bias && rq.bias_step ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rq.bias + j)) : row_bias);
    __m256d m0 = row_mult, m1 = row_mult;
    if (rq.mult_step) {
      m0 = _mm256_cvtps_pd(_mm_loadu_ps(rq.mult + j));
      m1 = _mm256_cvtps_pd(_mm_loadu_ps(rq.mult + j + 4));
    }
    const __m128i q0 = requant4(_mm256_castsi256_si128(a), m0, dlo, dhi);
    const __m128i q1 = requant4(_mm256_extracti128_si256(a, 1), m1, dlo, dhi);
    __m256i q = _mm256_add_epi32(_mm256_set_m128i(q1, q0), zp);  // within [lo, hi]: packs do not saturate
    const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
    const __m128i b = rq.out_signed ? _mm_packs_epi16(w, w) : _mm_packus_epi16(w, w);
    _mm_storel_epi64(reinterpret_cast<__m128i*>(o + j), b);
    if (rq.lut)
      for (int t = 0; t < 8; ++t) o[j + t] = rq.lut[o[j + t] ^ flip];
  }
  for (; j < n; ++j) {
    const int64_t s = int64_t{acc[j]} + (rq.bias ? rq.bias[j * rq.bias_step] : 0);
    double r = std::nearbyint(static_cast<double>(static_cast<int32_t>(s)) * static_cast<double>(rq.mult[j * rq.mult_step])) + rq.zp;
    const int32_t q = static_cast<int32_t>(std::clamp(r, static_cast<double>(rq.lo), static_cast<double>(rq.hi)));
    o[j] = rq.lut ? rq.lut[static_cast<uint8_t>(q) ^ flip] : static_cast<uint8_t>(q);
  }
}

void qscale_row_f32__avx2(const int32_t* acc, int64_t n, const float* scale, const float* bias, float* out) {
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(acc + j))), _mm256_loadu_ps(scale + j));
    if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias + j));
    _mm256_storeu_ps(out + j, v);
  }
  for (; j < n; ++j) {
    float v = static_cast<float>(acc[j]) * scale[j];
    if (bias) v = v + bias[j];
    out[j] = v;
  }
}

bool qdynamic_range__avx2(const float* x, int64_t n, float& scale, int32_t& zp) {
  __m256 mn = _mm256_setzero_ps(), mx = mn, nan = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    mn = _mm256_min_ps(mn, v);
    mx = _mm256_max_ps(mx, v);
  }
  if (_mm256_movemask_ps(nan)) return false;
  alignas(32) float a[8], b[8];
  _mm256_store_ps(a, mn);
  _mm256_store_ps(b, mx);
  float lo = 0.0f, hi = 0.0f;
  for (int k = 0; k < 8; ++k) lo = std::min(lo, a[k]), hi = std::max(hi, b[k]);
  for (; i < n; ++i) {
    if (std::isnan(x[i])) return false;
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  scale = static_cast<float>(static_cast<double>(hi - lo) / 255.0);
  zp = 0;
  if (scale > 0 && std::isfinite(scale))
    zp = quant::saturate_round(-static_cast<double>(lo) / static_cast<double>(scale), 0, 0, 255);
  return true;
}

void qdynamic_quantize_s16__avx2(const float* x, int64_t n, float scale, int32_t zp, int16_t* dst) {
  if (!(scale > 0)) {
    std::fill(dst, dst + n, int16_t{0});  // every value quantizes to the zero point
    return;
  }
  const __m256 s = _mm256_set1_ps(scale);
  const __m256i lo = _mm256_set1_epi32(-zp), hi = _mm256_set1_epi32(255 - zp);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 r = _mm256_round_ps(_mm256_div_ps(_mm256_loadu_ps(x + i), s), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256i q = _mm256_cvtps_epi32(r);  // |x / scale| <= 255 + 1: no overflow
    q = _mm256_min_epi32(_mm256_max_epi32(q, lo), hi);
    const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), w);
  }
  for (; i < n; ++i)
    dst[i] = static_cast<int16_t>(quant::saturate_round(static_cast<double>(x[i] / scale), zp, 0, 255) - zp);
}

}  // namespace joule::kernels::cpu
