// Control flow (If / Loop / Scan), subgraph execution with outer-scope reads, constant-If folding,
// and the streaming API (Session::run_into with caller-bound outputs).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "joule/session.h"
#include "runtime/ir/graph.h"
#include "runtime/planner.h"

using namespace joule;

namespace {

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1, 1);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

std::shared_ptr<ir::Graph> new_body(ir::Graph& parent, const std::string& name) {
  auto b = std::make_shared<ir::Graph>();
  b->name = name;
  b->parent = &parent;
  b->opset_imports = parent.opset_imports;
  return b;
}

void set_graph(ir::Node* n, const std::string& name, std::shared_ptr<ir::Graph> g) {
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::kGraph;
  a.g = std::move(g);
  n->attrs[name] = a;
}

ir::Value* input(ir::Graph& g, const std::string& name, DType t, Shape s) {
  ir::Value* v = g.add_value(name);
  v->desc = ir::TensorDesc::known(t, std::move(s));
  g.inputs.push_back(v);
  return v;
}

// If(cond) then y = x + c (outer x, shape [3,17]) else y = Reshape(x * 2, [51]): shapes differ per branch.
ir::Graph make_if_graph(bool constant_cond) {
  ir::Graph g;
  g.opset_imports[""] = 17;
  ir::Value* x = input(g, "x", DType::kF32, {3, 17});
  ir::Value* cond = constant_cond ? g.add_constant("cond", Tensor::scalar<bool>(true)) : input(g, "cond", DType::kBool, {});
  ir::Value* y = g.add_value("y");
  ir::Node* n = g.add_node("If", {cond}, {y}, "if");
  auto t = new_body(g, "then");
  ir::Value* c = t->add_constant("c", Tensor::from_vector<float>({17}, random_floats(17, 3)));
  ir::Value* ty = t->add_value("ty");
  t->add_node("Add", {x, c}, {ty});
  t->outputs.push_back(ty);
  auto e = new_body(g, "else");
  ir::Value* two = e->add_constant("two", Tensor::scalar<float>(2.f));
  ir::Value* shape = e->add_constant("shape", Tensor::from_vector<int64_t>({1}, {51}));
  ir::Value* m = e->add_value("m");
  ir::Value* ey = e->add_value("ey");
  e->add_node("Mul", {x, two}, {m});
  e->add_node("Reshape", {m, shape}, {ey});
  e->outputs.push_back(ey);
  set_graph(n, "then_branch", t);
  set_graph(n, "else_branch", e);
  g.outputs.push_back(y);
  return g;
}

TEST(Control, IfPicksBranchAndShapesMayDiffer) {
  auto sess = Session::from_graph(make_if_graph(false));
  auto xv = random_floats(51, 1);
  auto cv = random_floats(17, 3);
  Tensor x = Tensor::from_vector<float>({3, 17}, xv);
  auto yt = sess->run({{"x", x}, {"cond", Tensor::scalar<bool>(true)}});
  ASSERT_EQ(yt[0].shape(), (Shape{3, 17}));
  for (int i = 0; i < 51; ++i) EXPECT_FLOAT_EQ(yt[0].data<float>()[i], xv[i] + cv[i % 17]);
  auto ye = sess->run({{"x", x}, {"cond", Tensor::scalar<bool>(false)}});
  ASSERT_EQ(ye[0].shape(), (Shape{51}));
  for (int i = 0; i < 51; ++i) EXPECT_FLOAT_EQ(ye[0].data<float>()[i], xv[i] * 2);
}

TEST(Control, ConstantIfFoldsToItsBranch) {
  auto sess = Session::from_graph(make_if_graph(true));
  for (auto& n : sess->graph().nodes) EXPECT_NE(n->op_type, "If");
  auto xv = random_floats(51, 1);
  auto cv = random_floats(17, 3);
  auto y = sess->run({{"x", Tensor::from_vector<float>({3, 17}, xv)}});
  ASSERT_EQ(y[0].shape(), (Shape{3, 17}));
  for (int i = 0; i < 51; ++i) EXPECT_FLOAT_EQ(y[0].data<float>()[i], xv[i] + cv[i % 17]);
}

