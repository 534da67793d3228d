// Weights held once: after build the session drops the storage of constants whose every reader packed
// them in prepare (KernelDef::packed_inputs), and keeps those something may still read at run time.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>

#include "joule/session.h"
#include "kernels/kernel_registry.h"
#include "onnx_import/onnx_import.h"
#include "runtime/cpu_features.h"
#include "runtime/ir/graph.h"

using namespace joule;

namespace {

Tensor random_f32(Shape s, uint32_t seed) {
  Tensor t(DType::kF32, std::move(s));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1, 1);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
  return t;
}

// x [batch, 255]:
//   y1 = MatMul(x, w1 [255, 1023])    w1 read only by a packing MatMul: released
//   y2 = MatMul(x, w2 [255])          rank-1 B is not packed (null state): kept
//   y3 = MatMul(x, w3 [255, 17]); g = Gather(w3, ids)   w3 also read by Gather: kept
//   yc = Conv(xc [1, 3, 17, 17], wc [5, 3, 3, 3])       Conv may re-pack from wc at run time: kept
ir::Graph make_graph() {
  ir::Graph g;
  g.opset_imports[""] = 17;
  ir::Value* x = g.add_value("x");
  x->desc = {DType::kF32, {-1, 255}, true};
  x->dim_params = {"batch", ""};
  ir::Value* ids = g.add_value("ids");
  ids->desc = {DType::kI64, {3}, true};
  ir::Value* xc = g.add_value("xc");
  xc->desc = {DType::kF32, {1, 3, 17, 17}, true};
  g.inputs = {x, ids, xc};
  ir::Value* w1 = g.add_constant("w1", random_f32({255, 1023}, 1));
  ir::Value* w2 = g.add_constant("w2", random_f32({255}, 2));
  ir::Value* w3 = g.add_constant("w3", random_f32({255, 17}, 3));
  ir::Value* wc = g.add_constant("wc", random_f32({5, 3, 3, 3}, 4));
  ir::Value* y1 = g.add_value("y1");
  ir::Value* y2 = g.add_value("y2");
  ir::Value* y3 = g.add_value("y3");
  ir::Value* gy = g.add_value("g");
  ir::Value* yc = g.add_value("yc");
  g.add_node("MatMul", {x, w1}, {y1}, "mm1");
  g.add_node("MatMul", {x, w2}, {y2}, "mm2");
  g.add_node("MatMul", {x, w3}, {y3}, "mm3");
  g.add_node("Gather", {w3, ids}, {gy}, "gather");
  g.add_node("Conv", {xc, wc}, {yc}, "conv");
  g.outputs = {y1, y2, y3, gy, yc};
  return g;
}

std::vector<std::pair<std::string, Tensor>> feeds(int64_t batch, uint32_t seed) {
  Tensor ids(DType::kI64, {3});
  ids.data<int64_t>()[0] = 254;
  ids.data<int64_t>()[1] = static_cast<int64_t>(seed % 255);
  ids.data<int64_t>()[2] = 0;
  return {{"x", random_f32({batch, 255}, seed)}, {"ids", ids}, {"xc", random_f32({1, 3, 17, 17}, seed + 7)}};
}

// The packing MatMul kernels exist in SIMD builds and run on AVX2 CPUs.
bool has_packing_kernels() {
  if (max_isa() < Isa::kAvx2) return false;
  for (const kernels::KernelDef* k : kernels::KernelRegistry::builtin().all())
    if (k->op_type == "MatMul" && k->packed_inputs != 0) return true;
  return false;
}

}  // namespace

TEST(PackedConstants, PackedOnlyWeightIsReleasedOthersKept) {
  if (!has_packing_kernels()) GTEST_SKIP() << "no packing MatMul kernel here (CPU without AVX2, or a JOULE_SIMD=OFF build)";
  std::unique_ptr<Session> s;
  ASSERT_TRUE(Session::create(make_graph(), {}, s).is_ok());
  const int64_t w1_bytes = 255 * 1023 * 4;
  EXPECT_EQ(s->stats().released_constant_bytes, w1_bytes);
  EXPECT_EQ(s->stats().resident_constant_bytes, s->stats().constant_bytes - w1_bytes);
  const ir::Graph& g = s->graph();
  const ir::Value* w1 = g.find_value("w1");
  ASSERT_NE(w1, nullptr);
  EXPECT_EQ(w1->constant.raw(), nullptr);
  EXPECT_EQ(w1->constant.shape(), (Shape{255, 1023}));  // dtype and shape stay for run-time shape inference
  EXPECT_EQ(w1->constant.dtype(), DType::kF32);
  for (const char* kept : {"w2", "w3", "wc"}) {
    const ir::Value* v = g.find_value(kept);
    ASSERT_NE(v, nullptr) << kept;
    EXPECT_NE(v->constant.raw(), nullptr) << kept << " must be kept";
  }
}

