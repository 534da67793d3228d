// Micro-benchmarks with energy: Conv and MatMul run through a Session (so the kernel registry picks
// the kernel, the reference one with isa=scalar), reporting joules per iteration as a user counter.
// The meter is the best available (RAPL, perf power PMU, else the labelled estimate); its
// description is printed as the benchmark label, so estimated figures are never mistaken for
// measured ones.
#include <benchmark/benchmark.h>

#include <memory>
#include <random>
#include <string>

#include "joule/session.h"
#include "runtime/energy/energy_meter.h"
#include "runtime/ir/graph.h"

using namespace joule;

namespace {

energy::EnergyMeter& meter() {
  static std::unique_ptr<energy::EnergyMeter> m = [] {
    std::vector<std::string> notes;
    return energy::choose_meter({"cpu", 0, 1}, notes);
  }();
  return *m;
}

Tensor random_tensor(Shape shape, uint32_t seed) {
  Tensor t(DType::kF32, shape);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1, 1);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
  return t;
}

// One-node graph: y = op(x, w) with w a constant.
std::unique_ptr<Session> one_node(const std::string& op, Shape xs, Shape ws, const std::string& isa) {
  ir::Graph g;
  g.opset_imports[""] = 17;
  ir::Value* x = g.add_value("x");
  x->desc = {DType::kF32, xs, true};
  g.inputs.push_back(x);
  ir::Value* w = g.add_constant("w", random_tensor(ws, 2));
  ir::Value* y = g.add_value("y");
  g.add_node(op, {x, w}, {y}, "n");
  g.outputs.push_back(y);
  SessionOptions o;
  o.threads = 1;
  o.isa = isa;
  return Session::from_graph(std::move(g), o);
}

void run_with_energy(benchmark::State& state, const Session& s, const Tensor& x) {
  std::vector<Tensor> in{x};
  energy::EnergyMeter& m = meter();
  Status st = m.start();
  for (auto _ : state) {
    auto out = s.run(in);
    benchmark::DoNotOptimize(out.data());
  }
  double j = 0;
  if (st.is_ok()) st = m.stop(j);
  if (st.is_ok()) {
    state.counters["J_per_iter"] = benchmark::Counter(j, benchmark::Counter::kAvgIterations);
    state.SetLabel(m.description());
  } else {
    state.SetLabel("no energy: " + st.message());
  }
}

void BM_Conv(benchmark::State& state, const char* isa) {
  auto s = one_node("Conv", {1, 16, 32, 32}, {16, 16, 3, 3}, isa);
  run_with_energy(state, *s, random_tensor({1, 16, 32, 32}, 1));
}
void BM_MatMul(benchmark::State& state, const char* isa) {
  int64_t n = state.range(0);
  auto s = one_node("MatMul", {n, n}, {n, n}, isa);
  run_with_energy(state, *s, random_tensor({n, n}, 1));
}

}  // namespace

BENCHMARK_CAPTURE(BM_Conv, reference, "scalar")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Conv, best_isa, "")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_MatMul, reference, "scalar")->Arg(64)->Arg(128)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_MatMul, best_isa, "")->Arg(64)->Arg(128)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
