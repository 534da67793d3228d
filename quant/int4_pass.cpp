// INT4 graph pass: picks MatMul/Gemm nodes with constant weights, collects their input Hessians from
// calibration samples, and replaces each by com.microsoft MatMulNBits (block-quantized weights, see
// int4_block.cpp), keeping graph inputs, outputs and node names.
#include <Eigen/Dense>
#include <memory>

#include "joule/session.h"
#include "onnx_import/onnx_import.h"
#include "quant/int4_quantize.h"

namespace joule::quant {

namespace {

bool float_or_unknown(const ir::Value* v) { return v->desc.dtype == DType::kF32 || v->desc.dtype == DType::kUndefined; }

bool is_f32_const(const ir::Value* v) { return v && v->is_constant() && v->constant.dtype() == DType::kF32; }

// W[N][K] (row = output channel) from the node's weight; Gemm's alpha is folded in.
std::vector<float> weight_rows(const ir::Node& n, int64_t& rows, int64_t& cols) {
  const Tensor& b = n.inputs[1]->constant;
  const bool tb = n.op_type == "Gemm" && n.attr_int("transB", 0) != 0;
  rows = tb ? b.dim(0) : b.dim(1);
  cols = tb ? b.dim(1) : b.dim(0);
  const float alpha = n.op_type == "Gemm" ? n.attr_float("alpha", 1.0f) : 1.0f;
  std::vector<float> w(static_cast<size_t>(rows * cols));
  const float* src = b.data<float>();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) w[static_cast<size_t>(r * cols + c)] = alpha * (tb ? src[r * cols + c] : src[c * rows + r]);
  return w;
}

// The Add that is the only reader of `v` (not a graph output) and adds a float constant of N elements
// shaped [N] (or [1, ..., N]) to it; null otherwise.
ir::Node* single_bias_add(ir::Graph& g, ir::Value* v, int64_t n) {
  for (ir::Value* o : g.outputs)
    if (o == v) return nullptr;
  ir::Node* only = nullptr;
  for (auto& nd : g.nodes)
    for (ir::Value* in : nd->inputs)
      if (in == v) {
        if (only && only != nd.get()) return nullptr;
        only = nd.get();
      }
  if (!only || only->op_type != "Add" || !only->domain.empty() || only->inputs.size() != 2) return nullptr;
  if (only->inputs[0] == only->inputs[1]) return nullptr;
  const ir::Value* b = only->inputs[0] == v ? only->inputs[1] : only->inputs[0];
  if (!is_f32_const(b) || b->constant.numel() != n || b->constant.rank() < 1 || b->constant.rank() > 2 || b->constant.shape().back() != n) return nullptr;
  return only;
}

// The f16 copy of a f32 constant value, as a new constant named `name`.
ir::Value* f16_constant(ir::Graph& g, const ir::Value* v, const std::string& name) {
  Tensor t(DType::kF16, v->constant.shape());
  for (int64_t i = 0; i < t.numel(); ++i) t.data<Half>()[i] = Half(v->constant.data<float>()[i]);
  return g.add_constant(name, std::move(t));
}

// fp16 scales: ORT's MatMulNBits types scales and bias like A, so A goes through Cast(to f16) and Y through
// Cast(to f32) around the node; scales (input 2) and bias (input 5) become f16 constants.
void wrap_fp16(ir::Graph& g, const std::string& key, const std::string& name, std::vector<ir::Value*>& ins,
               std::vector<ir::Value*>& outs) {
  ins[2] = f16_constant(g, ins[2], key + "_int4_scales_f16");
  if (ins.size() > 5 && ins[5]) ins[5] = f16_constant(g, ins[5], key + "_int4_bias_f16");
  const int64_t opset = g.opset_imports.count("") ? g.opset_imports.at("") : 13;
  ir::Value* a16 = g.add_value(key + "_int4_a_f16");
  a16->desc = ins[0]->desc;
  a16->desc.dtype = DType::kF16;
  ir::Node* ca = g.add_node("Cast", {ins[0]}, {a16}, name + "_a_to_f16");
  ca->opset = opset;
  ca->attrs["to"] = ir::Attribute::of_int(10);  // FLOAT16
  ins[0] = a16;
  ir::Value* y16 = g.add_value(key + "_int4_y_f16");
  y16->desc = outs[0]->desc;
  y16->desc.dtype = DType::kF16;
  ir::Node* cy = g.add_node("Cast", {y16}, {outs[0]}, name + "_y_to_f32");
  cy->opset = opset;
  cy->attrs["to"] = ir::Attribute::of_int(1);  // FLOAT
  outs[0] = y16;
}

}  // namespace

