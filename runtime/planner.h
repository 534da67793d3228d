// Static memory planner: assigns activation buffers offsets in one arena, reusing memory of values
// whose lifetimes (producer step .. last consumer step) do not overlap.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/ir/graph.h"

namespace joule {

struct MemoryPlan {
  std::vector<int64_t> offset;  // per Value::id; -1 when the value is not in the arena
  int64_t arena_bytes = 0;      // peak activation memory with reuse
  int64_t naive_bytes = 0;      // sum of planned activations without reuse
  bool complete = false;        // every intermediate activation had a known shape
  // per Value::id: the value whose arena bytes this one is (a Reshape/Flatten/Squeeze/Unsqueeze output
  // viewing its input, same offset, nothing copied and nothing zeroed), or -1
  std::vector<int> alias_of;
};

/// Plans the node outputs of `g` (graph outputs and constants excluded: they outlive the run).
/// Nodes must be in execution order. With `alias_views`, the output of a Reshape, Flatten, Squeeze or
/// Unsqueeze whose data input is itself planned shares that input's offset (alias_of), the pair's
/// lifetime being the union of both, so the op copies nothing (its kernel skips a copy onto itself).
MemoryPlan plan_memory(const ir::Graph& g, bool alias_views = false);

}  // namespace joule
