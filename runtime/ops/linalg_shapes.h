// Shape rules shared by the matmul-like ops (MatMul, MatMulInteger, QLinearMatMul) and the
// integer convolutions (ConvInteger, QLinearConv), used by inference and reference kernels.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "joule/status.h"
#include "joule/tensor.h"
#include "runtime/ir/graph.h"

namespace joule::ops {

/// numpy.matmul output shape: 1-D operands are promoted (A to [1,K], B to [K,1]) and the
/// promoted dim is removed again; batch dims broadcast. Fails with a message on mismatch.
Status matmul_output_shape(const Shape& a, const Shape& b, Shape& out);

/// Geometry of an N-D convolution over NC<spatial...> input with OC x C/group x <kernel...> weight.
struct ConvGeometry {
  std::vector<int64_t> kernel, strides, dilations, pads_begin, pads_end, in_spatial, out_spatial;
  int64_t group = 1;
};

/// Resolves kernel_shape/strides/dilations/pads/auto_pad/group of `node` for the given x and w
/// shapes; fails naming the problem (rank, channel or group mismatch, bad attribute).
Status conv_geometry(const ir::Node& node, const Shape& x, const Shape& w, ConvGeometry& g);

}  // namespace joule::ops
