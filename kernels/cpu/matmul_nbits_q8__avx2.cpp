// AVX2 int8-activation MatMulNBits (math in matmul_nbits_f32.h): A quantized per row and block, codes
// unpacked to u8 per panel, and the 4x16 tile of matmul_nbits_q8_tile_impl.h with vpmaddubsw sums.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/cpu/matmul_nbits_f32.h"
#include "kernels/cpu/matmul_nbits_q8_tile_impl.h"

namespace joule::kernels::cpu {

void matmul_nbits_unpack_panel_u8__avx2(const Int4Panels& w, int64_t p, uint8_t* dst) {
  const uint8_t* codes = w.panel_codes(p);
  const __m128i mask = _mm_set1_epi8(0x0F);
  for (int64_t k = 0; k < w.k_pad; k += 4) {
    __m128i r[4];
    for (int i = 0; i < 4; ++i) r[i] = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(codes + (k + i) * 8));
    for (int h = 0; h < 2; ++h) {  // h 0: low nibbles (cols 0-7), h 1: high nibbles (cols 8-15)
      __m128i v[4];
      for (int i = 0; i < 4; ++i) v[i] = h == 0 ? _mm_and_si128(r[i], mask) : _mm_and_si128(_mm_srli_epi16(r[i], 4), mask);
      __m128i k01 = _mm_unpacklo_epi8(v[0], v[1]);  // c0k0 c0k1 c1k0 c1k1 ...
      __m128i k23 = _mm_unpacklo_epi8(v[2], v[3]);
      uint8_t* d = dst + (k / 4) * 64 + h * 32;
      _mm_storeu_si128(reinterpret_cast<__m128i*>(d), _mm_unpacklo_epi16(k01, k23));        // cols 0-3
      _mm_storeu_si128(reinterpret_cast<__m128i*>(d + 16), _mm_unpackhi_epi16(k01, k23));   // cols 4-7
    }
  }
}

namespace {

// int32 sums of 4 * G k: int16 pair sums of vpmaddubsw added over the G groups (exact: |sum| <= 8 * 2 * 15 *
// 127 < 2^15), widened by vpmaddwd with ones.
struct DotAvx2 {
  template <int MR, int G>
  static void sum(const uint8_t* wp, const int8_t* ap, int64_t lda, __m256i (&t)[MR][2]) {
    static_assert(G <= 8, "int16 sums of more than 32 k could saturate");
    __m256i acc[MR][2];
    for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int g = 0; g < G; ++g) {
      const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wp + g * 64));
      const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wp + g * 64 + 32));
      for (int r = 0; r < MR; ++r) {
        const __m256i av = nbits_q8::broadcast4(ap, r * lda + g * 4);
        acc[r][0] = _mm256_add_epi16(acc[r][0], _mm256_maddubs_epi16(w0, av));
        acc[r][1] = _mm256_add_epi16(acc[r][1], _mm256_maddubs_epi16(w1, av));
        // Keeps GCC from re-associating the adds into a tree of spilled temporaries (2x slower).
        __asm__("" : "+x"(acc[r][0]), "+x"(acc[r][1]));
      }
    }
    const __m256i ones = _mm256_set1_epi16(1);
    for (int r = 0; r < MR; ++r) {
      t[r][0] = _mm256_madd_epi16(acc[r][0], ones);
      t[r][1] = _mm256_madd_epi16(acc[r][1], ones);
    }
  }
};

}  // namespace

void matmul_nbits_quantize_rows_q8__avx2(const float* a, int64_t k, int64_t block, int64_t k_blocks, int64_t k_pad,
                                         int64_t i0, int64_t i1, int8_t* aq, float* sa, float* asum,
                                         bool offset128) {
  thread_local std::vector<float> row;
  row.assign(static_cast<size_t>(k_pad), 0.0f);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m128i flip = _mm_set1_epi8(offset128 ? static_cast<char>(0x80) : 0);  // s8 ^ 0x80 = u8 s8 + 128
  for (int64_t i = i0; i < i1; ++i) {
    std::copy(a + i * k, a + (i + 1) * k, row.begin());
    for (int64_t b = 0; b < k_blocks; ++b) {
      const float* x = row.data() + b * block;
      __m256 mx = _mm256_setzero_ps();
      for (int64_t c = 0; c < block; c += 8) mx = _mm256_max_ps(mx, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + c)));
      __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
      m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
      m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
      const float amax = _mm_cvtss_f32(m4);
      const __m256 inv = _mm256_set1_ps(amax > 0 ? 127.0f / amax : 0.0f);
      __m256i sum = _mm256_setzero_si256();
      int8_t* q = aq + i * k_pad + b * block;
      for (int64_t c = 0; c < block; c += 8) {
        __m256i v = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + c), inv));  // round to nearest even
        sum = _mm256_add_epi32(sum, v);
        __m128i v16 = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        _mm_storel_epi64(reinterpret_cast<__m128i*>(q + c), _mm_xor_si128(_mm_packs_epi16(v16, v16), flip));
      }
      __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
      s4 = _mm_hadd_epi32(s4, s4);
      s4 = _mm_hadd_epi32(s4, s4);
      sa[i * k_blocks + b] = amax / 127.0f;
      asum[i * k_blocks + b] = static_cast<float>(_mm_cvtsi128_si32(s4));
    }
  }
}

void matmul_nbits_q8_tile__avx2(const Int4Panels& w, int64_t p, const uint8_t* wq, const int8_t* aq, int64_t lda,
                                const float* sa, const float* asum, int64_t mr, float* ytile) {
  nbits_q8::tile_any<DotAvx2>(w, p, wq, aq, lda, sa, asum, mr, ytile);
}

}  // namespace joule::kernels::cpu
