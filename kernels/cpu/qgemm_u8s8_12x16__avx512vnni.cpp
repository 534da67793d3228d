// AVX-512 VNNI 12x16 micro-kernels of the exact u8 x s8 GEMM (kernels/cpu/qgemm_u8s8.h): a panel quad of 16
// columns is one zmm; vpdpbusd sums four u8 x s8 products of a row's quad straight into int32 (exact for any
// 8-bit weights).
#include <immintrin.h>

#include <cstring>

#include "kernels/cpu/qgemm_u8s8.h"

namespace joule::kernels::cpu {

namespace {
template <bool kRowsU8>
inline void tile_12x16(int64_t kq, const uint8_t* const* rows, const uint8_t* panel, int32_t* tile) {
  // Named accumulators, not an array: GCC keeps an array of __m512i on the stack and copies it every k-quad.
#define JOULE_Z(i) __m512i c##i = _mm512_setzero_si512();
  JOULE_Z(0) JOULE_Z(1) JOULE_Z(2) JOULE_Z(3) JOULE_Z(4) JOULE_Z(5) JOULE_Z(6) JOULE_Z(7) JOULE_Z(8) JOULE_Z(9) JOULE_Z(10) JOULE_Z(11)
#undef JOULE_Z
  const uint8_t *r0 = rows[0], *r1 = rows[1], *r2 = rows[2], *r3 = rows[3], *r4 = rows[4], *r5 = rows[5];
  const uint8_t *r6 = rows[6], *r7 = rows[7], *r8 = rows[8], *r9 = rows[9], *r10 = rows[10], *r11 = rows[11];
  for (int64_t q = 0; q < kq; q += 4, panel += 64) {
    const __m512i b = _mm512_loadu_si512(panel);
#define JOULE_R(i)                                                                         \
  {                                                                                       \
    int32_t v;                                                                            \
    std::memcpy(&v, r##i + q, 4);                                                         \
    const __m512i a = _mm512_set1_epi32(v);                                               \
    c##i = kRowsU8 ? _mm512_dpbusd_epi32(c##i, a, b) : _mm512_dpbusd_epi32(c##i, b, a);   \
  }
    JOULE_R(0) JOULE_R(1) JOULE_R(2) JOULE_R(3) JOULE_R(4) JOULE_R(5) JOULE_R(6) JOULE_R(7) JOULE_R(8) JOULE_R(9) JOULE_R(10) JOULE_R(11)
#undef JOULE_R
  }
#define JOULE_S(i) _mm512_storeu_si512(tile + (i) * 16, c##i);
  JOULE_S(0) JOULE_S(1) JOULE_S(2) JOULE_S(3) JOULE_S(4) JOULE_S(5) JOULE_S(6) JOULE_S(7) JOULE_S(8) JOULE_S(9) JOULE_S(10) JOULE_S(11)
#undef JOULE_S
}
}  // namespace

void qgemm_u8s8_12x16__avx512vnni(int64_t kq, const uint8_t* const* rows, const uint8_t* panel, int32_t* tile) {
  tile_12x16<true>(kq, rows, panel, tile);
}
void qgemm_s8u8_12x16__avx512vnni(int64_t kq, const uint8_t* const* rows, const uint8_t* panel, int32_t* tile) {
  tile_12x16<false>(kq, rows, panel, tile);
}

}  // namespace joule::kernels::cpu