size_t Int4Report::quantized() const {
  size_t k = 0;
  for (auto& l : layers) k += l.quantized;
  return k;
}
int64_t Int4Report::float_bytes() const {
  int64_t s = 0;
  for (auto& l : layers) s += l.quantized ? l.float_bytes : 0;
  return s;
}
int64_t Int4Report::int4_bytes() const {
  int64_t s = 0;
  for (auto& l : layers) s += l.quantized ? l.int4_bytes : 0;
  return s;
}

std::string int4_blocker(const ir::Graph& g, const ir::Node& n) {
  (void)g;
  if (n.op_type != "MatMul" && n.op_type != "Gemm") return "INT4 covers MatMul/Gemm only";
  if (!n.domain.empty()) return "not an ai.onnx op";
  if (!n.has_input(0) || n.inputs[0]->is_constant() || !float_or_unknown(n.inputs[0])) return "input is not a float activation";
  if (!n.has_input(1) || !is_f32_const(n.inputs[1]) || n.inputs[1]->constant.rank() != 2)
    return "weight is not a 2-D float constant";
  if (n.outputs.empty() || !n.outputs[0] || !float_or_unknown(n.outputs[0])) return "output is not float";
  const ir::Value* a = n.inputs[0];
  if (a->desc.rank_known && a->desc.rank() < 2) return "A is 1-D";
  if (n.op_type == "Gemm") {
    if (n.attr_int("transA", 0) != 0) return "Gemm with transA";
    if (n.has_input(2)) {
      const ir::Value* c = n.inputs[2];
      const int64_t cols = n.attr_int("transB", 0) != 0 ? n.inputs[1]->constant.dim(0) : n.inputs[1]->constant.dim(1);
      if (!is_f32_const(c)) return "Gemm C is not a float constant";
      if (c->constant.numel() != cols && c->constant.numel() != 1) return "Gemm C is not a per-column bias";
      if (c->constant.rank() == 2 && c->constant.dim(1) != cols && c->constant.numel() != 1) return "Gemm C is not a per-column bias";
    }
  }
  return "";
}

std::vector<std::string> int4_candidates(const ir::Graph& g) {
  std::vector<std::string> out;
  for (auto& n : g.nodes)
    if ((n->op_type == "MatMul" || n->op_type == "Gemm") && int4_blocker(g, *n).empty()) out.push_back(node_key(g, *n));
  return out;
}

