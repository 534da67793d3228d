// INT4 weight quantization (quant/int4_*): block rounding error bounds, the MatMulNBits layout against the
// reference kernel, GPTQ beating RTN on correlated activations, and the graph pass (MatMul and Gemm become
// MatMulNBits; outputs close to FP32; weight bytes <= 0.16x at block 32).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "joule/session.h"
#include "quant/int4_quantize.h"
#include "runtime/passes/nbits_cast_fusion.h"
#include "runtime/passes/passes.h"

using namespace joule;
using namespace joule::quant;

namespace {

std::vector<float> randn(size_t n, std::mt19937& rng, float sd = 1.0f) {
  std::normal_distribution<float> d(0.0f, sd);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// Calibration rows with correlated channels and a few large ones (as transformer activations have).
LayerHessian correlated_hessian(int64_t k, int64_t rows, std::mt19937& rng, std::vector<float>& x) {
  std::vector<float> mix = randn(static_cast<size_t>(k * 8), rng);
  x.assign(static_cast<size_t>(rows * k), 0.0f);
  std::normal_distribution<float> d(0.0f, 1.0f);
  for (int64_t r = 0; r < rows; ++r) {
    float f[8];
    for (float& v : f) v = d(rng);
    for (int64_t c = 0; c < k; ++c) {
      float v = 0.3f * d(rng);
      for (int j = 0; j < 8; ++j) v += f[j] * mix[static_cast<size_t>(c * 8 + j)];
      if (c % 37 == 5) v *= 6.0f;
      x[static_cast<size_t>(r * k + c)] = v;
    }
  }
  LayerHessian h;
  h.k = k;
  h.rows = rows;
  h.h.assign(static_cast<size_t>(k * k), 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < k; ++j)
        h.h[static_cast<size_t>(i * k + j)] += double(x[static_cast<size_t>(r * k + i)]) * x[static_cast<size_t>(r * k + j)];
  return h;
}

double cosine(const Tensor& a, const Tensor& b) {
  double d = 0, na = 0, nb = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    d += double(a.data<float>()[i]) * b.data<float>()[i];
    na += double(a.data<float>()[i]) * a.data<float>()[i];
    nb += double(b.data<float>()[i]) * b.data<float>()[i];
  }
  return d / std::sqrt(na * nb);
}

}  // namespace

TEST(Int4Quantize, RtnErrorWithinHalfAStepPerBlock) {
  std::mt19937 rng(1);
  for (bool asym : {false, true})
    for (int64_t block : {32, 64, 128, 256}) {
      const int64_t n = 17, k = 255;
      std::vector<float> w = randn(static_cast<size_t>(n * k), rng);
      for (size_t i = 0; i < w.size(); i += 7) w[i] += asym ? 1.5f : 0.0f;  // skewed blocks for asym
      Int4Options o;
      o.block = block;
      o.asym = asym;
      Int4Weights q;
      ASSERT_TRUE(quantize_int4_weights(w.data(), n, k, o, nullptr, q).is_ok());
      EXPECT_EQ(q.codes.size(), static_cast<size_t>(n * q.k_blocks * block / 2));
      EXPECT_EQ(q.zero_points.empty(), !asym);
      std::vector<float> dq = q.dequantize();
      double sse = 0, ss = 0;
      for (int64_t r = 0; r < n; ++r)
        for (int64_t c = 0; c < k; ++c) {
          float s = std::fabs(q.scales[static_cast<size_t>(r * q.k_blocks + c / block)]);
          float e = std::fabs(dq[static_cast<size_t>(r * k + c)] - w[static_cast<size_t>(r * k + c)]);
          // Symmetric: +max clips from code 16 to 15 (one step); otherwise half a step.
          EXPECT_LE(e, (asym ? 0.5f : 1.0f) * s * 1.0001f + 1e-6f) << "block " << block << " r " << r << " c " << c;
          sse += e * e;
          ss += double(w[static_cast<size_t>(r * k + c)]) * w[static_cast<size_t>(r * k + c)];
        }
      EXPECT_LT(std::sqrt(sse / ss), asym ? 0.12 : 0.15) << "block " << block;
    }
}

