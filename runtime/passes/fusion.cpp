// Conv+BatchNorm folding and Conv/Gemm/MatMul + Relu/Clip fusion; see fusion.h for the math.
#include "runtime/passes/fusion.h"

#include <cmath>
#include <limits>
#include <set>

#include "kernels/kernel_registry.h"
#include "runtime/passes/nbits_cast_fusion.h"
#include "runtime/passes/pattern_fusion.h"

namespace joule::passes {
namespace {

bool is_f32_constant(const ir::Value* v) { return v && v->is_constant() && v->constant.dtype() == DType::kF32; }

// Outer values that the subgraphs (If/Loop/Scan bodies, nested) of `g`'s nodes read: never rewired.
void collect_subgraph_reads(const ir::Graph& sub, std::set<const ir::Value*>& out) {
  for (auto& n : sub.nodes) {
    for (const ir::Value* v : n->inputs)
      if (v) out.insert(v);
    for (auto& [k, a] : n->attrs) {
      if (a.g) collect_subgraph_reads(*a.g, out);
      for (auto& sg : a.graphs) collect_subgraph_reads(*sg, out);
    }
  }
  for (const ir::Value* v : sub.outputs) out.insert(v);
}

std::set<const ir::Value*> subgraph_reads(const ir::Graph& g) {
  std::set<const ir::Value*> out;
  for (auto& np : g.nodes)
    for (auto& [k, a] : np->attrs) {
      if (a.g) collect_subgraph_reads(*a.g, out);
      for (auto& sg : a.graphs) collect_subgraph_reads(*sg, out);
    }
  return out;
}

// True when `v` is read by exactly one node (`reader`), by no subgraph, and is not a graph output.
bool single_reader(const ir::Graph& g, const std::vector<std::vector<ir::Node*>>& uses, const std::set<const ir::Value*>& sub,
                   const ir::Value* v, ir::Node*& reader) {
  if (!v || sub.count(v)) return false;
  for (const ir::Value* o : g.outputs)
    if (o == v) return false;
  const auto& u = uses[static_cast<size_t>(v->id)];
  if (u.size() != 1) return false;
  reader = u[0];
  return true;
}

// `producer` takes over `second`'s first output (so graph output names are kept) and `second` goes.
void absorb(ir::Graph& g, ir::Node* producer, ir::Node* second) {
  ir::Value* out = second->outputs[0];
  producer->outputs[0]->producer = nullptr;  // the intermediate value is dropped by compact()
  g.remove_node(second);
  producer->outputs[0] = out;
  out->producer = producer;
}

bool fold_batchnorm(ir::Graph& g, ir::Node* conv, ir::Node* bn) {
  if (bn->op_type != "BatchNormalization" || !bn->domain.empty() || bn->inputs.size() != 5) return false;
  if (bn->attr_int("training_mode", 0) != 0) return false;
  for (size_t i = 1; i < bn->outputs.size(); ++i)
    if (bn->outputs[i]) return false;
  if (!is_f32_constant(conv->inputs[1]) || (conv->has_input(2) && !is_f32_constant(conv->inputs[2]))) return false;
  const Tensor& w = conv->inputs[1]->constant;
  if (w.rank() < 3) return false;
  const int64_t m = w.dim(0), per = w.numel() / std::max<int64_t>(m, 1);
  for (size_t i = 1; i < 5; ++i)
    if (!is_f32_constant(bn->inputs[i]) || bn->inputs[i]->constant.numel() != m) return false;
  const float eps = bn->attr_float("epsilon", 1e-5f);
  const float* scale = bn->inputs[1]->constant.data<float>();
  const float* beta = bn->inputs[2]->constant.data<float>();
  const float* mean = bn->inputs[3]->constant.data<float>();
  const float* var = bn->inputs[4]->constant.data<float>();
  Tensor nw = w.clone(), nb(DType::kF32, {m});
  for (int64_t o = 0; o < m; ++o) {
    const float s = scale[o] / std::sqrt(var[o] + eps);
    for (int64_t i = 0; i < per; ++i) nw.data<float>()[o * per + i] *= s;
    const float b = conv->has_input(2) ? conv->inputs[2]->constant.data<float>()[o] : 0.0f;
    nb.data<float>()[o] = (b - mean[o]) * s + beta[o];
  }
  ir::Value* wv = g.add_constant(conv->inputs[1]->name + "_bnfold", std::move(nw));
  ir::Value* bv = g.add_constant(bn->outputs[0]->name + "_bnfold_bias", std::move(nb));
  wv->desc = conv->inputs[1]->desc;
  bv->desc = ir::TensorDesc::known(DType::kF32, {m});
  conv->inputs[1] = wv;
  if (conv->inputs.size() < 3) conv->inputs.resize(3, nullptr);
  conv->inputs[2] = bv;
  absorb(g, conv, bn);
  return true;
}

// Reads a Relu / Clip node's bounds; false when they are not constants.
bool activation_of(const ir::Node* act, std::string& kind, float& lo, float& hi) {
  if (!act->domain.empty()) return false;
  lo = -std::numeric_limits<float>::infinity();
  hi = std::numeric_limits<float>::infinity();
  if (act->op_type == "Relu") {
    kind = "Relu";
    return true;
  }
  if (act->op_type != "Clip") return false;
  kind = "Clip";
  if (act->opset < 11) {
    lo = act->attr_float("min", lo);
    hi = act->attr_float("max", hi);
    return true;
  }
  for (size_t i = 1; i < act->inputs.size(); ++i) {
    if (!act->inputs[i]) continue;
    if (!is_f32_constant(act->inputs[i]) || act->inputs[i]->constant.numel() != 1) return false;
    (i == 1 ? lo : hi) = act->inputs[i]->constant.data<float>()[0];
  }
  return true;
}

void set_attr(ir::Node* n, const std::string& name, const std::string& s) {
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::kString;
  a.s = s;
  n->attrs[name] = a;
}
void set_attr(ir::Node* n, const std::string& name, float f) {
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::kFloat;
  a.f = f;
  n->attrs[name] = a;
}

// Fuses when an optimized kernel would run the node with the attributes set.
bool fuse_activation(ir::Graph& g, ir::Node* n, ir::Node* act, Isa isa) {
  std::string kind;
  float lo, hi;
  if (n->has_attr("joule.activation") || !activation_of(act, kind, lo, hi)) return false;
  const DType dt = n->outputs[0]->desc.dtype;  // may be unknown under dynamic shapes: the kernel decides
  if (dt != DType::kF32 && dt != DType::kUndefined) return false;
  auto saved = n->attrs;
  set_attr(n, "joule.activation", kind);
  if (kind == "Clip") {
    set_attr(n, "joule.clip_min", lo);
    set_attr(n, "joule.clip_max", hi);
  }
  kernels::KernelQuery q{*n, {}, {}};
  for (ir::Value* v : n->inputs) {
    q.inputs.push_back(v ? v->desc : ir::TensorDesc{});
    q.constant_inputs.push_back(v && v->is_constant() ? &v->constant : nullptr);
  }
  const kernels::KernelDef* k = kernels::KernelRegistry::builtin().select(q, kernels::Device::kCpu, isa);
  if (!k || k->priority == 0) {
    n->attrs = saved;
    return false;
  }
  absorb(g, n, act);
  return true;
}

}  // namespace

Status fuse_operators(ir::Graph& g, Isa isa) {
  int patterns = 0;  // decomposed GELU / LayerNorm -> single ops (pattern_fusion.h)
  JOULE_RETURN_IF_ERROR(fuse_gelu_patterns(g, patterns));
  JOULE_RETURN_IF_ERROR(fuse_layernorm_patterns(g, patterns));
  JOULE_RETURN_IF_ERROR(fuse_matmul_bias(g, isa, patterns));
  JOULE_RETURN_IF_ERROR(fuse_transpose_matmul(g, isa, patterns));  // transpose_matmul_fusion.cpp
  JOULE_RETURN_IF_ERROR(fold_nbits_f16_casts(g, patterns));  // nbits_cast_fusion.cpp (owner: int4)
  bool changed = true;
  while (changed) {
    changed = false;
    auto uses = g.consumers();
    auto sub = subgraph_reads(g);
    for (auto& np : g.nodes) {
      ir::Node* n = np.get();
      const bool matmul_bias = n->domain == "joule" && n->op_type == "MatMulBias";  // matmul_bias_fusion.cpp
      if ((!n->domain.empty() && !matmul_bias) || n->outputs.empty() || !n->outputs[0]) continue;
      const bool conv = n->domain.empty() && n->op_type == "Conv";
      if (!conv && !matmul_bias && n->op_type != "Gemm" && n->op_type != "MatMul") continue;
      ir::Node* next = nullptr;
      if (!single_reader(g, uses, sub, n->outputs[0], next)) continue;
      if ((conv && fold_batchnorm(g, n, next)) || fuse_activation(g, n, next, isa)) {
        changed = true;
        break;  // the node list changed: recompute readers
      }
    }
  }
  g.compact();
  return Status::ok();
}

}  // namespace joule::passes
