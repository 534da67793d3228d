// Channel dependency analysis and the shrink pass on small graphs built in code.
//
// The strongest check: with bias-free Convs, removing a channel equals zeroing its filter, so the
// pruned model's output must equal the unpruned model's output with the pruned filters zeroed.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "joule/session.h"
#include "prune/prune.h"
#include "runtime/passes/passes.h"

namespace joule::prune {
namespace {

struct Builder {
  ir::Graph g;
  std::mt19937 rng{7};
  ir::Value* x = nullptr;
  Builder(int64_t c, int64_t hw) {
    g.opset_imports[""] = 13;
    x = g.add_value("x");
    x->desc = {DType::kF32, {1, c, hw, hw}, true};
    g.inputs.push_back(x);
  }
  Tensor rand(Shape s) {
    std::uniform_real_distribution<float> d(-1, 1);
    Tensor t(DType::kF32, s);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
    return t;
  }
  ir::Value* conv(const std::string& name, ir::Value* in, int64_t cin, int64_t cout, int64_t k, int64_t group = 1) {
    ir::Value* w = g.add_constant(name + ".w", rand({cout, cin / group, k, k}));
    ir::Value* y = g.add_value(name + ".y");
    ir::Node* n = g.add_node("Conv", {in, w}, {y}, name);
    n->attrs["pads"].kind = ir::Attribute::Kind::kInts;
    n->attrs["pads"].ints = {k / 2, k / 2, k / 2, k / 2};
    n->attrs["group"].i = group;
    return y;
  }
  ir::Value* op(const std::string& type, std::vector<ir::Value*> ins, const std::string& name) {
    ir::Value* y = g.add_value(name + ".y");
    g.add_node(type, ins, {y}, name);
    return y;
  }
};

std::vector<float> run(const ir::Graph& g, const Tensor& x) {
  std::unique_ptr<Session> s;
  EXPECT_TRUE(Session::create(clone_graph(g), {}, s).is_ok());
  auto out = s->run(std::vector<Tensor>{x});
  return std::vector<float>(out[0].data<float>(), out[0].data<float>() + out[0].numel());
}

// Zeroes the pruned output filters of every source Conv of `g` (a clone of the analysed graph).
void zero_pruned_filters(ir::Graph& g, const ChannelAnalysis& a, const std::vector<std::vector<bool>>& keep) {
  for (auto& act : a.actions) {
    if (act.kind != ActionKind::kConvOut) continue;
    ir::Value* wv = g.find_value(act.node->inputs[1]->name);
    Tensor w = wv->constant.clone();
    auto idx = kept_indices(act.map, keep);
    int64_t per = w.numel() / w.dim(0);
    for (int64_t c = 0; c < w.dim(0); ++c)
      if (std::find(idx.begin(), idx.end(), c) == idx.end())
        for (int64_t k = 0; k < per; ++k) w.data<float>()[c * per + k] = 0;
    wv->constant = w;
  }
}

void expect_prune_equals_zeroing(ir::Graph& g, double ratio, int64_t c, int64_t hw) {
  ASSERT_TRUE(passes::infer_shapes(g).is_ok());
  ChannelAnalysis a;
  ASSERT_TRUE(analyze_channels(g, {}, a).is_ok());
  std::vector<std::vector<double>> scores;
  ASSERT_TRUE(channel_scores(g, a, Criterion::kL1, {}, scores).is_ok());
  auto keep = choose_keep(a, scores, ratio, false);
  ir::Graph zeroed = clone_graph(g);
  zero_pruned_filters(zeroed, a, keep);
  Builder tmp(c, hw);
  Tensor x = tmp.rand({1, c, hw, hw});
  auto want = run(zeroed, x);
  ASSERT_TRUE(shrink(g, a, keep).is_ok());
  auto got = run(g, x);
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-4) << i;
}

TEST(PruneChannels, ResidualAddCouplesProducers) {
  Builder b(4, 5);
  ir::Value* a1 = b.op("Relu", {b.conv("A", b.x, 4, 6, 3)}, "relu_a");
  ir::Value* s = b.op("Add", {b.conv("B", a1, 6, 6, 3), b.conv("C", b.x, 4, 6, 1)}, "add");
  ir::Value* r = b.op("Relu", {s}, "relu_s");
  b.g.outputs.push_back(b.conv("D", r, 6, 3, 3));
  ASSERT_TRUE(passes::infer_shapes(b.g).is_ok());
  ChannelAnalysis a;
  ASSERT_TRUE(analyze_channels(b.g, {}, a).is_ok());
  int coupled = 0;
  for (auto& grp : a.groups)
    if (grp.sources.size() == 2) {
      ++coupled;
      EXPECT_TRUE(grp.prunable);
      EXPECT_EQ(grp.size, 6);
    }
  EXPECT_EQ(coupled, 1);
  expect_prune_equals_zeroing(b.g, 0.5, 4, 5);
  // B and C lost the same 3 channels; D reads 3.
  EXPECT_EQ(b.g.find_value("D.y")->producer->inputs[1]->desc.shape, (Shape{3, 3, 3, 3}));
  for (auto& n : b.g.nodes)
    if (n->name == "C") EXPECT_EQ(n->inputs[1]->constant.shape(), (Shape{3, 4, 1, 1}));
}

TEST(PruneChannels, ConcatOffsets) {
  Builder b(4, 3);
  ir::Value* cat = b.op("Concat", {b.conv("A", b.x, 4, 3, 1), b.conv("B", b.x, 4, 5, 1)}, "cat");
  b.g.nodes.back()->attrs["axis"].i = 1;
  b.g.outputs.push_back(b.conv("C", cat, 8, 2, 1));
  ASSERT_TRUE(passes::infer_shapes(b.g).is_ok());
  ChannelAnalysis a;
  ASSERT_TRUE(analyze_channels(b.g, {}, a).is_ok());
  ASSERT_EQ(a.groups.size(), 3u);  // A, B, C's (blocked) output
  Tensor w0 = b.g.find_value("C.w")->constant.clone();
  std::vector<std::vector<bool>> keep(a.groups.size());
  keep[0] = {true, false, true};               // A drops channel 1
  keep[1] = {false, true, true, true, false};  // B drops 0 and 4
  ASSERT_TRUE(shrink(b.g, a, keep).is_ok());
  const Tensor* w = nullptr;
  for (auto& n : b.g.nodes)
    if (n->name == "C") w = &n->inputs[1]->constant;
  ASSERT_NE(w, nullptr);
  ASSERT_EQ(w->shape(), (Shape{2, 5, 1, 1}));
  const int64_t expect_cols[] = {0, 2, 4, 5, 6};  // concat positions kept
  for (int64_t o = 0; o < 2; ++o)
    for (int64_t k = 0; k < 5; ++k) EXPECT_EQ(w->data<float>()[o * 5 + k], w0.data<float>()[o * 8 + expect_cols[k]]);
}

TEST(PruneChannels, DepthwiseFollowsAndGroupUpdated) {
  Builder b(4, 6);
  ir::Value* dw = b.conv("DW", b.op("Relu", {b.conv("A", b.x, 4, 6, 1)}, "r"), 6, 6, 3, 6);
  b.g.outputs.push_back(b.conv("B", dw, 6, 2, 1));
  expect_prune_equals_zeroing(b.g, 1.0 / 3, 4, 6);
  for (auto& n : b.g.nodes)
    if (n->name == "DW") {
      EXPECT_EQ(n->attr_int("group", 0), 4);
      EXPECT_EQ(n->inputs[1]->constant.shape(), (Shape{4, 1, 3, 3}));
    }
}

TEST(PruneChannels, FlattenIntoGemmSlicesColumnBlocks) {
  Builder b(2, 3);
  ir::Value* f = b.op("Flatten", {b.op("Relu", {b.conv("A", b.x, 2, 4, 3)}, "r")}, "flat");
  ir::Value* w = b.g.add_constant("fc.w", b.rand({5, 36}));
  ir::Value* y = b.g.add_value("y");
  ir::Node* gemm = b.g.add_node("Gemm", {f, w}, {y}, "fc");
  gemm->attrs["transB"].i = 1;
  b.g.outputs.push_back(y);
  expect_prune_equals_zeroing(b.g, 0.25, 2, 3);
  EXPECT_EQ(gemm->inputs[1]->constant.shape(), (Shape{5, 27}));
}

TEST(PruneChannels, UnknownOpsAndKeepAreLeftAlone) {
  Builder b(3, 4);
  ir::Value* a = b.conv("A", b.x, 3, 4, 1);
  ir::Value* sm = b.op("Softmax", {a}, "sm");  // mixes channels: not understood -> A stays
  b.g.outputs.push_back(b.conv("B", b.op("Relu", {b.conv("K", sm, 4, 4, 1)}, "r"), 4, 2, 1));
  ASSERT_TRUE(passes::infer_shapes(b.g).is_ok());
  ChannelAnalysis an;
  ASSERT_TRUE(analyze_channels(b.g, {"K"}, an).is_ok());
  for (auto& grp : an.groups) EXPECT_FALSE(grp.prunable) << grp.sources[0]->name;
  EXPECT_FALSE(an.notes.empty());
}

TEST(PruneChannels, BadOptionsGiveCleanErrors) {
  Builder b(3, 4);
  b.g.outputs.push_back(b.conv("B", b.op("Relu", {b.conv("A", b.x, 3, 4, 1)}, "r"), 4, 2, 1));
  PruneOptions o;
  PruneReport r;
  o.ratio = 1.5;
  EXPECT_FALSE(prune_graph(b.g, o, {}, {}, r).is_ok());
  o.ratio = 0.5;
  o.reconstruct = true;
  Status s = prune_graph(b.g, o, {}, {}, r);
  EXPECT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("calib"), std::string::npos);
}

