// The quantization rewrite of the IR.
//
// Static (QDQ): for each candidate node (Conv, ConvTranspose, Gemm, MatMul) every float activation it
// reads or writes gets QuantizeLinear -> DequantizeLinear with per-tensor scale/zero point from
// calibration (uint8 asymmetric by default, int8 symmetric on request); constant weights become int8
// (symmetric, per output channel by default) behind a DequantizeLinear; a constant bias becomes int32
// with scale x_scale * w_scale[c] and zero point 0. Consumers of a quantized activation read the
// DequantizeLinear output, so graph inputs and outputs keep their names and float type.
//
// Dynamic: MatMul/Gemm with a constant 2-D weight become
//   DynamicQuantizeLinear(A) -> (a_q u8, a_s, a_zp); MatMulInteger(a_q, W_q s8 [K,N], a_zp, 0) -> int32;
//   Cast float; Mul(a_s * w_scale[N]); Add bias (Gemm)
// writing the original output value.
#include <algorithm>
#include <cmath>

#include "quant/quantize.h"
#include "quant/recurrent_subgraph_notes.h"

namespace joule::quant {

namespace {

bool is_candidate_op(const ir::Node& n) {
  return n.domain.empty() && (n.op_type == "Conv" || n.op_type == "ConvTranspose" || n.op_type == "Gemm" || n.op_type == "MatMul");
}

bool float_or_unknown(const ir::Value* v) {
  return v && (v->desc.dtype == DType::kF32 || v->desc.dtype == DType::kUndefined);
}

bool is_float_const(const ir::Value* v) { return v && v->is_constant() && v->constant.dtype() == DType::kF32; }

Tensor scalar_f32(float x) {
  Tensor t(DType::kF32, Shape{});
  t.data<float>()[0] = x;
  return t;
}

ir::Attribute int_attr(int64_t v) {
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::kInt;
  a.i = v;
  return a;
}

// Why a candidate node cannot be quantized statically ("" when it can).
std::string static_blocker(const ir::Node& n) {
  if (n.opset < 10) return "opset < 10 has no QuantizeLinear";
  if (!n.has_input(0) || n.inputs[0]->is_constant() || !float_or_unknown(n.inputs[0])) return "input is not a float activation";
  if (!n.has_input(1)) return "no weight input";
  if (n.op_type != "MatMul" && !is_float_const(n.inputs[1])) return "weight is not a float constant";
  if (n.op_type == "MatMul" && !n.inputs[1]->is_constant() && !float_or_unknown(n.inputs[1])) return "B is not float";
  if (n.op_type == "MatMul" && n.inputs[1]->is_constant() && !is_float_const(n.inputs[1])) return "B is not float";
  if (n.op_type == "Gemm" && n.attr_int("transA", 0) != 0) return "Gemm with transA";
  if (!n.outputs.empty() && n.outputs[0] && !float_or_unknown(n.outputs[0])) return "output is not float";
  return "";
}

std::string dynamic_blocker(const ir::Node& n) {
  if (n.op_type != "MatMul" && n.op_type != "Gemm") return "dynamic quantization covers MatMul/Gemm only";
  if (n.opset < 11) return "opset < 11 has no DynamicQuantizeLinear";
  if (!n.has_input(0) || n.inputs[0]->is_constant() || !float_or_unknown(n.inputs[0])) return "input is not a float activation";
  if (!n.has_input(1) || !is_float_const(n.inputs[1]) || n.inputs[1]->constant.shape().size() != 2)
    return "weight is not a 2-D float constant";
  if (n.op_type == "Gemm" && n.attr_int("transA", 0) != 0) return "Gemm with transA";
  return "";
}

// Symmetric int8 quantization of a float constant, per channel along `axis` (-1: per tensor).
// Range [-qmax, qmax]: 63 (reduce_range, the default) keeps u8 x s8 pair sums of AVX2's vpmaddubsw inside
// int16, which joule's fast u8 x s8 kernels (kernels/cpu/qgemm_u8s8.h) and ONNX Runtime's AVX2 (non-VNNI)
// kernels need to stay exact; 127 (full range) is one bit more precise.
void quantize_weight(const Tensor& w, int axis, float qmax, Tensor& q, std::vector<float>& scales) {
  const Shape& s = w.shape();
  int64_t channels = axis < 0 ? 1 : s[static_cast<size_t>(axis)], inner = 1, outer = 1;
  if (axis >= 0) {
    for (size_t d = static_cast<size_t>(axis) + 1; d < s.size(); ++d) inner *= s[d];
    for (int d = 0; d < axis; ++d) outer *= s[static_cast<size_t>(d)];
  } else {
    inner = w.numel();
  }
  const float* x = w.data<float>();
  std::vector<float> amax(static_cast<size_t>(channels), 0.f);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t k = 0; k < inner; ++k)
        amax[static_cast<size_t>(c)] = std::max(amax[static_cast<size_t>(c)], std::fabs(x[(o * channels + c) * inner + k]));
  scales.resize(static_cast<size_t>(channels));
  for (size_t c = 0; c < scales.size(); ++c) scales[c] = amax[c] > 0 ? amax[c] / qmax : 1.f;
  q = Tensor(DType::kI8, s);
  int8_t* y = q.data<int8_t>();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t k = 0; k < inner; ++k) {
        int64_t i = (o * channels + c) * inner + k;
        float r = std::nearbyint(x[i] / scales[static_cast<size_t>(c)]);
        y[i] = static_cast<int8_t>(std::clamp(r, -qmax, qmax));
      }
}

