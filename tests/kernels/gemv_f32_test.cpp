// The M == 1 GEMV of the packed f32 GEMM (kernels/cpu/gemv_f32*.cpp): for every micro-kernel this CPU
// (or JOULE_ISA) runs, N in {1, 3, 17, 255, 1023} x K in {1, 3, 17, 255, 1280}, no epilogue / bias /
// bias + Relu / bias + Clip / alpha, beta: bitwise equal to the GEMM's row (the same A row computed as
// row 0 of an M = 2 GEMM), close to a double-precision product, 1, 2 and 3 threads bitwise equal;
// then MatMul, Gemm and joule.MatMulBias with M = 1 and constant B against their reference kernels.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#ifdef JOULE_WITH_SIMD
#include "kernels/cpu/gemm_f32.h"
#include "tests/kernels/gemm_test_util.h"
#include "kernels/cpu/gemv_f32.h"
#include "kernels/kernel_registry.h"
#include "runtime/cpu_features.h"
#include "runtime/ir/graph.h"
#include "runtime/thread_pool.h"
#include "tests/kernels/f32_kernel_harness.h"

using namespace joule;
using namespace joule::kernels::cpu;

namespace {

using test::random_floats;
std::vector<const GemmUkernel*> runnable_ukernels() { return test::runnable_ukernels("gemv_f32"); }

}  // namespace

TEST(GemvF32, BitwiseEqualToGemmRowCloseToDoubleAndThreadInvariant) {
  const auto uks = runnable_ukernels();
  if (uks.empty()) GTEST_SKIP() << "no f32 GEMM micro-kernel runs on this CPU (max ISA " << isa_name(max_isa()) << ")";
  ThreadPool p2(2), p3(3);
  int checked = 0;
  for (const GemmUkernel* uk : uks) {
    for (int64_t n : {1, 3, 17, 255, 1023}) {
      for (int64_t k : {1, 3, 17, 255, 1280}) {
        const auto a2 = random_floats(static_cast<size_t>(2 * k), static_cast<uint32_t>(n * 7 + k));
        const auto b = random_floats(static_cast<size_t>(k * n), static_cast<uint32_t>(n + 3 * k));
        const auto bias = random_floats(static_cast<size_t>(n), 5);
        PackedF32 pb(static_cast<size_t>(packed_b_size(*uk, k, n)));
        pack_b_f32(*uk, b.data(), n, 1, k, n, pb.data());
        // A's row as column 0 of a [K, 3] matrix: the GEMV's strided-A gather.
        std::vector<float> at(static_cast<size_t>(3 * k));
        for (int64_t p = 0; p < k; ++p) at[static_cast<size_t>(3 * p)] = a2[static_cast<size_t>(p)];
        for (int e = 0; e < 5; ++e) {
          GemmEpilogue ep;
          if (e >= 1) {
            ep.bias = bias.data();
            ep.bias_cs = 1;
          }
          if (e == 2) ep.act = Activation::kRelu;
          if (e == 3) {
            ep.act = Activation::kClip;
            ep.lo = -0.5f;
            ep.hi = 0.75f;
          }
          if (e == 4) {
            ep.alpha = 0.5f;
            ep.beta = -2.0f;
          }
          SCOPED_TRACE(std::string(uk->name) + " N=" + std::to_string(n) + " K=" + std::to_string(k) + " epilogue " +
                       std::to_string(e));
          // Reference bits: row 0 of the M = 2 GEMM (row 1 differs, so the GEMV is not taken).
          std::vector<float> g(static_cast<size_t>(2 * n), NAN);
          gemm_f32_packed(*uk, 2, n, k, a2.data(), k, 1, pb.data(), g.data(), n, ep, nullptr);
          std::vector<float> c1(static_cast<size_t>(n), NAN), c2(c1.size(), NAN), c3(c1.size(), NAN), ct(c1.size(), NAN);
          gemm_f32_packed(*uk, 1, n, k, a2.data(), k, 1, pb.data(), c1.data(), n, ep, nullptr);
          gemm_f32_packed(*uk, 1, n, k, a2.data(), k, 1, pb.data(), c2.data(), n, ep, &p2);
          gemm_f32_packed(*uk, 1, n, k, a2.data(), k, 1, pb.data(), c3.data(), n, ep, &p3);
          gemm_f32_packed(*uk, 1, n, k, at.data(), 1, 3, pb.data(), ct.data(), n, ep, &p2);
          EXPECT_EQ(std::memcmp(c1.data(), g.data(), c1.size() * sizeof(float)), 0) << "GEMV differs from the GEMM row";
          EXPECT_EQ(std::memcmp(c1.data(), c2.data(), c1.size() * sizeof(float)), 0) << "1 vs 2 threads differ";
          EXPECT_EQ(std::memcmp(c1.data(), c3.data(), c1.size() * sizeof(float)), 0) << "1 vs 3 threads differ";
          EXPECT_EQ(std::memcmp(c1.data(), ct.data(), c1.size() * sizeof(float)), 0) << "strided A differs";
          double worst = 0.0;
          for (int64_t j = 0; j < n; ++j) {
            double acc = 0.0, mag = 0.0;
            for (int64_t p = 0; p < k; ++p) {
              const double t = static_cast<double>(a2[static_cast<size_t>(p)]) * b[static_cast<size_t>(p * n + j)];
              acc += t;
              mag += std::fabs(t);
            }
            double want = ep.alpha * acc, wmag = std::fabs(ep.alpha) * mag;
            if (ep.bias) {
              want += ep.beta * bias[static_cast<size_t>(j)];
              wmag += std::fabs(ep.beta * bias[static_cast<size_t>(j)]);
            }
            if (ep.act == Activation::kRelu) want = std::max(want, 0.0);
            if (ep.act == Activation::kClip) want = std::min(std::max(want, static_cast<double>(ep.lo)), static_cast<double>(ep.hi));
            worst = std::max(worst, std::fabs(c1[static_cast<size_t>(j)] - want) / (wmag + 1e-30));
          }
          EXPECT_LE(worst, 4e-6);
          ++checked;
        }
      }
    }
  }
  std::printf("[ gemv_f32 ] %d cases checked\n", checked);
}

