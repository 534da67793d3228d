// Parameter decoding shared by the Pad / Resize / Upsample op definitions and their kernels.
//
// Both the inference function (which needs the output shape) and the kernel (which needs the
// per-axis pads, scales and coordinate modes) decode the same attributes and inputs, across all
// opset versions, through these functions, so the two can never disagree.
//
// The returned Status carries a message without the node label; callers add it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "joule/status.h"
#include "joule/tensor.h"
#include "runtime/ir/graph.h"

namespace joule::ops {

/// Largest output the resize/pad family will produce (bytes); matches the session's default
/// max_tensor_bytes so absurd scales or pads fail at inference instead of at allocation.
inline constexpr uint64_t kMaxResizePadOutputBytes = uint64_t{8} << 30;

/// Checks that a shape's element count times `elem_size` stays under kMaxResizePadOutputBytes.
Status check_output_size(const Shape& shape, size_t elem_size);

// ---------------------------------------------------------------------------------------------
// Pad
// ---------------------------------------------------------------------------------------------

enum class PadMode { kConstant, kReflect, kEdge, kWrap };

/// Per-axis pads for every axis of the data (zeros for axes not named by `axes`).
/// Negative pads remove elements (cropping).
struct PadParams {
  PadMode mode = PadMode::kConstant;
  std::vector<int64_t> begin, end;
  Shape out_shape;
};

/// Decodes Pad for any opset: `pads`/`paddings` attribute (< 11) or the pads input (>= 11),
/// the optional axes input (>= 18), and the mode attribute. `pads` / `axes` are the input
/// tensors (nullptr when omitted); `in_shape` is the data shape.
Status decode_pad(const ir::Node& node, const Shape& in_shape, const Tensor* pads, const Tensor* axes, PadParams& out);

// ---------------------------------------------------------------------------------------------
// Resize / Upsample
// ---------------------------------------------------------------------------------------------

enum class ResizeMode { kNearest, kLinear, kCubic };
enum class CoordMode { kHalfPixel, kHalfPixelSymmetric, kPytorchHalfPixel, kAlignCorners, kAsymmetric, kTfCropAndResize, kTfHalfPixelForNn };
enum class NearestMode { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil };

/// Everything a Resize kernel needs, per axis of the data (axes that are not resized have scale 1).
struct ResizeParams {
  ResizeMode mode = ResizeMode::kNearest;
  CoordMode coord = CoordMode::kHalfPixel;
  NearestMode nearest = NearestMode::kRoundPreferFloor;
  double cubic_a = -0.75;
  bool exclude_outside = false;
  bool antialias = false;
  double extrapolation_value = 0.0;
  Shape out_shape;
  /// The scale used by the coordinate transform: the given scale, or out/in when sizes are
  /// given (a uniform scale under keep_aspect_ratio_policy not_larger/not_smaller).
  std::vector<double> scale;
  std::vector<double> roi_start, roi_end;  // normalized crop box, used by tf_crop_and_resize
};

/// Which inputs of a Resize/Upsample node carry scales, sizes and roi, and whether each is
/// given (present and non-empty). Index -1 = this opset has no such input.
struct ResizeInputs {
  int roi = -1, scales = -1, sizes = -1;
};
ResizeInputs resize_input_slots(const ir::Node& node);

/// Decodes Resize (opsets 10..19+) or Upsample (7, 9, 10). `roi`, `scales`, `sizes` are the
/// tensors at the slots resize_input_slots() names (nullptr when omitted or not applicable;
/// empty tensors count as omitted).
Status decode_resize(const ir::Node& node, const Shape& in_shape, const Tensor* roi, const Tensor* scales,
                     const Tensor* sizes, ResizeParams& out);

}  // namespace joule::ops