Tensor vector_or_scalar(const std::vector<float>& v) {
  if (v.size() == 1) return scalar_f32(v[0]);
  return Tensor::from_vector(Shape{static_cast<int64_t>(v.size())}, v);
}

struct ActParams {
  float scale = 1;
  int32_t zp = 0;
};

ActParams activation_params(Range r, bool int8) {
  float lo = std::min(r.lo, 0.f), hi = std::max(r.hi, 0.f);
  ActParams p;
  if (int8) {
    float a = std::max(-lo, hi);
    p.scale = a > 0 ? a / 127.f : 1.f;
    return p;
  }
  p.scale = hi > lo ? (hi - lo) / 255.f : 1.f;
  p.zp = static_cast<int32_t>(std::clamp(std::nearbyint(-lo / p.scale), 0.f, 255.f));
  return p;
}

class Rewriter {
 public:
  Rewriter(ir::Graph& g, const QuantizeOptions& o) : g_(g), opts_(o) {}
  float qmax() const { return opts_.reduce_range ? 63.f : 127.f; }

  // Inserts Q -> DQ on activation `x` (once); every reader then sees the DQ output.
  ActParams quantize_activation(ir::Value* x, const Range& r) {
    auto it = done_.find(x);
    if (it != done_.end()) return it->second;
    ActParams p = activation_params(r, opts_.int8_activations);
    DType qt = opts_.int8_activations ? DType::kI8 : DType::kU8;
    ir::Value* scale = g_.add_constant(x->name + "_scale", scalar_f32(p.scale));
    Tensor zpt(qt, Shape{});
    if (qt == DType::kI8) zpt.data<int8_t>()[0] = static_cast<int8_t>(p.zp);
    else zpt.data<uint8_t>()[0] = static_cast<uint8_t>(p.zp);
    ir::Value* zp = g_.add_constant(x->name + "_zero_point", zpt);
    ir::Value* q = g_.add_value(x->name + "_quantized", true);
    q->desc = x->desc;
    q->desc.dtype = qt;
    ir::Value* src = x;   // what QuantizeLinear reads
    ir::Value* dst;       // what DequantizeLinear writes
    if (ir::Node* prod = x->producer) {
      // Producer writes a new float value; DequantizeLinear takes over the original name.
      src = g_.add_value(x->name + "_float", true);
      src->desc = x->desc;
      for (auto& o : prod->outputs)
        if (o == x) o = src;
      src->producer = prod;
      dst = x;
    } else {
      dst = g_.add_value(x->name + "_dequantized", true);
      dst->desc = x->desc;
      g_.replace_uses(x, dst);  // graph input: readers switch to the DQ output
      for (auto& o : g_.outputs)
        if (o == dst) o = x;    // ... but a graph output stays the input itself
    }
    g_.add_node("QuantizeLinear", {src, scale, zp}, {q}, x->name + "_QuantizeLinear");
    g_.add_node("DequantizeLinear", {q, scale, zp}, {dst}, x->name + "_DequantizeLinear");
    done_[x] = p;
    return p;
  }