// Loop(M, cond): h <- h * a + x (a, x outer; x = Relu(x0) computed before the loop and read only by
// the body, so the planner must keep it alive), scan output h each step; the body stops when i + 1 >= stop.
ir::Graph make_loop_graph(bool with_cond) {
  ir::Graph g;
  g.opset_imports[""] = 16;
  ir::Value* x0 = input(g, "x0", DType::kF32, {1, 17});
  ir::Value* h0 = input(g, "h0", DType::kF32, {1, 17});
  ir::Value* M = input(g, "M", DType::kI64, {});
  ir::Value* stop = input(g, "stop", DType::kI64, {});
  ir::Value* x = g.add_value("x");
  g.add_node("Relu", {x0}, {x});
  ir::Value* a = g.add_constant("a", Tensor::from_vector<float>({17}, random_floats(17, 9)));
  ir::Value* cond = with_cond ? g.add_constant("cond0", Tensor::scalar<bool>(true)) : nullptr;
  ir::Value* hf = g.add_value("h_final");
  ir::Value* hs = g.add_value("h_all");
  ir::Value* z = g.add_value("z");
  ir::Node* n = g.add_node("Loop", {M, cond, h0}, {hf, hs}, "loop");
  g.add_node("Neg", {hf}, {z});  // after the loop, reusing freed memory
  auto b = new_body(g, "body");
  ir::Value* i = b->add_value("i");
  ir::Value* c = b->add_value("c");  // no declared types: bound from the Loop's inputs
  ir::Value* h = b->add_value("h");
  b->inputs = {i, c, h};
  ir::Value* ha = b->add_value("ha");
  ir::Value* hn = b->add_value("hn");
  ir::Value* one = b->add_constant("one", Tensor::scalar<int64_t>(1));
  ir::Value* i1 = b->add_value("i1");
  ir::Value* co = b->add_value("co");
  b->add_node("Mul", {h, a}, {ha});
  b->add_node("Add", {ha, x}, {hn});
  b->add_node("Add", {i, one}, {i1});
  b->add_node("Less", {i1, stop}, {co});
  b->outputs = {co, hn, hn};
  set_graph(n, "body", b);
  g.outputs = {hf, hs, z};
  return g;
}

std::vector<std::vector<float>> loop_reference(const std::vector<float>& x0, std::vector<float> h, int64_t steps) {
  auto a = random_floats(17, 9);
  std::vector<std::vector<float>> out;
  for (int64_t t = 0; t < steps; ++t) {
    for (int k = 0; k < 17; ++k) h[k] = h[k] * a[k] + std::max(x0[k], 0.f);
    out.push_back(h);
  }
  return out;
}

TEST(Control, LoopCarriedScanOutputsAndOuterReads) {
  for (bool with_cond : {false, true}) {
    SessionOptions opts;
    opts.threads = 1;
    auto sess = Session::from_graph(make_loop_graph(with_cond), opts);
    auto x0 = random_floats(17, 5), h0 = random_floats(17, 6);
    int64_t M = 13, stop = 7;
    auto r = sess->run({{"x0", Tensor::from_vector<float>({1, 17}, x0)}, {"h0", Tensor::from_vector<float>({1, 17}, h0)},
                        {"M", Tensor::scalar<int64_t>(M)}, {"stop", Tensor::scalar<int64_t>(stop)}});
    int64_t steps = with_cond ? stop : M;
    auto ref = loop_reference(x0, h0, steps);
    ASSERT_EQ(r[1].shape(), (Shape{steps, 1, 17})) << with_cond;
    for (int64_t t = 0; t < steps; ++t)
      for (int k = 0; k < 17; ++k) EXPECT_NEAR(r[1].data<float>()[t * 17 + k], ref[t][k], 1e-5);
    for (int k = 0; k < 17; ++k) {
      EXPECT_NEAR(r[0].data<float>()[k], ref.back()[k], 1e-5);
      EXPECT_NEAR(r[2].data<float>()[k], -ref.back()[k], 1e-5);
    }
    // Zero iterations: the final value is the initial one, the scan output is empty.
    auto z = sess->run({{"x0", Tensor::from_vector<float>({1, 17}, x0)}, {"h0", Tensor::from_vector<float>({1, 17}, h0)},
                        {"M", Tensor::scalar<int64_t>(0)}, {"stop", Tensor::scalar<int64_t>(stop)}});
    EXPECT_EQ(z[1].shape()[0], 0);
    for (int k = 0; k < 17; ++k) EXPECT_EQ(z[0].data<float>()[k], h0[k]);
  }
}

TEST(Control, PlannerKeepsValuesReadByABodyAlive) {
  // x = Relu(x0) is read only inside the Loop body: its arena block must stay reserved until the Loop
  // has run, so h_final (produced by the Loop, read by Neg) must not be placed on top of it.
  ir::Graph g = make_loop_graph(false);
  g.outputs = {g.find_value("h_all"), g.find_value("z")};
  auto sess = Session::from_graph(std::move(g));
  const ir::Graph& sg = sess->graph();
  MemoryPlan plan = plan_memory(sg);
  ASSERT_TRUE(plan.complete);
  int64_t ox = plan.offset[static_cast<size_t>(sg.find_value("x")->id)];
  int64_t oh = plan.offset[static_cast<size_t>(sg.find_value("h_final")->id)];
  ASSERT_GE(ox, 0);
  ASSERT_GE(oh, 0);
  EXPECT_NE(ox, oh);
}

