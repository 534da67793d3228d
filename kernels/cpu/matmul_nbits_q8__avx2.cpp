// AVX2 int8-activation MatMulNBits tile (math in matmul_nbits_f32.h): 4 rows x 16 columns, eight int16
// accumulators fed by vpmaddubsw (u8 codes x s8 activations), widened with vpmaddwd every 32 k and
// accumulated in float with the block scales.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/cpu/matmul_nbits_f32.h"

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

template <int64_t mr>
void q8_tile(const Int4Panels& w, int64_t p, const uint8_t* wq, const int8_t* aq, int64_t lda, const float* sa,
             const float* saz, float* ytile) {
  // Float sums live in ytile (L1); registers hold the 2*mr int16 accumulators, two weight vectors and A.
  const __m256i ones = _mm256_set1_epi16(1);
  const float* sc = w.panel_scales(p);
  const float* szp = w.panel_scaled_zeros(p);
  for (int64_t i = 0; i < mr * 16; ++i) ytile[i] = 0.0f;
  const int64_t chunk = std::min<int64_t>(w.block, 32);
  for (int64_t b = 0; b < w.k_blocks; ++b) {
    for (int64_t c0 = b * w.block; c0 < (b + 1) * w.block; c0 += chunk) {
      __m256i acc[mr][2];
      for (auto& row : acc) row[0] = row[1] = _mm256_setzero_si256();
      const uint8_t* wp = wq + (c0 / 4) * 64;
      const int8_t* ap = aq + c0;
      for (int64_t g = 0; g < chunk / 4; ++g, wp += 64, ap += 4) {
        const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wp));
        const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wp + 32));
        for (int64_t r = 0; r < mr; ++r) {
          int32_t a4;
          std::memcpy(&a4, ap + r * lda, 4);
          const __m256i av = _mm256_set1_epi32(a4);
          acc[r][0] = _mm256_add_epi16(acc[r][0], _mm256_maddubs_epi16(w0, av));
          acc[r][1] = _mm256_add_epi16(acc[r][1], _mm256_maddubs_epi16(w1, av));
        }
      }
      const __m256 s0 = _mm256_loadu_ps(sc + b * 16), s1 = _mm256_loadu_ps(sc + b * 16 + 8);
      for (int64_t r = 0; r < mr; ++r) {
        const __m256 sab = _mm256_set1_ps(sa[r * w.k_blocks + b]);
        float* yr = ytile + r * 16;
        _mm256_storeu_ps(yr, _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(acc[r][0], ones)), _mm256_mul_ps(sab, s0),
                                             _mm256_loadu_ps(yr)));
        _mm256_storeu_ps(yr + 8, _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(acc[r][1], ones)),
                                                 _mm256_mul_ps(sab, s1), _mm256_loadu_ps(yr + 8)));
      }
    }
    const __m256 z0 = _mm256_loadu_ps(szp + b * 16), z1 = _mm256_loadu_ps(szp + b * 16 + 8);
    for (int64_t r = 0; r < mr; ++r) {
      const __m256 zb = _mm256_set1_ps(saz[r * w.k_blocks + b]);
      float* yr = ytile + r * 16;
      _mm256_storeu_ps(yr, _mm256_fnmadd_ps(zb, z0, _mm256_loadu_ps(yr)));
      _mm256_storeu_ps(yr + 8, _mm256_fnmadd_ps(zb, z1, _mm256_loadu_ps(yr + 8)));
    }
  }
}

}  // namespace

void matmul_nbits_quantize_rows_q8__avx2(const float* a, int64_t k, int64_t block, int64_t k_blocks, int64_t k_pad,
                                         int64_t i0, int64_t i1, int8_t* aq, float* sa, float* saz) {
  thread_local std::vector<float> row;
  row.assign(static_cast<size_t>(k_pad), 0.0f);
  const __m256 sign = _mm256_set1_ps(-0.0f);
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
        _mm_storel_epi64(reinterpret_cast<__m128i*>(q + c), _mm_packs_epi16(v16, v16));
      }
      __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
      s4 = _mm_hadd_epi32(s4, s4);
      s4 = _mm_hadd_epi32(s4, s4);
      sa[i * k_blocks + b] = amax / 127.0f;
      saz[i * k_blocks + b] = amax / 127.0f * static_cast<float>(_mm_cvtsi128_si32(s4));
    }
  }
}

void matmul_nbits_q8_tile__avx2(const Int4Panels& w, int64_t p, const uint8_t* wq, const int8_t* aq, int64_t lda,
                                const float* sa, const float* saz, int64_t mr, float* ytile) {
  static_assert(kNbitsQ8Rows == 4, "one instantiation per row count");
  switch (mr) {
    case 1: q8_tile<1>(w, p, wq, aq, lda, sa, saz, ytile); break;
    case 2: q8_tile<2>(w, p, wq, aq, lda, sa, saz, ytile); break;
    case 3: q8_tile<3>(w, p, wq, aq, lda, sa, saz, ytile); break;
    default: q8_tile<4>(w, p, wq, aq, lda, sa, saz, ytile); break;
  }
}

}  // namespace joule::kernels::cpu
