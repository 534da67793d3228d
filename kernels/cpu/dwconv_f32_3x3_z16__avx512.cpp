// dwconv3x3_z16_f32__avx512: depthwise 3x3 convolution (dilation 1, stride 1 or 2) of one NCHW channel
// plane read in place: 16 output columns per zmm, 4 output rows per pass (each input row loaded once for them). Borders need no padded copy
// and no transposes: each tap row is a masked load (lanes whose input column falls outside [0, W) read
// as zero, masked lanes never fault) and input rows outside [0, H) are skipped; for stride 2 two
// 16-float loads are split into their even and odd columns with vpermt2ps. Per output: bias + taps in
// (kh, kw) order (a tap outside the input adds nothing), then Relu/Clip; the last column chunk is stored
// masked. Small planes (14x14, 7x7: one partly filled zmm per row) still beat interleaving 8 planes.
#include <immintrin.h>

#include "kernels/cpu/dwconv_f32.h"

namespace joule::kernels::cpu {
namespace {

// Lanes l with 0 <= c0 + l < w.
inline __mmask16 cols_in(int64_t c0, int64_t w) {
  const int64_t lo = c0 < 0 ? -c0 : 0, hi = w - c0 > 16 ? 16 : w - c0;
  if (hi <= lo) return 0;
  const uint32_t upto = hi >= 16 ? 0xFFFFu : (1u << hi) - 1u;
  return static_cast<__mmask16>(upto & ~((1u << lo) - 1u));
}

inline __m512 activate(__m512 v, Activation act, __m512 lo, __m512 hi) {
  if (act == Activation::kRelu) return _mm512_max_ps(v, _mm512_setzero_ps());
  if (act == Activation::kClip) return _mm512_min_ps(_mm512_max_ps(v, lo), hi);
  return v;
}

// Output rows [oh0, oh0 + R) of the 16-column chunk whose lane 0 reads input column c0 (tap kw = 0): each
// input row is loaded once for the R rows it feeds. Stride 1: loads at c0, c0+1, c0+2. Stride 2:
// [c0, c0+16), [c0+16, c0+32) give kw 0 (even columns) and 1 (odd); [c0+2, c0+18), [c0+18, c0+34) kw 2.
// FULL: every lane of every load is inside the row (interior chunk): plain loads.
template <bool FULL>
inline __m512 load(__mmask16 m, const float* p) {
  return FULL ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(m, p);
}

template <int S, int R, bool FULL>
inline void rows_block(const DwConvGeom& g, const float* x, int64_t oh0, int64_t c0, const __mmask16* m, const __m512* w,
                       __m512 bias, __m512* acc) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) acc[r] = bias;
#pragma GCC unroll 16
  for (int i = 0; i < (R - 1) * S + 3; ++i) {
    const int64_t ih = oh0 * S - g.pad_t + i;
    if (ih < 0 || ih >= g.h) continue;
    const float* row = x + ih * g.w + c0;
    __m512 v0, v1, v2;
    if (S == 1) {
      v0 = load<FULL>(m[0], row);
      v1 = load<FULL>(m[1], row + 1);
      v2 = load<FULL>(m[2], row + 2);
    } else {
      const __m512 a = load<FULL>(m[0], row), b = load<FULL>(m[3], row + 16);
      const __m512 c = load<FULL>(m[2], row + 2), d = load<FULL>(m[4], row + 18);
      v0 = _mm512_permutex2var_ps(a, even, b);
      v1 = _mm512_permutex2var_ps(a, odd, b);
      v2 = _mm512_permutex2var_ps(c, even, d);
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const int kh = i - r * S;
      if (kh < 0 || kh > 2) continue;
      acc[r] = _mm512_fmadd_ps(w[kh * 3 + 0], v0, acc[r]);
      acc[r] = _mm512_fmadd_ps(w[kh * 3 + 1], v1, acc[r]);
      acc[r] = _mm512_fmadd_ps(w[kh * 3 + 2], v2, acc[r]);
    }
  }
}

template <int S>
void conv_plane(const DwConvGeom& g, const float* x, const float* w9, float bias_v, const GemmEpilogue& ep, float* y) {
  constexpr int R = 4;
  __m512 w[9];
  for (int k = 0; k < 9; ++k) w[k] = _mm512_set1_ps(w9[k]);
  const __m512 bias = _mm512_set1_ps(bias_v), lo = _mm512_set1_ps(ep.lo), hi = _mm512_set1_ps(ep.hi);
  for (int64_t ow0 = 0; ow0 < g.ow; ow0 += 16) {
    const __mmask16 out_mask = cols_in(0, g.ow - ow0);
    const int64_t c0 = ow0 * S - g.pad_l;
    const __mmask16 m[5] = {cols_in(c0, g.w), cols_in(c0 + 1, g.w), cols_in(c0 + 2, g.w), cols_in(c0 + 16, g.w),
                            cols_in(c0 + 18, g.w)};
    const bool full = out_mask == 0xFFFF && m[0] == 0xFFFF && m[1] == 0xFFFF && m[2] == 0xFFFF &&
                      (S == 1 || (m[3] == 0xFFFF && m[4] == 0xFFFF));
    int64_t oh = 0;
    for (; oh + R <= g.oh; oh += R) {
      __m512 acc[R];
      if (full) {
        rows_block<S, R, true>(g, x, oh, c0, m, w, bias, acc);
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) _mm512_storeu_ps(y + (oh + r) * g.ow + ow0, activate(acc[r], ep.act, lo, hi));
      } else {
        rows_block<S, R, false>(g, x, oh, c0, m, w, bias, acc);
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) _mm512_mask_storeu_ps(y + (oh + r) * g.ow + ow0, out_mask, activate(acc[r], ep.act, lo, hi));
      }
    }
    // 1..3 rows left (7x7: 4 + 3, 14x14: 12 + 2) in one block, so their shared input rows load once.
    auto tail = [&]<int RT>() {
      __m512 acc[RT];
      rows_block<S, RT, false>(g, x, oh, c0, m, w, bias, acc);
#pragma GCC unroll 4
      for (int r = 0; r < RT; ++r) _mm512_mask_storeu_ps(y + (oh + r) * g.ow + ow0, out_mask, activate(acc[r], ep.act, lo, hi));
    };
    switch (g.oh - oh) {
      case 3: tail.template operator()<3>(); break;
      case 2: tail.template operator()<2>(); break;
      case 1: tail.template operator()<1>(); break;
      default: break;
    }
  }
}

}  // namespace

void dwconv3x3_z16_f32__avx512(const DwConvGeom& g, const float* x, const float* w9, float bias, const GemmEpilogue& ep,
                               float* y) {
  if (g.sh == 1) {
    conv_plane<1>(g, x, w9, bias, ep, y);
  } else {
    conv_plane<2>(g, x, w9, bias, ep, y);
  }
}

}  // namespace joule::kernels::cpu
