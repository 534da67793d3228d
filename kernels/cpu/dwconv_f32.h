// Depthwise f32 convolution (one input and one output channel per group).
#pragma once

#include <cstdint>

#include "kernels/cpu/gemm_f32.h"

namespace joule::kernels::cpu {

/// Geometry of one channel plane: input h x w, output oh x ow, kernel k x k, pads at top/left.
struct DwConvPlane {
  int64_t h = 0, w = 0, oh = 0, ow = 0, k = 0, stride = 1, pad_t = 0, pad_l = 0;
};

/// y[oh, ow] = bias + sum_{kh,kw} w[kh, kw] * x[oh*s - pad_t + kh, ow*s - pad_l + kw] (zero outside);
/// rowbuf holds ow*stride + k + 8 floats of scratch.
void dwconv_f32__avx2(const DwConvPlane& p, const float* x, const float* w, float bias, float* y, float* rowbuf);

/// Full 2-D geometry: kernel kh x kw, strides, dilations, pads at top/left (bottom/right implied by oh/ow).
struct DwConvGeom {
  int64_t h = 0, w = 0, oh = 0, ow = 0, kh = 0, kw = 0, sh = 1, sw = 1, dh = 1, dw = 1, pad_t = 0, pad_l = 0;
};

/// Floats of scratch dwconv_f32_c8__avx2 needs for `g`.
int64_t dwconv_f32_c8_scratch(const DwConvGeom& g);

/// `nch` (1..8) consecutive channel planes at once, one ymm lane per channel: x points at the first
/// input plane, y at the first output plane; w8 is [kh*kw][8] (tap-major, lane = channel), bias8 [8];
/// ep.act/lo/hi is applied after the bias. Per element: bias + taps in (kh, kw) order, then the activation.
void dwconv_f32_c8__avx2(const DwConvGeom& g, const float* x, int64_t nch, const float* w8, const float* bias8,
                         const GemmEpilogue& ep, float* y, float* scratch);

/// Floats of scratch dwconv3x3_rows_f32__avx2 needs for `g`.
int64_t dwconv3x3_rows_scratch(const DwConvGeom& g);

/// One NCHW channel plane of a 3x3 depthwise conv with dilation 1 and stride sh == sw in {1, 2}: 8 output
/// columns per ymm, 4 output rows per pass; w9 is the plane's [3][3] weights. Per element: bias + taps
/// in (kh, kw) order, then ep.act/lo/hi.
void dwconv3x3_rows_f32__avx2(const DwConvGeom& g, const float* x, const float* w9, float bias, const GemmEpilogue& ep,
                              float* y, float* scratch);

/// One NCHW channel plane of a 3x3 depthwise conv with dilation 1 and stride sh == sw in {1, 2}, read in
/// place (masked loads, no padded copy): 16 output columns per zmm. Per element: bias + taps in (kh, kw)
/// order (taps outside the input skipped), then ep.act/lo/hi.
void dwconv3x3_z16_f32__avx512(const DwConvGeom& g, const float* x, const float* w9, float bias, const GemmEpilogue& ep,
                               float* y);

}  // namespace joule::kernels::cpu
