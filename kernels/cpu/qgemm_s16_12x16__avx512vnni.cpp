// AVX-512 VNNI 12x16 micro-kernel of the exact int16 GEMM (kernels/cpu/qgemm_s16.h): vpdpwssd
// accumulates a row's pair products in one instruction (exact, no saturation in the non-"s" form).
#include <immintrin.h>

#include <cstring>

#include "kernels/cpu/qgemm_s16.h"

namespace joule::kernels::cpu {

void qgemm_s16_12x16__avx512vnni(int64_t kp, const int16_t* const* rows, const int16_t* panel, int32_t* tile) {
  __m512i c[12];
  for (auto& r : c) r = _mm512_setzero_si512();
  for (int64_t p = 0; p < kp; p += 2) {
    const __m512i b = _mm512_loadu_si512(panel);
    panel += 32;
    for (int i = 0; i < 12; ++i) {
      int32_t v;
      std::memcpy(&v, rows[i] + p, 4);
      c[i] = _mm512_dpwssd_epi32(c[i], _mm512_set1_epi32(v), b);
    }
  }
  for (int i = 0; i < 12; ++i) _mm512_storeu_si512(tile + i * 16, c[i]);
}

}  // namespace joule::kernels::cpu