TEST(Control, LoopAbsurdTripCountIsACleanError) {
  auto sess = Session::from_graph(make_loop_graph(false));
  std::vector<Tensor> out;
  Status st = sess->run({{"x0", Tensor(DType::kF32, {1, 17})}, {"h0", Tensor(DType::kF32, {1, 17})},
                         {"M", Tensor::scalar<int64_t>(int64_t{1} << 40)}, {"stop", Tensor::scalar<int64_t>(3)}}, out);
  EXPECT_EQ(st.code(), StatusCode::kResourceLimit) << st.message();
}

// Scan cumulative sum over axis 1 of x [3, T], forward and reversed, output stacked on axis 1.
TEST(Control, ScanCumulativeSum) {
  for (int64_t dir : {0, 1}) {
    ir::Graph g;
    g.opset_imports[""] = 16;
    const int64_t T = 11;
    ir::Value* s0 = input(g, "s0", DType::kF32, {3});
    ir::Value* x = input(g, "x", DType::kF32, {3, T});
    ir::Value* sf = g.add_value("sf");
    ir::Value* ys = g.add_value("ys");
    ir::Node* n = g.add_node("Scan", {s0, x}, {sf, ys}, "scan");
    n->attrs["num_scan_inputs"].i = 1;
    ir::Attribute ax;
    ax.kind = ir::Attribute::Kind::kInts;
    ax.ints = {1};
    n->attrs["scan_input_axes"] = ax;
    n->attrs["scan_output_axes"] = ax;
    ax.ints = {dir};
    n->attrs["scan_input_directions"] = ax;
    auto b = new_body(g, "body");
    ir::Value* s = b->add_value("s");
    ir::Value* xi = b->add_value("xi");
    b->inputs = {s, xi};
    ir::Value* sn = b->add_value("sn");
    b->add_node("Add", {s, xi}, {sn});
    b->outputs = {sn, sn};
    set_graph(n, "body", b);
    g.outputs = {sf, ys};
    auto sess = Session::from_graph(std::move(g));
    auto xv = random_floats(3 * T, 11);
    auto r = sess->run({{"s0", Tensor::from_vector<float>({3}, {1, 2, 3})}, {"x", Tensor::from_vector<float>({3, T}, xv)}});
    ASSERT_EQ(r[1].shape(), (Shape{3, T}));
    for (int row = 0; row < 3; ++row) {
      float acc = static_cast<float>(row + 1);
      for (int64_t t = 0; t < T; ++t) {
        int64_t idx = dir ? T - 1 - t : t;
        acc += xv[static_cast<size_t>(row * T + idx)];
        EXPECT_NEAR(r[1].data<float>()[row * T + t], acc, 1e-5);
      }
      EXPECT_NEAR(r[0].data<float>()[row], acc, 1e-5);
    }
  }
}