  // Replaces constant weight input `idx` of `n` by int8 + DequantizeLinear; returns its scales.
  std::vector<float> quantize_weight_input(ir::Node& n, size_t idx, int axis) {
    ir::Value* w = n.inputs[idx];
    if (axis >= 0 && n.opset < 13) axis = -1;  // per-axis DequantizeLinear needs opset 13
    if (!opts_.per_channel) axis = -1;
    Tensor q;
    std::vector<float> scales;
    quantize_weight(w->constant, axis, qmax(), q, scales);
    ir::Value* qv = g_.add_constant(w->name + "_quantized", q);
    ir::Value* sv = g_.add_constant(w->name + "_scale", vector_or_scalar(scales));
    ir::Value* zv = g_.add_constant(w->name + "_zero_point", axis < 0 ? Tensor(DType::kI8, Shape{})
                                                                      : Tensor(DType::kI8, Shape{static_cast<int64_t>(scales.size())}));
    ir::Value* out = g_.add_value(w->name + "_dequantized", true);
    out->desc = w->desc;
    ir::Node* dq = g_.add_node("DequantizeLinear", {qv, sv, zv}, {out}, w->name + "_DequantizeLinear");
    if (axis >= 0) dq->attrs["axis"] = int_attr(axis);
    n.inputs[idx] = out;
    return scales;
  }

  // Bias (1-D float constant of `channels`) -> int32 with scale x_scale * w_scale[c].
  void quantize_bias(ir::Node& n, size_t idx, float x_scale, const std::vector<float>& w_scales) {
    ir::Value* b = n.inputs[idx];
    const Tensor& bt = b->constant;
    int64_t c = bt.numel();
    if (bt.shape().size() != 1 || (w_scales.size() != 1 && static_cast<int64_t>(w_scales.size()) != c)) return;
    std::vector<float> scales(w_scales.size());
    for (size_t i = 0; i < scales.size(); ++i) scales[i] = x_scale * w_scales[i];
    Tensor q(DType::kI32, bt.shape());
    for (int64_t i = 0; i < c; ++i) {
      double s = scales[scales.size() == 1 ? 0 : static_cast<size_t>(i)];
      double r = std::nearbyint(bt.data<float>()[i] / s);
      q.data<int32_t>()[i] = static_cast<int32_t>(std::clamp(r, -2147483647.0, 2147483647.0));
    }
    ir::Value* qv = g_.add_constant(b->name + "_quantized", q);
    ir::Value* sv = g_.add_constant(b->name + "_scale", vector_or_scalar(scales));
    ir::Value* zv = g_.add_constant(b->name + "_zero_point", scales.size() == 1 ? Tensor(DType::kI32, Shape{})
                                                                                : Tensor(DType::kI32, Shape{c}));
    ir::Value* out = g_.add_value(b->name + "_dequantized", true);
    out->desc = b->desc;
    ir::Node* dq = g_.add_node("DequantizeLinear", {qv, sv, zv}, {out}, b->name + "_DequantizeLinear");
    if (scales.size() > 1) dq->attrs["axis"] = int_attr(0);
    n.inputs[idx] = out;
  }

