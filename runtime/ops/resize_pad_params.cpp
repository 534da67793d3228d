// Attribute/input decoding for Pad, Resize and Upsample across opsets (see resize_pad_params.h).
#include "runtime/ops/resize_pad_params.h"

#include <algorithm>
#include <cmath>

#include "runtime/ops/infer_helpers.h"

namespace joule::ops {

Status check_output_size(const Shape& shape, size_t elem_size) {
  uint64_t limit = kMaxResizePadOutputBytes / std::max<size_t>(elem_size, 1);
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return invalid_argument("negative output dimension in " + shape_to_string(shape));
    if (d != 0 && n > limit / static_cast<uint64_t>(d))
      return resource_limit("output shape " + shape_to_string(shape) + " exceeds the " +
                            std::to_string(kMaxResizePadOutputBytes >> 30) + " GiB output limit");
    n *= static_cast<uint64_t>(d);
  }
  return Status::ok();
}

namespace {

// Axes given as an `axes` list (attribute or input), normalized to [0, rank); errors on
// out-of-range or repeated axes. Empty list = all axes in order.
Status normalize_axes(const std::vector<int64_t>& given, int rank, std::vector<int>& axes) {
  axes.clear();
  if (given.empty()) {
    for (int d = 0; d < rank; ++d) axes.push_back(d);
    return Status::ok();
  }
  for (int64_t a : given) {
    auto n = normalize_axis(a, rank);
    if (!n) return invalid_model("axis " + std::to_string(a) + " is out of range for rank " + std::to_string(rank));
    if (std::find(axes.begin(), axes.end(), *n) != axes.end())
      return invalid_model("axis " + std::to_string(a) + " is repeated");
    axes.push_back(*n);
  }
  return Status::ok();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Pad
// ---------------------------------------------------------------------------------------------

Status decode_pad(const ir::Node& node, const Shape& in_shape, const Tensor* pads, const Tensor* axes_in, PadParams& out) {
  const int rank = static_cast<int>(in_shape.size());
  std::string mode = node.attr_string("mode", "constant");
  if (mode == "constant") out.mode = PadMode::kConstant;
  else if (mode == "reflect") out.mode = PadMode::kReflect;
  else if (mode == "edge") out.mode = PadMode::kEdge;
  else if (mode == "wrap" && node.opset >= 19) out.mode = PadMode::kWrap;
  else return invalid_model("unsupported pad mode '" + mode + "' at opset " + std::to_string(node.opset));

  // pads layout: [x1_begin, x2_begin, ..., x1_end, x2_end, ...] over the chosen axes.
  std::vector<int64_t> p;
  if (node.opset < 11) {
    if (node.has_attr("pads")) p = node.attr_ints("pads");
    else if (node.has_attr("paddings")) p = node.attr_ints("paddings");  // Pad-1 spelling
    else return invalid_model("missing the 'pads' attribute");
  } else {
    if (!pads) return invalid_model("missing the pads input");
    if (pads->rank() > 1) return invalid_model("pads must be a 1-D tensor, got shape " + shape_to_string(pads->shape()));
    if (!dtype_is_integer(pads->dtype())) return invalid_model("pads must be int64, got " + std::string(dtype_name(pads->dtype())));
    p = pads->to_int64_vector();
  }
  std::vector<int64_t> axes_given;
  if (axes_in && node.opset >= 18) {
    if (!dtype_is_integer(axes_in->dtype())) return invalid_model("axes must be an integer tensor");
    axes_given = axes_in->to_int64_vector();
  }
  std::vector<int> axes;
  JOULE_RETURN_IF_ERROR(normalize_axes(axes_given, rank, axes));
  const size_t na = axes.size();
  if (p.size() != 2 * na)
    return invalid_model("pads has " + std::to_string(p.size()) + " values but " + std::to_string(2 * na) +
                         " are needed (begin and end for " + std::to_string(na) + " axes of the rank-" +
                         std::to_string(rank) + " input)");

  out.begin.assign(static_cast<size_t>(rank), 0);
  out.end.assign(static_cast<size_t>(rank), 0);
  out.out_shape = in_shape;
  for (size_t k = 0; k < na; ++k) {
    size_t d = static_cast<size_t>(axes[k]);
    out.begin[d] = p[k];
    out.end[d] = p[k + na];
  }
  for (size_t d = 0; d < static_cast<size_t>(rank); ++d) {
    const int64_t n = in_shape[d], b = out.begin[d], e = out.end[d];
    // Bound the pads so that the sum below cannot overflow; the size check catches the rest.
    if (std::llabs(b) > (int64_t{1} << 40) || std::llabs(e) > (int64_t{1} << 40))
      return resource_limit("pad of " + std::to_string(std::llabs(b) > std::llabs(e) ? b : e) + " on axis " +
                            std::to_string(d) + " is absurdly large");
    const int64_t size = n + b + e;
    if (size < 0)
      return invalid_model("pads " + std::to_string(b) + ", " + std::to_string(e) + " remove more than the " +
                           std::to_string(n) + " elements of axis " + std::to_string(d));
    // Non-constant modes read the (cropped) input; padding an empty axis has nothing to read.
    const int64_t kept = n - std::max<int64_t>(0, -b) - std::max<int64_t>(0, -e);
    if (out.mode != PadMode::kConstant && size > 0 && kept <= 0)
      return invalid_model("cannot pad axis " + std::to_string(d) + " in '" + mode + "' mode: no input elements remain");
    out.out_shape[d] = size;
  }
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// Resize / Upsample
// ---------------------------------------------------------------------------------------------

ResizeInputs resize_input_slots(const ir::Node& node) {
  ResizeInputs s;
  if (node.op_type == "Upsample") {
    if (node.opset >= 9) s.scales = 1;  // Upsample-7 has a scales attribute
  } else if (node.opset < 11) {
    s.scales = 1;  // Resize-10: X, scales
  } else {
    s.roi = 1;
    s.scales = 2;
    s.sizes = 3;
  }
  return s;
}

namespace {

Status parse_coord_mode(const std::string& s, int opset, CoordMode& c) {
  if (s == "half_pixel") c = CoordMode::kHalfPixel;
  else if (s == "half_pixel_symmetric" && opset >= 19) c = CoordMode::kHalfPixelSymmetric;
  else if (s == "pytorch_half_pixel") c = CoordMode::kPytorchHalfPixel;
  else if (s == "align_corners") c = CoordMode::kAlignCorners;
  else if (s == "asymmetric") c = CoordMode::kAsymmetric;
  else if (s == "tf_crop_and_resize") c = CoordMode::kTfCropAndResize;
  else if (s == "tf_half_pixel_for_nn" && opset < 13) c = CoordMode::kTfHalfPixelForNn;
  else return invalid_model("unsupported coordinate_transformation_mode '" + s + "' at opset " + std::to_string(opset));
  return Status::ok();
}

Status parse_nearest_mode(const std::string& s, NearestMode& m) {
  if (s == "round_prefer_floor") m = NearestMode::kRoundPreferFloor;
  else if (s == "round_prefer_ceil") m = NearestMode::kRoundPreferCeil;
  else if (s == "floor") m = NearestMode::kFloor;
  else if (s == "ceil") m = NearestMode::kCeil;
  else return invalid_model("unsupported nearest_mode '" + s + "'");
  return Status::ok();
}

bool given(const Tensor* t) { return t && t->numel() > 0; }

}  // namespace

Status decode_resize(const ir::Node& node, const Shape& in_shape, const Tensor* roi, const Tensor* scales,
                     const Tensor* sizes, ResizeParams& out) {
  const int rank = static_cast<int>(in_shape.size());
  const bool upsample = node.op_type == "Upsample";
  const bool legacy = upsample || node.opset < 11;  // Upsample and Resize-10: asymmetric, floor

  std::string mode = node.attr_string("mode", "nearest");
  if (mode == "nearest") out.mode = ResizeMode::kNearest;
  else if (mode == "linear" || (legacy && mode == "bilinear")) out.mode = ResizeMode::kLinear;
  else if (mode == "cubic" && !legacy) out.mode = ResizeMode::kCubic;
  else return invalid_model("unsupported mode '" + mode + "'");

  if (legacy) {
    out.coord = CoordMode::kAsymmetric;
    out.nearest = NearestMode::kFloor;
  } else {
    JOULE_RETURN_IF_ERROR(parse_coord_mode(node.attr_string("coordinate_transformation_mode", "half_pixel"), node.opset, out.coord));
    JOULE_RETURN_IF_ERROR(parse_nearest_mode(node.attr_string("nearest_mode", "round_prefer_floor"), out.nearest));
    out.cubic_a = node.attr_float("cubic_coeff_a", -0.75f);
    out.exclude_outside = node.attr_int("exclude_outside", 0) != 0;
    out.extrapolation_value = node.attr_float("extrapolation_value", 0.0f);
    if (node.opset >= 18) out.antialias = node.attr_int("antialias", 0) != 0;
  }

  // Resized axes (opset 18 `axes` attribute); scales/sizes/roi are given for these only.
  std::vector<int> axes;
  JOULE_RETURN_IF_ERROR(normalize_axes(node.opset >= 18 ? node.attr_ints("axes") : std::vector<int64_t>{}, rank, axes));
  const size_t na = axes.size();

  out.scale.assign(static_cast<size_t>(rank), 1.0);
  out.roi_start.assign(static_cast<size_t>(rank), 0.0);
  out.roi_end.assign(static_cast<size_t>(rank), 1.0);
  out.out_shape = in_shape;

  if (out.coord == CoordMode::kTfCropAndResize && given(roi)) {
    if (static_cast<size_t>(roi->numel()) != 2 * na)
      return invalid_model("roi has " + std::to_string(roi->numel()) + " values but " + std::to_string(2 * na) + " are needed");
    for (size_t k = 0; k < na; ++k) {
      out.roi_start[static_cast<size_t>(axes[k])] = roi->value_as_double(static_cast<int64_t>(k));
      out.roi_end[static_cast<size_t>(axes[k])] = roi->value_as_double(static_cast<int64_t>(k + na));
    }
  }

  // Scales: attribute (Upsample-7) or input.
  std::vector<double> sc;
  if (upsample && node.opset < 9) {
    if (!node.has_attr("scales")) return invalid_model("missing the 'scales' attribute");
    for (float f : node.attr_floats("scales")) sc.push_back(f);
    if (sc.empty()) return invalid_model("the 'scales' attribute is empty");
  } else if (given(scales)) {
    if (!dtype_is_float(scales->dtype())) return invalid_model("scales must be a float tensor");
    for (int64_t i = 0; i < scales->numel(); ++i) sc.push_back(scales->value_as_double(i));
  }

  if (!sc.empty()) {
    if (given(sizes)) return invalid_model("only one of scales and sizes may be given");
    if (sc.size() != na)
      return invalid_model("scales has " + std::to_string(sc.size()) + " values but " + std::to_string(na) + " are needed");
    for (size_t k = 0; k < na; ++k) {
      const size_t d = static_cast<size_t>(axes[k]);
      const double s = sc[k];
      if (!(s > 0) || !std::isfinite(s))
        return invalid_argument("scale " + std::to_string(s) + " for axis " + std::to_string(d) + " must be positive and finite");
      const double o = std::floor(static_cast<double>(in_shape[d]) * s);
      if (o > static_cast<double>(int64_t{1} << 40))
        return resource_limit("scale " + std::to_string(s) + " on axis " + std::to_string(d) + " gives an absurd output size");
      out.scale[d] = s;
      out.out_shape[d] = static_cast<int64_t>(o);
    }
  } else if (given(sizes)) {
    if (!dtype_is_integer(sizes->dtype())) return invalid_model("sizes must be an int64 tensor");
    if (static_cast<size_t>(sizes->numel()) != na)
      return invalid_model("sizes has " + std::to_string(sizes->numel()) + " values but " + std::to_string(na) + " are needed");
    std::vector<int64_t> sz = sizes->to_int64_vector();
    for (size_t k = 0; k < na; ++k) {
      const size_t d = static_cast<size_t>(axes[k]);
      if (sz[k] < 0) return invalid_argument("size " + std::to_string(sz[k]) + " for axis " + std::to_string(d) + " is negative");
      if (sz[k] > 0 && in_shape[d] == 0) return invalid_argument("cannot resize the empty axis " + std::to_string(d) + " to a non-empty size");
      out.scale[d] = in_shape[d] == 0 ? 1.0 : static_cast<double>(sz[k]) / static_cast<double>(in_shape[d]);
      out.out_shape[d] = sz[k];
    }
    std::string policy = node.opset >= 18 ? node.attr_string("keep_aspect_ratio_policy", "stretch") : "stretch";
    if (policy == "not_larger" || policy == "not_smaller") {
      // One scale for all resized axes: the smallest (not_larger) or largest (not_smaller) ratio;
      // output sizes are then round-half-up of scale * input.
      double s = out.scale[static_cast<size_t>(axes[0])];
      for (int d : axes) s = policy == "not_larger" ? std::min(s, out.scale[static_cast<size_t>(d)]) : std::max(s, out.scale[static_cast<size_t>(d)]);
      for (int d : axes) {
        out.scale[static_cast<size_t>(d)] = s;
        out.out_shape[static_cast<size_t>(d)] = static_cast<int64_t>(s * static_cast<double>(in_shape[static_cast<size_t>(d)]) + 0.5);
      }
      if (!(s > 0)) return invalid_argument("keep_aspect_ratio_policy gives a zero scale");
    } else if (policy != "stretch") {
      return invalid_model("unsupported keep_aspect_ratio_policy '" + policy + "'");
    }
  } else {
    return invalid_model(legacy ? "missing scales" : "one of scales and sizes must be given");
  }
  return Status::ok();
}

}  // namespace joule::ops
