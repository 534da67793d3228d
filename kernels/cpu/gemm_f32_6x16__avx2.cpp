// gemm_f32_6x16__avx2: 6 rows x 16 columns of C in 12 ymm accumulators; per k step one 16-float
// B row (2 loads) and 6 broadcasts of A feed 12 FMAs. Packed A is [kc][6], packed B is [kc][16].
// gemm_f32_pack_a_6__avx2: A rows (unit column stride) to [kc][6] by 8x8 register transposes (rows 6, 7
// zero), 8 columns of A per step; the last < 8 columns by the scalar loop.
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

void gemm_f32_pack_a_6__avx2(const float* a, int64_t rs, int64_t mv, int64_t kc, float* dst) {
  constexpr int MR = 6;
  const __m256 zero = _mm256_setzero_ps();
  int64_t p = 0;
  for (; p + 8 <= kc; p += 8) {
    __m256 r[8], t[8], u[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) r[i] = i < mv ? _mm256_loadu_ps(a + i * rs + p) : zero;
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
      t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
      t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
#pragma GCC unroll 2
    for (int g = 0; g < 2; ++g) {  // u[4g+j] lane l = column 4l+j of rows 4g..4g+3
      u[4 * g + 0] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
      u[4 * g + 1] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
      u[4 * g + 2] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
      u[4 * g + 3] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
    }
    float* d = dst + p * MR;
    // Column c is 8 floats stored at d + 6c: its 2 spare lanes land on column c+1, stored next. The
    // pack's very last column stores only its 6 rows (nothing follows it in dst).
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      _mm256_storeu_ps(d + j * MR, _mm256_permute2f128_ps(u[j], u[4 + j], 0x20));
    }
#pragma GCC unroll 3
    for (int j = 0; j < 3; ++j) {
      _mm256_storeu_ps(d + (4 + j) * MR, _mm256_permute2f128_ps(u[j], u[4 + j], 0x31));
    }
    const __m256 last = _mm256_permute2f128_ps(u[3], u[7], 0x31);
    if (p + 8 < kc) {
      _mm256_storeu_ps(d + 7 * MR, last);
    } else {
      _mm_storeu_ps(d + 7 * MR, _mm256_castps256_ps128(last));
      _mm_storel_pi(reinterpret_cast<__m64*>(d + 7 * MR + 4), _mm256_extractf128_ps(last, 1));
    }
  }
  for (; p < kc; ++p) {
    for (int64_t i = 0; i < MR; ++i) dst[p * MR + i] = i < mv ? a[i * rs + p] : 0.0f;
  }
}

}  // namespace joule::kernels::cpu
