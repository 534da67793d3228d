// Reader queries and constant helpers shared by the pattern fusions (pattern_fusion.h).
#include "runtime/passes/pattern_fusion.h"

#include <algorithm>

namespace joule::passes {
namespace {

void pin_subgraph_reads(const ir::Graph& sub, std::set<const ir::Value*>& out) {
  for (auto& n : sub.nodes) {
    for (const ir::Value* v : n->inputs)
      if (v) out.insert(v);
    for (auto& [k, a] : n->attrs) {
      if (a.g) pin_subgraph_reads(*a.g, out);
      for (auto& sg : a.graphs) pin_subgraph_reads(*sg, out);
    }
  }
  for (const ir::Value* v : sub.outputs) out.insert(v);
}

}  // namespace

ReaderIndex::ReaderIndex(const ir::Graph& g) : g_(g), uses_(g.consumers()) {
  for (const ir::Value* v : g.outputs) pinned_.insert(v);
  for (auto& n : g.nodes)
    for (auto& [k, a] : n->attrs) {
      if (a.g) pin_subgraph_reads(*a.g, pinned_);
      for (auto& sg : a.graphs) pin_subgraph_reads(*sg, pinned_);
    }
}

ir::Node* ReaderIndex::only_reader(const ir::Value* v) const {
  if (!v || pinned_.count(v) || v->id < 0 || static_cast<size_t>(v->id) >= uses_.size()) return nullptr;
  const auto& u = uses_[static_cast<size_t>(v->id)];
  // A node reading v twice (Mul(x, x)) is listed once per input: still one reader.
  if (u.empty() || std::any_of(u.begin(), u.end(), [&](const ir::Node* n) { return n != u[0]; })) return nullptr;
  return u[0];
}

bool ReaderIndex::read_only_by(const ir::Value* v, const std::vector<const ir::Node*>& allowed) const {
  if (!v || pinned_.count(v) || v->id < 0 || static_cast<size_t>(v->id) >= uses_.size()) return false;
  for (const ir::Node* n : uses_[static_cast<size_t>(v->id)])
    if (std::find(allowed.begin(), allowed.end(), n) == allowed.end()) return false;
  return true;
}

std::vector<ir::Node*> ReaderIndex::readers(const ir::Value* v) const {
  std::vector<ir::Node*> out;
  if (!v || pinned_.count(v) || v->id < 0 || static_cast<size_t>(v->id) >= uses_.size()) return out;
  for (ir::Node* n : uses_[static_cast<size_t>(v->id)])
    if (std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
  return out;
}

bool scalar_constant(const ir::Value* v, float& out) {
  if (!v || !v->is_constant() || v->constant.dtype() != DType::kF32 || v->constant.numel() != 1) return false;
  out = v->constant.data<float>()[0];
  return true;
}

bool is_op(const ir::Node* n, const char* op) {
  return n && n->domain.empty() && n->op_type == op && !n->outputs.empty() && n->outputs[0];
}

ir::Value* other_input(const ir::Node* n, const ir::Value* known) {
  if (n->inputs.size() != 2) return nullptr;
  if (n->inputs[0] == known) return n->inputs[1];
  if (n->inputs[1] == known) return n->inputs[0];
  return nullptr;
}

}  // namespace joule::passes
