// AVX-512 VNNI int8-activation MatMulNBits tiles (math in matmul_nbits_f32.h):
//  - the 4x16 tile of matmul_nbits_q8_tile_impl.h with vpdpbusd on ymm summing four u8 code x s8 activation
//    products straight into int32 (no 16-bit intermediate); any zero points;
//  - the wide tile: up to 8 rows x 16 columns on zmm, s8 weights (code - zero) x u8 activations (aq + 128),
//    accumulators started at corr so no zero-point term is left for the float epilogue, y in registers over
//    the blocks; needs integer zero points (Int4Panels::int_zeros).
// Same int32 sums and the same float epilogue as the AVX2 tile (matmul_nbits_q8__avx2.cpp): outputs bitwise equal.
#include <immintrin.h>

#include <cstring>

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
        t[r][0] = _mm256_dpbusd_epi32(t[r][0], w0, av);
        t[r][1] = _mm256_dpbusd_epi32(t[r][1], w1, av);
      }
    }
  }
};

}  // namespace

namespace {

// Rows r < MR of the wide tile; G = groups of 4 k per block when known at compile time (0: runtime).
template <int MR, int G>
void wide_tile(const Int4Panels& w, int64_t p, const int8_t* wq, const uint8_t* aq, int64_t lda, const float* sa,
               float* ytile) {
  const float* sc = w.panel_scales(p);
  const int32_t* corr = w.panel_corr(p);
  const int64_t kb = w.k_blocks, groups = G > 0 ? G : w.block / 4;
  __m512 y[MR];
  for (int r = 0; r < MR; ++r) y[r] = _mm512_setzero_ps();
  for (int64_t b = 0; b < kb; ++b) {
    const __m512i c = _mm512_loadu_si512(corr + b * 16);
    __m512i acc[MR];
    for (int r = 0; r < MR; ++r) acc[r] = c;
    const int8_t* wb = wq + b * w.block * 16;
    const uint8_t* ab = aq + b * w.block;
#pragma GCC unroll 8
    for (int64_t g = 0; g < groups; ++g) {
      const __m512i wv = _mm512_loadu_si512(wb + g * 64);
      for (int r = 0; r < MR; ++r) {
        int32_t a4;
        std::memcpy(&a4, ab + r * lda + g * 4, 4);
        acc[r] = _mm512_dpbusd_epi32(acc[r], _mm512_set1_epi32(a4), wv);
      }
    }
    // acc = isum - zero * asum exactly (|acc| < 2^24): the value the 4x16 tile's fnmadd gives.
    const __m512 s = _mm512_loadu_ps(sc + b * 16);
    for (int r = 0; r < MR; ++r)
      y[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[r]), _mm512_mul_ps(s, _mm512_set1_ps(sa[r * kb + b])), y[r]);
  }
  for (int r = 0; r < MR; ++r) _mm512_storeu_ps(ytile + r * 16, y[r]);
}

// Two panels (32 columns) x MR <= 6 rows: one activation broadcast feeds two vpdpbusd.
template <int MR, int G>
void wide2_tile(const Int4Panels& w, int64_t p, const int8_t* wq, const uint8_t* aq, int64_t lda, const float* sa,
                float* ytile) {
  const float *sc0 = w.panel_scales(p), *sc1 = w.panel_scales(p + 1);
  const int32_t *cr0 = w.panel_corr(p), *cr1 = w.panel_corr(p + 1);
  const int64_t kb = w.k_blocks, groups = G > 0 ? G : w.block / 4, pstride = w.k_pad * 16;
  __m512 y[MR][2];
  for (int r = 0; r < MR; ++r) y[r][0] = y[r][1] = _mm512_setzero_ps();
  for (int64_t b = 0; b < kb; ++b) {
    const __m512i c0 = _mm512_loadu_si512(cr0 + b * 16), c1 = _mm512_loadu_si512(cr1 + b * 16);
    __m512i acc[MR][2];
    for (int r = 0; r < MR; ++r) {
      acc[r][0] = c0;
      acc[r][1] = c1;
    }
    const int8_t* wb = wq + b * w.block * 16;
    const uint8_t* ab = aq + b * w.block;
#pragma GCC unroll 8
    for (int64_t g = 0; g < groups; ++g) {
      const __m512i w0 = _mm512_loadu_si512(wb + g * 64), w1 = _mm512_loadu_si512(wb + pstride + g * 64);
      for (int r = 0; r < MR; ++r) {
        int32_t a4;
        std::memcpy(&a4, ab + r * lda + g * 4, 4);
        const __m512i av = _mm512_set1_epi32(a4);
        acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], av, w0);
        acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], av, w1);
      }
    }
    const __m512 s0 = _mm512_loadu_ps(sc0 + b * 16), s1 = _mm512_loadu_ps(sc1 + b * 16);
    for (int r = 0; r < MR; ++r) {
      const __m512 sab = _mm512_set1_ps(sa[r * kb + b]);
      y[r][0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[r][0]), _mm512_mul_ps(s0, sab), y[r][0]);
      y[r][1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[r][1]), _mm512_mul_ps(s1, sab), y[r][1]);
    }
  }
  for (int r = 0; r < MR; ++r) {
    _mm512_storeu_ps(ytile + r * 32, y[r][0]);
    _mm512_storeu_ps(ytile + r * 32 + 16, y[r][1]);
  }
}

