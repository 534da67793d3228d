// GELU and LayerNorm pattern fusion (runtime/passes/pattern_fusion.h): the fused graph gives the unfused
// graph's outputs, the pattern is really rewritten (node count), and patterns with an extra reader stay.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>

#include "joule/session.h"
#include "kernels/kernel_registry.h"
#include "runtime/cpu_features.h"
#include "runtime/ir/graph.h"

using namespace joule;

namespace {

Tensor random_tensor(Shape s, uint32_t seed, float lo = -3, float hi = 3) {
  Tensor t(DType::kF32, std::move(s));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
  return t;
}

// A graph builder: one f32 input "x" of `shape`, nodes added by name, f32 scalar constants on demand.
struct Builder {
  ir::Graph g;
  ir::Value* x;
  int next = 0;
  explicit Builder(Shape shape, int opset = 13) {
    g.opset_imports[""] = opset;
    x = g.add_value("x");
    x->desc = ir::TensorDesc::known(DType::kF32, std::move(shape));
    g.inputs.push_back(x);
  }
  ir::Value* scalar(float v) { return constant(Tensor::from_vector<float>({}, {v})); }
  ir::Value* constant(Tensor t) {  // with its desc, as the importer sets it for initializers
    ir::Value* c = g.add_constant("c" + std::to_string(next++), t);
    c->desc = ir::TensorDesc::known(t.dtype(), t.shape());
    return c;
  }
  ir::Value* op(const std::string& type, std::vector<ir::Value*> in, std::map<std::string, ir::Attribute> attrs = {}) {
    ir::Value* out = g.add_value("v" + std::to_string(next++));
    ir::Node* n = g.add_node(type, std::move(in), {out}, "n" + std::to_string(next++));
    n->opset = g.opset_imports[""];
    n->attrs = std::move(attrs);
    return out;
  }
};

struct Outcome {
  size_t fused_nodes, unfused_nodes;
  std::map<std::string, std::string> kernels;
};

// Runs `make()` optimized (fused) and not, on odd batch sizes; outputs must agree within `tol`.
Outcome compare_fused(const std::function<ir::Graph()>& make, Shape row, float tol, int threads = 1) {
  SessionOptions fused_opts, plain_opts;
  fused_opts.threads = plain_opts.threads = threads;
  plain_opts.optimize = false;
  auto fused = Session::from_graph(make(), fused_opts);
  auto plain = Session::from_graph(make(), plain_opts);
  for (int64_t batch : {1, 3}) {
    Shape s = row;
    s[0] = batch;
    Tensor x = random_tensor(s, static_cast<uint32_t>(17 + batch));
    auto a = fused->run({{"x", x}});
    auto b = plain->run({{"x", x}});
    EXPECT_EQ(a.size(), b.size());
    for (size_t o = 0; o < a.size() && o < b.size(); ++o) {
      EXPECT_EQ(a[o].shape(), b[o].shape());
      int64_t bad = 0;
      for (int64_t i = 0; i < a[o].numel() && bad < 3; ++i) {
        float u = a[o].data<float>()[i], v = b[o].data<float>()[i];
        bad += std::fabs(u - v) > tol * (1.0f + std::fabs(v));
        EXPECT_NEAR(u, v, tol * (1.0f + std::fabs(v))) << "output " << o << " element " << i;
      }
    }
  }
  return {fused->stats().node_count, plain->stats().node_count, fused->stats().kernel_for_node};
}

bool uses_op(const Outcome& o, const std::string& op) {
  for (auto& [label, k] : o.kernels)
    if (label.rfind(op + " ", 0) == 0) return true;
  return false;
}

// y = x * 0.5 * (1 + erf(x / sqrt 2)), the way torch.onnx writes nn.GELU(); `half_first` uses (0.5 x) * (..).
ir::Graph gelu_erf_graph(bool half_first, bool mul_by_inverse, bool pin_erf) {
  Builder b({-1, 17});
  ir::Value* d = mul_by_inverse ? b.op("Mul", {b.x, b.scalar(0.70710678f)}) : b.op("Div", {b.x, b.scalar(1.4142135f)});
  ir::Value* e = b.op("Erf", {d});
  ir::Value* a = b.op("Add", {e, b.scalar(1.0f)});
  ir::Value* y = half_first ? b.op("Mul", {b.op("Mul", {b.scalar(0.5f), b.x}), a})
                            : b.op("Mul", {b.op("Mul", {b.x, a}), b.scalar(0.5f)});
  b.g.outputs.push_back(y);
  if (pin_erf) b.g.outputs.push_back(e);  // an extra reader of an intermediate: must not fuse
  return std::move(b.g);
}

// The tanh approximation as torch writes F.gelu(x, approximate="tanh"), x^3 = x * (x * x) or Pow(x, 3).
ir::Graph gelu_tanh_graph(bool pow_cube, bool extra_reader) {
  Builder b({-1, 255});
  ir::Value* cube = pow_cube ? b.op("Pow", {b.x, b.scalar(3.0f)}) : b.op("Mul", {b.x, b.op("Mul", {b.x, b.x})});
  ir::Value* t = b.op("Mul", {b.scalar(0.044715f), cube});
  ir::Value* s = b.op("Add", {b.x, t});
  ir::Value* th = b.op("Tanh", {b.op("Mul", {b.scalar(0.7978845834732056f), s})});
  ir::Value* a = b.op("Add", {b.scalar(1.0f), th});
  ir::Value* y = b.op("Mul", {b.scalar(0.5f), b.op("Mul", {b.x, a})});
  b.g.outputs.push_back(y);
  if (extra_reader) b.g.outputs.push_back(b.op("Neg", {s}));
  return std::move(b.g);
}

// torch's nn.LayerNorm below opset 17; `axes_input` passes ReduceMean axes as an input (opset 18).
ir::Graph layernorm_graph(bool affine, bool square_by_mul, bool axes_input, bool extra_reader) {
  const int64_t c = 17;
  Builder b({-1, 3, c}, axes_input ? 18 : 13);
  auto mean = [&](ir::Value* v) {
    if (axes_input) return b.op("ReduceMean", {v, b.constant(Tensor::from_vector<int64_t>({1}, {-1}))});
    return b.op("ReduceMean", {v}, {{"axes", ir::Attribute::of_ints({-1})}});
  };
  ir::Value* m = mean(b.x);
  ir::Value* d = b.op("Sub", {b.x, m});
  ir::Value* sq = square_by_mul ? b.op("Mul", {d, d}) : b.op("Pow", {d, b.scalar(2.0f)});
  ir::Value* v = mean(sq);
  ir::Value* sd = b.op("Sqrt", {b.op("Add", {v, b.scalar(1e-5f)})});
  ir::Value* y = b.op("Div", {d, sd});
  if (affine) {
    ir::Value* gamma = b.constant(random_tensor({c}, 5, 0.5f, 1.5f));
    ir::Value* beta = b.constant(random_tensor({c}, 6, -1.0f, 1.0f));
    y = b.op("Add", {b.op("Mul", {y, gamma}), beta});
  }
  b.g.outputs.push_back(y);
  if (extra_reader) b.g.outputs.push_back(b.op("Neg", {sd}));
  return std::move(b.g);
}

}  // namespace

