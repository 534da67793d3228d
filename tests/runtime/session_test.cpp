// Session behaviour: input validation, concurrent runs, planner reuse, constant folding.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <thread>

#include "joule/session.h"
#include "runtime/ir/graph.h"
#include "runtime/planner.h"
#include "runtime/thread_pool.h"

using namespace joule;

namespace {

// y = ((x + c1) * c2) + x, with x: float32 [batch, 17] ('batch' symbolic).
ir::Graph make_chain_graph() {
  ir::Graph g;
  g.opset_imports[""] = 17;
  ir::Value* x = g.add_value("x");
  x->desc = {DType::kF32, {-1, 17}, true};
  x->dim_params = {"batch", ""};
  g.inputs.push_back(x);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> d(-1, 1);
  std::vector<float> c1(17), c2(17);
  for (auto& v : c1) v = d(rng);
  for (auto& v : c2) v = d(rng);
  ir::Value* k1 = g.add_constant("c1", Tensor::from_vector<float>({17}, c1));
  ir::Value* k2 = g.add_constant("c2", Tensor::from_vector<float>({17}, c2));
  ir::Value* a = g.add_value("a");
  ir::Value* b = g.add_value("b");
  ir::Value* y = g.add_value("y");
  g.add_node("Add", {x, k1}, {a}, "add1");
  g.add_node("Mul", {a, k2}, {b}, "mul1");
  g.add_node("Add", {b, x}, {y}, "add2");
  g.outputs.push_back(y);
  return g;
}

Tensor random_tensor(Shape s, uint32_t seed) {
  Tensor t(DType::kF32, std::move(s));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-2, 2);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
  return t;
}

std::vector<float> expected_chain(const ir::Graph& g, const Tensor& x) {
  const float* c1 = g.find_value("c1")->constant.data<float>();
  const float* c2 = g.find_value("c2")->constant.data<float>();
  std::vector<float> y(static_cast<size_t>(x.numel()));
  for (int64_t i = 0; i < x.numel(); ++i) {
    float xv = x.data<float>()[i];
    y[static_cast<size_t>(i)] = (xv + c1[i % 17]) * c2[i % 17] + xv;
  }
  return y;
}

}  // namespace

TEST(Session, RunsAndValidatesInputs) {
  ir::Graph ref = make_chain_graph();
  auto sess = Session::from_graph(make_chain_graph());
  ASSERT_EQ(sess->inputs().size(), 1u);
  EXPECT_EQ(sess->inputs()[0].shape, (Shape{-1, 17}));
  for (int64_t batch : {1, 3, 255}) {
    Tensor x = random_tensor({batch, 17}, static_cast<uint32_t>(batch));
    auto out = sess->run({{"x", x}});
    ASSERT_EQ(out.size(), 1u);
    ASSERT_EQ(out[0].shape(), (Shape{batch, 17}));
    auto want = expected_chain(ref, x);
    for (int64_t i = 0; i < x.numel(); ++i) EXPECT_FLOAT_EQ(out[0].data<float>()[i], want[static_cast<size_t>(i)]);
  }
  std::vector<Tensor> out;
  Status st = sess->run({{"x", random_tensor({2, 16}, 1)}}, out);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("input 'x': expected float32 ?x17, got float32 2x16"), std::string::npos) << st.message();
  st = sess->run({{"x", Tensor(DType::kI64, {2, 17})}}, out);
  EXPECT_NE(st.message().find("got int64 2x17"), std::string::npos) << st.message();
  st = sess->run({{"nope", random_tensor({2, 17}, 1)}}, out);
  EXPECT_NE(st.message().find("unknown input 'nope'"), std::string::npos) << st.message();
  st = sess->run({}, out);
  EXPECT_NE(st.message().find("missing input 'x'"), std::string::npos) << st.message();
  EXPECT_THROW(sess->run({{"x", random_tensor({2, 16}, 1)}}), Error);
}

