// Graph passes. Each has the shape run(Graph&) -> Status and leaves the graph verified.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "runtime/ir/graph.h"

namespace joule::passes {

/// Binds graph-input shapes (symbolic dims from `input_shapes`) and infers every value's dtype and
/// shape as far as constants allow. Values whose shape depends on run-time data stay unknown.
Status infer_shapes(ir::Graph& g, const std::map<std::string, Shape>& input_shapes = {});

/// Infers one node's output descs from its inputs' current descs and constant values.
Status infer_node_shapes(ir::Node& n);

/// Evaluates nodes whose inputs are all constant (and Shape/Size of statically shaped values),
/// replacing them by constants. Re-infers each node first, so folded shape arithmetic
/// (Shape -> Gather -> Concat -> Reshape) propagates in one walk. Outputs larger than `max_bytes` are left unfolded.
Status fold_constants(ir::Graph& g, uint64_t max_bytes = uint64_t{64} << 20);

/// Removes nodes whose outputs nobody reads and values nobody references.
Status eliminate_dead_nodes(ir::Graph& g);

}  // namespace joule::passes
