// dwconv3x3_f32_rows__avx2: depthwise 3x3 convolution (dilation 1, stride 1 or 2) of one NCHW channel
// plane, 8 output columns per ymm and 4 output rows per pass, so each input row loaded serves up to 3
// output rows (stride 1: 18 loads for 36 FMAs). The plane is first copied into a zero-padded buffer
// (buffer column c holds input column c - pad_l, buffer row r input row r - pad_t), which makes the tap
// loops free of bounds checks; for stride 2 each padded row is split into its even and odd columns on
// the way, so every tap reads 8 consecutive floats. Bias and Relu/Clip are applied in-register and the
// last column chunk is stored masked. Per output: bias + taps in (kh, kw) order, then the activation
// (the same order as dwconv_f32_c8__avx2).
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/cpu/dwconv_f32.h"

namespace joule::kernels::cpu {
namespace {

inline int64_t round8(int64_t v) { return (v + 7) / 8 * 8; }

// Floats per padded row (stride 1), or per phase row (stride 2; a padded row holds both phases).
inline int64_t phase_len(const DwConvGeom& g) { return round8(g.ow) + 8; }
inline int64_t padded_rows(const DwConvGeom& g) { return (g.oh - 1) * g.sh + 3; }
inline int64_t row_stride(const DwConvGeom& g) { return g.sh == 1 ? phase_len(g) : 2 * phase_len(g); }

// dst[c] = x row value at column c - pad_l (zero outside the row / when row is null), c in [0, len).
void padded_row(const DwConvGeom& g, const float* row, int64_t len, float* dst) {
  if (!row) {
    std::memset(dst, 0, static_cast<size_t>(len) * sizeof(float));
    return;
  }
  const int64_t c_lo = std::clamp<int64_t>(g.pad_l, 0, len), c_hi = std::clamp<int64_t>(g.pad_l + g.w, c_lo, len);
  std::memset(dst, 0, static_cast<size_t>(c_lo) * sizeof(float));
  std::memcpy(dst + c_lo, row + (c_lo - g.pad_l), static_cast<size_t>(c_hi - c_lo) * sizeof(float));
  std::memset(dst + c_hi, 0, static_cast<size_t>(len - c_hi) * sizeof(float));
}

void pad_plane(const DwConvGeom& g, const float* x, float* buf, float* tmp) {
  const int64_t hb = padded_rows(g), pl = phase_len(g), rs = row_stride(g);
  for (int64_t r = 0; r < hb; ++r) {
    const int64_t ih = r - g.pad_t;
    const float* src = ih >= 0 && ih < g.h ? x + ih * g.w : nullptr;
    float* dst = buf + r * rs;
    if (g.sh == 1) {
      padded_row(g, src, pl, dst);
      continue;
    }
    // Stride 2: even columns to dst[0, pl), odd columns to dst[pl, 2 pl).
    padded_row(g, src, 2 * pl, tmp);
    for (int64_t j = 0; j < pl; j += 8) {
      const __m256 a = _mm256_loadu_ps(tmp + 2 * j), b = _mm256_loadu_ps(tmp + 2 * j + 8);
      const __m256 ev = _mm256_shuffle_ps(a, b, 0x88), od = _mm256_shuffle_ps(a, b, 0xDD);
      _mm256_storeu_ps(dst + j, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(ev), 0xD8)));
      _mm256_storeu_ps(dst + pl + j, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(od), 0xD8)));
    }
  }
}

inline __m256 activate(__m256 v, Activation act, __m256 lo, __m256 hi) {
  if (act == Activation::kRelu) return _mm256_max_ps(v, _mm256_setzero_ps());
  if (act == Activation::kClip) return _mm256_min_ps(_mm256_max_ps(v, lo), hi);
  return v;
}

// R output rows from padded row r0*S on, 8 columns from `col` (phase-row units): offsets of taps
// kw = 0, 1, 2 inside a padded row are o0, o1, o2.
template <int S, int R>
inline void rows_block(const float* buf, int64_t rs, int64_t o1, const __m256* w, __m256 bias, __m256* acc) {
  constexpr int64_t o0 = 0;
  const int64_t o2 = S == 1 ? 2 : 1;
  for (int r = 0; r < R; ++r) acc[r] = bias;
#pragma GCC unroll 16
  for (int i = 0; i < (R - 1) * S + 3; ++i) {
    const float* row = buf + i * rs;
    const __m256 v0 = _mm256_loadu_ps(row + o0), v1 = _mm256_loadu_ps(row + o1), v2 = _mm256_loadu_ps(row + o2);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const int kh = i - r * S;
      if (kh < 0 || kh > 2) continue;
      acc[r] = _mm256_fmadd_ps(w[kh * 3 + 0], v0, acc[r]);
      acc[r] = _mm256_fmadd_ps(w[kh * 3 + 1], v1, acc[r]);
      acc[r] = _mm256_fmadd_ps(w[kh * 3 + 2], v2, acc[r]);
    }
  }
}

template <int S>
void conv_plane(const DwConvGeom& g, const float* buf, const float* w9, float bias_v, const GemmEpilogue& ep, float* y) {
  const int64_t rs = row_stride(g), o1 = S == 1 ? 1 : phase_len(g), OW = g.ow;
  __m256 w[9];
  for (int k = 0; k < 9; ++k) w[k] = _mm256_set1_ps(w9[k]);
  const __m256 bias = _mm256_set1_ps(bias_v), lo = _mm256_set1_ps(ep.lo), hi = _mm256_set1_ps(ep.hi);
  const int64_t tail = OW % 8, full = OW - tail;
  alignas(32) int32_t mask_bits[8];
  for (int l = 0; l < 8; ++l) mask_bits[l] = l < tail ? -1 : 0;
  const __m256i mask = _mm256_load_si256(reinterpret_cast<const __m256i*>(mask_bits));
  auto store = [&](float* dst, __m256 v, bool partial) {
    v = activate(v, ep.act, lo, hi);
    if (partial) {
      _mm256_maskstore_ps(dst, mask, v);
    } else {
      _mm256_storeu_ps(dst, v);
    }
  };
  int64_t oh = 0;
  for (; oh + 4 <= g.oh; oh += 4) {
    const float* rows = buf + oh * S * rs;
    for (int64_t ow = 0; ow < OW; ow += 8) {
      __m256 acc[4];
      rows_block<S, 4>(rows + ow, rs, o1, w, bias, acc);
      const bool partial = ow >= full;
      for (int r = 0; r < 4; ++r) store(y + (oh + r) * OW + ow, acc[r], partial);
    }
  }
  for (; oh < g.oh; ++oh) {
    const float* rows = buf + oh * S * rs;
    for (int64_t ow = 0; ow < OW; ow += 8) {
      __m256 acc[1];
      rows_block<S, 1>(rows + ow, rs, o1, w, bias, acc);
      store(y + oh * OW + ow, acc[0], ow >= full);
    }
  }
}

}  // namespace

int64_t dwconv3x3_rows_scratch(const DwConvGeom& g) { return padded_rows(g) * row_stride(g) + 2 * phase_len(g) + 8; }

void dwconv3x3_rows_f32__avx2(const DwConvGeom& g, const float* x, const float* w9, float bias, const GemmEpilogue& ep,
                              float* y, float* scratch) {
  float* buf = scratch;
  float* tmp = scratch + padded_rows(g) * row_stride(g);
  pad_plane(g, x, buf, tmp);
  if (g.sh == 1) {
    conv_plane<1>(g, buf, w9, bias, ep, y);
  } else {
    conv_plane<2>(g, buf, w9, bias, ep, y);
  }
}

}  // namespace joule::kernels::cpu