Status collect_hessians(const std::string& model_path, const std::vector<std::string>& keys, const SampleSource& samples,
                        size_t limit, std::map<std::string, LayerHessian>& out,
                        const std::function<void(size_t, size_t)>& progress) {
  ir::Graph g;
  JOULE_RETURN_IF_ERROR(onnx_import::import_model(model_path, g));
  std::set<std::string> wanted(keys.begin(), keys.end());
  std::map<std::string, std::vector<std::string>> keys_of_input;  // layers sharing an input share its Hessian
  std::map<std::string, int64_t> k_of_input;
  std::vector<std::string> observed;
  const size_t first = g.outputs.size();
  for (auto& n : g.nodes) {
    std::string key = node_key(g, *n);
    if (!wanted.count(key) || !int4_blocker(g, *n).empty()) continue;
    ir::Value* a = n->inputs[0];
    int64_t rows = 0, cols = 0;
    weight_rows(*n, rows, cols);
    if (!keys_of_input.count(a->name)) {
      g.outputs.push_back(a);
      observed.push_back(a->name);
      k_of_input[a->name] = cols;
    }
    keys_of_input[a->name].push_back(key);
  }
  std::unique_ptr<Session> sess;
  JOULE_RETURN_IF_ERROR(Session::create(std::move(g), SessionOptions{}, sess));
  using MatD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic>;
  std::vector<MatD> h(observed.size());
  std::vector<int64_t> rows(observed.size(), 0);
  for (size_t i = 0; i < observed.size(); ++i) {
    int64_t k = k_of_input[observed[i]];
    h[i] = MatD::Zero(k, k);
  }
  NamedTensors in;
  std::vector<Tensor> res;
  const size_t count = limit ? std::min(limit, samples.size()) : samples.size();
  for (size_t s = 0; s < count; ++s) {
    JOULE_RETURN_IF_ERROR(samples.get(s, in));
    JOULE_RETURN_IF_ERROR(sess->run(in, res).with_context(model_path));
    for (size_t i = 0; i < observed.size(); ++i) {
      const Tensor& t = res[first + i];
      const int64_t k = h[i].rows();
      if (t.dtype() != DType::kF32 || t.numel() % k != 0)
        return invalid_argument(model_path + ": calibration tensor '" + observed[i] + "' is not float [..., " + std::to_string(k) + "]");
      const int64_t r = t.numel() / k;
      MatD x = Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(t.data<float>(), r, k)
                   .cast<double>();
      h[i].noalias() += x.transpose() * x;
      rows[i] += r;
    }
    if (progress) progress(s + 1, count);
  }
  for (size_t i = 0; i < observed.size(); ++i) {
    LayerHessian lh;
    lh.k = h[i].rows();
    lh.rows = rows[i];
    lh.h.resize(static_cast<size_t>(lh.k * lh.k));
    Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(lh.h.data(), lh.k, lh.k) = h[i];
    for (auto& key : keys_of_input[observed[i]]) out[key] = lh;
  }
  return Status::ok();
}

