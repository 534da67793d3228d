// Attention-head analysis on a self-attention block built in code (constant Reshape shapes, odd
// sizes: seq 7, 3 heads of 5): the prunable case removes whole heads and equals zeroing the output
// projection's rows of the removed heads; a Softmax across heads leaves the block alone; bad
// ratios give clean errors.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "joule/session.h"
#include "prune/prune.h"
#include "runtime/passes/passes.h"

namespace joule::prune {
namespace {

constexpr int64_t kSeq = 7, kHeads = 3, kDim = 5, kHidden = kHeads * kDim;

struct Attn {
  ir::Graph g;
  std::mt19937 rng{11};
  Tensor rand(Shape s) {
    std::uniform_real_distribution<float> d(-1, 1);
    Tensor t(DType::kF32, s);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
    return t;
  }
  ir::Value* node(const std::string& op, std::vector<ir::Value*> ins, const std::string& name,
                  std::map<std::string, ir::Attribute> attrs = {}) {
    ir::Value* y = g.add_value(name);
    ir::Node* n = g.add_node(op, ins, {y}, name);
    n->attrs = std::move(attrs);
    return y;
  }
  ir::Value* shape(std::vector<int64_t> s, const std::string& name) {
    return g.add_constant(name, Tensor::from_vector<int64_t>({static_cast<int64_t>(s.size())}, s));
  }
  // x [1, seq, hidden] -> Q/K/V -> heads -> softmax(QK^T / sqrt(d)) V -> merge -> out projection.
  explicit Attn(bool softmax_across_heads) {
    g.opset_imports[""] = 13;
    ir::Value* x = g.add_value("x");
    x->desc = {DType::kF32, {1, kSeq, kHidden}, true};
    g.inputs.push_back(x);
    ir::Value* split_shape = shape({1, kSeq, kHeads, kDim}, "split_shape");
    auto proj = [&](const std::string& n, std::vector<int64_t> perm) {
      ir::Value* m = node("MatMul", {x, g.add_constant(n + ".w", rand({kHidden, kHidden}))}, n + ".mm");
      ir::Value* b = node("Add", {m, g.add_constant(n + ".b", rand({kHidden}))}, n + ".add");
      ir::Value* r = node("Reshape", {b, split_shape}, n + ".split");
      return node("Transpose", {r}, n + ".t", {{"perm", ir::Attribute::of_ints(perm)}});
    };
    ir::Value* q = proj("q", {0, 2, 1, 3});
    ir::Value* k = proj("k", {0, 2, 3, 1});
    ir::Value* v = proj("v", {0, 2, 1, 3});
    ir::Value* s = node("MatMul", {q, k}, "scores");
    s = node("Div", {s, g.add_constant("scale", Tensor::scalar<float>(std::sqrt(float(kDim))))}, "scaled");
    s = node("Softmax", {s}, "probs", {{"axis", ir::Attribute::of_int(softmax_across_heads ? 1 : -1)}});
    ir::Value* c = node("MatMul", {s, v}, "ctx");
    c = node("Transpose", {c}, "ctx.t", {{"perm", ir::Attribute::of_ints({0, 2, 1, 3})}});
    c = node("Reshape", {c, shape({1, kSeq, kHidden}, "merge_shape")}, "merged");
    ir::Value* y = node("MatMul", {c, g.add_constant("o.w", rand({kHidden, 9}))}, "y");
    g.outputs.push_back(y);
  }
};

std::vector<float> run(const ir::Graph& g, const Tensor& x) {
  std::unique_ptr<Session> s;
  EXPECT_TRUE(Session::create(clone_graph(g), {}, s).is_ok());
  std::vector<Tensor> out;
  EXPECT_TRUE(s->run({{"x", x}}, out).is_ok());
  return out.empty() ? std::vector<float>{} : std::vector<float>(out[0].data<float>(), out[0].data<float>() + out[0].numel());
}

TEST(PruneHeads, RemovingAHeadEqualsZeroingItsOutputRows) {
  Attn a(false);
  ASSERT_TRUE(passes::infer_shapes(a.g).is_ok());
  HeadAnalysis ha;
  ASSERT_TRUE(analyze_heads(a.g, {}, {}, ha).is_ok());
  ASSERT_EQ(ha.blocks.size(), 1u);
  const AttentionBlock& B = ha.blocks[0];
  ASSERT_TRUE(B.prunable) << B.reason;
  EXPECT_EQ(B.heads, kHeads);
  EXPECT_EQ(B.head_dim, kDim);
  EXPECT_EQ(B.projections.size(), 3u);
  EXPECT_EQ(B.biases.size(), 3u);
  EXPECT_EQ(B.edits.size(), 4u);  // three split shapes (head count) and the merge shape (hidden)
  std::vector<std::vector<double>> scores;
  ASSERT_TRUE(head_scores(a.g, ha, Criterion::kL2, {}, scores).is_ok());
  auto keep = choose_heads(ha, scores, 0.34);
  ASSERT_EQ(std::count(keep[0].begin(), keep[0].end(), false), 1);
  int64_t dropped = std::find(keep[0].begin(), keep[0].end(), false) - keep[0].begin();

  ir::Graph zeroed = clone_graph(a.g);
  ir::Value* wv = zeroed.find_value("o.w");
  Tensor w = wv->constant.clone();
  for (int64_t r = dropped * kDim; r < (dropped + 1) * kDim; ++r)
    for (int64_t c = 0; c < 9; ++c) w.data<float>()[r * 9 + c] = 0;
  wv->constant = w;
  ir::Graph pruned = clone_graph(a.g);
  ASSERT_TRUE(analyze_heads(pruned, {}, {}, ha).is_ok());
  ASSERT_TRUE(shrink_heads(pruned, ha, keep).is_ok());
  ASSERT_TRUE(passes::infer_shapes(pruned).is_ok());
  EXPECT_EQ(pruned.find_value("y")->desc.shape, (Shape{1, kSeq, 9}));

  Tensor x = a.rand({1, kSeq, kHidden});
  auto y0 = run(zeroed, x), y1 = run(pruned, x);
  ASSERT_EQ(y0.size(), y1.size());
  for (size_t i = 0; i < y0.size(); ++i) EXPECT_NEAR(y0[i], y1[i], 1e-5f) << i;
}

TEST(PruneHeads, SoftmaxAcrossHeadsIsLeftAlone) {
  Attn a(true);
  ASSERT_TRUE(passes::infer_shapes(a.g).is_ok());
  HeadAnalysis ha;
  ASSERT_TRUE(analyze_heads(a.g, {}, {}, ha).is_ok());
  ASSERT_EQ(ha.blocks.size(), 1u);
  EXPECT_FALSE(ha.blocks[0].prunable);
  ASSERT_EQ(ha.notes.size(), 1u);
  EXPECT_NE(ha.notes[0].find("across heads"), std::string::npos) << ha.notes[0];
  // prune_graph writes the model unchanged and says why.
  PruneOptions o;
  o.ratio = 0;
  o.heads = 0.5;
  PruneReport r;
  ASSERT_TRUE(prune_graph(a.g, o, {}, {}, r).is_ok());
  EXPECT_EQ(r.heads_after, r.heads_before);
  EXPECT_EQ(r.params_after, r.params_before);
}

TEST(PruneHeads, BadRatiosGiveCleanErrors) {
  Attn a(false);
  PruneOptions o;
  o.heads = 1.0;
  PruneReport r;
  Status s = prune_graph(a.g, o, {}, {}, r);
  EXPECT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("--heads"), std::string::npos) << s.message();
  o.heads = 0;
  o.ffn = 1.5;
  s = prune_graph(a.g, o, {}, {}, r);
  EXPECT_NE(s.message().find("--ffn"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace joule::prune
