// Shared between the control-flow ops (If/Loop/Scan) and the graph compiler: binding body input descs.
#pragma once

#include "runtime/ir/graph.h"

namespace joule::ops {

/// Binds the input descs of the node's bodies from the node's inputs (Loop: iteration number, condition,
/// loop-carried values as on entry; Scan: states and one slice of each scan input) and infers shapes
/// inside the bodies as far as they go. Bodies whose inputs carry no types get them here. Static descs
/// of loop-carried values describe the first iteration; kernels re-infer from real tensors at run time.
Status prepare_control_bodies(const ir::Node& n);

/// The graph attribute `name` of `n`, or null.
const ir::Graph* body_attr(const ir::Node& n, const char* name);

}  // namespace joule::ops
