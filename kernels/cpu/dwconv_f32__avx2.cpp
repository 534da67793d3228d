// dwconv_f32__avx2: depthwise KxK convolution of one channel plane (NCHW), stride 1 or 2, dilation 1.
// Each input row a tap row needs is copied into a zero-padded row buffer (column j holds input column
// j - pad_l), so the tap loops have no bounds checks: y[oh, ow] += w[kh, kw] * row_ih[ow*s + kw].
// Stride 1 runs 8 output columns per ymm FMA; stride 2 is left to the compiler (AVX2 flags).
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/cpu/dwconv_f32.h"

namespace joule::kernels::cpu {

void dwconv_f32__avx2(const DwConvPlane& p, const float* x, const float* w, float bias, float* y, float* rowbuf) {
  const int64_t K = p.k, s = p.stride, OW = p.ow;
  const int64_t buf_len = OW * s + K + 8;
  for (int64_t oh = 0; oh < p.oh; ++oh) {
    float* yr = y + oh * OW;
    std::fill(yr, yr + OW, bias);
    for (int64_t kh = 0; kh < K; ++kh) {
      const int64_t ih = oh * s - p.pad_t + kh;
      if (ih < 0 || ih >= p.h) continue;
      // rowbuf[j] = x[ih, j - pad_l], zero outside the image.
      std::fill(rowbuf, rowbuf + buf_len, 0.0f);
      const int64_t lo = std::min<int64_t>(p.pad_l, buf_len), n = std::clamp<int64_t>(std::min(p.w, buf_len - lo), 0, p.w);
      std::memcpy(rowbuf + lo, x + ih * p.w, static_cast<size_t>(n) * sizeof(float));
      const float* wr = w + kh * K;
      if (s == 1) {
        int64_t ow = 0;
        for (; ow + 8 <= OW; ow += 8) {
          __m256 acc = _mm256_loadu_ps(yr + ow);
          for (int64_t kw = 0; kw < K; ++kw)
            acc = _mm256_fmadd_ps(_mm256_set1_ps(wr[kw]), _mm256_loadu_ps(rowbuf + ow + kw), acc);
          _mm256_storeu_ps(yr + ow, acc);
        }
        for (; ow < OW; ++ow)
          for (int64_t kw = 0; kw < K; ++kw) yr[ow] += wr[kw] * rowbuf[ow + kw];
      } else {
        for (int64_t kw = 0; kw < K; ++kw) {
          const float wv = wr[kw];
          const float* src = rowbuf + kw;
          for (int64_t ow = 0; ow < OW; ++ow) yr[ow] += wv * src[ow * s];
        }
      }
    }
  }
}

}  // namespace joule::kernels::cpu
