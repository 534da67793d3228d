// Pointwise Conv kernel (kernels/cpu/conv1x1_f32*.cpp) against the reference Conv on seeded random data
// with odd shapes: channels 1/3/17/255, planes whose pixel count leaves 0, 1, 4 (column kernel) or 5..15
// (padded strip) pixels after the 16-pixel strips, batch 2, with and without bias, fused Relu / Clip,
// weights prepared and per run; 1, 2 and 3 threads bitwise identical; accepts() only 1x1 / stride 1 /
// no pads / group 1. Every registered variant (6x16 AVX2, 12x32 AVX-512) runs in turn; a variant this CPU
// (or JOULE_ISA) cannot run is skipped with a printed message. Cases with M <= 64 and full 32-pixel strips
// (M 17 on 289 pixels, M 16 on 256) cover the AVX-512 in-place strips; M 96 the packed ones.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
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

constexpr double kBound = 2e-5;  // relative to |ref| + mean|ref|, as the oracle

struct Case {
  int64_t n, k, m, h, w;
  bool bias;
  const char* act;
};

struct ConvNode {
  ir::Graph graph;
  ir::Node* node = nullptr;
};

void make_node(ConvNode& c, bool bias, const char* act, int64_t kernel = 1, int64_t stride = 1, int64_t pad = 0,
               int64_t group = 1) {
  std::vector<ir::Value*> ins = {c.graph.add_value("x"), c.graph.add_value("w")};
  if (bias) ins.push_back(c.graph.add_value("b"));
  c.node = c.graph.add_node("Conv", ins, {c.graph.add_value("y")}, "pw_conv");
  c.node->opset = 17;
  c.node->attrs["kernel_shape"] = ir::Attribute::of_ints({kernel, kernel});
  c.node->attrs["pads"] = ir::Attribute::of_ints({pad, pad, pad, pad});
  c.node->attrs["strides"] = ir::Attribute::of_ints({stride, stride});
  c.node->attrs["group"] = ir::Attribute::of_int(group);
  if (std::string(act) == "Relu") c.node->attrs["joule.activation"] = ir::Attribute::of_string("Relu");
  if (std::string(act) == "Clip") {
    c.node->attrs["joule.activation"] = ir::Attribute::of_string("Clip");
    c.node->attrs["joule.clip_min"] = ir::Attribute::of_float(0.0f);
    c.node->attrs["joule.clip_max"] = ir::Attribute::of_float(1.5f);
  }
}

KernelQuery query(const ConvNode& c, const std::vector<Tensor>& in, bool const_w) {
  return test::query_for(*c.node, in, const_w);
}

Status run(const KernelDef& k, const ConvNode& c, const std::vector<Tensor>& in, bool const_w, ThreadPool* pool,
           const Shape& out_shape, Tensor& out) {
  return test::prepare_and_run(k, *c.node, in, const_w, pool, out_shape, out);
}

std::vector<const KernelDef*> pw_kernels() {
  std::vector<const KernelDef*> out;
  for (const KernelDef* k : KernelRegistry::builtin().all())
    if (k->op_type == "Conv" && k->name.rfind("conv1x1_f32", 0) == 0) out.push_back(k);
  return out;
}

const KernelDef* pw_kernel() {
  const auto all = pw_kernels();
  return all.empty() ? nullptr : all.front();
}

}  // namespace

