// Batched MatMul (kernels/cpu/batched_gemm_f32.cpp via MatMul's batched path) and joule.StridedMatMul
// (kernels/cpu/strided_matmul_f32.cpp) against their reference kernels on seeded random data with odd
// shapes (batch 1, 3; M/N/K in 1, 3, 17, 255), transposed operands and outputs; 1, 2 and 3 threads
// must give bitwise identical results.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <set>

#include "kernels/kernel_registry.h"
#include "runtime/cpu_features.h"
#include "runtime/ir/graph.h"
#include "runtime/thread_pool.h"

using namespace joule;
using namespace joule::kernels;

namespace {

Tensor random_f32(const Shape& s, std::mt19937& rng) {
  Tensor t(DType::kF32, s);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
  return t;
}

// The optimized CPU kernels of (domain, op) this CPU can run; the reason when there is none.
std::vector<const KernelDef*> fast_kernels(const std::string& domain, const std::string& op, std::string& why) {
  std::vector<const KernelDef*> out;
  for (const KernelDef* k : KernelRegistry::builtin().all()) {
    if (k->domain != domain || k->op_type != op || k->device != Device::kCpu || k->priority == 0) continue;
    if (k->isa > max_isa()) {
      static std::set<std::string> said;
      if (said.insert(k->name).second)
        std::printf("[ strided_matmul ] SKIP %s: this CPU (or JOULE_ISA) lacks %s\n", k->name.c_str(), std::string(isa_name(k->isa)).c_str());
      continue;
    }
    out.push_back(k);
  }
  if (out.empty()) why = "no optimized " + op + " kernel runs here (JOULE_SIMD=OFF build, or JOULE_ISA=scalar / a CPU without AVX2)";
  return out;
}

struct Case {
  ir::Graph g;
  ir::Node* node = nullptr;
  std::vector<Tensor> inputs;
  Shape out;
};

Status run(const KernelDef& k, Case& c, ThreadPool* pool, Tensor& out) {
  KernelQuery q{*c.node, {}, {}};
  for (const Tensor& t : c.inputs) {
    q.inputs.push_back(ir::TensorDesc::known(t.dtype(), t.shape()));
    q.constant_inputs.push_back(nullptr);
  }
  if (k.accepts && !k.accepts(q)) return unsupported(k.name + " rejects the case");
  std::shared_ptr<const void> state;
  if (k.prepare) JOULE_RETURN_IF_ERROR(k.prepare(q, state));
  out = Tensor(DType::kF32, c.out);
  std::memset(out.raw(), 0xff, out.nbytes());  // NaN garbage: every element must be written
  KernelContext ctx{*c.node, {}, {&out}, pool, state.get()};
  for (const Tensor& t : c.inputs) ctx.inputs.push_back(&t);
  return k.run(ctx);
}

// max |fast - ref| / (|ref| + mean |ref|)
double rel_error(const Tensor& fast, const Tensor& ref) {
  double mean = 0, worst = 0;
  for (int64_t i = 0; i < ref.numel(); ++i) mean += std::fabs(ref.data<float>()[i]);
  mean = mean / std::max<int64_t>(1, ref.numel()) + 1e-30;
  for (int64_t i = 0; i < ref.numel(); ++i) {
    const double r = ref.data<float>()[i], f = fast.data<float>()[i];
    if (std::isnan(f) != std::isnan(r)) return INFINITY;
    worst = std::max(worst, std::fabs(f - r) / (std::fabs(r) + mean));
  }
  return worst;
}

void check(const std::string& domain, const std::string& op, Case& c, const std::string& what) {
  std::string why;
  const KernelDef* ref = KernelRegistry::builtin().reference(domain, op);
  ASSERT_NE(ref, nullptr);
  Tensor want;
  ASSERT_TRUE(run(*ref, c, nullptr, want).is_ok()) << what;
  ThreadPool p2(2), p3(3);
  for (const KernelDef* k : fast_kernels(domain, op, why)) {
    SCOPED_TRACE(k->name + " " + what);
    Tensor t1, t2, t3;
    Status s = run(*k, c, nullptr, t1);
    ASSERT_TRUE(s.is_ok()) << s.message();
    ASSERT_TRUE(run(*k, c, &p2, t2).is_ok());
    ASSERT_TRUE(run(*k, c, &p3, t3).is_ok());
    EXPECT_LE(rel_error(t1, want), 2e-5);
    EXPECT_EQ(std::memcmp(t1.raw(), t2.raw(), t1.nbytes()), 0) << "1 vs 2 threads differ";
    EXPECT_EQ(std::memcmp(t1.raw(), t3.raw(), t1.nbytes()), 0) << "1 vs 3 threads differ";
  }
}

const int64_t kMkn[][3] = {{1, 1, 1}, {3, 17, 5}, {17, 3, 255}, {255, 17, 3}, {17, 255, 17}, {3, 1, 255}, {128, 32, 128}};

}  // namespace

