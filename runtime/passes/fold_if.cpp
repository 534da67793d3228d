// Constant If folding; see fold_if.h.
#include "runtime/passes/fold_if.h"

#include <unordered_map>

namespace joule::passes {

namespace {

using ValueMap = std::unordered_map<const ir::Value*, ir::Value*>;

ir::Value* mapped(const ValueMap& m, ir::Value* v) {
  if (!v) return nullptr;
  auto it = m.find(v);
  return it == m.end() ? v : it->second;
}

// Rewrites reads of inlined branch values inside nested subgraphs (they reference them by pointer).
void remap_nested(ir::Graph& g, const ValueMap& m) {
  for (auto& n : g.nodes) {
    for (ir::Value*& v : n->inputs) v = mapped(m, v);
    for (auto& [k, a] : n->attrs) {
      if (a.g) remap_nested(*a.g, m);
      for (auto& sg : a.graphs) remap_nested(*sg, m);
    }
  }
  for (ir::Value*& v : g.outputs) v = mapped(m, v);
}

Status inline_branch(ir::Graph& g, ir::Node* n, const ir::Graph& branch) {
  ValueMap m;
  for (auto& v : branch.values) {
    ir::Value* nv = g.add_value(v->name, true);
    nv->desc = v->desc;
    nv->dim_params = v->dim_params;
    nv->constant = v->constant;
    m[v.get()] = nv;
  }
  for (auto& bn : branch.nodes) {
    std::vector<ir::Value*> ins, outs;
    for (ir::Value* v : bn->inputs) ins.push_back(mapped(m, v));
    for (ir::Value* v : bn->outputs) outs.push_back(mapped(m, v));
    ir::Node* nn = g.add_node(bn->op_type, std::move(ins), std::move(outs), bn->name, bn->domain);
    nn->opset = bn->opset;
    nn->attrs = bn->attrs;
    for (auto& [k, a] : nn->attrs) {
      if (a.g) { a.g->parent = &g; remap_nested(*a.g, m); }
      for (auto& sg : a.graphs) { sg->parent = &g; remap_nested(*sg, m); }
    }
  }
  for (size_t i = 0; i < n->outputs.size(); ++i) {
    ir::Value* o = n->outputs[i];
    if (!o) continue;
    ir::Node* id = g.add_node("Identity", {mapped(m, branch.outputs[i])}, {o}, n->name + "/out" + std::to_string(i));
    id->opset = n->opset;
  }
  g.remove_node(n);
  return Status::ok();
}

}  // namespace

Status fold_constant_ifs(ir::Graph& g, bool& changed) {
  changed = false;
  for (int round = 0; round < 16; ++round) {
    std::vector<ir::Node*> ifs;
    for (auto& np : g.nodes)
      if (np->domain.empty() && np->op_type == "If" && np->has_input(0) && np->inputs[0]->is_constant() &&
          np->inputs[0]->constant.numel() == 1)
        ifs.push_back(np.get());
    if (ifs.empty()) break;
    for (ir::Node* n : ifs) {
      auto it = n->attrs.find(n->inputs[0]->constant.value_as_int(0) != 0 ? "then_branch" : "else_branch");
      if (it == n->attrs.end() || !it->second.g) return invalid_model(n->label() + ": missing branch graph");
      std::shared_ptr<ir::Graph> branch = it->second.g;  // keep alive while the node is removed
      if (branch->outputs.size() != n->outputs.size() || !branch->inputs.empty())
        return invalid_model(n->label() + ": the branch must have no inputs and one output per If output");
      JOULE_RETURN_IF_ERROR(inline_branch(g, n, *branch));
    }
    changed = true;
    JOULE_RETURN_IF_ERROR(g.toposort());
  }
  return Status::ok();
}

}  // namespace joule::passes
