// AVX-512 VNNI 12x32 micro-kernels of the exact u8 x s8 GEMM (kernels/cpu/qgemm_u8s8.h): two adjacent 16-column
// panels (panel and panel + panel_stride) against 12 rows, 24 zmm accumulators. Per k-quad: 2 panel loads and
// 12 row broadcasts feed 24 vpdpbusd (the 12x16 kernel needs 13 loads for 12), which keeps Zen 4's load ports
// below its one-zmm-vpdpbusd-per-cycle rate. Exact for any 8-bit weights (int32 sums, no 16-bit step).
// tile: int32 [2][12][16] (panel 0's tile, then panel 1's), each the layout of the 12x16 kernel.
// The accumulators are named variables (not an array): GCC keeps arrays of __m512i on the stack.
#include <immintrin.h>

#include <cstring>

#include "kernels/cpu/qgemm_u8s8.h"

namespace joule::kernels::cpu {

namespace {
inline __m512i bcast4(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

template <bool kRowsU8>
inline void tile_12x32(int64_t kq, const uint8_t* const* rows, const uint8_t* panel, int64_t panel_stride, int32_t* tile) {
#define JOULE_Z(i) __m512i a##i = _mm512_setzero_si512(), b##i = _mm512_setzero_si512();
  JOULE_Z(0) JOULE_Z(1) JOULE_Z(2) JOULE_Z(3) JOULE_Z(4) JOULE_Z(5) JOULE_Z(6) JOULE_Z(7) JOULE_Z(8) JOULE_Z(9) JOULE_Z(10) JOULE_Z(11)
#undef JOULE_Z
  const uint8_t *r0 = rows[0], *r1 = rows[1], *r2 = rows[2], *r3 = rows[3], *r4 = rows[4], *r5 = rows[5];
  const uint8_t *r6 = rows[6], *r7 = rows[7], *r8 = rows[8], *r9 = rows[9], *r10 = rows[10], *r11 = rows[11];
  const uint8_t* p1 = panel + panel_stride;
  for (int64_t q = 0; q < kq; q += 4, panel += 64, p1 += 64) {
    const __m512i w0 = _mm512_loadu_si512(panel), w1 = _mm512_loadu_si512(p1);
#define JOULE_R(i)                                                                                          \
  {                                                                                                        \
    const __m512i x = bcast4(r##i + q);                                                                    \
    a##i = kRowsU8 ? _mm512_dpbusd_epi32(a##i, x, w0) : _mm512_dpbusd_epi32(a##i, w0, x);                  \
    b##i = kRowsU8 ? _mm512_dpbusd_epi32(b##i, x, w1) : _mm512_dpbusd_epi32(b##i, w1, x);                  \
  }
    JOULE_R(0) JOULE_R(1) JOULE_R(2) JOULE_R(3) JOULE_R(4) JOULE_R(5) JOULE_R(6) JOULE_R(7) JOULE_R(8) JOULE_R(9) JOULE_R(10) JOULE_R(11)
#undef JOULE_R
  }
#define JOULE_S(i) _mm512_storeu_si512(tile + (i) * 16, a##i), _mm512_storeu_si512(tile + (12 + (i)) * 16, b##i);
  JOULE_S(0) JOULE_S(1) JOULE_S(2) JOULE_S(3) JOULE_S(4) JOULE_S(5) JOULE_S(6) JOULE_S(7) JOULE_S(8) JOULE_S(9) JOULE_S(10) JOULE_S(11)
#undef JOULE_S
}
}  // namespace

void qgemm_u8s8_12x32__avx512vnni(int64_t kq, const uint8_t* const* rows, const uint8_t* panel, int64_t panel_stride, int32_t* tile) {
  tile_12x32<true>(kq, rows, panel, panel_stride, tile);
}
void qgemm_s8u8_12x32__avx512vnni(int64_t kq, const uint8_t* const* rows, const uint8_t* panel, int64_t panel_stride, int32_t* tile) {
  tile_12x32<false>(kq, rows, panel, panel_stride, tile);
}

}  // namespace joule::kernels::cpu
