// Winograd F(4x4, 3x3) and F(2x2, 3x3) Conv kernels (kernels/cpu/conv_winograd_f32*.cpp) against the reference Conv
// (kernels/ref/conv.cpp) on seeded random data with odd shapes, for every ISA this CPU can run
// (JOULE_ISA lowers it; kernels above it are skipped with a message): error bound, 1 vs 2 vs 3
// threads bitwise identical, fused bias / Relu / Clip, prepared and per-run weights, accepts().
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>

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

// Relative to |ref| + mean|ref| (as the oracle): Winograd's transforms scale the rounding error of
// the direct conv by the transform constants (up to 8 and 1/24); measured worst here ~1e-5 (README).
constexpr double kBound = 1e-4;

struct Case {
  int64_t n, ic, oc, h, w;
  int64_t pads[4];  // top, left, bottom, right
  bool bias;
  const char* act;  // "", "Relu", "Clip"
};

struct ConvNode {
  ir::Graph graph;
  ir::Node* node = nullptr;
};

void make_node(ConvNode& c, const Case& k, int64_t stride = 1, int64_t dilation = 1, int64_t group = 1) {
  std::vector<ir::Value*> ins = {c.graph.add_value("x"), c.graph.add_value("w")};
  if (k.bias) ins.push_back(c.graph.add_value("b"));
  c.node = c.graph.add_node("Conv", ins, {c.graph.add_value("y")}, "wino_conv");
  c.node->opset = 17;
  c.node->attrs["pads"] = ir::Attribute::of_ints({k.pads[0], k.pads[1], k.pads[2], k.pads[3]});
  c.node->attrs["strides"] = ir::Attribute::of_ints({stride, stride});
  c.node->attrs["dilations"] = ir::Attribute::of_ints({dilation, dilation});
  c.node->attrs["group"] = ir::Attribute::of_int(group);
  if (std::string(k.act) == "Relu") c.node->attrs["joule.activation"] = ir::Attribute::of_string("Relu");
  if (std::string(k.act) == "Clip") {
    c.node->attrs["joule.activation"] = ir::Attribute::of_string("Clip");
    c.node->attrs["joule.clip_min"] = ir::Attribute::of_float(-0.5f);
    c.node->attrs["joule.clip_max"] = ir::Attribute::of_float(0.75f);
  }
}

KernelQuery query(const ConvNode& c, const std::vector<Tensor>& in, bool const_w) {
  return test::query_for(*c.node, in, const_w);
}

Status run(const KernelDef& k, const ConvNode& c, const std::vector<Tensor>& in, bool const_w, ThreadPool* pool,
           const Shape& out_shape, Tensor& out) {
  return test::prepare_and_run(k, *c.node, in, const_w, pool, out_shape, out);
}

std::vector<const KernelDef*> winograd_kernels() {
  std::vector<const KernelDef*> ks;
  for (const KernelDef* k : KernelRegistry::builtin().all())
    if (k->op_type == "Conv" && k->name.rfind("conv_f32_winograd", 0) == 0) ks.push_back(k);
  return ks;
}

// The runnable Winograd kernels; prints why the others are skipped.
std::vector<const KernelDef*> runnable_kernels() {
  std::vector<const KernelDef*> ks;
  for (const KernelDef* k : winograd_kernels()) {
    if (k->isa > max_isa()) {
      std::printf("[ winograd ] SKIP %s: needs %s, this CPU (or JOULE_ISA) allows %s\n", k->name.c_str(),
                  std::string(isa_name(k->isa)).c_str(), std::string(isa_name(max_isa())).c_str());
      continue;
    }
    ks.push_back(k);
  }
  return ks;
}

}  // namespace