template <int MR>
void wide2_tile_block(const Int4Panels& w, int64_t p, const int8_t* wq, const uint8_t* aq, int64_t lda, const float* sa,
                      float* ytile) {
  if (w.block == 32) wide2_tile<MR, 8>(w, p, wq, aq, lda, sa, ytile);
  else if (w.block == 16) wide2_tile<MR, 4>(w, p, wq, aq, lda, sa, ytile);
  else wide2_tile<MR, 0>(w, p, wq, aq, lda, sa, ytile);
}

template <int MR>
void wide_tile_block(const Int4Panels& w, int64_t p, const int8_t* wq, const uint8_t* aq, int64_t lda, const float* sa,
                     float* ytile) {
  if (w.block == 32) wide_tile<MR, 8>(w, p, wq, aq, lda, sa, ytile);
  else if (w.block == 16) wide_tile<MR, 4>(w, p, wq, aq, lda, sa, ytile);
  else wide_tile<MR, 0>(w, p, wq, aq, lda, sa, ytile);
}

}  // namespace

void matmul_nbits_unpack_panel_s8__avx512vnni(const Int4Panels& w, int64_t p, int8_t* dst) {
  matmul_nbits_unpack_panel_u8__avx2(w, p, reinterpret_cast<uint8_t*>(dst));
  const float* zr = w.panel_zeros(p);
  const int64_t per_block = w.block / 4;  // 64-byte groups (4 k x 16 columns) per block
  for (int64_t b = 0; b < w.k_blocks; ++b) {
    // zero of column c in all 4 bytes of dword c
    const __m512i z = _mm512_mullo_epi32(_mm512_cvtps_epi32(_mm512_loadu_ps(zr + b * 16)), _mm512_set1_epi32(0x01010101));
    for (int64_t g = b * per_block; g < (b + 1) * per_block; ++g) {
      __m512i* d = reinterpret_cast<__m512i*>(dst + g * 64);
      _mm512_storeu_si512(d, _mm512_sub_epi8(_mm512_loadu_si512(d), z));
    }
  }
}

void matmul_nbits_q8_wide_tile__avx512vnni(const Int4Panels& w, int64_t p, const int8_t* wq, const uint8_t* aq,
                                           int64_t lda, const float* sa, int64_t mr, float* ytile) {
  static_assert(kNbitsQ8WideRows == 8, "one instantiation per row count");
  switch (mr) {
    case 1: wide_tile_block<1>(w, p, wq, aq, lda, sa, ytile); break;
    case 2: wide_tile_block<2>(w, p, wq, aq, lda, sa, ytile); break;
    case 3: wide_tile_block<3>(w, p, wq, aq, lda, sa, ytile); break;
    case 4: wide_tile_block<4>(w, p, wq, aq, lda, sa, ytile); break;
    case 5: wide_tile_block<5>(w, p, wq, aq, lda, sa, ytile); break;
    case 6: wide_tile_block<6>(w, p, wq, aq, lda, sa, ytile); break;
    case 7: wide_tile_block<7>(w, p, wq, aq, lda, sa, ytile); break;
    default: wide_tile_block<8>(w, p, wq, aq, lda, sa, ytile); break;
  }
}

void matmul_nbits_q8_wide2_tile__avx512vnni(const Int4Panels& w, int64_t p, const int8_t* wq, const uint8_t* aq,
                                            int64_t lda, const float* sa, int64_t mr, float* ytile) {
  static_assert(kNbitsQ8Wide2Rows == 6, "one instantiation per row count");
  switch (mr) {
    case 1: wide2_tile_block<1>(w, p, wq, aq, lda, sa, ytile); break;
    case 2: wide2_tile_block<2>(w, p, wq, aq, lda, sa, ytile); break;
    case 3: wide2_tile_block<3>(w, p, wq, aq, lda, sa, ytile); break;
    case 4: wide2_tile_block<4>(w, p, wq, aq, lda, sa, ytile); break;
    case 5: wide2_tile_block<5>(w, p, wq, aq, lda, sa, ytile); break;
    default: wide2_tile_block<6>(w, p, wq, aq, lda, sa, ytile); break;
  }
}

void matmul_nbits_q8_tile__avx512vnni(const Int4Panels& w, int64_t p, const uint8_t* wq, const int8_t* aq, int64_t lda,
                                const float* sa, const float* asum, int64_t mr, float* ytile) {
  nbits_q8::tile_any<DotVnni>(w, p, wq, aq, lda, sa, asum, mr, ytile);
}

}  // namespace joule::kernels::cpu
