// f32 3x3 Conv, one thread: im2col GEMM kernel (conv_f32_gemm_*) vs Winograd F(4x4, 3x3) and F(2x2, 3x3)
// (conv_f32_winograd_f4x4_* / _f2x2_*; "accepted" says whether the kernel would be picked for the shape) on ResNet-50's 3x3 stride-1 shapes, weights prepared once (as in a
// session). GFLOP/s counts the direct conv's 2*OC*IC*9*OH*OW flops for both, so it is "effective".
// Run: build/bin/joule_conv_bench  (add --benchmark_filter=winograd etc.)
#include <benchmark/benchmark.h>

#include <random>
#include <string>

#include "kernels/kernel_registry.h"
#include "runtime/cpu_features.h"
#include "runtime/ir/graph.h"

using namespace joule;
using namespace joule::kernels;

namespace {

const KernelDef* kernel_named(const std::string& name) {
  for (const KernelDef* k : KernelRegistry::builtin().all())
    if (k->name == name) return k;
  return nullptr;
}

Tensor random_f32(const Shape& s, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  Tensor t(DType::kF32, s);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
  return t;
}

// args: channels (IC = OC), plane (H = W), pads 1, bias + fused Relu.
void BM_conv3x3(benchmark::State& st, const char* kernel) {
  const KernelDef* k = kernel_named(kernel);
  if (!k || k->isa > max_isa()) {
    st.SkipWithError("kernel not built or this CPU lacks its ISA");
    return;
  }
  const int64_t c = st.range(0), hw = st.range(1);
  ir::Graph g;
  ir::Node* node = g.add_node("Conv", {g.add_value("x"), g.add_value("w"), g.add_value("b")}, {g.add_value("y")}, "conv");
  node->opset = 17;
  node->attrs["pads"] = ir::Attribute::of_ints({1, 1, 1, 1});
  node->attrs["joule.activation"] = ir::Attribute::of_string("Relu");
  Tensor x = random_f32({1, c, hw, hw}, 1), w = random_f32({c, c, 3, 3}, 2), b = random_f32({c}, 3), y(DType::kF32, {1, c, hw, hw});
  KernelQuery q{*node, {TensorDesc::known(DType::kF32, x.shape()), TensorDesc::known(DType::kF32, w.shape()), TensorDesc::known(DType::kF32, b.shape())},
                {nullptr, &w, &b}};
  st.counters["accepted"] = !k->accepts || k->accepts(q) ? 1 : 0;
  std::shared_ptr<const void> state;
  if (k->prepare && !k->prepare(q, state).is_ok()) {
    st.SkipWithError("prepare failed");
    return;
  }
  for (auto _ : st) {
    KernelContext ctx{*node, {&x, &w, &b}, {&y}, nullptr, state.get()};
    benchmark::DoNotOptimize(k->run(ctx));
  }
  st.counters["GFLOP/s"] = benchmark::Counter(2.0 * c * c * 9 * hw * hw * static_cast<double>(st.iterations()), benchmark::Counter::kIsRate,
                                              benchmark::Counter::kIs1000);
}

void resnet_shapes(benchmark::internal::Benchmark* b) {
  b->Args({64, 56})->Args({128, 28})->Args({256, 14})->Args({512, 7})->Unit(benchmark::kMillisecond);
}

}  // namespace

BENCHMARK_CAPTURE(BM_conv3x3, im2col_avx2, "conv_f32_gemm_6x16__avx2")->Apply(resnet_shapes);
BENCHMARK_CAPTURE(BM_conv3x3, winograd_avx2, "conv_f32_winograd_f4x4_6x16__avx2")->Apply(resnet_shapes);
BENCHMARK_CAPTURE(BM_conv3x3, winograd_f2x2_avx2, "conv_f32_winograd_f2x2_6x16__avx2")->Apply(resnet_shapes);
BENCHMARK_CAPTURE(BM_conv3x3, im2col_avx512, "conv_f32_gemm_12x32__avx512")->Apply(resnet_shapes);
BENCHMARK_CAPTURE(BM_conv3x3, winograd_avx512, "conv_f32_winograd_f4x4_12x32__avx512")->Apply(resnet_shapes);
BENCHMARK_CAPTURE(BM_conv3x3, winograd_f2x2_avx512, "conv_f32_winograd_f2x2_12x32__avx512")->Apply(resnet_shapes);
BENCHMARK_MAIN();
