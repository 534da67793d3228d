// Constant folding: evaluates constant subgraphs once at load time with the reference kernels.
#include "kernels/kernel_registry.h"
#include "runtime/node_executor.h"
#include "runtime/passes/passes.h"

namespace joule::passes {

namespace {
// Shape/Size of a value whose shape is fully known fold without running anything.
bool fold_shape_of(ir::Node& n) {
  if (!n.domain.empty() || (n.op_type != "Shape" && n.op_type != "Size")) return false;
  if (!n.has_input(0) || !n.inputs[0]->desc.fully_known() || n.outputs.empty() || !n.outputs[0]) return false;
  const Shape& s = n.inputs[0]->desc.shape;
  Tensor t;
  if (n.op_type == "Size") {
    t = Tensor::scalar<int64_t>(shape_numel(s));
  } else {
    int64_t r = static_cast<int64_t>(s.size());
    int64_t start = n.attr_int("start", 0), end = n.attr_int("end", r);
    if (start < 0) start += r;
    if (end < 0) end += r;
    start = std::clamp<int64_t>(start, 0, r);
    end = std::clamp<int64_t>(end, 0, r);
    std::vector<int64_t> dims(s.begin() + start, s.begin() + std::max(start, end));
    t = Tensor::from_vector<int64_t>({static_cast<int64_t>(dims.size())}, dims);
  }
  n.outputs[0]->constant = t;
  n.outputs[0]->desc = ir::TensorDesc::known(t.dtype(), t.shape());
  return true;
}
}  // namespace

Status fold_constants(ir::Graph& g, uint64_t max_bytes) {
  const ops::OpRegistry& ops_reg = ops::OpRegistry::builtin();
  const kernels::KernelRegistry& kreg = kernels::KernelRegistry::builtin();
  std::vector<ir::Node*> folded;
  for (auto& np : g.nodes) {
    ir::Node& n = *np;
    JOULE_RETURN_IF_ERROR(infer_node_shapes(n));
    if (fold_shape_of(n)) {
      folded.push_back(&n);
      continue;
    }
    bool all_const = !n.inputs.empty();
    for (ir::Value* v : n.inputs)
      if (v && !v->is_constant()) all_const = false;
    if (!all_const) continue;
    bool has_subgraph = false;
    for (auto& [k, a] : n.attrs) has_subgraph |= a.g != nullptr || !a.graphs.empty();
    if (has_subgraph) continue;
    const ops::OpDef* op = ops_reg.find(n.domain, n.op_type);
    if (!op || !op->deterministic || !op->infer) continue;
    std::vector<const Tensor*> ins;
    kernels::KernelQuery q{n, {}, {}};
    for (ir::Value* v : n.inputs) {
      ins.push_back(v ? &v->constant : nullptr);
      q.inputs.push_back(v ? v->desc : ir::TensorDesc{});
      q.constant_inputs.push_back(v ? &v->constant : nullptr);
    }
    const kernels::KernelDef* k = kreg.select(q, kernels::Device::kCpu, Isa::kScalar);
    if (!k) continue;
    std::shared_ptr<const void> state;
    if (k->prepare && !k->prepare(q, state).is_ok()) continue;
    HeapAllocator alloc(max_bytes);
    std::vector<Tensor> outs;
    Status st = execute_node(*op, *k, state.get(), n, ins, outs, nullptr, alloc);
    if (st.code() == StatusCode::kResourceLimit) continue;  // too big to fold: compute at run time
    if (!st.is_ok()) return st;                             // a constant subgraph that cannot run is a model error
    for (size_t i = 0; i < n.outputs.size(); ++i) {
      if (!n.outputs[i]) continue;
      n.outputs[i]->constant = outs[i];
      n.outputs[i]->desc = ir::TensorDesc::known(outs[i].dtype(), outs[i].shape());
    }
    folded.push_back(&n);
  }
  for (ir::Node* n : folded) g.remove_node(n);
  return Status::ok();
}

namespace {
// Marks values of `g` read from inside subgraphs (outer-scope references) as outputs-to-keep.
void mark_subgraph_reads(const ir::Graph& g, const ir::Graph& sub, std::vector<bool>& keep) {
  for (auto& n : sub.nodes) {
    for (ir::Value* v : n->inputs)
      if (v && v->id >= 0 && static_cast<size_t>(v->id) < g.values.size() && g.values[static_cast<size_t>(v->id)].get() == v)
        keep[static_cast<size_t>(v->id)] = true;
    for (auto& [k, a] : n->attrs) {
      if (a.g) mark_subgraph_reads(g, *a.g, keep);
      for (auto& sg : a.graphs) mark_subgraph_reads(g, *sg, keep);
    }
  }
  for (ir::Value* v : sub.outputs)
    if (v && v->id >= 0 && static_cast<size_t>(v->id) < g.values.size() && g.values[static_cast<size_t>(v->id)].get() == v)
      keep[static_cast<size_t>(v->id)] = true;
}
}  // namespace

Status eliminate_dead_nodes(ir::Graph& g) {
  bool changed = true;
  while (changed) {
    changed = false;
    auto uses = g.consumers();
    std::vector<bool> is_output(g.values.size(), false);
    for (ir::Value* v : g.outputs) is_output[static_cast<size_t>(v->id)] = true;
    for (auto& np : g.nodes)
      for (auto& [k, a] : np->attrs) {
        if (a.g) mark_subgraph_reads(g, *a.g, is_output);
        for (auto& sg : a.graphs) mark_subgraph_reads(g, *sg, is_output);
      }
    std::vector<ir::Node*> dead;
    for (auto& np : g.nodes) {
      bool live = false;
      for (ir::Value* o : np->outputs)
        if (o && (is_output[static_cast<size_t>(o->id)] || !uses[static_cast<size_t>(o->id)].empty())) live = true;
      if (!live) dead.push_back(np.get());
    }
    for (ir::Node* n : dead) g.remove_node(n);
    changed = !dead.empty();
    g.compact();
  }
  return Status::ok();
}

}  // namespace joule::passes
