// AVX2 pieces of the exact u8 x s8 GEMM (kernels/cpu/qgemm_u8s8.h): the 6x16 vpmaddubsw micro-kernels
// (exact only for weights that pass qweights_fit_u8s8_pairs), panel packing, the s8 -> u8 flip copy,
// dynamic quantization to u8 and the float epilogue with a zero-point correction.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")  // the float epilogue must round like the unfused Mul / Add
#endif
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/cpu/qgemm_u8s8.h"
#include "kernels/ref/quant_common.h"

namespace joule::kernels::cpu {

namespace {

// 12 int32 accumulators (6 rows x 2 x 8 columns); per quad q: 2 panel loads (64 bytes), 6 broadcasts of a
// row's 4 bytes; vpmaddubsw gives 16 exact pair sums, vpmaddwd(ones) adds neighbouring pairs into int32.
template <bool kRowsU8>
inline void tile_6x16(int64_t kq, const uint8_t* const* rows, const uint8_t* panel, int32_t* tile) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256i c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  const uint8_t *r0 = rows[0], *r1 = rows[1], *r2 = rows[2], *r3 = rows[3], *r4 = rows[4], *r5 = rows[5];
  for (int64_t q = 0; q < kq; q += 4) {
    const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(panel));
    const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(panel + 32));
    panel += 64;
    __m256i a;
    int32_t v;
#define JOULE_MUL(a, b) (kRowsU8 ? _mm256_maddubs_epi16(a, b) : _mm256_maddubs_epi16(b, a))
#define JOULE_QROW(r, x0, x1)                                                \
  std::memcpy(&v, r + q, 4);                                                 \
  a = _mm256_set1_epi32(v);                                                  \
  x0 = _mm256_add_epi32(x0, _mm256_madd_epi16(JOULE_MUL(a, b0), ones));      \
  x1 = _mm256_add_epi32(x1, _mm256_madd_epi16(JOULE_MUL(a, b1), ones));
    JOULE_QROW(r0, c00, c01)
    JOULE_QROW(r1, c10, c11)
    JOULE_QROW(r2, c20, c21)
    JOULE_QROW(r3, c30, c31)
    JOULE_QROW(r4, c40, c41)
    JOULE_QROW(r5, c50, c51)
#undef JOULE_QROW
#undef JOULE_MUL
  }
  __m256i* t = reinterpret_cast<__m256i*>(tile);
  _mm256_storeu_si256(t + 0, c00), _mm256_storeu_si256(t + 1, c01);
  _mm256_storeu_si256(t + 2, c10), _mm256_storeu_si256(t + 3, c11);
  _mm256_storeu_si256(t + 4, c20), _mm256_storeu_si256(t + 5, c21);
  _mm256_storeu_si256(t + 6, c30), _mm256_storeu_si256(t + 7, c31);
  _mm256_storeu_si256(t + 8, c40), _mm256_storeu_si256(t + 9, c41);
  _mm256_storeu_si256(t + 10, c50), _mm256_storeu_si256(t + 11, c51);
}

}  // namespace

void qgemm_u8s8_6x16__avx2(int64_t kq, const uint8_t* const* rows, const uint8_t* panel, int32_t* tile) {
  tile_6x16<true>(kq, rows, panel, tile);
}
void qgemm_s8u8_6x16__avx2(int64_t kq, const uint8_t* const* rows, const uint8_t* panel, int32_t* tile) {
  tile_6x16<false>(kq, rows, panel, tile);
}

void qpack_panel_u8q__avx2(const uint8_t* src, int64_t ld, int64_t k, int64_t j0, int64_t nc, uint8_t flip, uint8_t* panel) {
  if (nc != kQgemmU8Nr) {
    qpack_panel_u8q(src, ld, k, j0, nc, flip, panel);
    return;
  }
  const __m128i f = _mm_set1_epi8(static_cast<char>(flip)), z = _mm_setzero_si128();
  auto row = [&](int64_t p) {
    return p < k ? _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + p * ld + j0)), f) : z;
  };
  for (int64_t p = 0; p < k; p += 4, panel += 64) {
    const __m128i x0 = row(p), x1 = row(p + 1), x2 = row(p + 2), x3 = row(p + 3);
    const __m128i l01 = _mm_unpacklo_epi8(x0, x1), h01 = _mm_unpackhi_epi8(x0, x1);  // columns 0-7 / 8-15, k pairs
    const __m128i l23 = _mm_unpacklo_epi8(x2, x3), h23 = _mm_unpackhi_epi8(x2, x3);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(panel), _mm_unpacklo_epi16(l01, l23));       // columns 0-3
    _mm_storeu_si128(reinterpret_cast<__m128i*>(panel + 16), _mm_unpackhi_epi16(l01, l23));  // 4-7
    _mm_storeu_si128(reinterpret_cast<__m128i*>(panel + 32), _mm_unpacklo_epi16(h01, h23));  // 8-11
    _mm_storeu_si128(reinterpret_cast<__m128i*>(panel + 48), _mm_unpackhi_epi16(h01, h23));  // 12-15
  }
}

