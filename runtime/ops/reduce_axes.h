// Axis resolution for the Reduce* ops, shared by their inference and reference kernels.
#pragma once

#include <string>
#include <vector>

#include "joule/status.h"
#include "joule/tensor.h"
#include "runtime/ir/graph.h"
#include "runtime/ops/infer_helpers.h"

namespace joule::ops {

/// True when this Reduce op version takes axes as its second input (ReduceSum from opset 13,
/// the other Reduce* from opset 18); before that axes is an attribute.
inline bool reduce_axes_from_input(const ir::Node& node) {
  return node.op_type == "ReduceSum" ? node.opset >= 13 : node.opset >= 18;
}

/// Fills `reduced[d]` for every input dim d (rank `rank`). `axes_input` is the axes tensor
/// when the version takes it as input (null when omitted). Empty axes reduce every dim unless
/// noop_with_empty_axes is set, in which case nothing is reduced (`noop` becomes true).
inline Status resolve_reduce_axes(const ir::Node& node, int rank, const Tensor* axes_input, std::vector<bool>& reduced,
                                  bool& noop) {
  std::vector<int64_t> axes;
  if (reduce_axes_from_input(node)) {
    if (axes_input) axes = axes_input->to_int64_vector();
  } else {
    axes = node.attr_ints("axes");
  }
  reduced.assign(static_cast<size_t>(rank), false);
  noop = false;
  if (axes.empty()) {
    if (node.attr_int("noop_with_empty_axes", 0) != 0) noop = true;
    else reduced.assign(static_cast<size_t>(rank), true);
    return Status::ok();
  }
  for (int64_t a : axes) {
    auto n = normalize_axis(a, rank);
    if (!n) return invalid_model("axis " + std::to_string(a) + " is out of range for rank " + std::to_string(rank));
    if (reduced[static_cast<size_t>(*n)]) return invalid_model("axis " + std::to_string(a) + " is repeated");
    reduced[static_cast<size_t>(*n)] = true;
  }
  return Status::ok();
}

}  // namespace joule::ops
