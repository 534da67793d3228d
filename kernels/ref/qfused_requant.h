// Requantization shared by the reference and optimized fused integer kernels (joule.QConv, joule.QGemm):
//   y = clamp(round_half_even(double(acc + bias) * double(mult)) + y_zp, qmin, qmax)
//   mult = float(float(x_scale * w_scale[c]) / y_scale)         (float arithmetic, as QLinearConv's reference)
// qmin/qmax are the output type's range narrowed by a fused Relu/Clip. The dynamic path (joule.DynQMatMul)
// keeps the float epilogue of the graph it replaces: y = float(acc) * float(a_scale * b_scale[n]) (+ bias[n]).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace joule::kernels::quant {

/// Multiplier of output channel c (see the header comment).
inline float requant_multiplier(float x_scale, float w_scale, float y_scale) { return x_scale * w_scale / y_scale; }

/// One requantized output value; `acc` already includes the bias.
inline int32_t requantize(int64_t acc, float mult, int32_t zp, int32_t qmin, int32_t qmax) {
  double r = std::nearbyint(static_cast<double>(acc) * static_cast<double>(mult)) + zp;
  return static_cast<int32_t>(std::clamp(r, static_cast<double>(qmin), static_cast<double>(qmax)));
}

}  // namespace joule::kernels::quant