  Status static_node(ir::Node& n, const std::map<std::string, Range>& ranges, std::string& reason) {
    auto range_of = [&](ir::Value* v, Range& r) {
      auto it = ranges.find(v->name);
      if (it == ranges.end()) return false;
      r = it->second;
      return true;
    };
    Range rx, rb, ry;
    ir::Value* y = n.outputs.empty() ? nullptr : n.outputs[0];
    bool b_act = n.op_type == "MatMul" && !n.inputs[1]->is_constant();
    if (!range_of(n.inputs[0], rx) || (b_act && !range_of(n.inputs[1], rb)) || !y || !range_of(y, ry)) {
      reason = "no calibration range (tensor not float or never observed)";
      return Status::ok();
    }
    ActParams px = quantize_activation(n.inputs[0], rx);
    std::vector<float> ws;
    int64_t group = n.attr_int("group", 1);
    if (n.op_type == "Conv") {
      ws = quantize_weight_input(n, 1, 0);
    } else if (n.op_type == "ConvTranspose") {
      ws = quantize_weight_input(n, 1, group == 1 ? 1 : -1);
    } else if (n.op_type == "Gemm") {
      bool per = n.inputs[1]->constant.shape().size() == 2;
      ws = quantize_weight_input(n, 1, per ? (n.attr_int("transB", 0) ? 0 : 1) : -1);
    } else if (b_act) {
      quantize_activation(n.inputs[1], rb);
    } else {
      ws = quantize_weight_input(n, 1, n.inputs[1]->constant.shape().size() == 2 ? 1 : -1);
    }
    bool bias_ok = (n.op_type == "Conv" || n.op_type == "ConvTranspose" ||
                    (n.op_type == "Gemm" && n.attr_float("alpha", 1.f) == 1.f && n.attr_float("beta", 1.f) == 1.f));
    if (bias_ok && !ws.empty() && n.has_input(2) && is_float_const(n.inputs[2])) quantize_bias(n, 2, px.scale, ws);
    quantize_activation(y, ry);
    return Status::ok();
  }

  void dynamic_node(ir::Node& n, const std::string& base) {
    Tensor w = n.inputs[1]->constant;
    bool gemm = n.op_type == "Gemm";
    if (gemm && n.attr_int("transB", 0)) {  // stored [N, K]: transpose to [K, N]
      Tensor t(DType::kF32, Shape{w.shape()[1], w.shape()[0]});
      int64_t N = w.shape()[0], K = w.shape()[1];
      for (int64_t i = 0; i < N; ++i)
        for (int64_t k = 0; k < K; ++k) t.data<float>()[k * N + i] = w.data<float>()[i * K + k];
      w = t;
    }
    Tensor q;
    std::vector<float> scales;
    quantize_weight(w, opts_.per_channel ? 1 : -1, qmax(), q, scales);
    float alpha = gemm ? n.attr_float("alpha", 1.f) : 1.f;
    for (float& s : scales) s *= alpha;
    ir::Value* a = n.inputs[0];
    ir::Value* aq = g_.add_value(base + "_a_quantized", true);
    ir::Value* as = g_.add_value(base + "_a_scale", true);
    ir::Value* az = g_.add_value(base + "_a_zero_point", true);
    g_.add_node("DynamicQuantizeLinear", {a}, {aq, as, az}, base + "_DynamicQuantizeLinear");
    ir::Value* wq = g_.add_constant(base + "_W_quantized", q);
    ir::Value* wz = g_.add_constant(base + "_W_zero_point", Tensor(DType::kI8, Shape{}));
    ir::Value* acc = g_.add_value(base + "_int32", true);
    g_.add_node("MatMulInteger", {aq, wq, az, wz}, {acc}, base + "_MatMulInteger");
    ir::Value* accf = g_.add_value(base + "_int32_float", true);
    ir::Node* cast = g_.add_node("Cast", {acc}, {accf}, base + "_Cast");
    cast->attrs["to"] = int_attr(static_cast<int64_t>(DType::kF32));
    ir::Value* ws = g_.add_constant(base + "_W_scale", vector_or_scalar(scales));
    ir::Value* s = g_.add_value(base + "_scale", true);
    g_.add_node("Mul", {as, ws}, {s}, base + "_scale_Mul");
    ir::Value* y = n.outputs[0];
    bool has_bias = gemm && n.has_input(2);
    ir::Value* prod = has_bias ? g_.add_value(base + "_unbiased", true) : y;
    ir::Value* c = has_bias ? n.inputs[2] : nullptr;
    float beta = n.attr_float("beta", 1.f);
    g_.remove_node(&n);  // `n` is gone from here on
    g_.add_node("Mul", {accf, s}, {prod}, base + "_Mul");
    if (has_bias) {
      if (beta != 1.f) {
        ir::Value* bs = g_.add_constant(base + "_beta", scalar_f32(beta));
        ir::Value* cb = g_.add_value(base + "_bias_scaled", true);
        g_.add_node("Mul", {c, bs}, {cb}, base + "_beta_Mul");
        c = cb;
      }
      g_.add_node("Add", {prod, c}, {y}, base + "_Add");
    }
  }

