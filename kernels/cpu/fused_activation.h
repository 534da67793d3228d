// Activation fused into a node by runtime/passes/fusion.cpp, read by the fast kernels' epilogues.
// Attributes: "joule.activation" = "Relu" | "Clip"; for Clip "joule.clip_min" / "joule.clip_max".
#pragma once

#include <limits>

#include "kernels/cpu/gemm_f32.h"
#include "runtime/ir/graph.h"

namespace joule::kernels::cpu {

/// Sets ep.act/lo/hi from the node's fused-activation attributes; false on an unknown activation.
inline bool read_fused_activation(const ir::Node& node, GemmEpilogue& ep) {
  if (!node.has_attr("joule.activation")) return true;
  std::string act = node.attr_string("joule.activation", "");
  if (act == "Relu") {
    ep.act = Activation::kRelu;
  } else if (act == "Clip") {
    ep.act = Activation::kClip;
    ep.lo = node.attr_float("joule.clip_min", -std::numeric_limits<float>::infinity());
    ep.hi = node.attr_float("joule.clip_max", std::numeric_limits<float>::infinity());
  } else {
    return false;
  }
  return true;
}

}  // namespace joule::kernels::cpu
