// Multiply-accumulate counts per node from inferred shapes (Conv, ConvTranspose, Gemm, MatMul, Einsum).
#pragma once

#include <cstdint>

#include "runtime/ir/graph.h"

namespace joule {

struct CostSummary {
  int64_t macs = 0;
  bool complete = true;  // false when a MAC-bearing node had an unknown shape
};

/// MACs of one node (0 for ops without multiply-accumulates); -1 when shapes are unknown.
int64_t node_macs(const ir::Node& n);
/// Sum over the graph (after infer_shapes).
CostSummary estimate_cost(const ir::Graph& g);

}  // namespace joule
