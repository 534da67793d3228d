// dwconv_f32_c8__avx2: depthwise convolution of 8 channels at once, one ymm lane per channel, so every
// FMA is full whatever the plane size (small late planes of MobileNets: OW = 2..8). The 8 channel
// planes are interleaved into a zero-padded buffer [Hb][Wb][8] (column c holds input column c - pad_l),
// which makes the tap loops free of bounds checks and handles any kernel size, stride and dilation;
// 8 (or 4) output columns are computed together (independent FMA chains; 3x3 unrolled at compile time;
// a row tail reruns the last 8/4 columns instead of single columns), then de-interleaved into NCHW.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/cpu/dwconv_f32.h"

namespace joule::kernels::cpu {
namespace {

// dst[j * ld_dst + i] = src[i * ld_src + j] for an 8x8 block.
inline void transpose8x8(const float* src, int64_t ld_src, float* dst, int64_t ld_dst) {
  __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + ld_src);
  __m256 r2 = _mm256_loadu_ps(src + 2 * ld_src), r3 = _mm256_loadu_ps(src + 3 * ld_src);
  __m256 r4 = _mm256_loadu_ps(src + 4 * ld_src), r5 = _mm256_loadu_ps(src + 5 * ld_src);
  __m256 r6 = _mm256_loadu_ps(src + 6 * ld_src), r7 = _mm256_loadu_ps(src + 7 * ld_src);
  __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
  __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  _mm256_storeu_ps(dst + 0 * ld_dst, _mm256_permute2f128_ps(u0, u4, 0x20));
  _mm256_storeu_ps(dst + 1 * ld_dst, _mm256_permute2f128_ps(u1, u5, 0x20));
  _mm256_storeu_ps(dst + 2 * ld_dst, _mm256_permute2f128_ps(u2, u6, 0x20));
  _mm256_storeu_ps(dst + 3 * ld_dst, _mm256_permute2f128_ps(u3, u7, 0x20));
  _mm256_storeu_ps(dst + 4 * ld_dst, _mm256_permute2f128_ps(u0, u4, 0x31));
  _mm256_storeu_ps(dst + 5 * ld_dst, _mm256_permute2f128_ps(u1, u5, 0x31));
  _mm256_storeu_ps(dst + 6 * ld_dst, _mm256_permute2f128_ps(u2, u6, 0x31));
  _mm256_storeu_ps(dst + 7 * ld_dst, _mm256_permute2f128_ps(u3, u7, 0x31));
}

// Interleaves rows [0, Hb) x columns [0, Wb) of the padded window of `nch` planes into buf[Hb][Wb][8].
void pack_c8(const DwConvGeom& g, const float* x, int64_t nch, int64_t hb, int64_t wb, float* buf) {
  const int64_t plane = g.h * g.w;
  const int64_t c_lo = std::clamp<int64_t>(g.pad_l, 0, wb), c_hi = std::clamp<int64_t>(g.pad_l + g.w, c_lo, wb);
  for (int64_t r = 0; r < hb; ++r) {
    float* row = buf + r * wb * 8;
    const int64_t ih = r - g.pad_t;
    if (ih < 0 || ih >= g.h) {
      std::memset(row, 0, static_cast<size_t>(wb * 8) * sizeof(float));
      continue;
    }
    std::memset(row, 0, static_cast<size_t>(c_lo * 8) * sizeof(float));
    std::memset(row + c_hi * 8, 0, static_cast<size_t>((wb - c_hi) * 8) * sizeof(float));
    const float* src = x + ih * g.w - g.pad_l;  // src[c] = input column c - pad_l
    int64_t c = c_lo;
    if (nch == 8) {
      // 8 columns x 8 channels per step: an 8x8 transpose in registers.
      for (; c + 8 <= c_hi; c += 8) transpose8x8(src + c, plane, row + c * 8, 8);
      if (c < c_hi && c_hi - c_lo >= 8) {  // last columns: one more transpose ending at c_hi (overlap rewritten)
        transpose8x8(src + c_hi - 8, plane, row + (c_hi - 8) * 8, 8);
        c = c_hi;
      }
    }
    for (; c < c_hi; ++c) {
      float* d = row + c * 8;
      for (int64_t l = 0; l < nch; ++l) d[l] = src[l * plane + c];
      for (int64_t l = nch; l < 8; ++l) d[l] = 0.0f;
    }
  }
}

inline __m256 activate(__m256 v, Activation act, __m256 lo, __m256 hi) {
  if (act == Activation::kRelu) return _mm256_max_ps(v, _mm256_setzero_ps());
  if (act == Activation::kClip) return _mm256_min_ps(_mm256_max_ps(v, lo), hi);
  return v;
}

// NC (4 or 8) output columns [ow, ow+NC) of one output row: out[ow..][8] = act(bias + taps in (kh, kw)
// order), NC independent FMA chains. KH/KW/SW > 0: kernel size and column stride known at compile time
// (loops unrolled, constant load offsets; SW > 0 implies dilation 1); 0: read from g.
template <int NC, int KH, int KW, int SW>
inline void step_cols(const DwConvGeom& g, const float* w8, __m256 bias, Activation act, __m256 lo, __m256 hi,
                      const float* rows, int64_t wb, int64_t ow, float* orow) {
  const int64_t kh = KH > 0 ? KH : g.kh, kw = KW > 0 ? KW : g.kw, sw8 = (SW > 0 ? SW : g.sw) * 8,
                dw8 = (SW > 0 ? 1 : g.dw) * 8;
  __m256 a[NC];
#pragma GCC unroll 8
  for (int c = 0; c < NC; ++c) a[c] = bias;
#pragma GCC unroll 8
  for (int64_t i = 0; i < kh; ++i) {
    const float* r = rows + i * g.dh * wb * 8 + ow * sw8;
    const float* wr = w8 + i * kw * 8;
#pragma GCC unroll 8
    for (int64_t j = 0; j < kw; ++j) {
      const __m256 wv = _mm256_loadu_ps(wr + j * 8);
      const float* p = r + j * dw8;
#pragma GCC unroll 8
      for (int c = 0; c < NC; ++c) a[c] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(p + c * sw8), a[c]);
    }
  }
#pragma GCC unroll 8
  for (int c = 0; c < NC; ++c) _mm256_storeu_ps(orow + (ow + c) * 8, activate(a[c], act, lo, hi));
}

