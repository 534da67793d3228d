// Quantization and structured pruning on recurrent and control-flow models: what they cannot
// rewrite (LSTM weights, If / Loop bodies and the outer-scope values those bodies read) stays float
// and unpruned, the summaries say so, and the result still verifies, exports, reloads and runs close
// to the float model (the parts left alone exactly equal to it).
#include <gtest/gtest.h>

#include <cmath>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <random>

#include "joule/session.h"
#include "onnx_import/onnx_import.h"
#include "prune/prune.h"
#include "quant/quantize.h"
#include "runtime/ir/graph.h"

using namespace joule;

namespace {

Tensor rand_t(Shape s, uint32_t seed, float scale = 1.f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.f, scale);
  Tensor t(DType::kF32, std::move(s));
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
  return t;
}

ir::Value* input(ir::Graph& g, const std::string& name, DType t, Shape s) {
  ir::Value* v = g.add_value(name);
  v->desc = ir::TensorDesc::known(t, std::move(s));
  g.inputs.push_back(v);
  return v;
}

std::shared_ptr<ir::Graph> body_of(ir::Graph& parent, const std::string& name) {
  auto b = std::make_shared<ir::Graph>();
  b->name = name;
  b->parent = &parent;
  b->opset_imports = parent.opset_imports;
  return b;
}

void set_body(ir::Node* n, const std::string& attr, std::shared_ptr<ir::Graph> g) {
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::kGraph;
  a.g = std::move(g);
  n->attrs[attr] = a;
}

// x [1,3,9,9] -> Conv(8, 3x3, pad 1) -> Relu = r -> Conv(6, 1x1) = z -> ReduceMean(H, W) = zm [1,6]
// If(cond): then Conv(r, 5 filters) (r read from the outer scope), else ReduceMean over channels.
// Loop(trip): h <- tanh(h @ wm) from zm (wm [6,6] read from the outer scope), h per step as scan output.
ir::Graph make_control_graph() {
  ir::Graph g;
  g.opset_imports[""] = 16;
  ir::Value* x = input(g, "x", DType::kF32, {1, 3, 9, 9});
  ir::Value* cond = input(g, "cond", DType::kBool, {});
  ir::Value* trip = input(g, "trip", DType::kI64, {});
  ir::Value* w1 = g.add_constant("w1", rand_t({8, 3, 3, 3}, 1, 0.5f));
  ir::Value* b1 = g.add_constant("b1", rand_t({8}, 2));
  ir::Value* w2 = g.add_constant("w2", rand_t({6, 8, 1, 1}, 3, 0.3f));
  ir::Value* w3 = g.add_constant("w3", rand_t({5, 8, 1, 1}, 4, 0.3f));
  ir::Value* wm = g.add_constant("wm", rand_t({6, 6}, 5, 0.5f));
  ir::Value *c1 = g.add_value("c1"), *r = g.add_value("r"), *z = g.add_value("z"), *zm = g.add_value("zm");
  ir::Node* conv1 = g.add_node("Conv", {x, w1, b1}, {c1}, "conv1");
  conv1->attrs["pads"] = ir::Attribute::of_ints({1, 1, 1, 1});
  g.add_node("Relu", {c1}, {r}, "relu1");
  g.add_node("Conv", {r, w2}, {z}, "conv2");
  ir::Node* rm = g.add_node("ReduceMean", {z}, {zm}, "pool");
  rm->attrs["axes"] = ir::Attribute::of_ints({2, 3});
  rm->attrs["keepdims"] = ir::Attribute::of_int(0);

  ir::Value* if_out = g.add_value("if_out");
  ir::Node* iff = g.add_node("If", {cond}, {if_out}, "branch");
  auto then_b = body_of(g, "then");
  ir::Value* t_out = then_b->add_value("t_out");
  then_b->add_node("Conv", {r, w3}, {t_out}, "body_conv");
  then_b->outputs = {t_out};
  auto else_b = body_of(g, "else");
  ir::Value* e_out = else_b->add_value("e_out");
  ir::Node* erm = else_b->add_node("ReduceMean", {r}, {e_out}, "body_mean");
  erm->attrs["axes"] = ir::Attribute::of_ints({1});
  else_b->outputs = {e_out};
  set_body(iff, "then_branch", then_b);
  set_body(iff, "else_branch", else_b);

  ir::Value *hfinal = g.add_value("hfinal"), *hs = g.add_value("hs");
  ir::Node* loop = g.add_node("Loop", {trip, nullptr, zm}, {hfinal, hs}, "recur");
  auto lb = body_of(g, "body");
  ir::Value* i = lb->add_value("i");
  ir::Value* c = lb->add_value("c");
  ir::Value* hh = lb->add_value("hh");
  i->desc = ir::TensorDesc::known(DType::kI64, {});
  c->desc = ir::TensorDesc::known(DType::kBool, {});
  lb->inputs = {i, c, hh};
  ir::Value *hm = lb->add_value("hm"), *hn = lb->add_value("hn"), *co = lb->add_value("co"), *hn2 = lb->add_value("hn2");
  lb->add_node("MatMul", {hh, wm}, {hm}, "body_matmul");
  lb->add_node("Tanh", {hm}, {hn});
  lb->add_node("Identity", {c}, {co});
  lb->add_node("Identity", {hn}, {hn2});
  lb->outputs = {co, hn, hn2};
  set_body(loop, "body", lb);
  g.outputs = {if_out, hfinal, hs, zm};
  return g;
}

