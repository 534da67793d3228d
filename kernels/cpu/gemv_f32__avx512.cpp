// gemv_f32_nr32__avx512: one row of A against packed B panels [k][32] (the gemm_f32_12x32__avx512
// packing). Four panels at a time (then 2, 1): 8 zmm FMA chains (the FMA latency hidden), each started from zero per
// KC block and added to the running sum after it, as the 12x32 micro-kernel sums one C row: bitwise
// equal to the GEMM. The last panel's tail columns are stored masked. Software
// prefetch 2 KiB ahead measured no gain (the four panel streams are sequential).
#include <immintrin.h>

#include <algorithm>

#include "kernels/cpu/gemv_f32.h"

namespace joule::kernels::cpu {
namespace {

template <int P>
void panels(int64_t k, int64_t kcb, const float* a, const float* b, __m512 (&tot)[P][2]) {
  const int64_t ps = k * 32;  // panel stride
#pragma GCC unroll 4
  for (int q = 0; q < P; ++q) tot[q][0] = tot[q][1] = _mm512_setzero_ps();  // k >= 1: overwritten by the first block
  for (int64_t p0 = 0; p0 < k; p0 += kcb) {
    const int64_t kc = std::min(kcb, k - p0);
    __m512 acc[P][2];
#pragma GCC unroll 4
    for (int q = 0; q < P; ++q) acc[q][0] = acc[q][1] = _mm512_setzero_ps();
    const float* bp = b + p0 * 32;
    for (int64_t p = 0; p < kc; ++p) {
      const __m512 av = _mm512_set1_ps(a[p0 + p]);
#pragma GCC unroll 4
      for (int q = 0; q < P; ++q) {
        acc[q][0] = _mm512_fmadd_ps(av, _mm512_loadu_ps(bp + q * ps), acc[q][0]);
        acc[q][1] = _mm512_fmadd_ps(av, _mm512_loadu_ps(bp + q * ps + 16), acc[q][1]);
      }
      bp += 32;
    }
#pragma GCC unroll 4
    for (int q = 0; q < P; ++q) {
      if (p0 == 0) {
        tot[q][0] = acc[q][0];
        tot[q][1] = acc[q][1];
      } else {
        tot[q][0] = _mm512_add_ps(acc[q][0], tot[q][0]);
        tot[q][1] = _mm512_add_ps(acc[q][1], tot[q][1]);
      }
    }
  }
}

inline void store32(float* y, int64_t nv, const __m512 (&v)[2]) {
  if (nv >= 32) {
    _mm512_storeu_ps(y, v[0]);
    _mm512_storeu_ps(y + 16, v[1]);
    return;
  }
  const int64_t n0 = std::min<int64_t>(nv, 16), n1 = nv - n0;
  _mm512_mask_storeu_ps(y, static_cast<__mmask16>((1u << n0) - 1u), v[0]);
  if (n1 > 0) _mm512_mask_storeu_ps(y + 16, static_cast<__mmask16>((1u << n1) - 1u), v[1]);
}

}  // namespace

void gemv_f32_nr32__avx512(int64_t k, int64_t kc, const float* a, const float* b, int64_t npanels, float* y,
                           int64_t nv) {
  int64_t q = 0;
  for (; q + 4 <= npanels; q += 4) {
    __m512 tot[4][2];
    panels<4>(k, kc, a, b + q * k * 32, tot);
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) store32(y + (q + i) * 32, nv - (q + i) * 32, tot[i]);
  }
  for (; q + 2 <= npanels; q += 2) {
    __m512 tot[2][2];
    panels<2>(k, kc, a, b + q * k * 32, tot);
    store32(y + q * 32, nv - q * 32, tot[0]);
    store32(y + (q + 1) * 32, nv - (q + 1) * 32, tot[1]);
  }
  if (q < npanels) {
    __m512 tot[1][2];
    panels<1>(k, kc, a, b + q * k * 32, tot);
    store32(y + q * 32, nv - q * 32, tot[0]);
  }
}

}  // namespace joule::kernels::cpu
