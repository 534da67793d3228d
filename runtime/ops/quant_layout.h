// Layout of QuantizeLinear / DequantizeLinear scale and zero-point tensors, shared by their
// inference and reference kernels.
//
// The data tensor is viewed as [outer, dim, inner] around `axis`. Per-tensor: one parameter.
// Per-axis: one per index along the axis (scale is 1-D of length dim). Per-block (opset 21,
// block_size B > 0): scale has the data's rank with ceil(dim / B) along the axis, and element
// (o, a, i) uses parameter (o, a / B, i).
#pragma once

#include <string>

#include "joule/status.h"
#include "joule/tensor.h"
#include "runtime/ir/graph.h"
#include "runtime/ops/infer_helpers.h"

namespace joule::ops {

struct QuantLayout {
  enum class Mode { kTensor, kAxis, kBlock } mode = Mode::kTensor;
  int64_t outer = 1, dim = 1, inner = 1, block = 0, nblocks = 1;

  /// Index into the scale / zero-point tensors of data element (o, a, i).
  int64_t param_index(int64_t o, int64_t a, int64_t i) const {
    switch (mode) {
      case Mode::kAxis: return a;
      case Mode::kBlock: return (o * nblocks + a / block) * inner + i;
      default: return 0;
    }
  }
};

inline Status resolve_quant_layout(const ir::Node& node, const Shape& x, const Shape& scale, QuantLayout& l) {
  l = QuantLayout{};
  int64_t block = node.opset >= 21 ? node.attr_int("block_size", 0) : 0;
  if (block < 0) return invalid_model("block_size must be >= 0");
  if (shape_numel(scale) == 1 && block == 0 && scale.size() <= 1) {
    l.outer = shape_numel(x);
    return Status::ok();
  }
  int64_t axis_attr = node.attr_int("axis", 1);
  auto axis = normalize_axis(axis_attr, static_cast<int>(x.size()));
  if (!axis) return invalid_model("axis " + std::to_string(axis_attr) + " is out of range for input " + shape_to_string(x));
  size_t ax = static_cast<size_t>(*axis);
  for (size_t d = 0; d < ax; ++d) l.outer *= x[d];
  l.dim = x[ax];
  for (size_t d = ax + 1; d < x.size(); ++d) l.inner *= x[d];
  if (block == 0) {
    if (scale.size() != 1 || scale[0] != l.dim)
      return invalid_model("per-axis scale must be 1-D of length " + std::to_string(l.dim) + ", got " + shape_to_string(scale));
    l.mode = QuantLayout::Mode::kAxis;
    return Status::ok();
  }
  l.mode = QuantLayout::Mode::kBlock;
  l.block = block;
  l.nblocks = (l.dim + block - 1) / block;
  Shape want = x;
  want[ax] = l.nblocks;
  if (scale != want)
    return invalid_model("per-block scale must have shape " + shape_to_string(want) + ", got " + shape_to_string(scale));
  return Status::ok();
}

}  // namespace joule::ops