// Scan opset 8 (batch axis first, sequence_lens): per batch row b, a running sum of x[b, t, :] (17
// wide) over its first lens[b] steps, read backwards when directions = 1; scan outputs are zero past
// each row's length and final states are those after its last step (the initial one when lens = 0).
TEST(Control, Scan8BatchAxisAndSequenceLens) {
  const int64_t B = 3, T = 7, W = 17;
  for (int64_t dir : {0, 1})
    for (bool with_lens : {false, true}) {
      ir::Graph g;
      g.opset_imports[""] = 8;
      ir::Value* lens = with_lens ? input(g, "lens", DType::kI64, {B}) : nullptr;
      ir::Value* s0 = input(g, "s0", DType::kF32, {B, W});
      ir::Value* x = input(g, "x", DType::kF32, {B, T, W});
      ir::Value* sf = g.add_value("sf");
      ir::Value* ys = g.add_value("ys");
      ir::Node* n = g.add_node("Scan", {lens, s0, x}, {sf, ys}, "scan8");
      n->opset = 8;
      n->attrs["num_scan_inputs"] = ir::Attribute::of_int(1);
      ir::Attribute d;
      d.kind = ir::Attribute::Kind::kInts;
      d.ints = {dir};
      n->attrs["directions"] = d;
      auto b = new_body(g, "body");
      ir::Value* s = b->add_value("s");
      ir::Value* xi = b->add_value("xi");
      b->inputs = {s, xi};
      ir::Value* sn = b->add_value("sn");
      b->add_node("Add", {s, xi}, {sn});
      b->outputs = {sn, sn};
      set_graph(n, "body", b);
      g.outputs = {sf, ys};
      auto sess = Session::from_graph(std::move(g));
      ASSERT_TRUE(sess);
      const std::vector<int64_t> L = with_lens ? std::vector<int64_t>{7, 0, 4} : std::vector<int64_t>{T, T, T};
      auto xv = random_floats(B * T * W, 5), sv = random_floats(B * W, 6);
      std::vector<std::pair<std::string, Tensor>> feeds = {{"s0", Tensor::from_vector<float>({B, W}, sv)},
                                                           {"x", Tensor::from_vector<float>({B, T, W}, xv)}};
      if (with_lens) feeds.push_back({"lens", Tensor::from_vector<int64_t>({B}, L)});
      auto r = sess->run(feeds);
      ASSERT_EQ(r.size(), 2u);
      ASSERT_EQ(r[0].shape(), (Shape{B, W}));
      ASSERT_EQ(r[1].shape(), (Shape{B, T, W}));
      for (int64_t bb = 0; bb < B; ++bb)
        for (int64_t w = 0; w < W; ++w) {
          float acc = sv[static_cast<size_t>(bb * W + w)];
          const int64_t len = L[static_cast<size_t>(bb)];
          for (int64_t t = 0; t < T; ++t) {
            const float got = r[1].data<float>()[(bb * T + t) * W + w];
            if (t >= len) {
              EXPECT_EQ(got, 0.f);
              continue;
            }
            acc += xv[static_cast<size_t>((bb * T + (dir ? len - 1 - t : t)) * W + w)];
            EXPECT_NEAR(got, acc, 1e-5) << "b " << bb << " t " << t;
          }
          EXPECT_NEAR(r[0].data<float>()[bb * W + w], acc, 1e-5);
        }
    }
}

// Streaming: state_out = state_in * 0.5 + x; y = state_out + 1. The state is fed back with no copies by
// swapping two caller-owned buffers; 100 chunks must match a plain loop.
TEST(Control, StreamingRunIntoFeedsStateBackWithoutCopies) {
  ir::Graph g;
  g.opset_imports[""] = 17;
  ir::Value* x = input(g, "x", DType::kF32, {1, 33});
  ir::Value* st_in = input(g, "state_in", DType::kF32, {1, 33});
  ir::Value* half = g.add_constant("half", Tensor::scalar<float>(0.5f));
  ir::Value* one = g.add_constant("one", Tensor::scalar<float>(1.f));
  ir::Value* m = g.add_value("m");
  ir::Value* st_out = g.add_value("state_out");
  ir::Value* y = g.add_value("y");
  g.add_node("Mul", {st_in, half}, {m});
  g.add_node("Add", {m, x}, {st_out});
  g.add_node("Add", {st_out, one}, {y});
  g.outputs = {y, st_out};
  SessionOptions opts;
  opts.threads = 1;
  auto sess = Session::from_graph(std::move(g), opts);

  Tensor state(DType::kF32, {1, 33}), spare(DType::kF32, {1, 33});
  std::vector<Tensor> outs = {Tensor(DType::kF32, {1, 33}), spare};
  std::vector<float> ref(33, 0.f);
  for (int chunk = 0; chunk < 100; ++chunk) {
    auto xv = random_floats(33, 100 + static_cast<uint32_t>(chunk));
    const void* target = outs[1].raw();
    ASSERT_TRUE(sess->run_into({{"x", Tensor::from_vector<float>({1, 33}, xv)}, {"state_in", state}}, outs).is_ok());
    EXPECT_EQ(outs[1].raw(), target);  // written in place
    for (int k = 0; k < 33; ++k) {
      ref[k] = ref[k] * 0.5f + xv[k];
      ASSERT_FLOAT_EQ(outs[1].data<float>()[k], ref[k]);
      ASSERT_FLOAT_EQ(outs[0].data<float>()[k], ref[k] + 1.f);
    }
    std::swap(state, outs[1]);  // this call's state is the next input; the old input buffer is reused
  }
  // A mismatching bound tensor is replaced; a wrong output count is an error.
  std::vector<Tensor> bad = {Tensor(DType::kF32, {2}), Tensor()};
  ASSERT_TRUE(sess->run_into({{"x", Tensor(DType::kF32, {1, 33})}, {"state_in", state}}, bad).is_ok());
  EXPECT_EQ(bad[0].shape(), (Shape{1, 33}));
  std::vector<Tensor> few(1);
  EXPECT_FALSE(sess->run_into({{"x", Tensor(DType::kF32, {1, 33})}, {"state_in", state}}, few).is_ok());
}

}  // namespace
