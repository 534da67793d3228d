// AVX-VNNI (vpdpbusd, VEX) int8-activation MatMulNBits tile: the 4x16 tile of matmul_nbits_q8_tile_impl.h with vpdpbusd
// summing four u8 code x s8 activation products straight into int32 (no 16-bit intermediate). Same layouts
// as the AVX2 tile (matmul_nbits_q8__avx2.cpp), same int32 sums, so the outputs are bitwise identical.
#include <immintrin.h>

#include "kernels/cpu/matmul_nbits_f32.h"
#include "kernels/cpu/matmul_nbits_q8_tile_impl.h"

namespace joule::kernels::cpu {

namespace {

struct DotVnni {
  template <int MR, int G>
  static void sum(const uint8_t* wp, const int8_t* ap, int64_t lda, __m256i (&t)[MR][2]) {
    for (int r = 0; r < MR; ++r) t[r][0] = t[r][1] = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int g = 0; g < G; ++g) {
      const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wp + g * 64));
      const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wp + g * 64 + 32));
      for (int r = 0; r < MR; ++r) {
        const __m256i av = nbits_q8::broadcast4(ap, r * lda + g * 4);
        t[r][0] = _mm256_dpbusd_avx_epi32(t[r][0], w0, av);
        t[r][1] = _mm256_dpbusd_avx_epi32(t[r][1], w1, av);
      }
    }
  }
};

}  // namespace

void matmul_nbits_q8_tile__avxvnni(const Int4Panels& w, int64_t p, const uint8_t* wq, const int8_t* aq, int64_t lda,
                                const float* sa, const float* asum, int64_t mr, float* ytile) {
  nbits_q8::tile_any<DotVnni>(w, p, wq, aq, lda, sa, asum, mr, ytile);
}

}  // namespace joule::kernels::cpu
