// FP32 elementwise / activation / Softmax / LayerNormalization / Transpose / pooling kernels, one thread: the
// reference kernel of each op against every optimized kernel of it this CPU can run (looked up in the
// kernel registry, so the numbers are for the code the sessions run). Reports GB/s (bytes read + written
// once) and elements/s, at cache-resident sizes (16K, 256K floats) and a memory-bound one (4M floats).
// Run: build-ew/bin/joule_elementwise_bench [--benchmark_filter=Gelu]
#include <benchmark/benchmark.h>

#include <memory>
#include <random>
#include <vector>

#include "kernels/kernel_registry.h"
#include "runtime/cpu_features.h"

using namespace joule;

namespace {

Tensor random_f32(const Shape& s, unsigned seed) {
  Tensor t(DType::kF32, s);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-3.0f, 3.0f);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
  return t;
}

// One benchmarked op: inputs, output shape, attributes; bytes = sum of input and output sizes.
struct OpCase {
  std::string label, op;
  std::vector<Shape> inputs;
  Shape out;
  std::vector<std::pair<std::string, ir::Attribute>> attrs;
};

void run_case(benchmark::State& st, const OpCase& oc, const kernels::KernelDef* k) {
  ir::Graph g;
  std::vector<ir::Value*> ins;
  std::vector<Tensor> tensors;
  for (size_t i = 0; i < oc.inputs.size(); ++i) {
    ins.push_back(g.add_value("in" + std::to_string(i)));
    tensors.push_back(random_f32(oc.inputs[i], static_cast<unsigned>(i + 1)));
  }
  ir::Node* node = g.add_node(oc.op, ins, {g.add_value("out")}, "bench");
  node->opset = 17;
  for (auto& [n, a] : oc.attrs) node->attrs[n] = a;
  Tensor out(DType::kF32, oc.out);
  kernels::KernelQuery q{*node, {}, {}};
  for (const Tensor& t : tensors) {
    q.inputs.push_back(ir::TensorDesc::known(t.dtype(), t.shape()));
    q.constant_inputs.push_back(nullptr);
  }
  if (k->accepts && !k->accepts(q)) {
    st.SkipWithError("kernel refuses the case");
    return;
  }
  std::shared_ptr<const void> state;
  if (k->prepare && !k->prepare(q, state).is_ok()) {
    st.SkipWithError("prepare failed");
    return;
  }
  kernels::KernelContext ctx{*node, {}, {&out}, nullptr, state.get()};
  for (const Tensor& t : tensors) ctx.inputs.push_back(&t);
  for (auto _ : st) benchmark::DoNotOptimize(k->run(ctx));
  int64_t bytes = out.nbytes();
  for (const Tensor& t : tensors) bytes += t.nbytes();
  st.SetBytesProcessed(st.iterations() * bytes);
  st.SetItemsProcessed(st.iterations() * out.numel());
}

std::vector<OpCase> cases() {
  std::vector<OpCase> cs;
  for (int64_t n : {int64_t{16384}, int64_t{256} << 10, int64_t{4} << 20}) {
    const std::string sz = n < 100000 ? "16K" : (n < 1000000 ? "256K" : "4M");
    cs.push_back({"Add/same/" + sz, "Add", {{n}, {n}}, {n}, {}});
    cs.push_back({"Add/bias/" + sz, "Add", {{n / 256, 256}, {256}}, {n / 256, 256}, {}});
    cs.push_back({"Mul/scalar/" + sz, "Mul", {{n}, {}}, {n}, {}});
    for (const char* op : {"Relu", "Sigmoid", "Tanh", "Erf", "Gelu", "Exp"}) cs.push_back({std::string(op) + "/" + sz, op, {{n}}, {n}, {}});
    cs.push_back({"Softmax/rows128/" + sz, "Softmax", {{n / 128, 128}}, {n / 128, 128}, {}});
    cs.push_back({"LayerNormalization/rows384/" + sz, "LayerNormalization", {{n / 384, 384}, {384}, {384}}, {n / 384, 384}, {}});
    cs.push_back({"Transpose/0213/" + sz, "Transpose", {{4, n / 4096, 16, 64}}, {4, 16, n / 4096, 64},
                  {{"perm", ir::Attribute::of_ints({0, 2, 1, 3})}}});
    cs.push_back({"Transpose/2d/" + sz, "Transpose", {{n / 256, 256}}, {256, n / 256}, {}});
  }
  // ResNet stem pool (64 x 112 x 112 -> 56 x 56, 3x3 stride 2 pad 1) and a 2x2 stride 2 average pool.
  const std::vector<std::pair<std::string, ir::Attribute>> stem = {{"kernel_shape", ir::Attribute::of_ints({3, 3})},
                                                                   {"strides", ir::Attribute::of_ints({2, 2})},
                                                                   {"pads", ir::Attribute::of_ints({1, 1, 1, 1})}};
  cs.push_back({"MaxPool/3x3s2/64x112x112", "MaxPool", {{1, 64, 112, 112}}, {1, 64, 56, 56}, stem});
  cs.push_back({"AveragePool/2x2s2/64x56x56", "AveragePool", {{1, 64, 56, 56}}, {1, 64, 28, 28},
                {{"kernel_shape", ir::Attribute::of_ints({2, 2})}, {"strides", ir::Attribute::of_ints({2, 2})}}});
  return cs;
}

}  // namespace

int main(int argc, char** argv) {
  static const std::vector<OpCase> all = cases();
  const kernels::KernelRegistry& reg = kernels::KernelRegistry::builtin();
  for (const OpCase& oc : all) {
    for (const kernels::KernelDef* k : reg.all()) {
      if (k->device != kernels::Device::kCpu || k->op_type != oc.op || k->domain != "") continue;
      if (k->isa > max_isa()) continue;  // not runnable here
      benchmark::RegisterBenchmark((oc.label + "/" + k->name).c_str(), [&oc, k](benchmark::State& st) { run_case(st, oc, k); })
          ->Unit(benchmark::kMicrosecond);
    }
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
