// Winograd F(4x4, 3x3) input / output transforms, 8 tiles per ymm (see conv_winograd_f32.h).
// A group's 8 tiles lie 4 columns apart in the input rows: one 4x8 register transpose of the row
// segment [32 floats] gives patch columns 0..3 of the 8 tiles, a second one at +4 gives columns 4, 5.
// Groups that cross a tile row or the plane's edge gather their patch rows into a small buffer first.
#include <immintrin.h>

#include <algorithm>

#include "kernels/cpu/conv_winograd_f32.h"

namespace joule::kernels::cpu {
namespace {

// o = B^T d for one 6-vector (B^T of F(4x4, 3x3), rows: [4 0 -5 0 1 0] [0 -4 -4 1 1 0] [0 4 -4 -1 1 0]
// [0 -2 -1 2 1 0] [0 2 -1 -2 1 0] [0 4 0 -5 0 1]).
inline void input_1d(const __m256 d[6], __m256 o[6]) {
  const __m256 four = _mm256_set1_ps(4.0f), five = _mm256_set1_ps(5.0f), two = _mm256_set1_ps(2.0f);
  o[0] = _mm256_fmadd_ps(four, d[0], _mm256_fnmadd_ps(five, d[2], d[4]));
  const __m256 t1 = _mm256_fnmadd_ps(four, d[2], d[4]);  // d4 - 4 d2
  const __m256 t2 = _mm256_fnmadd_ps(four, d[1], d[3]);  // d3 - 4 d1
  o[1] = _mm256_add_ps(t1, t2);
  o[2] = _mm256_sub_ps(t1, t2);
  const __m256 t3 = _mm256_sub_ps(d[4], d[2]);
  const __m256 t4 = _mm256_mul_ps(two, _mm256_sub_ps(d[3], d[1]));
  o[3] = _mm256_add_ps(t3, t4);
  o[4] = _mm256_sub_ps(t3, t4);
  o[5] = _mm256_fmadd_ps(four, d[1], _mm256_fnmadd_ps(five, d[3], d[5]));
}

// o = A^T m for one 6-vector (A^T rows: [1 1 1 1 1 0] [0 1 -1 2 -2 0] [0 1 1 4 4 0] [0 1 -1 8 -8 1]).
inline void output_1d(const __m256 m[6], __m256 o[4]) {
  const __m256 s12 = _mm256_add_ps(m[1], m[2]), d12 = _mm256_sub_ps(m[1], m[2]);
  const __m256 s34 = _mm256_add_ps(m[3], m[4]), d34 = _mm256_sub_ps(m[3], m[4]);
  o[0] = _mm256_add_ps(_mm256_add_ps(m[0], s12), s34);
  o[1] = _mm256_fmadd_ps(_mm256_set1_ps(2.0f), d34, d12);
  o[2] = _mm256_fmadd_ps(_mm256_set1_ps(4.0f), s34, s12);
  o[3] = _mm256_add_ps(_mm256_fmadd_ps(_mm256_set1_ps(8.0f), d34, d12), m[5]);
}

// From p[4k + c] = column c of tile k (k < 8, c < 4): the 4 column vectors, lanes in kWinoLaneTile order.
inline void deinterleave4(const float* p, __m256 c[4]) {
  const __m256 a0 = _mm256_loadu_ps(p), a1 = _mm256_loadu_ps(p + 8), a2 = _mm256_loadu_ps(p + 16), a3 = _mm256_loadu_ps(p + 24);
  const __m256 l01 = _mm256_unpacklo_ps(a0, a1), h01 = _mm256_unpackhi_ps(a0, a1);
  const __m256 l23 = _mm256_unpacklo_ps(a2, a3), h23 = _mm256_unpackhi_ps(a2, a3);
  c[0] = _mm256_unpacklo_ps(l01, l23);
  c[1] = _mm256_unpackhi_ps(l01, l23);
  c[2] = _mm256_unpacklo_ps(h01, h23);
  c[3] = _mm256_unpackhi_ps(h01, h23);
}

// Columns 0 and 1 only (for patch columns 4, 5).
inline void deinterleave2(const float* p, __m256 c[2]) {
  const __m256 a0 = _mm256_loadu_ps(p), a1 = _mm256_loadu_ps(p + 8), a2 = _mm256_loadu_ps(p + 16), a3 = _mm256_loadu_ps(p + 24);
  const __m256 l01 = _mm256_unpacklo_ps(a0, a1), l23 = _mm256_unpacklo_ps(a2, a3);
  c[0] = _mm256_unpacklo_ps(l01, l23);
  c[1] = _mm256_unpackhi_ps(l01, l23);
}

// The inverse of deinterleave4: out[4k + c] = column c of tile k.
inline void interleave4(const __m256 c[4], float* out) {
  const __m256 a = _mm256_unpacklo_ps(c[0], c[1]), b = _mm256_unpacklo_ps(c[2], c[3]);  // tiles 0,4 | 1,5
  const __m256 e = _mm256_unpackhi_ps(c[0], c[1]), f = _mm256_unpackhi_ps(c[2], c[3]);  // tiles 2,6 | 3,7
  _mm256_storeu_ps(out, _mm256_shuffle_ps(a, b, _MM_SHUFFLE(1, 0, 1, 0)));
  _mm256_storeu_ps(out + 8, _mm256_shuffle_ps(e, f, _MM_SHUFFLE(1, 0, 1, 0)));
  _mm256_storeu_ps(out + 16, _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 2, 3, 2)));
  _mm256_storeu_ps(out + 24, _mm256_shuffle_ps(e, f, _MM_SHUFFLE(3, 2, 3, 2)));
}

