// Greedy-by-size offset assignment (largest tensors first, lowest non-conflicting offset); view ops
// (Reshape & co.) optionally alias their input.
#include "runtime/planner.h"

#include <algorithm>

namespace joule {

namespace {
constexpr int64_t kAlign = 64;
int64_t align_up(int64_t x) { return (x + kAlign - 1) / kAlign * kAlign; }
}  // namespace

MemoryPlan plan_memory(const ir::Graph& g, bool alias_views) {
  MemoryPlan plan;
  size_t nv = g.values.size();
  plan.offset.assign(nv, -1);
  plan.alias_of.assign(nv, -1);
  std::vector<int> first(nv, -1), last(nv, -1);
  std::vector<bool> is_output(nv, false);
  for (ir::Value* v : g.outputs) is_output[static_cast<size_t>(v->id)] = true;
  plan.complete = true;
  for (size_t step = 0; step < g.nodes.size(); ++step) {
    const ir::Node& n = *g.nodes[step];
    for (ir::Value* v : n.inputs)
      if (v && v->id >= 0 && static_cast<size_t>(v->id) < nv) last[static_cast<size_t>(v->id)] = static_cast<int>(step);
    // A value read from inside the node's subgraphs (If/Loop/Scan bodies) stays alive until the node has run.
    if (!n.attrs.empty())
      for (ir::Value* v : ir::subgraph_outer_reads(n))
        if (v->id >= 0 && static_cast<size_t>(v->id) < nv && g.values[static_cast<size_t>(v->id)].get() == v)
          last[static_cast<size_t>(v->id)] = std::max(last[static_cast<size_t>(v->id)], static_cast<int>(step));
    for (ir::Value* v : n.outputs) {
      if (!v) continue;
      first[static_cast<size_t>(v->id)] = static_cast<int>(step);
      last[static_cast<size_t>(v->id)] = std::max(last[static_cast<size_t>(v->id)], static_cast<int>(step));
    }
  }
  auto planned = [&](size_t id) {
    const ir::Value& v = *g.values[id];
    return first[id] >= 0 && !is_output[id] && !v.is_constant() && v.desc.fully_known() && v.desc.dtype != DType::kUndefined;
  };
  auto owned = [&](const ir::Value* v) {
    return v && v->id >= 0 && static_cast<size_t>(v->id) < nv && g.values[static_cast<size_t>(v->id)].get() == v;
  };
  if (alias_views) {
    // View ops, in execution order: an output joins its input's group (root = the first producer), and the
    // root lives until the last reader of any member.
    for (const auto& np : g.nodes) {
      const ir::Node& n = *np;
      if (!n.domain.empty() || n.inputs.empty() || n.outputs.size() != 1) continue;
      if (n.op_type != "Reshape" && n.op_type != "Flatten" && n.op_type != "Squeeze" && n.op_type != "Unsqueeze") continue;
      const ir::Value* in = n.inputs[0];
      const ir::Value* out = n.outputs[0];
      if (!owned(in) || !owned(out)) continue;
      const size_t i = static_cast<size_t>(in->id), o = static_cast<size_t>(out->id);
      if (!planned(i) || !planned(o) || in->desc.dtype != out->desc.dtype ||
          shape_numel(in->desc.shape) != shape_numel(out->desc.shape))
        continue;
      const size_t root = plan.alias_of[i] >= 0 ? static_cast<size_t>(plan.alias_of[i]) : i;
      plan.alias_of[o] = static_cast<int>(root);
      last[root] = std::max(last[root], last[o]);
    }
  }
  struct Item {
    size_t id;
    int64_t bytes;
  };
  std::vector<Item> items;
  for (size_t id = 0; id < nv; ++id) {
    const ir::Value& v = *g.values[id];
    if (first[id] < 0 || is_output[id] || v.is_constant()) continue;
    if (!v.desc.fully_known() || v.desc.dtype == DType::kUndefined) {
      plan.complete = false;
      continue;
    }
    if (plan.alias_of[id] >= 0) continue;  // placed with its root
    int64_t bytes = align_up(static_cast<int64_t>(storage_bytes(v.desc.dtype, shape_numel(v.desc.shape))));
    if (bytes == 0) bytes = kAlign;
    items.push_back({id, bytes});
    plan.naive_bytes += bytes;
  }
  std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) { return a.bytes > b.bytes; });
  std::vector<Item> placed;
  for (const Item& it : items) {
    // Collect placed blocks alive at the same time, sorted by offset, and take the first gap that fits.
    std::vector<std::pair<int64_t, int64_t>> busy;
    for (const Item& p : placed)
      if (!(last[p.id] < first[it.id] || last[it.id] < first[p.id])) busy.push_back({plan.offset[p.id], p.bytes});
    std::sort(busy.begin(), busy.end());
    int64_t off = 0;
    for (auto& [o, b] : busy) {
      if (off + it.bytes <= o) break;
      off = std::max(off, o + b);
    }
    plan.offset[it.id] = off;
    plan.arena_bytes = std::max(plan.arena_bytes, off + it.bytes);
    placed.push_back(it);
  }
  for (size_t id = 0; id < nv; ++id)
    if (plan.alias_of[id] >= 0) plan.offset[id] = plan.offset[static_cast<size_t>(plan.alias_of[id])];
  return plan;
}

}  // namespace joule