void qrequant_rows16__avx2(const int32_t* tile, int64_t rows, const int32_t* bias, const float* mult, int32_t zp, int32_t lo, int32_t hi,
                           bool out_signed, uint8_t* out, int64_t out_stride) {
  const __m256i vlo = _mm256_set1_epi32(lo - zp), vhi = _mm256_set1_epi32(hi - zp), vzp = _mm256_set1_epi32(zp);
  for (int64_t r = 0; r < rows; ++r, tile += 16, out += out_stride) {
    const __m256i b = _mm256_set1_epi32(bias[r]);
    const __m256d m = _mm256_set1_pd(mult[r]);
    const __m256i a0 = _mm256_add_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(tile)), b);
    const __m256i a1 = _mm256_add_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(tile + 8)), b);
    // |acc * mult| <= 2^31 (mult <= 1): cvtpd rounds half to even without overflow; clamping after is exact.
    auto q8 = [&](__m256i a) {
      const __m128i l = _mm256_cvtpd_epi32(_mm256_mul_pd(_mm256_cvtepi32_pd(_mm256_castsi256_si128(a)), m));
      const __m128i h = _mm256_cvtpd_epi32(_mm256_mul_pd(_mm256_cvtepi32_pd(_mm256_extracti128_si256(a, 1)), m));
      return _mm256_add_epi32(_mm256_min_epi32(_mm256_max_epi32(_mm256_set_m128i(h, l), vlo), vhi), vzp);
    };
    const __m256i q0 = q8(a0), q1 = q8(a1);
    const __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(q0, q1), 0xD8);  // 16 int16 in order
    const __m128i wl = _mm256_castsi256_si128(w), wh = _mm256_extracti128_si256(w, 1);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out), out_signed ? _mm_packs_epi16(wl, wh) : _mm_packus_epi16(wl, wh));
  }
}

void qcopy_flip_u8__avx2(const uint8_t* src, uint8_t flip, int64_t n, uint8_t* dst) {
  const __m256i f = _mm256_set1_epi8(static_cast<char>(flip));
  int64_t i = 0;
  for (; i + 32 <= n; i += 32)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i),
                        _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i)), f));
  for (; i < n; ++i) dst[i] = src[i] ^ flip;
}

void qgather_stride2_u8__avx2(const uint8_t* src, uint8_t flip, int64_t n, uint8_t* dst) {
  const __m256i f = _mm256_set1_epi8(static_cast<char>(flip));
  const __m256i even = _mm256_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, -1, -1, -1, -1, -1, -1, -1, -1,  //
                                        0, 2, 4, 6, 8, 10, 12, 14, -1, -1, -1, -1, -1, -1, -1, -1);
  int64_t i = 0;
  for (; i + 16 < n; i += 16) {  // reads src[2i .. 2i + 31] <= src[2(n - 1) - 1]: inside
    const __m256i x = _mm256_shuffle_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 2 * i)), even);
    const __m256i y = _mm256_xor_si256(_mm256_permute4x64_epi64(x, 0x08), f);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), _mm256_castsi256_si128(y));
  }
  for (; i < n; ++i) dst[i] = src[2 * i] ^ flip;
}

void qdynamic_quantize_u8__avx2(const float* x, int64_t n, float scale, int32_t zp, uint8_t* dst) {
  if (!(scale > 0)) {
    std::fill(dst, dst + n, static_cast<uint8_t>(zp));  // every value quantizes to the zero point
    return;
  }
  const __m256 s = _mm256_set1_ps(scale);
  const __m256i z = _mm256_set1_epi32(zp), lo = _mm256_setzero_si256(), hi = _mm256_set1_epi32(255);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256i q[2];
    for (int h = 0; h < 2; ++h) {
      const __m256 r = _mm256_round_ps(_mm256_div_ps(_mm256_loadu_ps(x + i + 8 * h), s), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      q[h] = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(r), z), lo), hi);
    }
    const __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(q[0], q[1]), 0xD8);  // 16 int16 in order
    const __m128i b = _mm_packus_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), b);
  }
  for (; i < n; ++i) dst[i] = static_cast<uint8_t>(quant::saturate_round(static_cast<double>(x[i] / scale), zp, 0, 255));
}

void qscale_row_corr_f32__avx2(const int32_t* acc, const int32_t* corr, int64_t n, const float* scale, const float* bias, float* out) {
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256i a = _mm256_add_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(acc + j)),
                                       _mm256_loadu_si256(reinterpret_cast<const __m256i*>(corr + j)));
    __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(a), _mm256_loadu_ps(scale + j));
    if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias + j));
    _mm256_storeu_ps(out + j, v);
  }
  for (; j < n; ++j) {
    float v = static_cast<float>(static_cast<int32_t>(static_cast<uint32_t>(acc[j]) + static_cast<uint32_t>(corr[j]))) * scale[j];
    if (bias) v = v + bias[j];
    out[j] = v;
  }
}

}  // namespace joule::kernels::cpu