// All output rows into out[OH*OW][8]. Rows of 4+ columns run only 8- or 4-column steps, the last one
// shifted back to end at OW (the overlapped columns are computed again, identically), so no column runs
// a single latency-bound FMA chain.
template <int KH, int KW, int SW>
void compute_rows(const DwConvGeom& g, const float* w8, const float* bias8, const GemmEpilogue& ep, const float* buf,
                  int64_t wb, float* out) {
  const __m256 bias = _mm256_loadu_ps(bias8), lo = _mm256_set1_ps(ep.lo), hi = _mm256_set1_ps(ep.hi);
  const int64_t OW = g.ow, sw8 = g.sw * 8, dw8 = g.dw * 8;
  for (int64_t oh = 0; oh < g.oh; ++oh) {
    const float* rows = buf + oh * g.sh * wb * 8;
    float* orow = out + oh * OW * 8;
    if (OW >= 8) {
      for (int64_t ow = 0; ow < OW; ow += 8)
        step_cols<8, KH, KW, SW>(g, w8, bias, ep.act, lo, hi, rows, wb, std::min(ow, OW - 8), orow);
      continue;
    }
    if (OW >= 4) {
      for (int64_t ow = 0; ow < OW; ow += 4)
        step_cols<4, KH, KW, SW>(g, w8, bias, ep.act, lo, hi, rows, wb, std::min(ow, OW - 4), orow);
      continue;
    }
    for (int64_t ow = 0; ow < OW; ++ow) {
      __m256 a0 = bias;
      for (int64_t i = 0; i < g.kh; ++i) {
        const float* r = rows + i * g.dh * wb * 8 + ow * sw8;
        const float* wr = w8 + i * g.kw * 8;
        for (int64_t j = 0; j < g.kw; ++j) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(wr + j * 8), _mm256_loadu_ps(r + j * dw8), a0);
      }
      _mm256_storeu_ps(orow + ow * 8, activate(a0, ep.act, lo, hi));
    }
  }
}

}  // namespace

int64_t dwconv_f32_c8_scratch(const DwConvGeom& g) {
  const int64_t hb = (g.oh - 1) * g.sh + (g.kh - 1) * g.dh + 1, wb = (g.ow - 1) * g.sw + (g.kw - 1) * g.dw + 1;
  return hb * wb * 8 + g.oh * g.ow * 8 + 8;
}

void dwconv_f32_c8__avx2(const DwConvGeom& g, const float* x, int64_t nch, const float* w8, const float* bias8,
                         const GemmEpilogue& ep, float* y, float* scratch) {
  const int64_t hb = (g.oh - 1) * g.sh + (g.kh - 1) * g.dh + 1, wb = (g.ow - 1) * g.sw + (g.kw - 1) * g.dw + 1;
  float* buf = scratch;
  float* out = scratch + hb * wb * 8;
  pack_c8(g, x, nch, hb, wb, buf);
  if (g.kh == 3 && g.kw == 3 && g.dw == 1 && g.sw == 1) {
    compute_rows<3, 3, 1>(g, w8, bias8, ep, buf, wb, out);
  } else if (g.kh == 3 && g.kw == 3 && g.dw == 1 && g.sw == 2) {
    compute_rows<3, 3, 2>(g, w8, bias8, ep, buf, wb, out);
  } else {
    compute_rows<0, 0, 0>(g, w8, bias8, ep, buf, wb, out);
  }
  // De-interleave out[OH*OW][8] into the nch output planes.
  const int64_t n = g.oh * g.ow;
  int64_t p0 = 0;
  if (nch == 8) {
    for (; p0 + 8 <= n; p0 += 8) transpose8x8(out + p0 * 8, 8, y + p0, n);
    if (p0 < n && n >= 8) {  // last pixels: one more transpose ending at n (overlap rewritten)
      transpose8x8(out + (n - 8) * 8, 8, y + n - 8, n);
      p0 = n;
    }
  }
  for (int64_t l = 0; l < nch; ++l) {
    float* yl = y + l * n;
    for (int64_t p = nch == 8 ? p0 : 0; p < n; ++p) yl[p] = out[p * 8 + l];
  }
}

}  // namespace joule::kernels::cpu
