// joule.QAdd's arithmetic (quant/qdq_fusion.cpp fuses DQ(a), DQ(b) -> Add [-> Relu|Clip] -> Q into it), shared
// by the reference kernel (kernels/ref/qfused.cpp) and the SIMD ones (kernels/cpu/qadd_u8*), which repeat it
// lane for lane, so all of them agree bit for bit:
//   ma = a_scale / y_scale, mb = b_scale / y_scale (float)
//   v  = fma(float(b - b_zp), mb, float(a - a_zp) * ma), clamped to [lo - y_zp, hi - y_zp]
//   y  = round_half_even(v) + y_zp
// where [lo, hi] is y's type range narrowed by the fused activation (attributes qmin / qmax). The float graph
// computes (a - a_zp) * a_scale + (b - b_zp) * b_scale, then / y_scale: the two differ by at most one step.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace joule::kernels::quant {

struct QAddParams {
  float ma = 0.f, mb = 0.f;
  int32_t za = 0, zb = 0, zy = 0;
  float flo = 0.f, fhi = 0.f;  // lo - zy, hi - zy
};

inline QAddParams qadd_params(float sa, int32_t za, float sb, int32_t zb, float sy, int32_t zy, int32_t lo, int32_t hi) {
  QAddParams p;
  p.ma = sa / sy;
  p.mb = sb / sy;
  p.za = za, p.zb = zb, p.zy = zy;
  p.flo = static_cast<float>(lo - zy);
  p.fhi = static_cast<float>(hi - zy);
  return p;
}

inline int32_t qadd_one(const QAddParams& p, int32_t a, int32_t b) {
  const float t = static_cast<float>(a - p.za) * p.ma;
  float v = std::fma(static_cast<float>(b - p.zb), p.mb, t);
  v = std::min(std::max(v, p.flo), p.fhi);
  return static_cast<int32_t>(std::nearbyint(v)) + p.zy;
}

}  // namespace joule::kernels::quant
