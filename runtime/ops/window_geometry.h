// Sliding-window geometry shared by Conv, ConvTranspose and the pooling ops: resolves the
// kernel_shape / strides / dilations / pads / auto_pad attributes of a node against the input's
// spatial dims. Both the op inference functions and the reference kernels use it, so the shapes
// the planner allocates and the loops the kernels run can never disagree.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/ir/graph.h"

namespace joule::ops {

/// Geometry of one windowed op over S spatial dims (every vector has S entries).
///
/// Forward ops (Conv, pools): output position o reads input positions
///   i = o * strides - pad_begin + k * dilations,  k in [0, kernel).
/// ConvTranspose: input position i writes output positions
///   o = i * strides - pad_begin + k * dilations   (pad_begin/pad_end may be negative there,
///   which means the output extends beyond the full transposed result and is zero-filled).
struct WindowGeometry {
  std::vector<int64_t> in;      // input spatial dims
  std::vector<int64_t> kernel;  // kernel spatial dims
  std::vector<int64_t> strides;
  std::vector<int64_t> dilations;
  std::vector<int64_t> pad_begin;
  std::vector<int64_t> pad_end;
  std::vector<int64_t> out;  // output spatial dims

  size_t rank() const { return in.size(); }
  int64_t in_size() const;   // product of in
  int64_t out_size() const;  // product of out
  int64_t kernel_size() const;
  /// The same geometry with leading unit dims added up to 3 spatial dims (D, H, W), so kernels
  /// can run one 3-D loop nest for 1-D, 2-D and 3-D ops. Requires rank() <= 3.
  WindowGeometry as_3d() const;
};

/// How the output size of a forward window op rounds.
enum class WindowRounding { kFloor, kCeil };

/// Resolves a forward window op (Conv, MaxPool, AveragePool, LpPool). `kernel` is the kernel's
/// spatial shape (from the weights or the kernel_shape attribute). Reads strides, dilations,
/// pads and auto_pad from `node`. Returns "" on success, else a message saying what is wrong.
std::string resolve_window(const ir::Node& node, const Shape& in_spatial, const std::vector<int64_t>& kernel,
                           WindowRounding rounding, WindowGeometry& g);

/// Resolves ConvTranspose: additionally reads output_padding and output_shape.
std::string resolve_transpose_window(const ir::Node& node, const Shape& in_spatial, const std::vector<int64_t>& kernel,
                                     WindowGeometry& g);

}  // namespace joule::ops
