// Shape rules for matmul-like ops and integer convolutions (see linalg_shapes.h).
#include "runtime/ops/linalg_shapes.h"

#include <algorithm>

#include "runtime/ops/infer_helpers.h"

namespace joule::ops {

Status matmul_output_shape(const Shape& a, const Shape& b, Shape& out) {
  if (a.empty() || b.empty()) return invalid_model("MatMul operands must have rank >= 1, got " + shape_to_string(a) + " and " + shape_to_string(b));
  Shape pa = a.size() == 1 ? Shape{1, a[0]} : a;
  Shape pb = b.size() == 1 ? Shape{b[0], 1} : b;
  int64_t k_a = pa.back(), k_b = pb[pb.size() - 2];
  if (k_a != k_b)
    return invalid_model("inner dimensions differ: " + shape_to_string(a) + " x " + shape_to_string(b) + " (" +
                         std::to_string(k_a) + " vs " + std::to_string(k_b) + ")");
  Shape ba(pa.begin(), pa.end() - 2), bb(pb.begin(), pb.end() - 2);
  auto batch = broadcast_shapes(ba, bb);
  if (!batch) return invalid_model("batch dims of " + shape_to_string(a) + " and " + shape_to_string(b) + " cannot be broadcast");
  out = *batch;
  if (a.size() > 1) out.push_back(pa[pa.size() - 2]);
  if (b.size() > 1) out.push_back(pb.back());
  return Status::ok();
}

Status conv_geometry(const ir::Node& node, const Shape& x, const Shape& w, ConvGeometry& g) {
  if (x.size() < 3) return invalid_model("input must be N x C x spatial..., got " + shape_to_string(x));
  if (w.size() != x.size()) return invalid_model("weight " + shape_to_string(w) + " and input " + shape_to_string(x) + " differ in rank");
  size_t s = x.size() - 2;
  g.group = node.attr_int("group", 1);
  if (g.group <= 0 || w[0] % g.group != 0 || w[1] * g.group != x[1])
    return invalid_model("group " + std::to_string(g.group) + " does not fit input " + shape_to_string(x) + " and weight " + shape_to_string(w));
  g.kernel.assign(w.begin() + 2, w.end());
  if (node.has_attr("kernel_shape") && node.attr_ints("kernel_shape") != g.kernel)
    return invalid_model("kernel_shape attribute does not match weight " + shape_to_string(w));
  g.strides = node.attr_ints("strides", std::vector<int64_t>(s, 1));
  g.dilations = node.attr_ints("dilations", std::vector<int64_t>(s, 1));
  std::vector<int64_t> pads = node.attr_ints("pads", std::vector<int64_t>(2 * s, 0));
  if (g.strides.size() != s || g.dilations.size() != s || pads.size() != 2 * s)
    return invalid_model("strides/dilations/pads length does not match " + std::to_string(s) + " spatial dims");
  g.in_spatial.assign(x.begin() + 2, x.end());
  std::string auto_pad = node.attr_string("auto_pad", "NOTSET");
  g.pads_begin.assign(s, 0);
  g.pads_end.assign(s, 0);
  g.out_spatial.assign(s, 0);
  for (size_t i = 0; i < s; ++i) {
    if (g.strides[i] <= 0 || g.dilations[i] <= 0) return invalid_model("strides and dilations must be positive");
    int64_t ext = (g.kernel[i] - 1) * g.dilations[i] + 1;  // receptive field of one output
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      int64_t out = (g.in_spatial[i] + g.strides[i] - 1) / g.strides[i];
      int64_t total = std::max<int64_t>(0, (out - 1) * g.strides[i] + ext - g.in_spatial[i]);
      g.pads_begin[i] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      g.pads_end[i] = total - g.pads_begin[i];
    } else if (auto_pad == "NOTSET") {
      g.pads_begin[i] = pads[i];
      g.pads_end[i] = pads[i + s];
      if (pads[i] < 0 || pads[i + s] < 0) return invalid_model("negative pads");
    } else if (auto_pad != "VALID") {
      return invalid_model("unknown auto_pad '" + auto_pad + "'");
    }
    int64_t span = g.in_spatial[i] + g.pads_begin[i] + g.pads_end[i] - ext;
    if (span < 0) return invalid_model("kernel " + shape_to_string(g.kernel) + " is larger than the padded input " + shape_to_string(x));
    g.out_spatial[i] = span / g.strides[i] + 1;
  }
  return Status::ok();
}

}  // namespace joule::ops