// Padded planes in scratch: input rows 4*TH + 2 of 4*TW + 4 floats (the zero borders included, room for
// the 36-float reads of a group's last tile), output rows 4*TH of 4*TW floats.
int64_t in_row(const WinogradGeom& g) { return 4 * g.TW + 4; }
int64_t in_rows(const WinogradGeom& g) { return 4 * g.TH + 2; }

// Row r of the patches of tiles t0.. t0+7 (a group may span tile rows): seg[0][4k + c] = patch column c
// of tile k, seg[1][4k + c] = patch column 4 + c (c < 2 used). Returns the row itself when the 8 tiles
// lie in one tile row (then seg[1] is the row + 4), else gathers into seg.
const float* patch_row(const float* plane, const WinogradGeom& g, int64_t t0, int64_t r, float (*seg)[32]) {
  int64_t ti = t0 / g.TW, tj = t0 % g.TW;
  const int64_t pw = in_row(g);
  // One tile row, and not past the last tile (the padding groups of the last panel start past it).
  if (tj + 8 <= g.TW && t0 + 8 <= g.T) return plane + (4 * ti + r) * pw + 4 * tj;
  for (int64_t k = 0; k < 8;) {
    if (ti >= g.TH) {
      std::fill(seg[0] + 4 * k, seg[0] + 32, 0.0f);
      std::fill(seg[1] + 4 * k, seg[1] + 32, 0.0f);
      break;
    }
    const int64_t len = std::min(g.TW - tj, 8 - k);
    const float* src = plane + (4 * ti + r) * pw + 4 * tj;
    std::copy(src, src + 4 * len, seg[0] + 4 * k);
    std::copy(src + 4, src + 4 + 4 * len, seg[1] + 4 * k);
    k += len;
    tj = 0;
    ++ti;
  }
  return nullptr;
}

}  // namespace

int64_t winograd_f4_scratch_floats(const WinogradGeom& g) { return in_rows(g) * in_row(g) + 64; }