// X [5,1,7] -> MatMul(7x9) -> LSTM(hidden 17) -> Y_h [1,1,17] -> MatMul(17x3) = logits; Y_h is an output.
ir::Graph make_lstm_graph() {
  ir::Graph g;
  g.opset_imports[""] = 14;
  ir::Value* x = input(g, "x", DType::kF32, {5, 1, 7});
  ir::Value* wa = g.add_constant("wa", rand_t({7, 9}, 11, 0.5f));
  ir::Value* W = g.add_constant("W", rand_t({1, 4 * 17, 9}, 12, 0.3f));
  ir::Value* R = g.add_constant("R", rand_t({1, 4 * 17, 17}, 13, 0.3f));
  ir::Value* B = g.add_constant("B", rand_t({1, 8 * 17}, 14, 0.1f));
  ir::Value* wf = g.add_constant("wf", rand_t({17, 3}, 15, 0.5f));
  ir::Value *a = g.add_value("a"), *y = g.add_value("y"), *yh = g.add_value("yh"), *logits = g.add_value("logits");
  g.add_node("MatMul", {x, wa}, {a}, "proj");
  ir::Node* l = g.add_node("LSTM", {a, W, R, B}, {y, yh}, "lstm");
  l->attrs["hidden_size"] = ir::Attribute::of_int(17);
  g.add_node("MatMul", {yh, wf}, {logits}, "fc");
  g.outputs = {logits, yh};
  return g;
}

std::vector<std::pair<std::string, Tensor>> control_feeds(bool cond) {
  return {{"x", rand_t({1, 3, 9, 9}, 21)}, {"cond", Tensor::scalar<bool>(cond)}, {"trip", Tensor::scalar<int64_t>(3)}};
}

bool has_note(const std::vector<std::string>& notes, const std::string& part) {
  for (auto& n : notes)
    if (n.find(part) != std::string::npos) return true;
  return false;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  double m = 0;
  for (int64_t i = 0; i < a.numel() && a.shape() == b.shape(); ++i)
    m = std::max(m, std::abs(a.value_as_double(i) - b.value_as_double(i)));
  return m;
}

// Exports, reloads and runs `g` (the exporter writes bodies and their outer-scope names back).
std::vector<Tensor> roundtrip_run(const ir::Graph& g, const std::string& tag, const std::vector<std::pair<std::string, Tensor>>& feeds) {
  std::string path = (std::filesystem::temp_directory_path() / ("joule_subgraph_qp_" + tag + "_" + std::to_string(::getpid()) + ".onnx")).string();
  Status st = onnx_import::export_model(g, path);
  EXPECT_TRUE(st.is_ok()) << st.message();
  std::unique_ptr<Session> s;
  st = Session::create(path, {}, s);
  std::filesystem::remove(path);
  EXPECT_TRUE(st.is_ok()) << st.message();
  std::vector<Tensor> out;
  if (s) {
    st = s->run(feeds, out);
    EXPECT_TRUE(st.is_ok()) << st.message();
  }
  return out;
}