TEST(BatchedMatMul, FourDimsMatchReferenceOnOddShapes) {
  std::string why;
  if (fast_kernels("", "MatMul", why).empty()) GTEST_SKIP() << why;
  std::mt19937 rng(77);
  for (int64_t batch : {1, 3})
    for (auto& d : kMkn) {
      const int64_t m = d[0], k = d[1], n = d[2];
      Case c;
      c.inputs = {random_f32({batch, 5, m, k}, rng), random_f32({batch, 5, k, n}, rng)};
      c.out = {batch, 5, m, n};
      c.node = c.g.add_node("MatMul", {c.g.add_value("a"), c.g.add_value("b")}, {c.g.add_value("y")}, "mm");
      check("", "MatMul", c, "batch " + std::to_string(batch) + " m,k,n " + std::to_string(m) + "," + std::to_string(k) + "," + std::to_string(n));
    }
  // Broadcast batch dims (B shared by every A batch, and the other way round).
  Case c;
  c.inputs = {random_f32({3, 1, 17, 19}, rng), random_f32({1, 4, 19, 5}, rng)};
  c.out = {3, 4, 17, 5};
  c.node = c.g.add_node("MatMul", {c.g.add_value("a"), c.g.add_value("b")}, {c.g.add_value("y")}, "mm");
  check("", "MatMul", c, "broadcast batch");
}

// Attention's shapes as exported: Q/K/V as [B, S, H, D] read through perm [0,2,1,3] / K through
// [0,2,3,1], the product scaled (Div or Mul), a [B,1,1,S] mask added, the output transposed back.
TEST(StridedMatMul, TransposedOperandsScaleMaskAndOutputMatchReference) {
  std::string why;
  if (fast_kernels("joule", "StridedMatMul", why).empty()) GTEST_SKIP() << why;
  std::mt19937 rng(78);
  for (int64_t batch : {1, 3})
    for (auto& d : kMkn) {
      const int64_t m = d[0], k = d[1], n = d[2], h = 3;
      const std::string dims = "batch " + std::to_string(batch) + " m,k,n " + std::to_string(m) + "," + std::to_string(k) + "," + std::to_string(n);
      {  // Q K^T / s + mask: A [B, M, H, K] perm [0,2,1,3], B [B, N, H, K] perm [0,2,3,1]
        Case c;
        c.inputs = {random_f32({batch, m, h, k}, rng), random_f32({batch, n, h, k}, rng), random_f32({batch, 1, 1, n}, rng)};
        c.out = {batch, h, m, n};
        c.node = c.g.add_node("StridedMatMul", {c.g.add_value("a"), c.g.add_value("b"), c.g.add_value("c")}, {c.g.add_value("y")}, "smm", "joule");
        c.node->attrs["perm_a"] = ir::Attribute::of_ints({0, 2, 1, 3});
        c.node->attrs["perm_b"] = ir::Attribute::of_ints({0, 2, 3, 1});
        c.node->attrs["scale"] = ir::Attribute::of_float(5.656854f);
        c.node->attrs["scale_div"] = ir::Attribute::of_int(1);
        check("joule", "StridedMatMul", c, "QK^T/s+mask " + dims);
      }
      {  // P V transposed back: A [B, H, M, K] plain, B [B, K, H, N] perm [0,2,1,3], Y perm [0,2,1,3]; scale by Mul
        Case c;
        c.inputs = {random_f32({batch, h, m, k}, rng), random_f32({batch, k, h, n}, rng)};
        c.out = {batch, m, h, n};
        c.node = c.g.add_node("StridedMatMul", {c.g.add_value("a"), c.g.add_value("b")}, {c.g.add_value("y")}, "smm", "joule");
        c.node->attrs["perm_b"] = ir::Attribute::of_ints({0, 2, 1, 3});
        c.node->attrs["perm_y"] = ir::Attribute::of_ints({0, 2, 1, 3});
        c.node->attrs["scale"] = ir::Attribute::of_float(0.37f);
        check("joule", "StridedMatMul", c, "PV^T " + dims);
      }
    }
  // 3-D with a transposed A (columns strided), a full-shape addend and broadcast B.
  Case c;
  c.inputs = {random_f32({3, 17, 255}, rng), random_f32({17, 3}, rng), random_f32({3, 255, 3}, rng)};
  c.out = {3, 255, 3};
  c.node = c.g.add_node("StridedMatMul", {c.g.add_value("a"), c.g.add_value("b"), c.g.add_value("c")}, {c.g.add_value("y")}, "smm", "joule");
  c.node->attrs["perm_a"] = ir::Attribute::of_ints({0, 2, 1});
  check("joule", "StridedMatMul", c, "3-D A^T x B + C");
}

TEST(StridedMatMul, RejectsAnOutputPermMovingTheLastAxisAndBadPerms) {
  std::string why;
  auto ks = fast_kernels("joule", "StridedMatMul", why);
  if (ks.empty()) GTEST_SKIP() << why;
  std::mt19937 rng(79);
  Case c;
  c.inputs = {random_f32({2, 3, 4}, rng), random_f32({2, 4, 5}, rng)};
  c.out = {2, 5, 3};
  c.node = c.g.add_node("StridedMatMul", {c.g.add_value("a"), c.g.add_value("b")}, {c.g.add_value("y")}, "smm", "joule");
  c.node->attrs["perm_y"] = ir::Attribute::of_ints({0, 2, 1});
  Tensor out;
  for (const KernelDef* k : ks) EXPECT_FALSE(run(*k, c, nullptr, out).is_ok()) << k->name;
  c.node->attrs["perm_y"] = ir::Attribute::of_ints({0, 1, 2});
  c.node->attrs["perm_a"] = ir::Attribute::of_ints({0, 0, 1});
  c.out = {2, 3, 5};
  for (const KernelDef* k : ks) {
    Status s = run(*k, c, nullptr, out);
    EXPECT_FALSE(s.is_ok());
    EXPECT_NE(s.message().find("perm_a"), std::string::npos) << s.message();
  }
}