TEST(PatternFusion, GeluErfFormsBecomeOneGelu) {
  for (bool half_first : {false, true})
    for (bool inverse : {false, true}) {
      Outcome o = compare_fused([&] { return gelu_erf_graph(half_first, inverse, false); }, {1, 17}, 1e-6f);
      EXPECT_EQ(o.unfused_nodes, 5u);
      EXPECT_EQ(o.fused_nodes, 1u) << "half_first " << half_first << " inverse " << inverse;
      EXPECT_TRUE(uses_op(o, "Gelu"));
    }
}

TEST(PatternFusion, GeluTanhFormBecomesOneGelu) {
  for (bool pow_cube : {false, true}) {
    Outcome o = compare_fused([&] { return gelu_tanh_graph(pow_cube, false); }, {1, 255}, 1e-6f);
    EXPECT_EQ(o.unfused_nodes, pow_cube ? 8u : 9u);
    EXPECT_EQ(o.fused_nodes, 1u);
    EXPECT_TRUE(uses_op(o, "Gelu"));
  }
}

TEST(PatternFusion, GeluWithAnExtraReaderIsLeftAlone) {
  Outcome e = compare_fused([] { return gelu_erf_graph(false, false, true); }, {1, 17}, 0.0f);
  EXPECT_EQ(e.fused_nodes, e.unfused_nodes);
  EXPECT_FALSE(uses_op(e, "Gelu"));
  Outcome t = compare_fused([] { return gelu_tanh_graph(false, true); }, {1, 255}, 0.0f);
  EXPECT_EQ(t.fused_nodes, t.unfused_nodes);
  EXPECT_FALSE(uses_op(t, "Gelu"));
}

