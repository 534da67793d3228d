// The int8-activation MatMulNBits tile (math in matmul_nbits_f32.h), shared by the AVX2 and VNNI files: MR
// rows x 16 columns; Dot::sum<MR, G> gives the int32 sums of 4 * G k of codes x aq per row and column
// (vpmaddubsw + vpmaddwd on AVX2, vpdpbusd with VNNI); they are summed over the block (in L1 scratch when
// the block is longer than 32) and once per block become float: y += (isum - zero * asum) * scale * sa.
// Include only from a file compiled with AVX2 or better (intrinsics).
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/cpu/matmul_nbits_f32.h"

namespace joule::kernels::cpu::nbits_q8 {

// 4 bytes of row r of aq at k offset `at`, broadcast to all eight int32 lanes.
inline __m256i broadcast4(const int8_t* ap, int64_t at) {
  int32_t a4;
  std::memcpy(&a4, ap + at, 4);
  return _mm256_set1_epi32(a4);
}

// kShort: block 16 or 32 (one Dot::sum of G groups per block, no int32 scratch); otherwise blocks of 64+.
template <class Dot, int MR, bool kShort, int G>
void tile(const Int4Panels& w, int64_t p, const uint8_t* wq, const int8_t* aq, int64_t lda, const float* sa,
          const float* asum, float* ytile) {
  const float* sc = w.panel_scales(p);
  const float* zr = w.panel_zeros(p);
  const int64_t kb = w.k_blocks, block = w.block;
  alignas(32) int32_t isum[MR][16];
  for (int i = 0; i < MR * 16; ++i) ytile[i] = 0.0f;
  for (int64_t b = 0; b < kb; ++b) {
    __m256i t[MR][2];
    if (kShort) {
      Dot::template sum<MR, G>(wq + b * block * 16, aq + b * block, lda, t);
    } else {
      for (int64_t c0 = b * block; c0 < (b + 1) * block; c0 += 32) {
        Dot::template sum<MR, 8>(wq + c0 * 16, aq + c0, lda, t);
        for (int r = 0; r < MR; ++r) {
          __m256i* is = reinterpret_cast<__m256i*>(isum[r]);
          if (c0 != b * block) {
            t[r][0] = _mm256_add_epi32(t[r][0], _mm256_load_si256(is));
            t[r][1] = _mm256_add_epi32(t[r][1], _mm256_load_si256(is + 1));
          }
          _mm256_store_si256(is, t[r][0]);
          _mm256_store_si256(is + 1, t[r][1]);
        }
      }
    }
    // isum <= 15 * 127 * 256 and zero * asum are integers below 2^24 (exact in float) for integer zero points.
    const __m256 s0 = _mm256_loadu_ps(sc + b * 16), s1 = _mm256_loadu_ps(sc + b * 16 + 8);
    const __m256 z0 = _mm256_loadu_ps(zr + b * 16), z1 = _mm256_loadu_ps(zr + b * 16 + 8);
    for (int r = 0; r < MR; ++r) {
      const __m256 as = _mm256_set1_ps(asum[r * kb + b]), sab = _mm256_set1_ps(sa[r * kb + b]);
      const __m256 f0 = _mm256_fnmadd_ps(z0, as, _mm256_cvtepi32_ps(t[r][0]));
      const __m256 f1 = _mm256_fnmadd_ps(z1, as, _mm256_cvtepi32_ps(t[r][1]));
      float* yr = ytile + r * 16;
      _mm256_storeu_ps(yr, _mm256_fmadd_ps(f0, _mm256_mul_ps(s0, sab), _mm256_loadu_ps(yr)));
      _mm256_storeu_ps(yr + 8, _mm256_fmadd_ps(f1, _mm256_mul_ps(s1, sab), _mm256_loadu_ps(yr + 8)));
    }
  }
}

// Dispatch on the row count (1..4) and the block size.
template <class Dot>
void tile_any(const Int4Panels& w, int64_t p, const uint8_t* wq, const int8_t* aq, int64_t lda, const float* sa,
              const float* asum, int64_t mr, float* ytile) {
  static_assert(kNbitsQ8Rows == 4, "one instantiation per row count");
  auto go = [&](auto rows) {
    constexpr int MR = decltype(rows)::value;
    if (w.block == 16) tile<Dot, MR, true, 4>(w, p, wq, aq, lda, sa, asum, ytile);
    else if (w.block == 32) tile<Dot, MR, true, 8>(w, p, wq, aq, lda, sa, asum, ytile);
    else tile<Dot, MR, false, 8>(w, p, wq, aq, lda, sa, asum, ytile);
  };
  switch (mr) {
    case 1: go(std::integral_constant<int, 1>{}); break;
    case 2: go(std::integral_constant<int, 2>{}); break;
    case 3: go(std::integral_constant<int, 3>{}); break;
    default: go(std::integral_constant<int, 4>{}); break;
  }
}

}  // namespace joule::kernels::cpu::nbits_q8
