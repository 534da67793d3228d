// Body of the FP32 2-D MaxPool / AveragePool kernels, plain C++ included by pool2d_f32__avx2.cpp and
// pool2d_f32__avx512.cpp, which compile it with their ISA flags so the tap loops vectorise (8 / 16 wide).
//
// Per (n, c) plane and output row oh, the output row is built tap by tap: for each valid kernel row kh
// and each kernel column kw, out[ow] = op(out[ow], x[ih][ow * sw - pad_w + kw * dw]) over the ow whose
// input column is inside X (computed once per kw, so there is no per-element bounds test and padding
// never takes part). Taps are visited in the reference's order (kh, then kw). AveragePool divides the
// float sum by the count of taps inside X (or inside the padded input with count_include_pad).
#pragma once

#include <algorithm>
#include <limits>
#include <vector>

#include "kernels/kernel_registry.h"
#include "runtime/ops/window_geometry.h"

namespace joule::kernels::cpu {
namespace {

// [lo, hi) of outputs o whose tap k (input o * s - pad + k * d) lies in [0, in).
inline void valid_outputs(int64_t in, int64_t out, int64_t s, int64_t pad, int64_t kd, int64_t& lo, int64_t& hi) {
  // o * s >= pad - kd  and  o * s <= in - 1 + pad - kd
  const int64_t a = pad - kd, b = in - 1 + pad - kd;
  lo = a <= 0 ? 0 : (a + s - 1) / s;
  hi = b < 0 ? 0 : b / s + 1;
  lo = std::min(lo, out);
  hi = std::min(std::max(hi, lo), out);
}

template <bool Max>
void pool2d_plane(const ops::WindowGeometry& g, bool include_pad, const float* x, float* y, float* count_row) {
  const int64_t H = g.in[1], W = g.in[2], OH = g.out[1], OW = g.out[2];
  const int64_t kh_n = g.kernel[1], kw_n = g.kernel[2], sh = g.strides[1], sw = g.strides[2];
  const int64_t dh = g.dilations[1], dw = g.dilations[2], ph = g.pad_begin[1], pw = g.pad_begin[2];
  for (int64_t oh = 0; oh < OH; ++oh) {
    float* out = y + oh * OW;
    std::fill(out, out + OW, Max ? -std::numeric_limits<float>::infinity() : 0.0f);
    if (!Max) std::fill(count_row, count_row + OW, 0.0f);
    for (int64_t kh = 0; kh < kh_n; ++kh) {
      const int64_t ih = oh * sh - ph + kh * dh;
      if (ih < 0 || ih >= H) continue;
      const float* row = x + ih * W;
      for (int64_t kw = 0; kw < kw_n; ++kw) {
        int64_t lo, hi;
        valid_outputs(W, OW, sw, pw, kw * dw, lo, hi);
        const float* src = row - pw + kw * dw;
        if (sw == 1) {
          for (int64_t ow = lo; ow < hi; ++ow) {
            const float v = src[ow];
            if constexpr (Max) out[ow] = v > out[ow] ? v : out[ow];
            else out[ow] += v;
          }
        } else {
          for (int64_t ow = lo; ow < hi; ++ow) {
            const float v = src[ow * sw];
            if constexpr (Max) out[ow] = v > out[ow] ? v : out[ow];
            else out[ow] += v;
          }
        }
        if (!Max && !include_pad)
          for (int64_t ow = lo; ow < hi; ++ow) count_row[ow] += 1.0f;
      }
    }
    if constexpr (!Max) {
      if (include_pad) {  // taps inside the padded input [-pad_begin, in + pad_end), per dim
        const int64_t Hp = H + g.pad_begin[1] + g.pad_end[1], Wp = W + g.pad_begin[2] + g.pad_end[2];
        int64_t rows = 0;
        for (int64_t kh = 0; kh < kh_n; ++kh) rows += oh * sh + kh * dh < Hp;
        for (int64_t ow = 0; ow < OW; ++ow) {
          int64_t cols = 0;
          for (int64_t kw = 0; kw < kw_n; ++kw) cols += ow * sw + kw * dw < Wp;
          count_row[ow] = static_cast<float>(rows * cols);
        }
      }
      for (int64_t ow = 0; ow < OW; ++ow) out[ow] = count_row[ow] > 0 ? out[ow] / count_row[ow] : 0.0f;
    }
  }
}

}  // namespace
}  // namespace joule::kernels::cpu
