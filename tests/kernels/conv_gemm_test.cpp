// The im2col/GEMM f32 Conv kernels (kernels/cpu/conv_f32.cpp: conv_f32_gemm_*) against the reference Conv
// on seeded random data with odd shapes, for every ISA this CPU can run (JOULE_ISA lowers it; kernels
// above it are skipped with a message): the paths the oracle's small cases do not reach, i.e. large
// planes with small weights (ResNet's 7x7 stride-2 stem: pixel chunks split over the threads), stride-2
// 3x3 and 1x1 convs; error bound, 1 vs 2 vs 3 threads bitwise identical, fused bias / Relu.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>

#include "kernels/kernel_registry.h"
#include "runtime/cpu_features.h"
#include "runtime/ir/graph.h"
#include "runtime/thread_pool.h"
#include "tests/kernels/f32_kernel_harness.h"

using namespace joule;
using namespace joule::kernels;
using joule::test::random_f32;
using joule::test::rel_error;

namespace {

// Relative to |ref| + mean|ref|: the same products summed in another order (K up to 17*49).
constexpr double kBound = 2e-5;

struct Case {
  int64_t n, ic, oc, h, w, k, stride, pad;
  bool bias, relu;
};

std::vector<const KernelDef*> runnable_gemm_convs() {
  std::vector<const KernelDef*> ks;
  for (const KernelDef* k : KernelRegistry::builtin().all()) {
    if (k->op_type != "Conv" || k->name.rfind("conv_f32_gemm", 0) != 0) continue;
    if (k->isa > max_isa()) {
      std::printf("[ conv_gemm ] SKIP %s: needs %s, this CPU (or JOULE_ISA) allows %s\n", k->name.c_str(),
                  std::string(isa_name(k->isa)).c_str(), std::string(isa_name(max_isa())).c_str());
      continue;
    }
    ks.push_back(k);
  }
  return ks;
}

}  // namespace

TEST(ConvGemm, LargePlanesAndStridesMatchReference) {
  const std::vector<const KernelDef*> ks = runnable_gemm_convs();
  if (ks.empty()) GTEST_SKIP() << "no conv_f32_gemm kernel in this build or at ISA " << isa_name(max_isa());
  const KernelDef* ref = KernelRegistry::builtin().reference("", "Conv");
  ASSERT_NE(ref, nullptr);
  const Case cases[] = {
      {1, 3, 17, 229, 227, 7, 2, 3, true, true},     // stem shape class, odd plane: chunked (small weights)
      {1, 1, 3, 201, 203, 3, 1, 1, true, false},     // 1 channel, stride 1, chunked with a ragged last chunk
      {2, 3, 1, 157, 139, 5, 2, 2, false, true},     // 1 output channel, 2 images, chunked
      {1, 17, 33, 57, 55, 3, 2, 1, true, true},      // stride-2 3x3 (ResNet stage entry), not chunked
      {1, 33, 17, 15, 13, 1, 2, 0, true, false},     // stride-2 1x1 projection shortcut
      {2, 19, 35, 67, 65, 1, 2, 0, false, true},     // stride-2 1x1, 1122 pixels: many panels + ragged tail, 2 images
      {1, 7, 13, 20, 23, 1, 3, 0, true, true},       // stride-3 1x1, 7x8 pixels
      {1, 255, 3, 9, 7, 3, 2, 1, false, false},      // deep reduction on a small plane
  };
  std::mt19937 rng(77);
  ThreadPool pool1(1), pool2(2), pool3(3);
  for (const KernelDef* k : ks) {
    double worst = 0;
    for (const Case& c : cases) {
      ir::Graph graph;
      std::vector<ir::Value*> ins = {graph.add_value("x"), graph.add_value("w")};
      if (c.bias) ins.push_back(graph.add_value("b"));
      ir::Node* node = graph.add_node("Conv", ins, {graph.add_value("y")}, "gemm_conv");
      node->opset = 17;
      node->attrs["pads"] = ir::Attribute::of_ints({c.pad, c.pad, c.pad, c.pad});
      node->attrs["strides"] = ir::Attribute::of_ints({c.stride, c.stride});
      node->attrs["kernel_shape"] = ir::Attribute::of_ints({c.k, c.k});
      if (c.relu) node->attrs["joule.activation"] = ir::Attribute::of_string("Relu");
      std::vector<Tensor> in = {random_f32({c.n, c.ic, c.h, c.w}, rng), random_f32({c.oc, c.ic, c.k, c.k}, rng)};
      if (c.bias) in.push_back(random_f32({c.oc}, rng));
      const Shape out_shape = {c.n, c.oc, (c.h + 2 * c.pad - c.k) / c.stride + 1, (c.w + 2 * c.pad - c.k) / c.stride + 1};
      SCOPED_TRACE(k->name + " x[" + std::to_string(c.n) + "," + std::to_string(c.ic) + "," + std::to_string(c.h) + "," +
                   std::to_string(c.w) + "] oc " + std::to_string(c.oc) + " k " + std::to_string(c.k) + " s " + std::to_string(c.stride));
      ASSERT_TRUE(k->accepts(test::query_for(*node, in, true)));
      Tensor want, got1, got2, got3;
      ASSERT_TRUE(test::prepare_and_run(*ref, *node, in, false, nullptr, out_shape, want).is_ok());
      if (c.relu)
        for (int64_t i = 0; i < want.numel(); ++i) want.data<float>()[i] = std::max(want.data<float>()[i], 0.0f);
      for (bool const_w : {true, false}) {
        Status s = test::prepare_and_run(*k, *node, in, const_w, &pool1, out_shape, got1);
        ASSERT_TRUE(s.is_ok()) << s.message();
        ASSERT_TRUE(test::prepare_and_run(*k, *node, in, const_w, &pool2, out_shape, got2).is_ok());
        ASSERT_TRUE(test::prepare_and_run(*k, *node, in, const_w, &pool3, out_shape, got3).is_ok());
        EXPECT_EQ(std::memcmp(got1.raw(), got2.raw(), got1.nbytes()), 0) << "1 and 2 threads differ";
        EXPECT_EQ(std::memcmp(got1.raw(), got3.raw(), got1.nbytes()), 0) << "1 and 3 threads differ";
        const double e = rel_error(got1, want);
        worst = std::max(worst, e);
        EXPECT_LE(e, kBound);
      }
    }
    std::printf("[ conv_gemm ] %s: worst rel. error %.3g (bound %.g)\n", k->name.c_str(), worst, kBound);
  }
}
