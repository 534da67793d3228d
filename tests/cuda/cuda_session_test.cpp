// Session with device "cuda": on a machine without CUDA (or a build without it) creating the session fails
// with a clear message instead of crashing; with a device it matches the CPU session, including the
// replays through the captured CUDA graph. Also: `inspect --device cuda`'s coverage query.
#include <gtest/gtest.h>

#include <random>

#include "joule/session.h"
#ifdef JOULE_WITH_CUDA
#include "kernels/cuda/cuda_context.h"
#endif
#include "runtime/cuda_plan.h"
#include "runtime/ir/graph.h"
#include "runtime/passes/passes.h"

namespace joule {
namespace {

// y = Softmax(Relu(x @ W + b)) @ W2, x: f32 [17, 33], then LayerNormalization and Transpose.
ir::Graph make_mlp_graph(uint32_t seed) {
  ir::Graph g;
  g.opset_imports[""] = 17;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1, 1);
  auto weights = [&](Shape s) {
    Tensor t(DType::kF32, s);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
    return t;
  };
  ir::Value* x = g.add_value("x");
  x->desc = {DType::kF32, {17, 33}, true};
  g.inputs.push_back(x);
  ir::Value* w = g.add_constant("w", weights({33, 255}));
  ir::Value* b = g.add_constant("b", weights({255}));
  ir::Value* w2 = g.add_constant("w2", weights({255, 3}));
  ir::Value* scale = g.add_constant("scale", weights({3}));
  ir::Value *h = g.add_value("h"), *hb = g.add_value("hb"), *r = g.add_value("r"), *s = g.add_value("s"), *o = g.add_value("o"),
            *ln = g.add_value("ln"), *y = g.add_value("y");
  g.add_node("MatMul", {x, w}, {h}, "mm1");
  g.add_node("Add", {h, b}, {hb}, "bias");
  g.add_node("Relu", {hb}, {r}, "relu");
  g.add_node("Softmax", {r}, {s}, "softmax")->opset = 17;
  g.add_node("MatMul", {s, w2}, {o}, "mm2");
  g.add_node("LayerNormalization", {o, scale}, {ln}, "ln")->attrs["axis"] = ir::Attribute::of_int(-1);
  g.add_node("Transpose", {ln}, {y}, "t");
  g.outputs.push_back(y);
  for (auto& n : g.nodes) n->opset = 17;
  return g;
}

Tensor random_input(uint32_t seed) {
  Tensor t(DType::kF32, {17, 33});
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-2, 2);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
  return t;
}

TEST(CudaSession, DeviceCudaIsClearErrorWithoutGpuElseMatchesCpu) {
  SessionOptions opts;
  opts.device = "cuda";
  std::unique_ptr<Session> gpu;
  Status st = Session::create(make_mlp_graph(5), opts, gpu);
  Status avail = CudaPlan::available();
  if (!avail.is_ok()) {
    ASSERT_FALSE(st.is_ok());
    EXPECT_EQ(st.message(), avail.message());
    const bool clear = st.message().find("built without CUDA") != std::string::npos ||
                       st.message().find("no CUDA device: ") != std::string::npos;
    EXPECT_TRUE(clear) << st.message();
    GTEST_SKIP() << "device 'cuda' refused as expected: " << st.message();
  }
  ASSERT_TRUE(st.is_ok()) << st.message();
  for (auto& [label, kernel] : gpu->stats().kernel_for_node)
    EXPECT_EQ(kernel.find("CPU fallback"), std::string::npos) << label << " -> " << kernel;
  std::unique_ptr<Session> cpu = Session::from_graph(make_mlp_graph(5));
  for (uint32_t seed : {1u, 2u, 3u, 4u}) {  // run 2 captures the CUDA graph, runs 3 and 4 replay it
    Tensor x = random_input(seed);
    std::vector<Tensor> want = cpu->run(std::vector<Tensor>{x}), got = gpu->run(std::vector<Tensor>{x});
    ASSERT_EQ(got.size(), 1u);
    ASSERT_EQ(got[0].shape(), want[0].shape());
    for (int64_t i = 0; i < want[0].numel(); ++i)
      EXPECT_NEAR(got[0].data<float>()[i], want[0].data<float>()[i], 1e-4) << "run " << seed << " element " << i;
  }
  // Static shapes: another batch size is refused with the planned shape named.
  std::vector<Tensor> out;
  st = gpu->run({{"x", Tensor(DType::kF32, {3, 33})}}, out);
  EXPECT_FALSE(st.is_ok());
}

TEST(CudaSession, UnknownDeviceIsRefused) {
  SessionOptions opts;
  opts.device = "tpu";
  std::unique_ptr<Session> s;
  Status st = Session::create(make_mlp_graph(5), opts, s);
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("unknown device 'tpu'"), std::string::npos) << st.message();
}

TEST(CudaSession, InspectCoverageNamesACudaKernelPerNode) {
  ir::Graph g = make_mlp_graph(5);
  ASSERT_TRUE(passes::infer_shapes(g, {}).is_ok());
  std::vector<std::pair<std::string, std::string>> cov;
  Status st = CudaPlan::coverage(g, cov);
#ifndef JOULE_WITH_CUDA
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("built without CUDA"), std::string::npos) << st.message();
  GTEST_SKIP() << st.message();
#else
  ASSERT_TRUE(st.is_ok()) << st.message();
  ASSERT_EQ(cov.size(), g.nodes.size());
  for (auto& [label, kernel] : cov) EXPECT_FALSE(kernel.empty()) << label << " has no CUDA kernel";
  EXPECT_EQ(cov[0].second, "matmul_f32_f16__cublas");
#endif
}

#ifdef JOULE_WITH_CUDA
// cuBLAS, cuBLASLt and cuDNN are dlopen'ed, not linked: every symbol joule resolves must exist in the
// installed libraries (checked without a device; a typo would otherwise surface only on a GPU).
TEST(CudaSession, GpuLibrariesLoadWithEveryEntryPoint) {
  Status st = kernels::cuda::load_gpu_libraries();
  EXPECT_TRUE(st.is_ok()) << st.message();
}
#endif

}  // namespace
}  // namespace joule
