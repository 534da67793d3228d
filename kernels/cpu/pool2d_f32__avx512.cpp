// FP32 2-D MaxPool / AveragePool planes (pool2d_f32_impl.h) compiled with AVX-512F, plus a MaxPool path
// for dilation 1 and column stride 1 or 2 (ResNet's 3x3 stride-2 pool): per output row, the valid input
// rows are first reduced column-wise into a row buffer bordered by -inf (rowmax[pad_w + iw]), then
// out[ow] = max_k rowmax[ow*sw + k]; for sw = 2 the even / odd columns of 32 buffered floats are split
// with two permutes. max(v, acc) = v > acc ? v : acc as in the reference, so NaN inputs are skipped
// the same way and the result equals the reference's (max is exact; only the sign of a zero maximum
// may differ, as the taps are visited in another order).
#include <immintrin.h>

#include "kernels/cpu/pool2d_f32_impl.h"

namespace joule::kernels::cpu {
namespace {

bool fast_max_applies(const ops::WindowGeometry& g) {
  return g.dilations[1] == 1 && g.dilations[2] == 1 && (g.strides[2] == 1 || g.strides[2] == 2);
}

// rowbuf: at least max(pad_w + W, OW*sw + KW) + 48 floats.
void max_plane_rows(const ops::WindowGeometry& g, const float* x, float* y, float* rowbuf) {
  const int64_t H = g.in[1], W = g.in[2], OH = g.out[1], OW = g.out[2];
  const int64_t KH = g.kernel[1], KW = g.kernel[2], sh = g.strides[1], sw = g.strides[2];
  const int64_t ph = g.pad_begin[1], pw = g.pad_begin[2];
  const float ninf = -std::numeric_limits<float>::infinity();
  const __m512 vninf = _mm512_set1_ps(ninf);
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  float* row = rowbuf + pw;  // row[iw], iw in [-pw, ...): -inf outside [0, W)
  for (int64_t oh = 0; oh < OH; ++oh) {
    // Column-wise max of the valid input rows into row[0, W).
    bool first = true;
    for (int64_t kh = 0; kh < KH; ++kh) {
      const int64_t ih = oh * sh - ph + kh;
      if (ih < 0 || ih >= H) continue;
      const float* src = x + ih * W;
      int64_t iw = 0;
      if (first) {
        std::copy(src, src + W, row);
      } else {
        for (; iw + 16 <= W; iw += 16)
          _mm512_storeu_ps(row + iw, _mm512_max_ps(_mm512_loadu_ps(src + iw), _mm512_loadu_ps(row + iw)));
        for (; iw < W; ++iw) row[iw] = src[iw] > row[iw] ? src[iw] : row[iw];
      }
      first = false;
    }
    if (first) std::fill(row, row + W, ninf);  // no valid row (reference: -inf)
    float* out = y + oh * OW;
    int64_t ow = 0;
    if (sw == 1) {
      for (; ow + 16 <= OW; ow += 16) {
        __m512 acc = vninf;
        for (int64_t k = 0; k < KW; ++k) acc = _mm512_max_ps(_mm512_loadu_ps(rowbuf + ow + k), acc);
        _mm512_storeu_ps(out + ow, acc);
      }
    } else {
      for (; ow + 16 <= OW; ow += 16) {
        __m512 acc = vninf;
        for (int64_t k = 0; k < KW; ++k) {
          const float* p = rowbuf + 2 * ow + (k & ~int64_t{1});
          const __m512 a = _mm512_loadu_ps(p), b = _mm512_loadu_ps(p + 16);
          acc = _mm512_max_ps(_mm512_permutex2var_ps(a, (k & 1) ? odd : even, b), acc);
        }
        _mm512_storeu_ps(out + ow, acc);
      }
    }
    for (; ow < OW; ++ow) {
      float acc = ninf;
      for (int64_t k = 0; k < KW; ++k) {
        const float v = rowbuf[ow * sw + k];
        acc = v > acc ? v : acc;
      }
      out[ow] = acc;
    }
  }
}

}  // namespace

void pool2d_f32_planes_avx512(bool max, bool include_pad, const ops::WindowGeometry& g, const float* x, float* y, int64_t planes) {
  const int64_t in_plane = g.in[1] * g.in[2], out_plane = g.out[1] * g.out[2];
  if (max && fast_max_applies(g)) {
    const int64_t len = std::max(g.pad_begin[2] + g.in[2], g.out[2] * g.strides[2] + g.kernel[2]) + 48;
    std::vector<float> rowbuf(static_cast<size_t>(len), -std::numeric_limits<float>::infinity());
    for (int64_t p = 0; p < planes; ++p) max_plane_rows(g, x + p * in_plane, y + p * out_plane, rowbuf.data());
    return;
  }
  std::vector<float> count_row(static_cast<size_t>(g.out[2]));
  for (int64_t p = 0; p < planes; ++p) {
    if (max) pool2d_plane<true>(g, include_pad, x + p * in_plane, y + p * out_plane, count_row.data());
    else pool2d_plane<false>(g, include_pad, x + p * in_plane, y + p * out_plane, count_row.data());
  }
}

}  // namespace joule::kernels::cpu