Status quantize_graph_int4(ir::Graph& g, const Int4Options& opts, const std::map<std::string, LayerHessian>* hessians,
                           Int4Report& report) {
  report = {};
  std::vector<std::pair<ir::Node*, std::string>> todo;
  for (auto& n : g.nodes)
    if (n->op_type == "MatMul" || n->op_type == "Gemm") todo.emplace_back(n.get(), node_key(g, *n));
  // Name unnamed candidates by their key: the rewrite moves nodes, and later passes find them by key.
  for (auto& [n, key] : todo)
    if (n->name.empty()) n->name = key;
  bool any = false;
  for (auto& [n, key] : todo) {
    Int4LayerReport lr;
    lr.key = key;
    lr.op = n->op_type;
    std::string why = int4_blocker(g, *n);
    if (opts.keep_float.count(key)) why = "kept float (--keep-float / sensitivity)";
    if (!why.empty()) {
      lr.reason = why;
      report.layers.push_back(lr);
      continue;
    }
    int64_t rows = 0, cols = 0;
    std::vector<float> w = weight_rows(*n, rows, cols);
    lr.n = rows;
    lr.k = cols;
    const LayerHessian* hs = nullptr;
    if (hessians) {
      auto it = hessians->find(key);
      if (it != hessians->end() && it->second.k == cols) hs = &it->second;
    }
    Int4Weights q;
    JOULE_RETURN_IF_ERROR(quantize_int4_weights(w.data(), rows, cols, opts, hs, q).with_context(n->label()));
    if (hs) {
      lr.err = int4_relative_error(w.data(), q, *hs);
      if (opts.method == Int4Method::kRtn) {
        lr.err_rtn = lr.err;
      } else {
        Int4Options ro = opts;
        ro.method = Int4Method::kRtn;
        Int4Weights qr;
        JOULE_RETURN_IF_ERROR(quantize_int4_weights(w.data(), rows, cols, ro, nullptr, qr));
        lr.err_rtn = int4_relative_error(w.data(), qr, *hs);
      }
    }
    // Constants in MatMulNBits layout.
    const int64_t blob = opts.block / 2;
    Tensor tb(DType::kU8, {rows, q.k_blocks, blob});
    std::copy(q.codes.begin(), q.codes.end(), tb.data<uint8_t>());
    Tensor ts = Tensor::from_vector<float>({rows * q.k_blocks}, q.scales);
    std::vector<ir::Value*> ins{n->inputs[0], g.add_constant(key + "_int4_B", std::move(tb)), g.add_constant(key + "_int4_scales", ts)};
    int64_t bytes = static_cast<int64_t>(q.codes.size() + q.scales.size() * sizeof(float));
    if (opts.asym) {
      Tensor tz(DType::kU8, {static_cast<int64_t>(q.zero_points.size())});
      std::copy(q.zero_points.begin(), q.zero_points.end(), tz.data<uint8_t>());
      bytes += static_cast<int64_t>(q.zero_points.size());
      ins.push_back(g.add_constant(key + "_int4_zero_points", std::move(tz)));
    }
    if (n->op_type == "Gemm" && n->has_input(2)) {
      const Tensor& c = n->inputs[2]->constant;
      const float beta = n->attr_float("beta", 1.0f);
      Tensor bias(DType::kF32, {rows});
      for (int64_t j = 0; j < rows; ++j) bias.data<float>()[j] = beta * c.data<float>()[c.numel() == 1 ? 0 : j];
      while (ins.size() < 5) ins.push_back(nullptr);
      ins.push_back(g.add_constant(key + "_int4_bias", std::move(bias)));
    }
    // MatMul -> Add(constant bias [N]) as the only reader: the bias becomes MatMulNBits' bias input.
    ir::Node* bias_add = nullptr;
    if (n->op_type == "MatMul") bias_add = single_bias_add(g, n->outputs[0], rows);
    if (bias_add) {
      const ir::Value* bv = bias_add->inputs[0] == n->outputs[0] ? bias_add->inputs[1] : bias_add->inputs[0];
      Tensor bias(DType::kF32, {rows});
      std::copy(bv->constant.data<float>(), bv->constant.data<float>() + rows, bias.data<float>());
      while (ins.size() < 5) ins.push_back(nullptr);
      ins.push_back(g.add_constant(key + "_int4_bias", std::move(bias)));
    }
    std::vector<ir::Value*> outs{bias_add ? bias_add->outputs[0] : n->outputs[0]};
    if (bias_add) g.remove_node(bias_add);
    std::string name = n->name.empty() ? key : n->name;
    g.remove_node(n);
    if (opts.fp16_scales) {
      bytes -= static_cast<int64_t>(q.scales.size() * (sizeof(float) - sizeof(Half)));
      wrap_fp16(g, key, name, ins, outs);
    }
    ir::Node* m = g.add_node("MatMulNBits", ins, outs, name, "com.microsoft");
    m->opset = 1;
    m->attrs["K"] = ir::Attribute::of_int(cols);
    m->attrs["N"] = ir::Attribute::of_int(rows);
    m->attrs["bits"] = ir::Attribute::of_int(4);
    m->attrs["block_size"] = ir::Attribute::of_int(opts.block);
    if (opts.accuracy_level > 0) m->attrs["accuracy_level"] = ir::Attribute::of_int(opts.accuracy_level);
    lr.quantized = true;
    lr.float_bytes = rows * cols * static_cast<int64_t>(sizeof(float));
    lr.int4_bytes = bytes;
    report.layers.push_back(lr);
    any = true;
  }
  if (any) g.opset_imports["com.microsoft"] = 1;
  JOULE_RETURN_IF_ERROR(g.toposort());
  g.compact();
  return ir::verify_graph(g);
}

}  // namespace joule::quant