TEST(PruneChannels, ReconstructionRecoversOutput) {
  // x -> A(6->12) -> Relu -> B(12->5): pruning half of A, then refitting B on 6 samples of
  // calibration must bring the output closer to the unpruned one.
  Builder b(6, 7);
  ir::Value* r = b.op("Relu", {b.conv("A", b.x, 6, 12, 3)}, "r");
  b.g.outputs.push_back(b.conv("B", r, 12, 5, 3));
  std::vector<Sample> calib;
  for (int i = 0; i < 6; ++i) calib.push_back({{"x", b.rand({1, 6, 7, 7})}});
  ir::Graph g2 = clone_graph(b.g);
  PruneOptions o;
  o.ratio = 0.5;
  PruneReport plain, rec;
  ASSERT_TRUE(prune_graph(b.g, o, calib, {}, plain).is_ok());
  o.reconstruct = true;
  ASSERT_TRUE(prune_graph(g2, o, calib, {}, rec).is_ok());
  EXPECT_LT(plain.macs_after, plain.macs_before);
  EXPECT_GT(rec.after_reconstruction.cosine, rec.before_reconstruction.cosine);
  EXPECT_GT(rec.after_reconstruction.cosine, 0.8);
}

TEST(PruneChannels, FfnNeuronsOnLastAxis) {
  // [2, 5, 8] -> MatMul(8x12) -> Add(b[12]) -> Relu -> MatMul(12x8): the 12 FFN neurons are prunable.
  Builder b(1, 1);
  b.x->desc = {DType::kF32, {2, 5, 8}, true};
  ir::Value* h = b.op("MatMul", {b.x, b.g.add_constant("w1", b.rand({8, 12}))}, "fc1");
  ir::Value* hb = b.op("Add", {h, b.g.add_constant("b1", b.rand({12}))}, "fc1_bias");
  b.g.outputs.push_back(b.op("MatMul", {b.op("Relu", {hb}, "act"), b.g.add_constant("w2", b.rand({12, 8}))}, "fc2"));
  std::vector<Sample> calib;
  for (int i = 0; i < 3; ++i) calib.push_back({{"x", b.rand({2, 5, 8})}});
  PruneOptions o;
  o.ratio = 0.25;
  o.reconstruct = true;
  PruneReport r;
  ASSERT_TRUE(prune_graph(b.g, o, calib, {}, r).is_ok());
  for (auto& n : b.g.nodes) {
    if (n->name == "fc1") EXPECT_EQ(n->inputs[1]->constant.shape(), (Shape{8, 9}));
    if (n->name == "fc1_bias") EXPECT_EQ(n->inputs[1]->constant.shape(), (Shape{9}));
    if (n->name == "fc2") EXPECT_EQ(n->inputs[1]->constant.shape(), (Shape{9, 8}));
  }
  EXPECT_GE(r.after_reconstruction.cosine, r.before_reconstruction.cosine - 1e-6);
}

}  // namespace
}  // namespace joule::prune
