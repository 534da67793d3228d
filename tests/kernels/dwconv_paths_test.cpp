// Depthwise Conv kernel (kernels/cpu/dwconv_f32*.cpp) against the reference Conv on seeded random data
// with odd shapes, each of its paths forced in turn (JOULE_DWCONV_PATH=c8|rows|wide|z16, z16 = the AVX-512
// kernel's in-place 3x3; a path that cannot run a geometry falls back to c8) and the automatic choice: channels 1/3/17/255, planes 1..57,
// pads (symmetric and asymmetric), strides 1/2, with and without bias, fused Relu / Clip; 1, 2 and 3
// threads bitwise identical. Every registered variant (dwconv_f32__avx2, dwconv_f32__avx512) runs at every
// ISA this CPU allows (JOULE_ISA lowers it; a variant it cannot run is skipped with a printed message).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
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
  int64_t n, c, h, w, k, stride;
  int64_t pads[4];  // top, left, bottom, right
  bool bias;
  const char* act;  // "", "Relu", "Clip"
};

struct DwNode {
  ir::Graph graph;
  ir::Node* node = nullptr;
};

void make_node(DwNode& d, const Case& k) {
  std::vector<ir::Value*> ins = {d.graph.add_value("x"), d.graph.add_value("w")};
  if (k.bias) ins.push_back(d.graph.add_value("b"));
  d.node = d.graph.add_node("Conv", ins, {d.graph.add_value("y")}, "dw_conv");
  d.node->opset = 17;
  d.node->attrs["pads"] = ir::Attribute::of_ints({k.pads[0], k.pads[1], k.pads[2], k.pads[3]});
  d.node->attrs["strides"] = ir::Attribute::of_ints({k.stride, k.stride});
  d.node->attrs["group"] = ir::Attribute::of_int(k.c);
  if (std::string(k.act) == "Relu") d.node->attrs["joule.activation"] = ir::Attribute::of_string("Relu");
  if (std::string(k.act) == "Clip") {
    d.node->attrs["joule.activation"] = ir::Attribute::of_string("Clip");
    d.node->attrs["joule.clip_min"] = ir::Attribute::of_float(0.0f);
    d.node->attrs["joule.clip_max"] = ir::Attribute::of_float(0.6f);
  }
}

Status run(const KernelDef& k, const DwNode& d, const std::vector<Tensor>& in, bool const_w, ThreadPool* pool,
           const Shape& out_shape, Tensor& out) {
  return test::prepare_and_run(k, *d.node, in, const_w, pool, out_shape, out);
}

std::vector<const KernelDef*> dw_kernels() {
  std::vector<const KernelDef*> out;
  for (const KernelDef* k : KernelRegistry::builtin().all())
    if (k->op_type == "Conv" && k->name.rfind("dwconv", 0) == 0) out.push_back(k);
  return out;
}

struct PathEnv {
  explicit PathEnv(const char* p) {
    if (p) {
      setenv("JOULE_DWCONV_PATH", p, 1);
    } else {
      unsetenv("JOULE_DWCONV_PATH");
    }
  }
  ~PathEnv() { unsetenv("JOULE_DWCONV_PATH"); }
};

}  // namespace

void check_kernel(const KernelDef& kd);

TEST(DwConvPaths, MatchReferenceOnOddShapes) {
  const auto kernels = dw_kernels();
  if (kernels.empty()) GTEST_SKIP() << "built without the SIMD kernels (JOULE_SIMD=OFF)";
  int ran = 0;
  for (const KernelDef* k : kernels) {
    if (k->isa > max_isa()) {
      std::printf("[ dwconv ] %s skipped: needs %s, this CPU (or JOULE_ISA) allows %s\n", k->name.c_str(),
                  std::string(isa_name(k->isa)).c_str(), std::string(isa_name(max_isa())).c_str());
      continue;
    }
    ++ran;
    SCOPED_TRACE(k->name);
    check_kernel(*k);
  }
  if (ran == 0) GTEST_SKIP() << "no depthwise kernel variant runs at " << isa_name(max_isa());
}

