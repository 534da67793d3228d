// LayerNorm pattern fusion: ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div[/Mul/Add] -> LayerNormalization
// (see pattern_fusion.h).
#include "runtime/passes/pattern_fusion.h"

namespace joule::passes {
namespace {

// A keepdims ReduceMean over exactly the last axis of its input (rank -1 when unknown: then only axes = [-1]).
bool mean_over_last_axis(const ir::Node* n, int rank) {
  if (!is_op(n, "ReduceMean") || n->inputs.empty() || !n->inputs[0] || n->attr_int("keepdims", 1) != 1) return false;
  std::vector<int64_t> axes = n->attr_ints("axes");
  if (n->has_input(1)) {  // opset 18: axes is an input
    const ir::Value* a = n->inputs[1];
    if (!a->is_constant() || a->constant.dtype() != DType::kI64) return false;
    axes.assign(a->constant.data<int64_t>(), a->constant.data<int64_t>() + a->constant.numel());
  }
  return axes.size() == 1 && (axes[0] == -1 || (rank >= 1 && axes[0] == rank - 1));
}

// A 1-D f32 constant of `c` elements: `v` itself, or a copy when `v` has extra unit dims ([1, 1, C]).
ir::Value* per_channel_constant(ir::Graph& g, ir::Value* v, int64_t c) {
  if (!v || !v->is_constant() || v->constant.dtype() != DType::kF32) return nullptr;
  const Tensor& t = v->constant;
  if (t.rank() < 1 || t.dim(t.rank() - 1) != c || t.numel() != c) return nullptr;
  if (t.rank() == 1) return v;
  Tensor flat = t.clone();
  Tensor one(DType::kF32, {c});
  for (int64_t i = 0; i < c; ++i) one.data<float>()[i] = flat.data<float>()[i];
  ir::Value* out = g.add_constant(v->name + "_ln1d", std::move(one));
  out->desc = ir::TensorDesc::known(DType::kF32, {c});
  return out;
}

struct LayerNormMatch {
  ir::Value* x = nullptr;
  float eps = 0;
  ir::Value* gamma = nullptr;  // operand of the Mul, when present
  ir::Value* beta = nullptr;   // operand of the Add, when present
  ir::Node* last = nullptr;
  std::vector<ir::Node*> dead;
};

bool match_layernorm(const ReaderIndex& r, ir::Node* mean, LayerNormMatch& m) {
  // x may have no inferred rank under dynamic shapes (axes = [-1] is enough then); it is f32 when its
  // dtype is known (the f32 eps constant below pins it anyway: Add takes one type).
  if (!is_op(mean, "ReduceMean") || mean->inputs.empty() || !mean->inputs[0]) return false;
  const ir::TensorDesc& xd = mean->inputs[0]->desc;
  const int rank = xd.rank_known ? xd.rank() : -1;
  if ((xd.dtype != DType::kF32 && xd.dtype != DType::kUndefined) || !mean_over_last_axis(mean, rank)) return false;
  m.x = mean->inputs[0];
  ir::Node* sub = r.only_reader(mean->outputs[0]);
  if (!is_op(sub, "Sub") || sub->inputs.size() != 2 || sub->inputs[0] != m.x || sub->inputs[1] != mean->outputs[0])
    return false;
  ir::Value* d = sub->outputs[0];
  std::vector<ir::Node*> dr = r.readers(d);
  if (dr.size() != 2) return false;
  ir::Node* sq = nullptr;
  ir::Node* div = nullptr;
  for (ir::Node* n : dr) {
    float p;
    if (is_op(n, "Pow") && n->inputs.size() == 2 && n->inputs[0] == d && scalar_constant(n->inputs[1], p) && p == 2.0f)
      sq = n;
    else if (is_op(n, "Mul") && n->inputs.size() == 2 && n->inputs[0] == d && n->inputs[1] == d)
      sq = n;
    else if (is_op(n, "Div") && n->inputs.size() == 2 && n->inputs[0] == d)
      div = n;
  }
  if (!sq || !div) return false;
  ir::Node* var = r.only_reader(sq->outputs[0]);
  if (!mean_over_last_axis(var, rank) || var->inputs[0] != sq->outputs[0]) return false;
  ir::Node* add_eps = r.only_reader(var->outputs[0]);
  if (!is_op(add_eps, "Add")) return false;
  ir::Value* eps_v = other_input(add_eps, var->outputs[0]);
  if (!scalar_constant(eps_v, m.eps) || !(m.eps >= 0.0f)) return false;
  ir::Node* sqrt = r.only_reader(add_eps->outputs[0]);
  if (!is_op(sqrt, "Sqrt") || r.only_reader(sqrt->outputs[0]) != div || div->inputs[1] != sqrt->outputs[0]) return false;
  m.dead = {mean, sub, sq, var, add_eps, sqrt};
  m.last = div;
  ir::Node* mul = r.only_reader(div->outputs[0]);
  if (is_op(mul, "Mul")) {
    ir::Value* gamma = other_input(mul, div->outputs[0]);
    if (gamma && gamma->is_constant()) {
      m.gamma = gamma;
      m.dead.push_back(m.last);
      m.last = mul;
    }
  }
  ir::Node* add = r.only_reader(m.last->outputs[0]);
  if (is_op(add, "Add")) {
    ir::Value* beta = other_input(add, m.last->outputs[0]);
    if (beta && beta->is_constant()) {
      m.beta = beta;
      m.dead.push_back(m.last);
      m.last = add;
    }
  }
  return true;
}

}  // namespace

Status fuse_layernorm_patterns(ir::Graph& g, int& fused) {
  for (bool changed = true; changed;) {
    changed = false;
    ReaderIndex r(g);
    for (auto& np : g.nodes) {
      LayerNormMatch m;
      if (!match_layernorm(r, np.get(), m)) continue;
      const ir::TensorDesc& xd = m.x->desc;
      int64_t c = xd.rank_known && xd.rank() >= 1 ? xd.shape.back() : -1;
      if (c < 0 && m.gamma && m.gamma->is_constant()) c = m.gamma->constant.numel();
      if (c < 1) continue;
      ir::Value* gamma = m.gamma ? per_channel_constant(g, m.gamma, c) : nullptr;
      ir::Value* beta = m.beta ? per_channel_constant(g, m.beta, c) : nullptr;
      if ((m.gamma && !gamma) || (m.beta && !beta)) continue;  // not per-channel: leave the pattern alone
      if (!gamma) {
        Tensor ones(DType::kF32, {c});
        for (int64_t i = 0; i < c; ++i) ones.data<float>()[i] = 1.0f;
        gamma = g.add_constant(m.last->outputs[0]->name + "_ln_scale", std::move(ones));
        gamma->desc = ir::TensorDesc::known(DType::kF32, {c});
      }
      ir::Node* last = m.last;
      last->op_type = "LayerNormalization";
      last->domain.clear();
      last->opset = 17;
      last->inputs = {m.x, gamma};
      if (beta) last->inputs.push_back(beta);
      last->attrs.clear();
      last->attrs["axis"] = ir::Attribute::of_int(-1);
      last->attrs["epsilon"] = ir::Attribute::of_float(m.eps);
      for (ir::Node* d : m.dead) g.remove_node(d);
      ++fused;
      changed = true;
      break;  // nodes were removed: rebuild the reader index
    }
  }
  return Status::ok();
}

}  // namespace joule::passes
