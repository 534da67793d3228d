// Transpose / scale / mask folding into MatMul (runtime/passes/transpose_matmul_fusion.cpp): a hand-built
// attention block shaped like torch.onnx's export gives the same outputs fused (two joule.StridedMatMul,
// no Transpose left) as unfused, on 1 and 2 threads; an extra reader keeps a Transpose out of the fusion.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "joule/session.h"
#include "kernels/kernel_registry.h"
#include "runtime/cpu_features.h"
#include "runtime/ir/graph.h"

using namespace joule;

namespace {

Tensor random_tensor(Shape s, uint32_t seed, float scale = 1.0f) {
  Tensor t(DType::kF32, std::move(s));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-scale, scale);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
  return t;
}

struct Block {
  int64_t batch = 1, seq = 17, heads = 3, dim = 5;
  bool mask_after_matmul = false;  // the mask is computed by a node placed after Q K^T
  bool pin_k_transpose = false;    // K^T is also a graph output: its Transpose must stay
};

// x [B, S, H*D], mask [B, 1, 1, S] -> attention output [B, S, H*D], the way torch.onnx writes it.
ir::Graph attention_graph(const Block& p) {
  ir::Graph g;
  g.opset_imports[""] = 17;
  int next = 0;
  auto value = [&] { return g.add_value("v" + std::to_string(next++)); };
  auto op = [&](const std::string& type, std::vector<ir::Value*> in, std::map<std::string, ir::Attribute> attrs = {}) {
    ir::Value* out = value();
    ir::Node* n = g.add_node(type, std::move(in), {out}, "n" + std::to_string(next++));
    n->opset = 17;
    n->attrs = std::move(attrs);
    return out;
  };
  auto constant = [&](Tensor t) {
    ir::Value* c = g.add_constant("c" + std::to_string(next++), t);
    c->desc = ir::TensorDesc::known(t.dtype(), t.shape());
    return c;
  };
  const int64_t e = p.heads * p.dim;
  ir::Value* x = g.add_value("x");
  x->desc = ir::TensorDesc::known(DType::kF32, {p.batch, p.seq, e});
  ir::Value* mask = g.add_value("mask");
  mask->desc = ir::TensorDesc::known(DType::kF32, {p.batch, 1, 1, p.seq});
  g.inputs = {x, mask};
  ir::Value* split = constant(Tensor::from_vector<int64_t>({4}, {0, 0, p.heads, p.dim}));
  auto perm = [](std::vector<int64_t> v) { return std::map<std::string, ir::Attribute>{{"perm", ir::Attribute::of_ints(std::move(v))}}; };
  auto proj = [&](uint32_t seed, std::vector<int64_t> pm) {
    ir::Value* w = constant(random_tensor({e, e}, seed, 0.5f));
    return op("Transpose", {op("Reshape", {op("MatMul", {x, w}), split})}, perm(std::move(pm)));
  };
  ir::Value* q = proj(1, {0, 2, 1, 3});
  ir::Value* v = proj(2, {0, 2, 1, 3});
  ir::Value* kt = proj(3, {0, 2, 3, 1});
  ir::Value* s = op("MatMul", {q, kt});
  ir::Value* m = p.mask_after_matmul ? op("Neg", {mask}) : mask;
  ir::Value* scaled = op("Div", {s, constant(Tensor::from_vector<float>({}, {std::sqrt(static_cast<float>(p.dim))}))});
  ir::Value* probs = op("Softmax", {op("Add", {scaled, m})}, {{"axis", ir::Attribute::of_int(-1)}});
  ir::Value* o = op("Transpose", {op("MatMul", {probs, v})}, perm({0, 2, 1, 3}));
  g.outputs.push_back(op("Reshape", {o, constant(Tensor::from_vector<int64_t>({3}, {0, 0, e}))}));
  if (p.pin_k_transpose) g.outputs.push_back(kt);
  return g;
}

size_t count_ops(const Session& s, const std::string& op) {
  size_t n = 0;
  for (auto& [label, k] : s.stats().kernel_for_node) n += label.rfind(op + " ", 0) == 0;
  return n;
}

bool fast_strided_matmul() {
  for (const kernels::KernelDef* k : kernels::KernelRegistry::builtin().all())
    if (k->op_type == "StridedMatMul" && k->priority > 0 && k->isa <= max_isa()) return true;
  return false;
}

}  // namespace

TEST(TransposeMatMulFusion, AttentionBlockGivesTheUnfusedOutputs) {
  if (!fast_strided_matmul())
    GTEST_SKIP() << "joule.StridedMatMul is made only for the AVX2/AVX-512 kernels; none runs here (JOULE_SIMD=OFF, JOULE_ISA=scalar or no AVX2)";
  for (int threads : {1, 2})
    for (int64_t batch : {1, 3})
      for (bool late_mask : {false, true}) {
        SCOPED_TRACE("threads " + std::to_string(threads) + " batch " + std::to_string(batch) + " late mask " + std::to_string(late_mask));
        Block p;
        p.batch = batch;
        p.mask_after_matmul = late_mask;
        SessionOptions fused_opts, plain_opts;
        fused_opts.threads = plain_opts.threads = threads;
        plain_opts.optimize = false;
        auto fused = Session::from_graph(attention_graph(p), fused_opts);
        auto plain = Session::from_graph(attention_graph(p), plain_opts);
        EXPECT_EQ(count_ops(*fused, "joule.StridedMatMul"), 2u);
        EXPECT_EQ(count_ops(*fused, "Transpose"), 0u);
        EXPECT_EQ(count_ops(*fused, "Div"), 0u);
        EXPECT_EQ(count_ops(*plain, "Transpose"), 4u);
        Tensor x = random_tensor({batch, p.seq, p.heads * p.dim}, 11);
        Tensor mask = random_tensor({batch, 1, 1, p.seq}, 12, 3.0f);
        auto a = fused->run({{"x", x}, {"mask", mask}});
        auto b = plain->run({{"x", x}, {"mask", mask}});
        ASSERT_EQ(a.size(), 1u);
        ASSERT_EQ(b.size(), 1u);
        ASSERT_EQ(a[0].shape(), b[0].shape());
        // Same micro-kernel, same k-order, same float Div and Add: the fused block is bitwise the unfused one.
        EXPECT_EQ(std::memcmp(a[0].raw(), b[0].raw(), a[0].nbytes()), 0);
        double worst = 0;
        for (int64_t i = 0; i < a[0].numel(); ++i)
          worst = std::max(worst, static_cast<double>(std::fabs(a[0].data<float>()[i] - b[0].data<float>()[i])));
        EXPECT_LE(worst, 1e-5);
      }
}

TEST(TransposeMatMulFusion, ATransposeWithAnotherReaderStays) {
  if (!fast_strided_matmul()) GTEST_SKIP() << "no optimized joule.StridedMatMul kernel runs here";
  Block p;
  p.pin_k_transpose = true;
  auto s = Session::from_graph(attention_graph(p), SessionOptions{});
  EXPECT_EQ(count_ops(*s, "joule.StridedMatMul"), 2u);
  EXPECT_EQ(count_ops(*s, "Transpose"), 1u);  // K^T is a graph output
}

TEST(TransposeMatMulFusion, NotMadeForTheReferencePath) {
  SessionOptions scalar;
  scalar.isa = "scalar";
  auto s = Session::from_graph(attention_graph(Block{}), scalar);
  EXPECT_EQ(count_ops(*s, "joule.StridedMatMul"), 0u);
  EXPECT_EQ(count_ops(*s, "Transpose"), 4u);
}
