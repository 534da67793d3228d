// Folding of If nodes whose condition is a constant: the chosen branch is inlined into the graph.
#pragma once

#include "runtime/ir/graph.h"

namespace joule::passes {

/// Replaces each If whose condition is constant by the nodes of the branch it picks (nested
/// subgraphs are re-parented and their outer-scope reads remapped), its outputs by Identity nodes
/// from the branch outputs (so graph output names stay). Sets `changed` when it folded anything.
Status fold_constant_ifs(ir::Graph& g, bool& changed);

}  // namespace joule::passes
