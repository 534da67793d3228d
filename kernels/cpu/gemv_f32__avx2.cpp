// gemv_f32_nr16__avx2: one row of A against packed B panels [k][16] (the gemm_f32_6x16__avx2 packing).
// Four panels at a time: 8 ymm FMA chains (two FMA pipes x 4 cycles latency), each started from zero
// per KC block and added to the running sum after it, as the 6x16 micro-kernel sums one C row: bitwise
// equal to the GEMM. The last panel's tail columns go through a stack buffer.
#include <immintrin.h>

#include <algorithm>

#include "kernels/cpu/gemv_f32.h"

namespace joule::kernels::cpu {
namespace {

template <int P>
void panels(int64_t k, int64_t kcb, const float* a, const float* b, __m256 (&tot)[P][2]) {
  const int64_t ps = k * 16;  // panel stride
#pragma GCC unroll 4
  for (int q = 0; q < P; ++q) tot[q][0] = tot[q][1] = _mm256_setzero_ps();  // k >= 1: overwritten by the first block
  for (int64_t p0 = 0; p0 < k; p0 += kcb) {
    const int64_t kc = std::min(kcb, k - p0);
    __m256 acc[P][2];
#pragma GCC unroll 4
    for (int q = 0; q < P; ++q) acc[q][0] = acc[q][1] = _mm256_setzero_ps();
    const float* bp = b + p0 * 16;
    for (int64_t p = 0; p < kc; ++p) {
      const __m256 av = _mm256_broadcast_ss(a + p0 + p);
#pragma GCC unroll 4
      for (int q = 0; q < P; ++q) {
        acc[q][0] = _mm256_fmadd_ps(av, _mm256_loadu_ps(bp + q * ps), acc[q][0]);
        acc[q][1] = _mm256_fmadd_ps(av, _mm256_loadu_ps(bp + q * ps + 8), acc[q][1]);
      }
      bp += 16;
    }
#pragma GCC unroll 4
    for (int q = 0; q < P; ++q) {
      if (p0 == 0) {
        tot[q][0] = acc[q][0];
        tot[q][1] = acc[q][1];
      } else {
        tot[q][0] = _mm256_add_ps(acc[q][0], tot[q][0]);
        tot[q][1] = _mm256_add_ps(acc[q][1], tot[q][1]);
      }
    }
  }
}

inline void store16(float* y, int64_t nv, const __m256 (&v)[2]) {
  if (nv >= 16) {
    _mm256_storeu_ps(y, v[0]);
    _mm256_storeu_ps(y + 8, v[1]);
    return;
  }
  alignas(32) float t[16];
  _mm256_store_ps(t, v[0]);
  _mm256_store_ps(t + 8, v[1]);
  std::copy(t, t + nv, y);
}

template <int P>
void run(int64_t k, int64_t kc, const float* a, const float* b, float* y, int64_t nv) {
  __m256 tot[P][2];
  panels<P>(k, kc, a, b, tot);
#pragma GCC unroll 4
  for (int q = 0; q < P; ++q) store16(y + q * 16, nv - q * 16, tot[q]);
}

}  // namespace

void gemv_f32_nr16__avx2(int64_t k, int64_t kc, const float* a, const float* b, int64_t npanels, float* y,
                         int64_t nv) {
  int64_t q = 0;
  for (; q + 4 <= npanels; q += 4) run<4>(k, kc, a, b + q * k * 16, y + q * 16, nv - q * 16);
  switch (npanels - q) {
    case 3: run<3>(k, kc, a, b + q * k * 16, y + q * 16, nv - q * 16); break;
    case 2: run<2>(k, kc, a, b + q * k * 16, y + q * 16, nv - q * 16); break;
    case 1: run<1>(k, kc, a, b + q * k * 16, y + q * 16, nv - q * 16); break;
    default: break;
  }
}

}  // namespace joule::kernels::cpu