 private:
  ir::Graph& g_;
  const QuantizeOptions& opts_;
  std::map<ir::Value*, ActParams> done_;
};

}  // namespace

std::string node_key(const ir::Graph& g, const ir::Node& n) {
  if (!n.name.empty()) return n.name;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (g.nodes[i].get() == &n) return n.op_type + "_" + std::to_string(i);
  return n.op_type;
}

size_t QuantReport::quantized() const {
  size_t k = 0;
  for (auto& d : nodes) k += d.quantized;
  return k;
}

std::vector<std::string> quantizable_nodes(const ir::Graph& g, const QuantizeOptions& opts) {
  std::vector<std::string> out;
  for (auto& n : g.nodes) {
    if (!is_candidate_op(*n)) continue;
    std::string why = opts.dynamic ? dynamic_blocker(*n) : static_blocker(*n);
    if (why.empty()) out.push_back(node_key(g, *n));
  }
  return out;
}

std::vector<std::string> activations_to_calibrate(const ir::Graph& g, const QuantizeOptions& opts) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  auto add = [&](const ir::Value* v) {
    if (v && !v->is_constant() && seen.insert(v->name).second) out.push_back(v->name);
  };
  if (opts.dynamic) return out;
  for (auto& n : g.nodes) {
    if (!is_candidate_op(*n) || !static_blocker(*n).empty() || opts.keep_float.count(node_key(g, *n))) continue;
    add(n->inputs[0]);
    if (n->op_type == "MatMul") add(n->inputs[1]);
    if (!n->outputs.empty()) add(n->outputs[0]);
  }
  return out;
}

Status quantize_graph(ir::Graph& g, const std::map<std::string, Range>& ranges, const QuantizeOptions& opts,
                      QuantReport& report) {
  report = {};
  Rewriter rw(g, opts);
  // Decide on the original nodes first: the rewrite appends nodes (and removes some in dynamic mode).
  std::vector<std::pair<ir::Node*, std::string>> todo;  // keys taken before any node moves
  for (auto& n : g.nodes)
    if (is_candidate_op(*n)) todo.emplace_back(n.get(), node_key(g, *n));
  for (auto& [n, key] : todo) {
    NodeDecision d{key, n->op_type, false, ""};
    if (opts.keep_float.count(d.key) || opts.keep_float.count(n->name)) {
      d.reason = "kept float (--keep-float / sensitivity)";
    } else if (std::string why = opts.dynamic ? dynamic_blocker(*n) : static_blocker(*n); !why.empty()) {
      d.reason = why;
    } else if (opts.dynamic) {
      rw.dynamic_node(*n, key);
      d.quantized = true;
    } else {
      JOULE_RETURN_IF_ERROR(rw.static_node(*n, ranges, d.reason));
      d.quantized = d.reason.empty();
    }
    report.nodes.push_back(d);
  }
  report.notes = recurrent_and_subgraph_notes(g, false);
  JOULE_RETURN_IF_ERROR(g.toposort());
  g.compact();
  return ir::verify_graph(g);
}

}  // namespace joule::quant
