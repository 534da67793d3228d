// AVX-VNNI 6x16 micro-kernel of the exact int16 GEMM (kernels/cpu/qgemm_s16.h): vpdpwssd accumulates
// each row's pair products in one instruction (exact: pair sums fit int32, no saturation in the
// non-"s" form). Same layouts as the AVX2 kernel.
#include <immintrin.h>

#include <cstring>

#include "kernels/cpu/qgemm_s16.h"

namespace joule::kernels::cpu {

void qgemm_s16_6x16__avxvnni(int64_t kp, const int16_t* const* rows, const int16_t* panel, int32_t* tile) {
  __m256i c[6][2];
  for (auto& r : c) r[0] = r[1] = _mm256_setzero_si256();
  for (int64_t p = 0; p < kp; p += 2) {
    const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(panel));
    const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(panel + 16));
    panel += 32;
    for (int i = 0; i < 6; ++i) {
      int32_t v;
      std::memcpy(&v, rows[i] + p, 4);
      const __m256i a = _mm256_set1_epi32(v);
      c[i][0] = _mm256_dpwssd_avx_epi32(c[i][0], a, b0);
      c[i][1] = _mm256_dpwssd_avx_epi32(c[i][1], a, b1);
    }
  }
  for (int i = 0; i < 6; ++i) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(tile + i * 16), c[i][0]);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(tile + i * 16 + 8), c[i][1]);
  }
}

}  // namespace joule::kernels::cpu