TEST(PatternFusion, LayerNormPatternsBecomeLayerNormalization) {
  for (bool affine : {true, false})
    for (bool by_mul : {false, true})
      for (bool axes_input : {false, true}) {
        Outcome o = compare_fused([&] { return layernorm_graph(affine, by_mul, axes_input, false); }, {1, 3, 17}, 2e-5f);
        EXPECT_EQ(o.unfused_nodes, affine ? 9u : 7u);
        EXPECT_EQ(o.fused_nodes, 1u) << "affine " << affine << " by_mul " << by_mul << " axes_input " << axes_input;
        EXPECT_TRUE(uses_op(o, "LayerNormalization"));
      }
}

TEST(PatternFusion, LayerNormWithAnExtraReaderIsLeftAlone) {
  Outcome o = compare_fused([] { return layernorm_graph(true, false, false, true); }, {1, 3, 17}, 0.0f);
  EXPECT_EQ(o.fused_nodes, o.unfused_nodes);
  EXPECT_FALSE(uses_op(o, "LayerNormalization"));
}

TEST(PatternFusion, FusedGraphsGiveTheSameResultsOnOneAndTwoThreads) {
  for (int threads : {1, 2}) {
    Outcome o = compare_fused([] { return layernorm_graph(true, false, false, false); }, {1, 3, 17}, 2e-5f, threads);
    EXPECT_EQ(o.fused_nodes, 1u);
  }
}

namespace {
// y = act(x[batch, 3, 17] x W[17, 33] + b[33]); `pin_product` also outputs the MatMul result.
ir::Graph matmul_bias_graph(bool pin_product, bool relu) {
  Builder b({-1, 3, 17});
  ir::Value* w = b.constant(random_tensor({17, 33}, 7, -1.0f, 1.0f));
  ir::Value* bias = b.constant(random_tensor({33}, 8, -1.0f, 1.0f));
  ir::Value* p = b.op("MatMul", {b.x, w});
  ir::Value* y = b.op("Add", {bias, p});
  if (relu) y = b.op("Relu", {y});
  b.g.outputs.push_back(y);
  if (pin_product) b.g.outputs.push_back(p);
  return std::move(b.g);
}
}  // namespace

TEST(PatternFusion, MatMulPlusBiasBecomesMatMulBias) {
  if (max_isa() < Isa::kAvx2) GTEST_SKIP() << "joule.MatMulBias is made only for the AVX2/AVX-512 kernels; this CPU has neither";
  bool fast_kernel = false;
  for (const kernels::KernelDef* k : kernels::KernelRegistry::builtin().all())
    fast_kernel |= k->op_type == "MatMulBias" && k->isa != Isa::kScalar;
  if (!fast_kernel) GTEST_SKIP() << "joule.MatMulBias is made only for the AVX2/AVX-512 kernels; this build has none (JOULE_SIMD=OFF)";
  for (bool relu : {false, true}) {
    Outcome o = compare_fused([&] { return matmul_bias_graph(false, relu); }, {1, 3, 17}, 2e-5f);
    EXPECT_EQ(o.unfused_nodes, relu ? 3u : 2u);
    EXPECT_EQ(o.fused_nodes, 1u) << "relu " << relu;
    EXPECT_TRUE(uses_op(o, "joule.MatMulBias"));
  }
  Outcome pinned = compare_fused([] { return matmul_bias_graph(true, false); }, {1, 3, 17}, 2e-5f);
  EXPECT_EQ(pinned.fused_nodes, 2u);
  EXPECT_FALSE(uses_op(pinned, "joule.MatMulBias"));
}

TEST(PatternFusion, MatMulBiasIsNotMadeForTheReferencePath) {
  SessionOptions scalar;
  scalar.isa = "scalar";
  auto s = Session::from_graph(matmul_bias_graph(false, false), scalar);
  EXPECT_EQ(s->stats().node_count, 2u);
}