// MatMul / Gemm / joule.MatMulBias with one row of A and constant weights (the classifier shape) run
// the GEMV through their packed-B path: each optimized kernel against the op's reference kernel.
TEST(GemvF32, OneRowMatMulGemmMatMulBiasMatchReference) {
  using namespace joule::kernels;
  std::mt19937 rng(2024);
  ThreadPool p2(2), p3(3);
  int checked = 0;
  auto run_all = [&](const std::string& domain, const std::string& op, ir::Node& node, const std::vector<Tensor>& in,
                     const Shape& out_shape, const std::string& what, void (*post)(Tensor&)) {
    const KernelDef* ref = KernelRegistry::builtin().reference(domain, op);
    ASSERT_NE(ref, nullptr) << op;
    Tensor want;
    ASSERT_TRUE(test::prepare_and_run(*ref, node, in, true, nullptr, out_shape, want).is_ok()) << what;
    if (post) post(want);
    for (const KernelDef* k : KernelRegistry::builtin().all()) {
      if (k->domain != domain || k->op_type != op || k->device != Device::kCpu || k->priority == 0) continue;
      if (k->isa > max_isa()) continue;
      if (k->accepts && !k->accepts(test::query_for(node, in, true))) continue;
      SCOPED_TRACE(k->name + " " + what);
      Tensor t1, t2, t3;
      ASSERT_TRUE(test::prepare_and_run(*k, node, in, true, nullptr, out_shape, t1).is_ok());
      ASSERT_TRUE(test::prepare_and_run(*k, node, in, true, &p2, out_shape, t2).is_ok());
      ASSERT_TRUE(test::prepare_and_run(*k, node, in, true, &p3, out_shape, t3).is_ok());
      EXPECT_LE(test::rel_error(t1, want), 2e-5);
      EXPECT_EQ(std::memcmp(t1.raw(), t2.raw(), t1.nbytes()), 0) << "1 vs 2 threads differ";
      EXPECT_EQ(std::memcmp(t1.raw(), t3.raw(), t1.nbytes()), 0) << "1 vs 3 threads differ";
      ++checked;
    }
  };
  auto relu = [](Tensor& t) {
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = std::max(t.data<float>()[i], 0.0f);
  };
  // Clip bounds scale with the sums (std ~ sqrt(K/9)), so some outputs clip at each end for every K and
  // the error measure's mean |want| is not dominated by clipped values.
  static float lo = 0.0f, hi = 0.0f;
  auto clip = [](Tensor& t) {
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = std::min(std::max(t.data<float>()[i], lo), hi);
  };
  for (int64_t n : {1, 3, 17, 255, 1023}) {
    for (int64_t k : {1, 3, 17, 255, 1280}) {
      const std::string dims = " N=" + std::to_string(n) + " K=" + std::to_string(k);
      {
        ir::Graph g;
        ir::Node* node = g.add_node("MatMul", {g.add_value("a"), g.add_value("b")}, {g.add_value("y")}, "mm");
        node->opset = 17;
        run_all("", "MatMul", *node, {test::random_f32({1, k}, rng), test::random_f32({k, n}, rng)}, {1, n}, "MatMul" + dims, nullptr);
        ir::Node* nr = g.add_node("MatMul", {g.add_value("a2"), g.add_value("b2")}, {g.add_value("y2")}, "mm_relu");
        nr->opset = 17;
        nr->attrs["joule.activation"] = ir::Attribute::of_string("Relu");
        run_all("", "MatMul", *nr, {test::random_f32({1, k}, rng), test::random_f32({k, n}, rng)}, {1, n}, "MatMul+Relu" + dims, relu);
      }
      for (int tb = 0; tb < 2; ++tb) {
        ir::Graph g;
        ir::Node* node = g.add_node("Gemm", {g.add_value("a"), g.add_value("b"), g.add_value("c")}, {g.add_value("y")}, "gemm");
        node->opset = 17;
        node->attrs["transB"] = ir::Attribute::of_int(tb);
        node->attrs["alpha"] = ir::Attribute::of_float(0.75f);
        node->attrs["beta"] = ir::Attribute::of_float(1.5f);
        run_all("", "Gemm", *node,
                {test::random_f32({1, k}, rng), test::random_f32(tb ? Shape{n, k} : Shape{k, n}, rng), test::random_f32({n}, rng)},
                {1, n}, "Gemm transB=" + std::to_string(tb) + dims, nullptr);
      }
      {
        ir::Graph g;
        ir::Node* node = g.add_node("MatMulBias", {g.add_value("a"), g.add_value("b"), g.add_value("c")}, {g.add_value("y")}, "mmb");
        node->domain = "joule";
        node->opset = 1;
        run_all("joule", "MatMulBias", *node, {test::random_f32({1, k}, rng), test::random_f32({k, n}, rng), test::random_f32({n}, rng)},
                {1, n}, "MatMulBias" + dims, nullptr);
        ir::Node* nc = g.add_node("MatMulBias", {g.add_value("a2"), g.add_value("b2"), g.add_value("c2")}, {g.add_value("y2")}, "mmb_clip");
        nc->domain = "joule";
        nc->opset = 1;
        nc->attrs["joule.activation"] = ir::Attribute::of_string("Clip");
        lo = -0.1f * std::sqrt(static_cast<float>(k));
        hi = 0.15f * std::sqrt(static_cast<float>(k));
        nc->attrs["joule.clip_min"] = ir::Attribute::of_float(lo);
        nc->attrs["joule.clip_max"] = ir::Attribute::of_float(hi);
        run_all("joule", "MatMulBias", *nc, {test::random_f32({1, k}, rng), test::random_f32({k, n}, rng), test::random_f32({n}, rng)},
                {1, n}, "MatMulBias+Clip" + dims, clip);
      }
    }
  }
  if (checked == 0) GTEST_SKIP() << "no optimized MatMul/Gemm/MatMulBias kernel runs here (JOULE_ISA=scalar or no AVX2)";
  std::printf("[ gemv_f32 ] %d kernel runs checked\n", checked);
}

#else
TEST(GemvF32, NotInThisBuild) { GTEST_SKIP() << "JOULE_SIMD=OFF: no kernels/cpu in this build"; }
#endif