TEST(ConvWinograd, MatchesReferenceOnOddShapes) {
  const std::vector<const KernelDef*> ks = runnable_kernels();
  if (winograd_kernels().empty()) GTEST_SKIP() << "built without the SIMD kernels (JOULE_SIMD=OFF)";
  if (ks.empty()) GTEST_SKIP() << "no Winograd kernel runs at ISA " << isa_name(max_isa());
  const KernelDef* ref = KernelRegistry::builtin().reference("", "Conv");
  ASSERT_NE(ref, nullptr);
  // run() takes any channel count and plane; accepts() only picks the shapes where it pays.
  const Case cases[] = {
      {1, 1, 1, 1, 1, {1, 1, 1, 1}, false, ""},
      {3, 3, 17, 3, 3, {1, 1, 1, 1}, true, "Relu"},
      {1, 17, 3, 17, 17, {1, 1, 1, 1}, true, "Clip"},
      {1, 17, 17, 31, 31, {1, 1, 1, 1}, true, ""},
      {3, 17, 1, 31, 17, {0, 0, 0, 0}, false, "Relu"},
      {1, 3, 17, 17, 31, {0, 1, 2, 0}, true, ""},   // asymmetric pads
      {1, 17, 3, 1, 31, {1, 2, 1, 2}, true, "Clip"},
      {1, 64, 33, 15, 37, {1, 1, 1, 1}, true, "Relu"},  // one tile row of 10 groups: fast paths and edges
      {1, 255, 17, 5, 3, {1, 1, 1, 1}, false, ""},  // deep reduction on a tiny plane
      {1, 65, 18, 7, 7, {1, 1, 1, 1}, true, "Relu"},  // ResNet's 7x7 stage shape class (F(2x2) picks it)
      {1, 17, 19, 14, 14, {1, 1, 1, 1}, true, ""},    // 16 tiles of 4x4: the AVX-512 kernels take 6x16 panels
      {1, 33, 24, 29, 27, {1, 1, 1, 1}, false, "Relu"},  // 56 tiles of 4x4, OC 24: 12x32 panels (64 x 24 either way)
      {1, 19, 13, 32, 32, {1, 1, 1, 1}, true, "Clip"},   // 64 tiles, OC 13: 6x16 panels (rows 24 vs 18)
  };
  std::mt19937 rng(2024);
  ThreadPool pool1(1), pool2(2), pool3(3);
  for (const KernelDef* k : ks) {
    double worst = 0;
    for (const Case& c : cases) {
      for (bool const_w : {true, false}) {
        ConvNode node;
        make_node(node, c);
        std::vector<Tensor> in = {random_f32({c.n, c.ic, c.h, c.w}, rng), random_f32({c.oc, c.ic, 3, 3}, rng)};
        if (c.bias) in.push_back(random_f32({c.oc}, rng));
        const Shape out_shape = {c.n, c.oc, c.h + c.pads[0] + c.pads[2] - 2, c.w + c.pads[1] + c.pads[3] - 2};
        SCOPED_TRACE(k->name + " x[" + std::to_string(c.n) + "," + std::to_string(c.ic) + "," + std::to_string(c.h) + "," +
                     std::to_string(c.w) + "] oc " + std::to_string(c.oc) + " " + c.act + (const_w ? " const W" : " W per run"));
        Tensor want, got1, got2, got3;
        ASSERT_TRUE(run(*ref, node, in, false, nullptr, out_shape, want).is_ok());
        for (int64_t i = 0; i < want.numel(); ++i) {
          float& v = want.data<float>()[i];
          if (std::string(c.act) == "Relu") v = std::max(v, 0.0f);
          if (std::string(c.act) == "Clip") v = std::min(std::max(v, -0.5f), 0.75f);
        }
        Status s = run(*k, node, in, const_w, &pool1, out_shape, got1);
        ASSERT_TRUE(s.is_ok()) << s.message();
        ASSERT_TRUE(run(*k, node, in, const_w, &pool2, out_shape, got2).is_ok());
        ASSERT_TRUE(run(*k, node, in, const_w, &pool3, out_shape, got3).is_ok());
        EXPECT_EQ(std::memcmp(got1.raw(), got2.raw(), got1.nbytes()), 0) << "1 and 2 threads differ";
        EXPECT_EQ(std::memcmp(got1.raw(), got3.raw(), got1.nbytes()), 0) << "1 and 3 threads differ";
        const double e = rel_error(got1, want);
        worst = std::max(worst, e);
        EXPECT_LE(e, kBound);
      }
    }
    std::printf("[ winograd ] %s: worst rel. error %.3g (bound %.g)\n", k->name.c_str(), worst, kBound);
  }
}