TEST(Int4Quantize, GptqBeatsRtnOnCorrelatedActivations) {
  std::mt19937 rng(2);
  const int64_t n = 17, k = 255, rows = 300;
  std::vector<float> x;
  LayerHessian h = correlated_hessian(k, rows, rng, x);
  std::vector<float> w = randn(static_cast<size_t>(n * k), rng, 0.05f);
  for (bool asym : {false, true}) {
    Int4Options o;
    o.asym = asym;
    Int4Weights rtn, gptq;
    ASSERT_TRUE(quantize_int4_weights(w.data(), n, k, o, &h, rtn).is_ok());
    o.method = Int4Method::kGptq;
    ASSERT_TRUE(quantize_int4_weights(w.data(), n, k, o, &h, gptq).is_ok());
    double er = int4_relative_error(w.data(), rtn, h), eg = int4_relative_error(w.data(), gptq, h);
    EXPECT_GT(er, 0.0);
    EXPECT_LT(eg, 0.8 * er) << "gptq " << eg << " vs rtn " << er << (asym ? " asym" : " sym");
    // The Hessian form of the error equals the directly measured one.
    std::vector<float> dq = gptq.dequantize();
    double num = 0, den = 0;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < n; ++j) {
        double y = 0, yq = 0;
        for (int64_t c = 0; c < k; ++c) {
          y += double(x[static_cast<size_t>(r * k + c)]) * w[static_cast<size_t>(j * k + c)];
          yq += double(x[static_cast<size_t>(r * k + c)]) * dq[static_cast<size_t>(j * k + c)];
        }
        num += (y - yq) * (y - yq);
        den += y * y;
      }
    EXPECT_NEAR(eg, std::sqrt(num / den), 1e-3);
  }
}

TEST(Int4Quantize, RejectsBadBlockAndMethod) {
  std::vector<float> w(64, 1.0f);
  Int4Options o;
  o.block = 48;
  Int4Weights q;
  EXPECT_FALSE(quantize_int4_weights(w.data(), 2, 32, o, nullptr, q).is_ok());
  Int4Method m;
  Status s = parse_int4_method("awq2", m);
  EXPECT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("rtn"), std::string::npos);
}

