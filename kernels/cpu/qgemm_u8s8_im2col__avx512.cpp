// AVX-512BW rows of the u8 QConv im2col (kernels/cpu/qgemm_u8s8.cpp): one output row of one (ic, kd, kh, kw)
// slice, d[ow] = x[ow * stride + off] ^ flip where 0 <= ow * stride + off < W, else pad, for stride 1 and 2.
// Masked loads and stores replace the memset / memcpy / memset calls per row (rows are 7-112 bytes in
// ResNet-50: the library calls cost more than the bytes); masked-off lanes are not read, so the window may
// hang over either end of x's row.
#include <immintrin.h>

#include <algorithm>

#include "kernels/cpu/qgemm_u8s8.h"

namespace joule::kernels::cpu {

namespace {
// Bits [lo, hi) of a 64-bit mask (0 <= lo, hi <= 64).
inline uint64_t bits(int64_t lo, int64_t hi) {
  if (hi <= lo) return 0;
  const uint64_t h = hi >= 64 ? ~uint64_t{0} : (uint64_t{1} << hi) - 1;
  return h & ~((uint64_t{1} << lo) - 1);
}
}  // namespace

void qim2col_row_u8__avx512(const uint8_t* xr, int64_t off, int64_t stride, int64_t w, int64_t ow, uint8_t pad, uint8_t flip, uint8_t* d) {
  const __m512i f = _mm512_set1_epi8(static_cast<char>(flip)), p = _mm512_set1_epi8(static_cast<char>(pad));
  if (stride == 1) {
    for (int64_t c = 0; c < ow; c += 64) {
      const int64_t n = std::min<int64_t>(64, ow - c), s = c + off;  // lane j reads x[s + j]
      const __mmask64 valid = bits(std::clamp<int64_t>(-s, 0, n), std::clamp<int64_t>(w - s, 0, n));
      __m512i v = _mm512_xor_si512(_mm512_maskz_loadu_epi8(valid, xr + s), f);
      v = _mm512_mask_blend_epi8(valid, p, v);
      _mm512_mask_storeu_epi8(d + c, bits(0, n), v);
    }
    return;
  }
  // stride 2: 32 outputs from 64 input bytes; vpmovwb keeps the even (low) byte of each 16-bit lane.
  for (int64_t c = 0; c < ow; c += 32) {
    const int64_t n = std::min<int64_t>(32, ow - c), s = 2 * c + off;  // lane j reads x[s + 2j]
    const int64_t jlo = std::clamp<int64_t>((-s + 1) / 2 > 0 ? (-s + 1) / 2 : 0, 0, n);
    const int64_t jhi = std::clamp<int64_t>(w - s > 0 ? (w - s + 1) / 2 : 0, 0, n);
    const uint64_t lanes = bits(jlo, jhi);                                    // output lanes with an input inside [0, w)
    const uint64_t even = bits(2 * jlo, 2 * jhi) & 0x5555555555555555ull;  // byte 2j of the 64 loaded for each
    const __m256i v = _mm512_cvtepi16_epi8(_mm512_maskz_loadu_epi8(even, xr + s));
    const __m256i r = _mm256_mask_blend_epi8(static_cast<__mmask32>(lanes), _mm512_castsi512_si256(p),
                                             _mm256_xor_si256(v, _mm512_castsi512_si256(f)));
    _mm256_mask_storeu_epi8(d + c, static_cast<__mmask32>(bits(0, n)), r);
  }
}

}  // namespace joule::kernels::cpu