void check_kernel(const KernelDef& kd) {
  const KernelDef* k = &kd;
  const KernelDef* ref = KernelRegistry::builtin().reference("", "Conv");
  ASSERT_NE(ref, nullptr);
  const Case cases[] = {
      {1, 1, 1, 1, 3, 1, {1, 1, 1, 1}, false, ""},
      {1, 3, 3, 3, 3, 1, {1, 1, 1, 1}, true, "Clip"},
      {1, 3, 3, 3, 3, 2, {1, 1, 1, 1}, true, "Relu"},
      {1, 17, 17, 17, 3, 1, {1, 1, 1, 1}, true, "Clip"},   // MobileNet block, rows kernel (OW 17: 2 chunks, tail 1)
      {2, 17, 17, 17, 3, 2, {1, 1, 1, 1}, true, "Clip"},   // stride 2, OW 9
      {1, 255, 7, 7, 3, 1, {1, 1, 1, 1}, true, "Clip"},    // late 7x7 plane, channel tail of 7
      {1, 255, 14, 14, 3, 2, {0, 0, 1, 1}, false, "Relu"}, // TF-style asymmetric pads, stride 2
      {1, 17, 1, 17, 3, 1, {1, 1, 1, 1}, true, ""},        // one row
      {1, 3, 17, 1, 3, 2, {1, 1, 1, 1}, true, ""},         // one column
      {1, 3, 19, 23, 3, 1, {0, 2, 1, 0}, true, "Relu"},    // asymmetric pads
      {1, 5, 57, 56, 3, 2, {1, 1, 1, 1}, true, "Clip"},    // odd input rows, stride 2, OW 28
      {1, 3, 33, 35, 3, 1, {1, 1, 1, 1}, false, "Clip"},   // wide plane (wide path eligible)
      {1, 17, 13, 12, 5, 1, {2, 2, 2, 2}, true, ""},       // 5x5: c8 (rows cannot), wide when forced
      {1, 4, 9, 9, 3, 3, {1, 1, 1, 1}, true, ""},          // stride 3: c8 only
      {1, 3, 40, 37, 3, 2, {1, 1, 1, 1}, true, "Relu"},    // z16 stride 2: OW 19 = 16 + 3, right edge in 2nd chunk
      {1, 2, 7, 33, 3, 1, {0, 1, 2, 1}, true, "Clip"},     // z16 stride 1: OW 33 = 2 chunks + 1, bottom pad 2
      {1, 3, 6, 5, 3, 2, {2, 2, 2, 2}, false, ""},         // pads 2 on every side at stride 2
  };
  std::mt19937 rng(31);
  ThreadPool pool1(1), pool2(2), pool3(3);
  const char* paths[] = {nullptr, "c8", "rows", "wide", "z16"};
  double worst = 0;
  for (const Case& c : cases) {
    DwNode node;
    make_node(node, c);
    std::vector<Tensor> in = {random_f32({c.n, c.c, c.h, c.w}, rng), random_f32({c.c, 1, c.k, c.k}, rng)};
    if (c.bias) in.push_back(random_f32({c.c}, rng));
    const int64_t oh = (c.h + c.pads[0] + c.pads[2] - c.k) / c.stride + 1, ow = (c.w + c.pads[1] + c.pads[3] - c.k) / c.stride + 1;
    const Shape out_shape = {c.n, c.c, oh, ow};
    Tensor want;
    ASSERT_TRUE(run(*ref, node, in, false, nullptr, out_shape, want).is_ok());
    for (int64_t i = 0; i < want.numel(); ++i) {
      float& v = want.data<float>()[i];
      if (std::string(c.act) == "Relu") v = std::max(v, 0.0f);
      if (std::string(c.act) == "Clip") v = std::min(std::max(v, 0.0f), 0.6f);
    }
    for (const char* path : paths)
      for (bool const_w : {true, false}) {
        PathEnv env(path);
        SCOPED_TRACE(std::string(path ? path : "auto") + " x[" + std::to_string(c.n) + "," + std::to_string(c.c) + "," +
                     std::to_string(c.h) + "," + std::to_string(c.w) + "] k" + std::to_string(c.k) + " s" +
                     std::to_string(c.stride) + " " + c.act + (const_w ? " const W" : " W per run"));
        Tensor got1, got2, got3;
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
  std::printf("[ dwconv ] %s, all paths: worst rel. error %.3g (bound %.g)\n", k->name.c_str(), worst, kBound);
}
