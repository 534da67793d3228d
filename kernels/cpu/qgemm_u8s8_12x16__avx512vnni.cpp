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
  __m512i c[12];
  for (auto& r : c) r = _mm512_setzero_si512();
  for (int64_t q = 0; q < kq; q += 4) {
    const __m512i b = _mm512_loadu_si512(panel);
    panel += 64;
    for (int i = 0; i < 12; ++i) {
      int32_t v;
      std::memcpy(&v, rows[i] + q, 4);
      const __m512i a = _mm512_set1_epi32(v);
      c[i] = kRowsU8 ? _mm512_dpbusd_epi32(c[i], a, b) : _mm512_dpbusd_epi32(c[i], b, a);
    }
  }
  for (int i = 0; i < 12; ++i) _mm512_storeu_si512(tile + i * 16, c[i]);
}
}  // namespace

void qgemm_u8s8_12x16__avx512vnni(int64_t kq, const uint8_t* const* rows, const uint8_t* panel, int32_t* tile) {
  tile_12x16<true>(kq, rows, panel, tile);
}
void qgemm_s8u8_12x16__avx512vnni(int64_t kq, const uint8_t* const* rows, const uint8_t* panel, int32_t* tile) {
  tile_12x16<false>(kq, rows, panel, tile);
}

}  // namespace joule::kernels::cpu
