// FP32 2-D MaxPool / AveragePool planes (pool2d_f32_impl.h) compiled with AVX2 + FMA.
#include "kernels/cpu/pool2d_f32_impl.h"

namespace joule::kernels::cpu {

void pool2d_f32_planes_avx2(bool max, bool include_pad, const ops::WindowGeometry& g, const float* x, float* y, int64_t planes) {
  const int64_t in_plane = g.in[1] * g.in[2], out_plane = g.out[1] * g.out[2];
  std::vector<float> count_row(static_cast<size_t>(g.out[2]));
  for (int64_t p = 0; p < planes; ++p) {
    if (max) pool2d_plane<true>(g, include_pad, x + p * in_plane, y + p * out_plane, count_row.data());
    else pool2d_plane<false>(g, include_pad, x + p * in_plane, y + p * out_plane, count_row.data());
  }
}

}  // namespace joule::kernels::cpu