TEST(Conv1x1, MatchesReferenceOnOddShapes) {
  const auto kernels = pw_kernels();
  if (kernels.empty()) GTEST_SKIP() << "built without the SIMD kernels (JOULE_SIMD=OFF)";
  int ran = 0;
  for (const KernelDef* k : kernels) {
    if (k->isa > max_isa()) {
      std::printf("[ conv1x1 ] %s skipped: needs %s, this CPU (or JOULE_ISA) allows %s\n", k->name.c_str(),
                  std::string(isa_name(k->isa)).c_str(), std::string(isa_name(max_isa())).c_str());
      continue;
    }
    ++ran;
    SCOPED_TRACE(k->name);
    const KernelDef* ref = KernelRegistry::builtin().reference("", "Conv");
    ASSERT_NE(ref, nullptr);
    const Case cases[] = {
        {1, 1, 1, 1, 1, false, ""},
        {1, 3, 17, 3, 3, true, "Relu"},        // 9 pixels: one padded strip
        {2, 17, 3, 1, 17, true, "Clip"},       // 17 pixels: strip + 1-pixel column, batch 2
        {1, 17, 255, 7, 7, true, "Clip"},      // 49 = 3 strips + 1 column (MobileNet 7x7 expand)
        {1, 255, 17, 7, 7, false, ""},         // deep K on 7x7 (project)
        {1, 255, 255, 17, 17, true, "Relu"},   // 289 = 18 strips + 1; X over L2: strips outer
        {1, 3, 17, 5, 4, true, ""},            // 20: strip + 4 columns
        {1, 17, 13, 3, 7, true, "Clip"},       // 21: strip + 5-pixel padded strip
        {1, 32, 16, 16, 16, true, ""},         // 256: whole strips only
        {1, 16, 96, 8, 8, true, "Clip"},       // 64: two 32-pixel strips; M 96 = 8 panels of 12
        {1, 24, 16, 5, 7, true, "Relu"},       // 35: AVX-512 32-strip + 3 columns; M 16 = 12 + 4 rows
        {1, 33, 20, 7, 7, true, "Clip"},       // 49: AVX-512 32 + 16-pixel tile + 1 column; M 20 = 12 + 8
        {1, 9, 29, 3, 9, false, ""},           // 27: AVX-512 one masked 27-pixel strip; M 29 = 12+12+8 (5 valid)
        {1, 40, 25, 2, 25, true, "Relu"},      // 50: AVX-512 32 + 16 + 2 columns; M 25 = 12+12+4 (1 valid)
        {2, 7, 13, 6, 7, true, ""},            // 42: AVX-512 32 + 10-pixel masked strip, batch 2
    };
    std::mt19937 rng(77);
    ThreadPool pool1(1), pool2(2), pool3(3);
    double worst = 0;
    for (const Case& c : cases)
      for (bool const_w : {true, false}) {
        ConvNode node;
        make_node(node, c.bias, c.act);
        std::vector<Tensor> in = {random_f32({c.n, c.k, c.h, c.w}, rng), random_f32({c.m, c.k, 1, 1}, rng)};
        if (c.bias) in.push_back(random_f32({c.m}, rng));
        const Shape out_shape = {c.n, c.m, c.h, c.w};
        SCOPED_TRACE("x[" + std::to_string(c.n) + "," + std::to_string(c.k) + "," + std::to_string(c.h) + "," + std::to_string(c.w) +
                     "] m " + std::to_string(c.m) + " " + c.act + (const_w ? " const W" : " W per run"));
        Tensor want, got1, got2, got3;
        ASSERT_TRUE(run(*ref, node, in, false, nullptr, out_shape, want).is_ok());
        for (int64_t i = 0; i < want.numel(); ++i) {
          float& v = want.data<float>()[i];
          if (std::string(c.act) == "Relu") v = std::max(v, 0.0f);
          if (std::string(c.act) == "Clip") v = std::min(std::max(v, 0.0f), 1.5f);
        }
        ASSERT_TRUE(k->accepts(query(node, in, const_w)));
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
    std::printf("[ conv1x1 ] %s: worst rel. error %.3g (bound %.g)\n", k->name.c_str(), worst, kBound);
  }
  if (ran == 0) GTEST_SKIP() << "no pointwise kernel variant runs at " << isa_name(max_isa());
}

TEST(Conv1x1, AcceptsOnlyPointwise) {
  const KernelDef* k = pw_kernel();
  if (!k) GTEST_SKIP() << "built without the SIMD kernels (JOULE_SIMD=OFF)";
  std::mt19937 rng(3);
  struct A { int64_t kernel, stride, pad, group; bool want; const char* what; };
  const A as[] = {
      {1, 1, 0, 1, true, "1x1"},     {3, 1, 1, 1, false, "3x3"},        {1, 2, 0, 1, false, "stride 2"},
      {1, 1, 1, 1, false, "padded"}, {1, 1, 0, 2, false, "group 2"},
  };
  for (const A& a : as) {
    ConvNode node;
    make_node(node, true, "", a.kernel, a.stride, a.pad, a.group);
    std::vector<Tensor> in = {random_f32({1, 4, 5, 5}, rng), random_f32({6, 4 / a.group, a.kernel, a.kernel}, rng), random_f32({6}, rng)};
    EXPECT_EQ(k->accepts(query(node, in, true)), a.want) << a.what;
  }
}

TEST(Conv1x1, MismatchedShapesAreAnErrorNamingTheNode) {
  const KernelDef* k = pw_kernel();
  if (!k) GTEST_SKIP() << "built without the SIMD kernels (JOULE_SIMD=OFF)";
  if (k->isa > max_isa()) GTEST_SKIP() << k->name << " needs " << isa_name(k->isa);
  std::mt19937 rng(4);
  ConvNode node;
  make_node(node, false, "");
  std::vector<Tensor> in = {random_f32({1, 5, 3, 3}, rng), random_f32({4, 6, 1, 1}, rng)};
  Tensor out;
  Status s = run(*k, node, in, false, nullptr, {1, 4, 3, 3}, out);
  EXPECT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("pw_conv"), std::string::npos) << s.message();
}
