// QDQ / QOperator / dynamic-quantization pattern fusion into joule.QConv, joule.QGemm, joule.DynQMatMul
// (see qdq_fusion.h for the patterns and runtime/ops/qfused_ops.cpp for the ops).
#include "quant/qdq_fusion.h"

#include <cmath>
#include <limits>

#include "kernels/ref/quant_common.h"
#include "runtime/passes/passes.h"

namespace joule::quant {

namespace {

using ir::Node;
using ir::Value;

struct Uses {
  std::vector<std::vector<Node*>> readers;
  std::vector<bool> is_output;
  // The only reader of v (not a graph output), or null.
  Node* sole_reader(const Value* v) const {
    if (!v || is_output[size_t(v->id)] || readers[size_t(v->id)].size() != 1) return nullptr;
    return readers[size_t(v->id)][0];
  }
  size_t count(const Value* v) const { return readers[size_t(v->id)].size() + (is_output[size_t(v->id)] ? 1 : 0); }
};

Uses uses_of(const ir::Graph& g) {
  Uses u{g.consumers(), std::vector<bool>(g.values.size(), false)};
  for (const Value* v : g.outputs) u.is_output[size_t(v->id)] = true;
  // Values read inside subgraphs count as graph outputs here: never rewired.
  for (auto& n : g.nodes)
    for (Value* v : ir::subgraph_outer_reads(*n))
      if (v->id >= 0 && size_t(v->id) < u.is_output.size() && g.values[size_t(v->id)].get() == v) u.is_output[size_t(v->id)] = true;
  return u;
}

bool is_op(const Node* n, const char* op) { return n && n->domain.empty() && n->op_type == op; }
bool is_8bit(DType t) { return t == DType::kU8 || t == DType::kI8; }
bool const_of(const Value* v, DType t) { return v && v->is_constant() && v->constant.dtype() == t; }
bool const_scalar(const Value* v, DType t) { return const_of(v, t) && v->constant.numel() == 1; }

// A QuantizeLinear / DequantizeLinear's parameters when they are constants: scale f32, zero point
// (created as 0 of `qtype` when omitted) with 1 or `channels` values along `axis`.
struct QParams {
  Value* q = nullptr;      // the integer tensor (DQ input / Q output)
  Value* scale = nullptr;
  Value* zp = nullptr;
  int64_t axis = -1;       // normalized axis when per channel, -1 per tensor
};

bool read_params(ir::Graph& g, Node* n, Value* q, DType qtype, int rank, QParams& p) {
  if (n->inputs.size() < 2 || !const_of(n->inputs[1], DType::kF32) || n->has_attr("block_size")) return false;
  if (n->opset >= 21 && n->attr_int("output_dtype", 0) != 0) return false;
  p.q = q;
  p.scale = n->inputs[1];
  const int64_t count = p.scale->constant.numel();
  if (n->has_input(2)) {
    if (!n->inputs[2]->is_constant() || n->inputs[2]->constant.dtype() != qtype || n->inputs[2]->constant.numel() != count)
      return false;
    p.zp = n->inputs[2];
  } else {
    if (qtype != DType::kU8) return false;
    p.zp = g.add_constant(n->name + "_zero_point", count == 1 ? Tensor(qtype, Shape{}) : Tensor(qtype, Shape{count}));
  }
  if (count == 1) return p.scale->constant.rank() <= 1;
  if (p.scale->constant.rank() != 1 || rank <= 0) return false;
  int64_t axis = n->attr_int("axis", 1);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) return false;
  p.axis = axis;
  return true;
}

// DequantizeLinear producing `v` from an 8-bit tensor (constant when `want_const`).
bool dequantized(ir::Graph& g, Value* v, bool want_const, QParams& p) {
  Node* dq = v ? v->producer : nullptr;
  if (!is_op(dq, "DequantizeLinear") || !dq->has_input(0)) return false;
  Value* q = dq->inputs[0];
  if (!is_8bit(q->desc.dtype) || want_const != q->is_constant()) return false;
  return read_params(g, dq, q, q->desc.dtype, q->desc.rank_known ? q->desc.rank() : -1, p);
}

// Relu or constant-bound Clip; lo/hi are the float bounds.
bool activation(const Node* n, float& lo, float& hi) {
  lo = -std::numeric_limits<float>::infinity();
  hi = std::numeric_limits<float>::infinity();
  if (is_op(n, "Relu")) {
    lo = 0.0f;
    return true;
  }
  if (!is_op(n, "Clip")) return false;
  if (n->opset < 11) {
    lo = n->attr_float("min", lo);
    hi = n->attr_float("max", hi);
    return true;
  }
  for (size_t i = 1; i < n->inputs.size(); ++i) {
    if (!n->inputs[i]) continue;
    if (!const_scalar(n->inputs[i], DType::kF32)) return false;
    (i == 1 ? lo : hi) = n->inputs[i]->constant.data<float>()[0];
  }
  return !(lo > hi);
}

// QuantizeLinear's value for float c (monotone, so clamp(Q(v), Q(lo), Q(hi)) == Q(clamp(v, lo, hi))).
int32_t quantize_bound(float c, float scale, int32_t zp, int32_t tlo, int32_t thi) {
  if (std::isinf(c)) return c < 0 ? tlo : thi;
  return kernels::quant::saturate_round(static_cast<double>(c / scale), zp, tlo, thi);
}

std::string fused_name(const Node* n, const char* what) { return (n->name.empty() ? std::string(what) : n->name) + "_fused"; }

// The output chain of a node to fuse: [Relu|Clip] -> QuantizeLinear (8-bit, per tensor), each the only reader.
struct OutputQ {
  Node* act = nullptr;  // Relu / Clip, or null
  float lo = 0.f, hi = 0.f;  // its float bounds
  Node* q = nullptr;
  Value* yq = nullptr;
  QParams p;
};

bool match_output_q(ir::Graph& g, const Uses& u, Node* n, OutputQ& o) {
  Node* next = u.sole_reader(n->outputs[0]);
  if (next && activation(next, o.lo, o.hi) && next->outputs.size() == 1) {
    o.act = next;
    next = u.sole_reader(o.act->outputs[0]);
  }
  if (!is_op(next, "QuantizeLinear") || next->inputs[0] != (o.act ? o.act->outputs[0] : n->outputs[0])) return false;
  o.q = next;
  o.yq = next->outputs[0];
  if (!o.yq || !is_8bit(o.yq->desc.dtype)) return false;
  return read_params(g, next, o.yq, o.yq->desc.dtype, -1, o.p) && o.p.axis < 0;
}

// Replaces n, its activation and its QuantizeLinear by f (which writes the quantized output); the activation
// becomes f's integer clamp qmin / qmax.
void replace_with_fused(ir::Graph& g, Node* n, const OutputQ& o, Node* f) {
  if (o.act) {
    int32_t tlo, thi;
    kernels::quant::q_range(o.yq->desc.dtype, tlo, thi);
    const float ys = o.p.scale->constant.data<float>()[0];
    const int32_t yz = kernels::quant::load_q(o.p.zp->constant, 0);
    f->attrs["qmin"] = ir::Attribute::of_int(quantize_bound(o.lo, ys, yz, tlo, thi));
    f->attrs["qmax"] = ir::Attribute::of_int(quantize_bound(o.hi, ys, yz, tlo, thi));
  }
  g.remove_node(o.q);
  if (o.act) g.remove_node(o.act);
  g.remove_node(n);
  f->outputs = {o.yq};
  o.yq->producer = f;
}

// Static QDQ: DQ(x) -> Conv/Gemm/MatMul(DQ(w), [DQ(bias)]) -> [act] -> Q.
bool fuse_static(ir::Graph& g, const Uses& u, Node* n) {
  const bool conv = is_op(n, "Conv"), gemm = is_op(n, "Gemm"), matmul = is_op(n, "MatMul");
  if ((!conv && !gemm && !matmul) || n->outputs.empty() || !n->outputs[0] || !n->has_input(0) || !n->has_input(1)) return false;
  if (n->has_attr("joule.activation")) return false;
  QParams px, pw;
  if (!dequantized(g, n->inputs[0], false, px) || px.axis >= 0) return false;
  if (!dequantized(g, n->inputs[1], true, pw)) return false;
  const Tensor& w = pw.q->constant;
  const ir::TensorDesc& xd = n->inputs[0]->desc;
  bool trans_b = false;
  int64_t channels = 0;
  if (conv) {
    if (w.rank() < 3 || (xd.rank_known && xd.rank() != w.rank())) return false;  // unknown rank: checked at run time
    channels = w.dim(0);
    if (pw.axis >= 0 && pw.axis != 0) return false;
  } else {
    if (w.rank() != 2 || (xd.rank_known && xd.rank() < 1)) return false;
    if (gemm) {
      if (n->attr_int("transA", 0) != 0 || (xd.rank_known && xd.rank() != 2) || n->attr_float("alpha", 1.f) != 1.f) return false;
      if (n->has_input(2) && n->attr_float("beta", 1.f) != 1.f) return false;
      trans_b = n->attr_int("transB", 0) != 0;
    }
    channels = trans_b ? w.dim(0) : w.dim(1);
    if (pw.axis >= 0 && pw.axis != (trans_b ? 0 : 1)) return false;
  }
  if (pw.axis >= 0 && pw.scale->constant.numel() != channels) return false;
  // Bias: DQ(int32 const [channels], zero point 0, scale == float(x_scale * w_scale[c])).
  Value* bias = nullptr;
  if (!matmul && n->has_input(2)) {
    Node* dqb = n->inputs[2]->producer;
    if (!is_op(dqb, "DequantizeLinear") || !const_of(dqb->inputs[0], DType::kI32)) return false;
    const Tensor& bq = dqb->inputs[0]->constant;
    if (bq.numel() != channels || bq.rank() != 1 || !const_of(dqb->inputs[1], DType::kF32)) return false;
    const Tensor& bs = dqb->inputs[1]->constant;
    if (bs.numel() != 1 && bs.numel() != channels) return false;
    if (dqb->has_input(2)) {
      const Tensor& bz = dqb->inputs[2]->constant;
      if (!dqb->inputs[2]->is_constant()) return false;
      for (int64_t i = 0; i < bz.numel(); ++i)
        if (kernels::quant::load_q(bz, i) != 0) return false;
    }
    const float xs = px.scale->constant.data<float>()[0];
    const Tensor& ws = pw.scale->constant;
    for (int64_t c = 0; c < channels; ++c) {
      const float want = xs * ws.data<float>()[ws.numel() == 1 ? 0 : c];
      if (bs.data<float>()[bs.numel() == 1 ? 0 : c] != want) return false;
    }
    bias = dqb->inputs[0];
  }
  OutputQ out;
  if (!match_output_q(g, u, n, out)) return false;

  std::vector<Value*> ins{px.q, px.scale, px.zp, pw.q, pw.scale, pw.zp, out.p.scale, out.p.zp};
  if (bias) ins.push_back(bias);
  Node* f = g.add_node(conv ? "QConv" : "QGemm", ins, {}, fused_name(n, conv ? "QConv" : "QGemm"), "joule");
  if (conv) {
    for (auto& [k, a] : n->attrs)
      if (k.rfind("joule.", 0) != 0) f->attrs[k] = a;
  } else {
    f->attrs["transB"] = ir::Attribute::of_int(trans_b ? 1 : 0);
  }
  replace_with_fused(g, n, out, f);
  return true;
}

// joule.QConv / QGemm (y1) -> DQ -> Relu|Clip -> Q (y2): a 256-entry table y2 = T[y1 - min], computed with
// the reference kernels' arithmetic (DQ: float(q - zp) * scale; Q: rint(x / scale) + zp, saturated).
bool fuse_lut(ir::Graph& g, const Uses& u, Node* f) {
  if (!f || f->domain != "joule" || (f->op_type != "QConv" && f->op_type != "QGemm") || f->has_attr("lut")) return false;
  Value* y1 = f->outputs[0];
  Node* dq = u.sole_reader(y1);
  if (!is_op(dq, "DequantizeLinear") || dq->inputs[0] != y1) return false;
  QParams p1, p2;
  if (!read_params(g, dq, y1, y1->desc.dtype, -1, p1) || p1.axis >= 0 || !is_8bit(y1->desc.dtype)) return false;
  Node* act = u.sole_reader(dq->outputs[0]);
  float lo, hi;
  if (!act || !activation(act, lo, hi) || act->outputs.size() != 1) return false;
  Node* q = u.sole_reader(act->outputs[0]);
  if (!is_op(q, "QuantizeLinear") || q->inputs[0] != act->outputs[0]) return false;
  Value* y2 = q->outputs[0];
  if (!y2 || !is_8bit(y2->desc.dtype) || !read_params(g, q, y2, y2->desc.dtype, -1, p2) || p2.axis >= 0) return false;
  int32_t lo1, hi1, lo2, hi2;
  kernels::quant::q_range(y1->desc.dtype, lo1, hi1);
  kernels::quant::q_range(y2->desc.dtype, lo2, hi2);
  const float s1 = p1.scale->constant.data<float>()[0], s2 = p2.scale->constant.data<float>()[0];
  const int32_t z1 = kernels::quant::load_q(p1.zp->constant, 0), z2 = kernels::quant::load_q(p2.zp->constant, 0);
  Tensor lut(y2->desc.dtype, Shape{256});
  for (int32_t v = lo1; v <= hi1; ++v) {
    float x = static_cast<float>(v - z1) * s1;
    x = std::min(std::max(x, lo), hi);  // Relu: lo = 0, hi = +inf
    kernels::quant::store_q(lut, v - lo1, kernels::quant::saturate_round(static_cast<double>(x / s2), z2, lo2, hi2));
  }
  f->attrs["lut"] = ir::Attribute::of_tensor(lut);
  g.remove_node(q);
  g.remove_node(act);
  g.remove_node(dq);
  f->outputs = {y2};
  y2->producer = f;
  return true;
}

// DQ(a 8-bit) + DQ(b 8-bit) -> Add [-> Relu|Clip] -> Q (the residual Add of a QDQ ResNet): joule.QAdd. Same
// static shapes only (no broadcasting), per-tensor parameters, each intermediate read once.
bool fuse_add(ir::Graph& g, const Uses& u, Node* n) {
  if (!is_op(n, "Add") || n->inputs.size() != 2 || n->outputs.size() != 1 || !n->outputs[0] || n->inputs[0] == n->inputs[1]) return false;
  QParams pa, pb;
  for (int i = 0; i < 2; ++i) {
    Value* v = n->inputs[size_t(i)];
    if (!v || u.sole_reader(v) != n) return false;
    if (!dequantized(g, v, false, i == 0 ? pa : pb) || (i == 0 ? pa : pb).axis >= 0) return false;
  }
  const ir::TensorDesc &ad = pa.q->desc, &bd = pb.q->desc;
  if (!ad.rank_known || !bd.rank_known || ad.shape != bd.shape) return false;
  for (int64_t d : ad.shape)
    if (d < 0) return false;
  OutputQ out;
  if (!match_output_q(g, u, n, out)) return false;
  const float sa = pa.scale->constant.data<float>()[0], sb = pb.scale->constant.data<float>()[0], ys = out.p.scale->constant.data<float>()[0];
  if (!(ys > 0.f) || !std::isfinite(sa / ys) || !std::isfinite(sb / ys)) return false;
  Node* f = g.add_node("QAdd", {pa.q, pa.scale, pa.zp, pb.q, pb.scale, pb.zp, out.p.scale, out.p.zp}, {}, fused_name(n, "QAdd"), "joule");
  replace_with_fused(g, n, out, f);
  return true;
}

// QLinearConv / QLinearMatMul with constant weights and scalar activation parameters: same inputs.
bool fuse_qoperator(Node* n) {
  const bool conv = is_op(n, "QLinearConv"), mm = is_op(n, "QLinearMatMul");
  if (!conv && !mm) return false;
  if (n->inputs.size() < 8 || !n->has_input(3) || !n->inputs[3]->is_constant()) return false;
  for (size_t i : {1, 2, 4, 5, 6, 7})
    if (!n->has_input(i) || !n->inputs[i]->is_constant()) return false;
  for (size_t i : {1, 2, 6, 7})
    if (n->inputs[i]->constant.numel() != 1) return false;
  const Tensor& w = n->inputs[3]->constant;
  if (!is_8bit(w.dtype()) || !is_8bit(n->inputs[0]->desc.dtype)) return false;
  const int64_t channels = conv ? w.dim(0) : (w.rank() == 2 ? w.dim(1) : -1);
  if (channels < 0 || (n->inputs[0]->desc.rank_known && n->inputs[0]->desc.rank() < 1)) return false;
  for (size_t i : {4, 5})
    if (n->inputs[i]->constant.numel() != 1 && n->inputs[i]->constant.numel() != channels) return false;
  if (mm && n->inputs[4]->constant.numel() != n->inputs[5]->constant.numel()) return false;
  n->op_type = conv ? "QConv" : "QGemm";
  n->domain = "joule";
  if (mm) n->attrs["transB"] = ir::Attribute::of_int(0);
  return true;
}

// DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul(acc, Mul(a_scale, w_scale)) [-> Add(bias)].
bool fuse_dynamic(ir::Graph& g, const Uses& u, Node* d) {
  if (!is_op(d, "DynamicQuantizeLinear") || d->outputs.size() != 3 || !d->outputs[0] || !d->outputs[1] || !d->outputs[2]) return false;
  Value *aq = d->outputs[0], *as = d->outputs[1], *az = d->outputs[2];
  Node* mm = u.sole_reader(aq);
  if (!is_op(mm, "MatMulInteger") || u.count(az) != 1 || mm->inputs.size() < 3 || mm->inputs[0] != aq || mm->inputs[2] != az)
    return false;
  Value* w = mm->inputs[1];
  if (!w || !w->is_constant() || w->constant.rank() != 2 || !is_8bit(w->constant.dtype())) return false;
  const int64_t n_out = w->constant.dim(1);
  Value* wz = mm->has_input(3) ? mm->inputs[3] : nullptr;
  if (wz && (!wz->is_constant() || (wz->constant.numel() != 1 && wz->constant.numel() != n_out))) return false;
  if (d->inputs[0]->desc.rank_known && d->inputs[0]->desc.rank() < 1) return false;
  Node* cast = u.sole_reader(mm->outputs[0]);
  if (!is_op(cast, "Cast") || cast->attr_int("to", 0) != 1) return false;
  Node* mul = u.sole_reader(cast->outputs[0]);
  Node* smul = u.sole_reader(as);
  if (!is_op(mul, "Mul") || !is_op(smul, "Mul") || u.sole_reader(smul->outputs[0]) != mul) return false;
  Value* ws = smul->inputs[0] == as ? smul->inputs[1] : smul->inputs[0];
  if (!const_of(ws, DType::kF32) || ws->constant.rank() > 1 || (ws->constant.numel() != 1 && ws->constant.numel() != n_out))
    return false;
  if (smul->inputs[0] != as && smul->inputs[1] != as) return false;
  Value* out = mul->outputs[0];
  Node* add = u.sole_reader(out);
  Value* bias = nullptr;
  if (is_op(add, "Add")) {
    Value* c = add->inputs[0] == out ? add->inputs[1] : add->inputs[0];
    if (const_of(c, DType::kF32) && c->constant.rank() == 1 && c->constant.numel() == n_out && add->inputs[0] != add->inputs[1]) {
      bias = c;
      out = add->outputs[0];
    }
  }
  if (!wz) wz = g.add_constant(d->name + "_w_zero_point", Tensor(w->constant.dtype(), Shape{}));
  std::vector<Value*> ins{d->inputs[0], w, wz, ws};
  if (bias) ins.push_back(bias);
  Node* f = g.add_node("DynQMatMul", ins, {}, fused_name(mm, "DynQMatMul"), "joule");
  for (Node* r : {bias ? add : nullptr, mul, smul, cast, mm, d})
    if (r) g.remove_node(r);
  f->outputs = {out};
  out->producer = f;
  return true;
}

}  // namespace

Status fuse_qdq(ir::Graph& g, int* fused) {
  int count = 0;
  for (bool changed = true; changed;) {
    changed = false;
    Uses u = uses_of(g);
    for (auto& np : g.nodes) {
      Node* n = np.get();
      if (fuse_qoperator(n)) {
        ++count;
        continue;
      }
      if (fuse_static(g, u, n) || fuse_dynamic(g, u, n) || fuse_lut(g, u, n) || fuse_add(g, u, n)) {
        ++count;
        changed = true;
        break;  // nodes were removed: recompute readers
      }
    }
  }
  if (fused) *fused = count;
  if (count == 0) return Status::ok();
  JOULE_RETURN_IF_ERROR(g.toposort());
  JOULE_RETURN_IF_ERROR(passes::eliminate_dead_nodes(g));
  return ir::verify_graph(g);
}

}  // namespace joule::quant
