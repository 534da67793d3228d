// gemm_f32_6x16__avx2: 6 rows x 16 columns of C in 12 ymm accumulators; per k step one 16-float
// B row (2 loads) and 6 broadcasts of A feed 12 FMAs. Packed A is [kc][6], packed B is [kc][16].
#include <immintrin.h>

#include <algorithm>

#include "kernels/cpu/gemm_f32.h"

namespace joule::kernels::cpu {

void gemm_f32_6x16__avx2(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int64_t mv, int64_t nv,
                         bool accumulate) {
  constexpr int MR = 6;
  __m256 acc[MR][2];
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) {
    acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    // C rows are touched only after the k loop: start fetching them now (at n=1024 this was worth
    // ~8%: the rows of a C tile are 4 KiB apart and not in L1 when a KC block comes back to them).
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + 15), _MM_HINT_T0);
  }
  for (int64_t p = 0; p < kc; ++p) {
    const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      const __m256 av = _mm256_broadcast_ss(a + r);
      acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
    }
    a += MR;
    b += 16;
  }
  if (mv == MR && nv == 16) {
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      float* row = c + r * ldc;
      if (accumulate) {
        acc[r][0] = _mm256_add_ps(acc[r][0], _mm256_loadu_ps(row));
        acc[r][1] = _mm256_add_ps(acc[r][1], _mm256_loadu_ps(row + 8));
      }
      _mm256_storeu_ps(row, acc[r][0]);
      _mm256_storeu_ps(row + 8, acc[r][1]);
    }
    return;
  }
  alignas(32) float tile[MR][16];
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) {
    _mm256_store_ps(tile[r], acc[r][0]);
    _mm256_store_ps(tile[r] + 8, acc[r][1]);
  }
  store_partial_tile_f32(&tile[0][0], 16, c, ldc, mv, nv, accumulate);
}

}  // namespace joule::kernels::cpu