TEST(PackedConstants, ReleasedSessionMatchesKeptAcrossRunsAndThreads) {
  if (!has_packing_kernels()) GTEST_SKIP() << "no packing MatMul kernel here (CPU without AVX2, or a JOULE_SIMD=OFF build)";
  for (int threads : {1, 3}) {
    SessionOptions keep_opts, rel_opts;
    keep_opts.threads = rel_opts.threads = threads;
    keep_opts.keep_constants = true;
    std::unique_ptr<Session> kept, rel;
    ASSERT_TRUE(Session::create(make_graph(), keep_opts, kept).is_ok());
    ASSERT_TRUE(Session::create(make_graph(), rel_opts, rel).is_ok());
    EXPECT_EQ(kept->stats().released_constant_bytes, 0);
    ASSERT_GT(rel->stats().released_constant_bytes, 0);
    // Several batch sizes (run-time shape inference against the released weight's shape), several
    // client threads at once, several rounds.
    std::vector<std::thread> clients;
    std::vector<int> failures(4, 0);
    for (int c = 0; c < 4; ++c)
      clients.emplace_back([&, c] {
        for (int round = 0; round < 3; ++round)
          for (int64_t batch : {1, 3, 17}) {
            auto in = feeds(batch, static_cast<uint32_t>(100 * c + 10 * round + batch));
            std::vector<Tensor> a, b;
            if (!kept->run(in, a).is_ok() || !rel->run(in, b).is_ok() || a.size() != b.size()) { ++failures[c]; continue; }
            for (size_t i = 0; i < a.size(); ++i)
              if (a[i].shape() != b[i].shape() || std::memcmp(a[i].raw(), b[i].raw(), a[i].nbytes()) != 0) ++failures[c];
          }
      });
    for (auto& t : clients) t.join();
    for (int c = 0; c < 4; ++c) EXPECT_EQ(failures[c], 0) << "client " << c << ", threads " << threads;
    // And against the plain numbers: y1 = x w1.
    auto in = feeds(3, 5);
    std::vector<Tensor> out;
    ASSERT_TRUE(rel->run(in, out).is_ok());
    Tensor w1 = random_f32({255, 1023}, 1);
    const float* x = in[0].second.data<float>();
    double worst = 0;
    for (int64_t r = 0; r < 3; ++r)
      for (int64_t j = 0; j < 1023; ++j) {
        double acc = 0;
        for (int64_t k = 0; k < 255; ++k) acc += double(x[r * 255 + k]) * w1.data<float>()[k * 1023 + j];
        worst = std::max(worst, std::abs(acc - out[0].data<float>()[r * 1023 + j]));
      }
    EXPECT_LT(worst, 1e-3);
  }
}

TEST(PackedConstants, ReferenceKernelsAndKeepConstantsReleaseNothing) {
  SessionOptions scalar;
  scalar.isa = "scalar";  // reference kernels only: they read their weights at run time
  std::unique_ptr<Session> s;
  ASSERT_TRUE(Session::create(make_graph(), scalar, s).is_ok());
  EXPECT_EQ(s->stats().released_constant_bytes, 0);
  EXPECT_EQ(s->stats().resident_constant_bytes, s->stats().constant_bytes);
  EXPECT_NE(s->graph().find_value("w1")->constant.raw(), nullptr);
  if (has_packing_kernels()) {
    std::unique_ptr<Session> fast;
    ASSERT_TRUE(Session::create(make_graph(), {}, fast).is_ok());
    auto in = feeds(17, 9);
    std::vector<Tensor> a, b;
    ASSERT_TRUE(s->run(in, a).is_ok());
    ASSERT_TRUE(fast->run(in, b).is_ok());
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i)
      for (int64_t e = 0; e < a[i].numel() && a[i].dtype() == DType::kF32; ++e)
        ASSERT_NEAR(a[i].data<float>()[e], b[i].data<float>()[e], 1e-3) << "output " << i;
  }
}

TEST(PackedConstants, ExportingAReleasedGraphIsAClearError) {
  if (!has_packing_kernels()) GTEST_SKIP() << "no packing MatMul kernel here (CPU without AVX2, or a JOULE_SIMD=OFF build): nothing is released";
  std::unique_ptr<Session> s;
  ASSERT_TRUE(Session::create(make_graph(), {}, s).is_ok());
  auto path = std::filesystem::temp_directory_path() / "joule_packed_constants_export.onnx";
  Status st = onnx_import::export_model(s->graph(), path.string());
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("keep_constants"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("w1"), std::string::npos) << st.message();
  std::filesystem::remove(path);
}