TEST(SubgraphQuantPrune, StaticQuantizationLeavesBodiesFloat) {
  for (bool cond : {true, false}) {
    auto feeds = control_feeds(cond);
    auto ref = Session::from_graph(make_control_graph())->run(feeds);
    ir::Graph g = make_control_graph();
    quant::QuantizeOptions opts;
    std::map<std::string, quant::Range> ranges;
    for (auto& name : quant::activations_to_calibrate(g, opts)) ranges[name] = {-12.f, 12.f};
    quant::QuantReport rep;
    Status st = quant::quantize_graph(g, ranges, opts, rep);
    ASSERT_TRUE(st.is_ok()) << st.message();
    EXPECT_EQ(rep.quantized(), 2u);  // conv1, conv2; body Conv / MatMul untouched
    EXPECT_TRUE(has_note(rep.notes, "If 'branch': subgraph bodies kept float (1 Conv inside)"));
    EXPECT_TRUE(has_note(rep.notes, "Loop 'recur': subgraph body kept float (1 MatMul inside)"));
    auto out = roundtrip_run(g, "static", feeds);
    ASSERT_EQ(out.size(), 4u);
    // The bodies run float on the (QDQ-rounded) values they read: close to the float model.
    for (size_t k = 0; k < 4; ++k) {
      const double err = max_abs_diff(out[k], ref[k]);
      EXPECT_LT(err, k == 0 ? 0.3 : 0.1) << "output " << k;
      EXPECT_GT(err, 0.0) << "output " << k << ": the int8 path should change something";
      std::printf("[ quant ] cond=%d output %zu: max |int8 - float| = %.3g\n", int(cond), k, err);
    }
  }
}

TEST(SubgraphQuantPrune, PruningKeepsValuesReadInsideBodies) {
  auto feeds = control_feeds(true);
  auto ref = Session::from_graph(make_control_graph())->run(feeds);
  ir::Graph g = make_control_graph();
  prune::PruneOptions opts;
  opts.ratio = 0.5;
  prune::PruneReport rep;
  Status st = prune::prune_graph(g, opts, {}, {}, rep);
  ASSERT_TRUE(st.is_ok()) << st.message();
  EXPECT_TRUE(has_note(rep.notes, "r is read inside the subgraph of If 'branch'")) << rep.notes.size();
  EXPECT_TRUE(has_note(rep.notes, "If 'branch': subgraph bodies kept unpruned"));
  auto out = roundtrip_run(g, "prune", feeds);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(max_abs_diff(out[0], ref[0]), 0.0);  // conv1 keeps all 8 channels the body reads
}

TEST(SubgraphQuantPrune, LstmWeightsStayFloat) {
  std::vector<std::pair<std::string, Tensor>> feeds = {{"x", rand_t({5, 1, 7}, 31)}};
  auto ref = Session::from_graph(make_lstm_graph())->run(feeds);
  // Dynamic quantization: the MatMuls become int8, the LSTM stays float.
  {
    ir::Graph g = make_lstm_graph();
    quant::QuantizeOptions opts;
    opts.dynamic = true;
    quant::QuantReport rep;
    Status st = quant::quantize_graph(g, {}, opts, rep);
    ASSERT_TRUE(st.is_ok()) << st.message();
    EXPECT_EQ(rep.quantized(), 2u);
    EXPECT_TRUE(has_note(rep.notes, "LSTM 'lstm': recurrent weights (W, R, B) kept float"));
    auto out = roundtrip_run(g, "dynamic", feeds);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_LT(max_abs_diff(out[0], ref[0]), 0.05);
    EXPECT_LT(max_abs_diff(out[1], ref[1]), 0.02);
  }
  // Pruning: the projection feeding the LSTM keeps its 9 features; the model is unchanged.
  {
    ir::Graph g = make_lstm_graph();
    prune::PruneOptions opts;
    opts.ratio = 0.5;
    prune::PruneReport rep;
    Status st = prune::prune_graph(g, opts, {}, {}, rep);
    ASSERT_TRUE(st.is_ok()) << st.message();
    EXPECT_TRUE(has_note(rep.notes, "LSTM 'lstm': recurrent weights (W, R, B) kept unpruned"));
    auto out = roundtrip_run(g, "lstm_prune", feeds);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(max_abs_diff(out[0], ref[0]), 0.0);
    EXPECT_EQ(max_abs_diff(out[1], ref[1]), 0.0);
  }
}

}  // namespace