TEST(Int4Quantize, GraphPassWritesMatMulNBits) {
  std::mt19937 rng(3);
  const int64_t m = 17, k = 96, n1 = 64, n2 = 19;
  ir::Graph g;
  g.opset_imports[""] = 17;
  ir::Value* x = g.add_value("x");
  x->desc = ir::TensorDesc::known(DType::kF32, {m, k});
  g.inputs.push_back(x);
  ir::Value* w1 = g.add_constant("w1", Tensor::from_vector<float>({k, n1}, randn(static_cast<size_t>(k * n1), rng, 0.1f)));
  ir::Value* h = g.add_value("h");
  g.add_node("MatMul", {x, w1}, {h}, "mm")->opset = 17;
  ir::Value* w2 = g.add_constant("w2", Tensor::from_vector<float>({n2, n1}, randn(static_cast<size_t>(n2 * n1), rng, 0.1f)));
  ir::Value* c2 = g.add_constant("c2", Tensor::from_vector<float>({n2}, randn(static_cast<size_t>(n2), rng)));
  ir::Value* y = g.add_value("y");
  ir::Node* gemm = g.add_node("Gemm", {h, w2, c2}, {y}, "gemm");
  gemm->opset = 17;
  gemm->attrs["transB"] = ir::Attribute::of_int(1);
  gemm->attrs["alpha"] = ir::Attribute::of_float(0.5f);
  gemm->attrs["beta"] = ir::Attribute::of_float(2.0f);
  g.outputs.push_back(y);
  Tensor in = Tensor::from_vector<float>({m, k}, randn(static_cast<size_t>(m * k), rng));

  // FP32 reference, then INT4 of a second copy of the same graph.
  auto build = [&](ir::Graph& dst) {
    dst.opset_imports[""] = 17;
    ir::Value* xx = dst.add_value("x");
    xx->desc = x->desc;
    dst.inputs.push_back(xx);
    ir::Value* hh = dst.add_value("h");
    dst.add_node("MatMul", {xx, dst.add_constant("w1", w1->constant)}, {hh}, "mm")->opset = 17;
    ir::Value* yy = dst.add_value("y");
    ir::Node* ge = dst.add_node("Gemm", {hh, dst.add_constant("w2", w2->constant), dst.add_constant("c2", c2->constant)}, {yy}, "gemm");
    ge->opset = 17;
    ge->attrs = gemm->attrs;
    dst.outputs.push_back(yy);
  };
  ir::Graph q;
  build(q);
  Int4Options o;
  Int4Report rep;
  ASSERT_TRUE(quantize_graph_int4(q, o, nullptr, rep).is_ok());
  EXPECT_EQ(rep.quantized(), 2u);
  int nbits = 0;
  for (auto& nd : q.nodes) nbits += nd->op_type == "MatMulNBits" && nd->domain == "com.microsoft";
  EXPECT_EQ(nbits, 2);
  EXPECT_EQ(q.opset_imports["com.microsoft"], 1);
  EXPECT_LE(double(rep.int4_bytes()) / double(rep.float_bytes()), 0.16);
  // fp16 scales: each MatMulNBits runs on f16 A between two Casts (ORT types scales like A), scales and the
  // Gemm's bias are f16, weight bytes drop by 2 bytes per block, outputs stay within fp16 rounding of fp32 scales.
  ir::Graph q16;
  build(q16);
  Int4Options o16;
  o16.fp16_scales = true;
  Int4Report rep16;
  ASSERT_TRUE(quantize_graph_int4(q16, o16, nullptr, rep16).is_ok());
  EXPECT_EQ(rep16.quantized(), 2u);
  EXPECT_EQ(rep.int4_bytes() - rep16.int4_bytes(), int64_t(2 * (n1 * (k / 32) + n2 * ((n1 + 31) / 32))));
  int casts = 0, f16_scales = 0;
  for (auto& nd : q16.nodes) {
    casts += nd->op_type == "Cast";
    if (nd->op_type == "MatMulNBits") {
      f16_scales += nd->inputs[2]->constant.dtype() == DType::kF16;
      EXPECT_EQ(nd->inputs[0]->desc.dtype, DType::kF16);
      if (nd->inputs.size() > 5 && nd->inputs[5]) EXPECT_EQ(nd->inputs[5]->constant.dtype(), DType::kF16);
    }
  }
  EXPECT_EQ(casts, 4);
  EXPECT_EQ(f16_scales, 2);
  // joule folds the Casts away at load (runtime/passes/nbits_cast_fusion.cpp): f32 A, f16 scales.
  ir::Graph q16f;
  build(q16f);
  ASSERT_TRUE(quantize_graph_int4(q16f, o16, nullptr, rep16).is_ok());
  int folded = 0;
  ASSERT_TRUE(passes::infer_shapes(q16f).is_ok());  // as Session does before its fusions
  ASSERT_TRUE(passes::fold_nbits_f16_casts(q16f, folded).is_ok());
  EXPECT_EQ(folded, 2);
  for (auto& nd : q16f.nodes) {
    EXPECT_NE(nd->op_type, "Cast");
    if (nd->op_type == "MatMulNBits") EXPECT_EQ(nd->inputs[2]->constant.dtype(), DType::kF16);
  }
  ASSERT_TRUE(ir::verify_graph(q16f).is_ok());
  auto ref = Session::from_graph(std::move(g));
  auto s4 = Session::from_graph(std::move(q));
  auto s16 = Session::from_graph(std::move(q16));
  Tensor yr = ref->run(std::vector<Tensor>{in})[0], y4 = s4->run(std::vector<Tensor>{in})[0];
  Tensor y16 = s16->run(std::vector<Tensor>{in})[0];
  Tensor y16f = Session::from_graph(std::move(q16f))->run(std::vector<Tensor>{in})[0];
  EXPECT_GT(cosine(y4, y16f), 0.9999);
  ASSERT_EQ(yr.shape(), y4.shape());
  ASSERT_EQ(y16.dtype(), DType::kF32);
  ASSERT_EQ(y16.shape(), y4.shape());
  EXPECT_GT(cosine(yr, y4), 0.99);
  EXPECT_GT(cosine(y4, y16), 0.9999);
}
