// What the optimized joule.QConv / joule.QGemm / joule.DynQMatMul kernels (kernels/cpu/qgemm_s16.cpp,
// kernels/cpu/qgemm_u8s8.cpp) read from a node at prepare time: which nodes they accept, and the per-channel
// requantization parameters (multipliers, int32 bias, zero points, output clamp, fused lookup table).
// Inputs: QConv / QGemm (x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp [, B]); DynQMatMul (a, w, w_zp, w_scale [, bias]).
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/kernel_registry.h"
#include "runtime/ops/window_geometry.h"
#include "runtime/thread_pool.h"

namespace joule::kernels::cpu {

/// Largest K whose exact sums fit int32 in both integer GEMMs (K * 255 * 255 < 2^31).
constexpr int64_t kQgemmMaxK = 33024;

/// Everything but the weights' packed layout, from constant inputs.
struct QNodeParams {
  int64_t channels = 0, k = 0;
  std::vector<float> mult;     // per channel
  std::vector<int32_t> bias;   // per channel (zeros when absent)
  int32_t xz = 0, yz = 0, lo = 0, hi = 255;
  DType x_type = DType::kU8;                // x's type: the x_zero_point's
  bool x_signed = false, y_signed = false;  // y: the requantized type (y_zero_point's), before `lut`
  std::vector<uint8_t> lut;                 // 256 bytes of the fused lookup table, or empty
  Shape w_shape;
};

bool qconv_node_accepts(const KernelQuery& q);
bool qgemm_node_accepts(const KernelQuery& q);
bool dynq_node_accepts(const KernelQuery& q);

/// Fills `s` except k / w_shape; weight scales at input ws_i, bias at bias_i.
void qnode_common_params(const KernelQuery& q, int64_t channels, size_t ws_i, size_t bias_i, QNodeParams& s);

/// Weight zero point of channel c (0 when absent), and a constant input's int8/uint8/int32 element.
int32_t qnode_int_param(const Tensor& t, int64_t c);

/// QGemm's K and N from its weight and transB.
void qgemm_node_kn(const KernelQuery& q, int64_t& k, int64_t& n);

/// fn over [0, n) on the pool (one item per chunk at least), or inline without one.
void qnode_parallel(ThreadPool* pool, int64_t n, RangeFn fn);

/// The running node's reference kernel, for inputs whose type accepts() could not see.
Status qnode_run_reference(KernelContext& ctx);

/// A QConv's run-time shape, checked against the weights its prepare saw.
struct QConvRunShape {
  int64_t n = 0, c = 0, m = 0, group = 1, icg = 0, mg = 0, in_plane = 0, p = 0;
  ops::WindowGeometry g;   // as_3d()
  bool pointwise = false;  // 1x1, unit strides, no pads: panels are packed straight from x
};

/// Fills `out` from x (input 0), the prepared weight shape and y (output 0); fails naming the node when
/// the weights changed after prepare or x, group and y do not fit them.
Status qconv_run_shape(KernelContext& ctx, const QNodeParams* s, QConvRunShape& out);

}  // namespace joule::kernels::cpu