void winograd_f4_input_channel__avx2(const float* x, const WinogradGeom& g, int64_t groups, float* dst, int64_t nr,
                                     int64_t panel_stride, int64_t estride, float* scratch) {
  // Zero-bordered copy: plane[(ih + pad_top) * pw + iw + pad_left] = x[ih, iw].
  const int64_t pw = in_row(g), ph = in_rows(g);
  const int64_t cl = std::min(g.pad_left, pw), cw = std::clamp<int64_t>(pw - cl, 0, g.W);
  for (int64_t pr = 0; pr < ph; ++pr) {
    float* row = scratch + pr * pw;
    const int64_t ih = pr - g.pad_top;
    if (ih < 0 || ih >= g.H) {
      std::fill(row, row + pw, 0.0f);
      continue;
    }
    std::fill(row, row + cl, 0.0f);
    std::copy(x + ih * g.W, x + ih * g.W + cw, row + cl);
    std::fill(row + cl + cw, row + pw, 0.0f);
  }
  std::fill(scratch + ph * pw, scratch + ph * pw + 64, 0.0f);
  alignas(32) float seg[2][32];
  alignas(32) float w[6][6][8];  // w[r][j] = (d B)[r][j] of the 8 tiles
  for (int64_t gi = 0; gi < groups; ++gi) {
    const int64_t t0 = 8 * gi;
    for (int64_t r = 0; r < 6; ++r) {
      const float* p0 = patch_row(scratch, g, t0, r, seg);
      const float* p4 = p0 ? p0 + 4 : seg[1];
      if (!p0) p0 = seg[0];
      __m256 d[6], o[6];
      deinterleave4(p0, d);
      deinterleave2(p4, d + 4);
      input_1d(d, o);
      for (int j = 0; j < 6; ++j) _mm256_store_ps(w[r][j], o[j]);
    }
    float* out = dst + (t0 / nr) * panel_stride + t0 % nr;
    for (int j = 0; j < 6; ++j) {
      __m256 d[6], o[6];
      for (int r = 0; r < 6; ++r) d[r] = _mm256_load_ps(w[r][j]);
      input_1d(d, o);
      for (int i = 0; i < 6; ++i) _mm256_storeu_ps(out + (6 * i + j) * estride, o[i]);
    }
  }
}

void winograd_f4_output_channel__avx2(const float* m, int64_t mstride, const WinogradGeom& g, float bias, const GemmEpilogue& ep,
                                      float* y, float* scratch) {
  // Tiles are written into a 4*TH x 4*TW plane, whose top-left OH x OW corner is then copied to y.
  const int64_t pw = 4 * g.TW;
  const __m256 b = _mm256_set1_ps(bias), lo = _mm256_set1_ps(ep.lo), hi = _mm256_set1_ps(ep.hi), zero = _mm256_setzero_ps();
  alignas(32) float s[6][4][8];  // s[i][c] = (m A)[i][c]
  alignas(32) float buf[32];
  for (int64_t t0 = 0; t0 < g.T; t0 += 8) {
    for (int i = 0; i < 6; ++i) {
      __m256 v[6], o[4];
      for (int j = 0; j < 6; ++j) v[j] = _mm256_loadu_ps(m + (6 * i + j) * mstride + t0);
      output_1d(v, o);
      for (int c = 0; c < 4; ++c) _mm256_store_ps(s[i][c], o[c]);
    }
    __m256 yv[4][4];  // yv[r][c]
    for (int c = 0; c < 4; ++c) {
      __m256 v[6], o[4];
      for (int i = 0; i < 6; ++i) v[i] = _mm256_load_ps(s[i][c]);
      output_1d(v, o);
      for (int r = 0; r < 4; ++r) {
        __m256 t = _mm256_add_ps(o[r], b);
        if (ep.act == Activation::kRelu) {
          t = _mm256_max_ps(t, zero);
        } else if (ep.act == Activation::kClip) {
          t = _mm256_min_ps(_mm256_max_ps(t, lo), hi);
        }
        yv[r][c] = t;
      }
    }
    const int64_t ti = t0 / g.TW, tj = t0 % g.TW;
    for (int64_t r = 0; r < 4; ++r) {
      if (tj + 8 <= g.TW) {
        interleave4(yv[r], scratch + (4 * ti + r) * pw + 4 * tj);
        continue;
      }
      interleave4(yv[r], buf);
      int64_t ti_ = ti, tj_ = tj;
      for (int64_t k = 0; k < 8 && ti_ < g.TH;) {
        const int64_t len = std::min(g.TW - tj_, 8 - k);
        std::copy(buf + 4 * k, buf + 4 * (k + len), scratch + (4 * ti_ + r) * pw + 4 * tj_);
        k += len;
        tj_ = 0;
        ++ti_;
      }
    }
  }
  for (int64_t oh = 0; oh < g.OH; ++oh) std::copy(scratch + oh * pw, scratch + oh * pw + g.OW, y + oh * g.OW);
}

}  // namespace joule::kernels::cpu