TEST(ConvWinograd, AcceptsOnlyEligibleShapes) {
  if (winograd_kernels().empty()) GTEST_SKIP() << "built without the SIMD kernels (JOULE_SIMD=OFF)";
  std::mt19937 rng(5);
  // want4 / want2: F(4x4, 3x3) / F(2x2, 3x3) kernels take it.
  struct A { Case c; int64_t stride, dilation, group, k; bool want4, want2; const char* what; };
  const A as[] = {
      {{1, 64, 64, 56, 56, {1, 1, 1, 1}, true, "Relu"}, 1, 1, 1, 3, true, false, "ResNet 64->64 at 56x56"},
      {{1, 256, 256, 14, 14, {1, 1, 1, 1}, true, ""}, 1, 1, 1, 3, true, false, "ResNet 256->256 at 14x14 (16 tiles of 4x4)"},
      {{1, 512, 64, 7, 7, {1, 1, 1, 1}, true, "Relu"}, 1, 1, 1, 3, false, true, "7x7 plane, 512->64 (16 tiles of 2x2)"},
      {{1, 32, 64, 7, 7, {1, 1, 1, 1}, true, ""}, 1, 1, 1, 3, false, false, "7x7 plane, 32 input channels"},
      {{1, 64, 64, 56, 56, {1, 1, 1, 1}, true, ""}, 2, 1, 1, 3, false, false, "stride 2"},
      {{1, 64, 64, 56, 56, {2, 2, 2, 2}, true, ""}, 1, 2, 1, 3, false, false, "dilation 2"},
      {{1, 64, 64, 56, 56, {1, 1, 1, 1}, true, ""}, 1, 1, 2, 3, false, false, "group 2"},
      {{1, 64, 64, 56, 56, {2, 2, 2, 2}, true, ""}, 1, 1, 1, 5, false, false, "5x5"},
      {{1, 3, 64, 56, 56, {1, 1, 1, 1}, true, ""}, 1, 1, 1, 3, false, false, "3 input channels"},
      {{1, 64, 64, 3, 3, {1, 1, 1, 1}, true, ""}, 1, 1, 1, 3, false, false, "3x3 plane"},
  };
  for (const KernelDef* k : winograd_kernels())
    for (const A& a : as) {
      ConvNode node;
      make_node(node, a.c, a.stride, a.dilation, a.group);
      std::vector<Tensor> in = {random_f32({a.c.n, a.c.ic, a.c.h, a.c.w}, rng), random_f32({a.c.oc, a.c.ic / a.group, a.k, a.k}, rng)};
      if (a.c.bias) in.push_back(random_f32({a.c.oc}, rng));
      const bool f2 = k->name.find("_f2x2_") != std::string::npos;
      EXPECT_EQ(k->accepts(query(node, in, true)), f2 ? a.want2 : a.want4) << k->name << ": " << a.what;
    }
}

TEST(ConvWinograd, BadInputIsAnErrorNamingTheNode) {
  const std::vector<const KernelDef*> ks = runnable_kernels();
  if (ks.empty()) GTEST_SKIP() << "no Winograd kernel runs at ISA " << isa_name(max_isa());
  std::mt19937 rng(9);
  ConvNode node;
  make_node(node, {1, 16, 16, 8, 8, {1, 1, 1, 1}, false, ""});
  // Weight with 17 input channels for an input with 16.
  std::vector<Tensor> in = {random_f32({1, 16, 8, 8}, rng), random_f32({16, 17, 3, 3}, rng)};
  Tensor out;
  Status s = run(*ks[0], node, in, true, nullptr, {1, 16, 8, 8}, out);
  EXPECT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("wino_conv"), std::string::npos) << s.message();
}