TEST(Session, ConcurrentRunsFromManyThreadsAgree) {
  ir::Graph ref = make_chain_graph();
  SessionOptions opts;
  opts.threads = 2;
  opts.input_shapes["x"] = {3, 17};  // planned arena for batch 3; other batches use the heap
  auto sess = Session::from_graph(make_chain_graph(), opts);
  EXPECT_GT(sess->stats().peak_activation_bytes, 0);
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < 50; ++r) {
        int64_t batch = (t + r) % 2 ? 3 : 5;
        Tensor x = random_tensor({batch, 17}, static_cast<uint32_t>(t * 100 + r));
        auto out = sess->run({{"x", x}});
        auto want = expected_chain(ref, x);
        for (int64_t i = 0; i < x.numel(); ++i)
          if (out[0].data<float>()[i] != want[static_cast<size_t>(i)]) ++mismatches;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(Session, FoldsConstantSubgraphs) {
  ir::Graph g;
  g.opset_imports[""] = 17;
  ir::Value* x = g.add_value("x");
  x->desc = {DType::kF32, {4}, true};
  g.inputs.push_back(x);
  ir::Value* c1 = g.add_constant("c1", Tensor::from_vector<float>({4}, {1, 2, 3, 4}));
  ir::Value* c2 = g.add_constant("c2", Tensor::from_vector<float>({4}, {10, 20, 30, 40}));
  ir::Value* s = g.add_value("s");
  ir::Value* y = g.add_value("y");
  g.add_node("Add", {c1, c2}, {s}, "const_add");
  g.add_node("Mul", {x, s}, {y}, "mul");
  g.outputs.push_back(y);
  auto sess = Session::from_graph(std::move(g));
  EXPECT_EQ(sess->stats().node_count, 1u);  // the constant Add was folded away
  auto out = sess->run({{"x", Tensor::from_vector<float>({4}, {1, 1, 2, 2})}});
  EXPECT_EQ(out[0].data<float>()[3], 88.0f);
}

TEST(Session, UnsupportedOpIsNamed) {
  ir::Graph g;
  g.opset_imports[""] = 17;
  ir::Value* x = g.add_value("x");
  x->desc = {DType::kF32, {4}, true};
  g.inputs.push_back(x);
  ir::Value* y = g.add_value("y");
  g.add_node("FooBar", {x}, {y}, "mystery");
  g.outputs.push_back(y);
  std::unique_ptr<Session> s;
  Status st = Session::create(std::move(g), {}, s);
  EXPECT_EQ(st.code(), StatusCode::kUnsupported);
  EXPECT_NE(st.message().find("FooBar 'mystery'"), std::string::npos) << st.message();
}

TEST(Planner, ReusesBuffersByLiveness) {
  // A chain a -> b -> c -> d: a and c can share memory, b and d too.
  ir::Graph g;
  g.opset_imports[""] = 17;
  ir::Value* x = g.add_value("x");
  x->desc = ir::TensorDesc::known(DType::kF32, {1024});
  g.inputs.push_back(x);
  ir::Value* prev = x;
  for (int i = 0; i < 5; ++i) {
    ir::Value* v = g.add_value("v" + std::to_string(i));
    v->desc = ir::TensorDesc::known(DType::kF32, {1024});
    g.add_node("Identity", {prev}, {v});
    prev = v;
  }
  g.outputs.push_back(prev);
  MemoryPlan plan = plan_memory(g);
  ASSERT_TRUE(plan.complete);
  EXPECT_EQ(plan.naive_bytes, 4 * 4096);
  EXPECT_EQ(plan.arena_bytes, 2 * 4096);
  // No two simultaneously live values overlap.
  for (int i = 0; i + 1 < 4; ++i) EXPECT_NE(plan.offset[g.find_value("v" + std::to_string(i))->id],
                                            plan.offset[g.find_value("v" + std::to_string(i + 1))->id]);
  EXPECT_EQ(plan.offset[g.find_value("v4")->id], -1);  // graph outputs are not in the arena
}

// x -> Relu a -> Reshape b -> Mul(b, b) c -> Reshape e -> Add(e, a) f (output): with alias_views, b shares
// a's bytes and e shares c's; a stays alive until the Add, so c may not overlap a/b.
static ir::Graph view_chain_graph() {
  ir::Graph g;
  g.opset_imports[""] = 17;
  auto val = [&](const char* name, Shape shape) {
    ir::Value* v = g.add_value(name);
    v->desc = ir::TensorDesc::known(DType::kF32, shape);
    return v;
  };
  ir::Value* x = val("x", {12});
  g.inputs.push_back(x);
  ir::Value* s34 = g.add_constant("s34", Tensor::from_vector<int64_t>({2}, {3, 4}));
  ir::Value* s12 = g.add_constant("s12", Tensor::from_vector<int64_t>({1}, {12}));
  ir::Value *a = val("a", {12}), *b = val("b", {3, 4}), *c = val("c", {3, 4}), *e = val("e", {12}), *f = val("f", {12});
  g.add_node("Relu", {x}, {a});
  g.add_node("Reshape", {a, s34}, {b});
  g.add_node("Mul", {b, b}, {c});
  g.add_node("Reshape", {c, s12}, {e});
  g.add_node("Add", {e, a}, {f});
  g.outputs.push_back(f);
  return g;
}

TEST(Planner, ViewOpsAliasTheirInput) {
  ir::Graph g = view_chain_graph();
  const int a = g.find_value("a")->id, b = g.find_value("b")->id, c = g.find_value("c")->id, e = g.find_value("e")->id;
  MemoryPlan plain = plan_memory(g);
  ASSERT_TRUE(plain.complete);
  EXPECT_EQ(plain.alias_of[static_cast<size_t>(b)], -1);
  EXPECT_NE(plain.offset[static_cast<size_t>(a)], plain.offset[static_cast<size_t>(b)]);
  MemoryPlan plan = plan_memory(g, /*alias_views=*/true);
  ASSERT_TRUE(plan.complete);
  EXPECT_EQ(plan.alias_of[static_cast<size_t>(b)], a);
  EXPECT_EQ(plan.alias_of[static_cast<size_t>(e)], c);
  EXPECT_EQ(plan.offset[static_cast<size_t>(b)], plan.offset[static_cast<size_t>(a)]);
  EXPECT_EQ(plan.offset[static_cast<size_t>(e)], plan.offset[static_cast<size_t>(c)]);
  EXPECT_NE(plan.offset[static_cast<size_t>(c)], plan.offset[static_cast<size_t>(a)]);  // a is read by the Add
  EXPECT_EQ(plan.arena_bytes, 2 * 64);  // two 48-byte blocks, 64-byte aligned, instead of four
}

TEST(Session, ReshapeViewsKeepTheirInput) {
  auto sess = Session::from_graph(view_chain_graph());
  std::vector<float> xv(12);
  for (int i = 0; i < 12; ++i) xv[static_cast<size_t>(i)] = static_cast<float>(i) - 5.5f;
  for (int rep = 0; rep < 2; ++rep) {  // the second run reuses the arena
    auto out = sess->run({{"x", Tensor::from_vector<float>({12}, xv)}});
    for (int i = 0; i < 12; ++i) {
      const float r = std::max(xv[static_cast<size_t>(i)], 0.0f);
      EXPECT_EQ(out[0].data<float>()[i], r * r + r) << i;
    }
  }
}

TEST(ThreadPool, CoversRangeExactlyOnceFromConcurrentCallers) {
  ThreadPool pool(3);
  std::vector<std::thread> callers;
  std::atomic<int> bad{0};
  for (int c = 0; c < 4; ++c)
    callers.emplace_back([&] {
      for (int rep = 0; rep < 20; ++rep) {
        std::vector<std::atomic<int>> hits(1023);
        pool.parallel_for(1023, 17, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)]++;
        });
        for (auto& h : hits)
          if (h.load() != 1) ++bad;
      }
    });
  for (auto& t : callers) t.join();
  EXPECT_EQ(bad.load(), 0);
}
