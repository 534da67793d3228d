// AVX-VNNI 6x16 micro-kernels of the exact u8 x s8 GEMM (kernels/cpu/qgemm_u8s8.h): vpdpbusd sums four
// u8 x s8 products of a row's quad straight into int32 (no 16-bit intermediate: exact for any 8-bit
// weights). Same layouts as the AVX2 kernels.
#include <immintrin.h>

#include <cstring>

#include "kernels/cpu/qgemm_u8s8.h"

namespace joule::kernels::cpu {

namespace {
template <bool kRowsU8>
inline void tile_6x16(int64_t kq, const uint8_t* const* rows, const uint8_t* panel, int32_t* tile) {
  __m256i c[6][2];
  for (auto& r : c) r[0] = r[1] = _mm256_setzero_si256();
  for (int64_t q = 0; q < kq; q += 4) {
    const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(panel));
    const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(panel + 32));
    panel += 64;
    for (int i = 0; i < 6; ++i) {
      int32_t v;
      std::memcpy(&v, rows[i] + q, 4);
      const __m256i a = _mm256_set1_epi32(v);
      if (kRowsU8) {
        c[i][0] = _mm256_dpbusd_avx_epi32(c[i][0], a, b0);
        c[i][1] = _mm256_dpbusd_avx_epi32(c[i][1], a, b1);
      } else {
        c[i][0] = _mm256_dpbusd_avx_epi32(c[i][0], b0, a);
        c[i][1] = _mm256_dpbusd_avx_epi32(c[i][1], b1, a);
      }
    }
  }
  for (int i = 0; i < 6; ++i) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(tile + i * 16), c[i][0]);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(tile + i * 16 + 8), c[i][1]);
  }
}
}  // namespace

void qgemm_u8s8_6x16__avxvnni(int64_t kq, const uint8_t* const* rows, const uint8_t* panel, int32_t* tile) {
  tile_6x16<true>(kq, rows, panel, tile);
}
void qgemm_s8u8_6x16__avxvnni(int64_t kq, const uint8_t* const* rows, const uint8_t* panel, int32_t* tile) {
  tile_6x16<false>(kq, rows, panel, tile);
}

}  // namespace joule::kernels::cpu
