// Depthwise f32 convolution (one input and one output channel per group), KxK, stride 1 or 2.
#pragma once

#include <cstdint>

namespace joule::kernels::cpu {

/// Geometry of one channel plane: input h x w, output oh x ow, kernel k x k, pads at top/left.
struct DwConvPlane {
  int64_t h = 0, w = 0, oh = 0, ow = 0, k = 0, stride = 1, pad_t = 0, pad_l = 0;
};

/// y[oh, ow] = bias + sum_{kh,kw} w[kh, kw] * x[oh*s - pad_t + kh, ow*s - pad_l + kw] (zero outside);
/// rowbuf holds ow*stride + k + 8 floats of scratch.
void dwconv_f32__avx2(const DwConvPlane& p, const float* x, const float* w, float bias, float* y, float* rowbuf);

}  // namespace joule::kernels::cpu
