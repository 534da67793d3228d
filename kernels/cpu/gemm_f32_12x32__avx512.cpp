// gemm_f32_12x32__avx512: 12 rows x 32 columns of C in 24 zmm accumulators; per k step one 32-float
// B row (2 loads) and 12 broadcasts of A feed 24 FMAs. Packed A is [kc][12], packed B is [kc][32].
// gemm_f32_pack_a_12__avx512: A rows (unit column stride) to [kc][12] by 16x16 register transposes
// (rows 12..15 zero), 16 columns of A per step; ~10x fewer instructions than the scalar pack.
#include <immintrin.h>

#include <algorithm>

#include "kernels/cpu/gemm_f32.h"

namespace joule::kernels::cpu {

void gemm_f32_12x32__avx512(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int64_t mv, int64_t nv,
                            bool accumulate) {
  constexpr int MR = 12;
  __m512 acc[MR][2];
#pragma GCC unroll 12
  for (int r = 0; r < MR; ++r) {
    acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    // C rows are touched only after the k loop: start fetching them now (C is read back for
    // accumulate, and written either way).
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + 31), _MM_HINT_T0);
  }
  for (int64_t p = 0; p < kc; ++p) {
    const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
#pragma GCC unroll 12
    for (int r = 0; r < MR; ++r) {
      const __m512 av = _mm512_set1_ps(a[r]);
      acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
    }
    a += MR;
    b += 32;
  }
  if (mv == MR && nv == 32) {
#pragma GCC unroll 12
    for (int r = 0; r < MR; ++r) {
      float* row = c + r * ldc;
      if (accumulate) {
        acc[r][0] = _mm512_add_ps(acc[r][0], _mm512_loadu_ps(row));
        acc[r][1] = _mm512_add_ps(acc[r][1], _mm512_loadu_ps(row + 16));
      }
      _mm512_storeu_ps(row, acc[r][0]);
      _mm512_storeu_ps(row + 16, acc[r][1]);
    }
    return;
  }
  alignas(64) float tile[MR][32];
#pragma GCC unroll 12
  for (int r = 0; r < MR; ++r) {
    _mm512_store_ps(tile[r], acc[r][0]);
    _mm512_store_ps(tile[r] + 16, acc[r][1]);
  }
  store_partial_tile_f32(&tile[0][0], 32, c, ldc, mv, nv, accumulate);
}

namespace {

// r[0..15] (rows) -> o[0..15] (columns): o[c][i] = r[i][c].
inline void transpose_16x16(const __m512 r[16], __m512 o[16]) {
  __m512 t[16], u[16];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);      // lane l: r0[4l], r1[4l], r0[4l+1], r1[4l+1]
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);  // lane l: r0[4l+2], r1[4l+2], r0[4l+3], r1[4l+3]
  }
#pragma GCC unroll 4
  for (int g = 0; g < 4; ++g) {  // rows 4g..4g+3: u[4g+j] lane l = column 4l+j of those rows
    u[4 * g + 0] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
    u[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
    u[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
    u[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
  }
#pragma GCC unroll 4
  for (int j = 0; j < 4; ++j) {
    const __m512 v0 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x88), v1 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xDD);
    const __m512 w0 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x88), w1 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xDD);
    o[j] = _mm512_shuffle_f32x4(v0, w0, 0x88);
    o[8 + j] = _mm512_shuffle_f32x4(v0, w0, 0xDD);
    o[4 + j] = _mm512_shuffle_f32x4(v1, w1, 0x88);
    o[12 + j] = _mm512_shuffle_f32x4(v1, w1, 0xDD);
  }
}

}  // namespace

void gemm_f32_pack_a_12__avx512(const float* a, int64_t rs, int64_t mv, int64_t kc, float* dst) {
  constexpr int MR = 12;
  const __m512 zero = _mm512_setzero_ps();
  for (int64_t p = 0; p < kc; p += 16) {
    const int64_t cols = std::min<int64_t>(16, kc - p);
    const __mmask16 lm = static_cast<__mmask16>(cols == 16 ? 0xFFFFu : (1u << cols) - 1u);
    __m512 r[16], o[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) r[i] = i < mv ? _mm512_mask_loadu_ps(zero, lm, a + i * rs + p) : zero;
    transpose_16x16(r, o);
    float* d = dst + p * MR;
    if (cols == 16) {
#pragma GCC unroll 16
      for (int c = 0; c < 16; ++c) _mm512_mask_storeu_ps(d + c * MR, 0x0FFF, o[c]);
    } else {
      for (int c = 0; c < cols; ++c) _mm512_mask_storeu_ps(d + c * MR, 0x0FFF, o[c]);
    }
  }
}

}  // namespace joule::kernels::cpu
