// GEMM GFLOP/s, one thread: C[n,n] = A[n,n] x B[n,n] at n = 256, 512, 1024 for joule's scalar reference
// MatMul kernel, joule's packed GEMM per ISA (B packed once beforehand, as for a model's weights),
// OpenBLAS cblas_sgemm and oneDNN dnnl_sgemm (both row-major, measured in the same binary), and the
// FMA peak of this core (fma_peak__avx2.cpp: independent FMA chains, the measured clock included).
// joule's packed B and C are 64-byte aligned (PackedF32), as in a session (packed weights, arena).
// oneDNN and OpenBLAS are held to one thread by the benchmark itself (omp_set_num_threads through the
// OpenMP runtime oneDNN loads, openblas_set_num_threads), so "% of oneDNN" compares one core with one core.
// BM_gemm_joule_threads / BM_gemm_onednn_threads: the BERT FFN shape (M=128, K=384, N=1536) and 1024^3
// at 1 and 2 threads (joule through its ThreadPool), to show how the packed GEMM splits its tiles.
// Run: build-simd/bin/joule_gemm_bench
#include <benchmark/benchmark.h>
#include <cblas.h>
#include <dlfcn.h>
#include <dnnl.h>

#include <random>
#include <vector>

#include "kernels/cpu/gemm_f32.h"
#include "kernels/kernel_registry.h"
#include "runtime/cpu_features.h"
#include "runtime/thread_pool.h"

using namespace joule;

double fma_peak_flops_avx2(int64_t iters);  // fma_peak__avx2.cpp

namespace {

std::vector<float> random_matrix(int64_t rows, unsigned seed, int64_t cols = -1) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(rows * (cols < 0 ? rows : cols)));
  for (float& x : v) x = d(rng);
  return v;
}

// oneDNN's GEMM runs on OpenMP threads (all cores unless OMP_NUM_THREADS says otherwise, and libgomp reads
// that variable when it loads, before main). Sets the OpenMP thread count of the calling thread through the
// runtime oneDNN linked; returns false when no OpenMP runtime is loaded.
bool set_omp_threads(int threads) {
  using SetFn = void (*)(int);
  auto fn = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
  if (!fn) return false;
  fn(threads);
  return true;
}

const kernels::cpu::GemmUkernel* best_ukernel() {
  const kernels::cpu::GemmUkernel* uk = nullptr;
  for (auto& u : kernels::cpu::gemm_f32_ukernels())
    if (u.isa <= max_isa()) uk = &u;
  return uk;
}

void set_gflops(benchmark::State& st, int64_t n) {
  st.counters["GFLOP/s"] = benchmark::Counter(2.0 * n * n * n * static_cast<double>(st.iterations()), benchmark::Counter::kIsRate,
                                              benchmark::Counter::kIs1000);
}

void BM_gemm_ref(benchmark::State& st) {
  const int64_t n = st.range(0);
  Tensor a = Tensor::from_vector<float>({n, n}, random_matrix(n, 1)), b = Tensor::from_vector<float>({n, n}, random_matrix(n, 2));
  Tensor c(DType::kF32, {n, n});
  ir::Graph g;
  ir::Node* node = g.add_node("MatMul", {g.add_value("a"), g.add_value("b")}, {g.add_value("c")});
  const kernels::KernelDef* k = kernels::KernelRegistry::builtin().reference("", "MatMul");
  for (auto _ : st) {
    kernels::KernelContext ctx{*node, {&a, &b}, {&c}, nullptr, nullptr};
    benchmark::DoNotOptimize(k->run(ctx));
  }
  set_gflops(st, n);
}

void BM_gemm_joule(benchmark::State& st, Isa isa) {
  const kernels::cpu::GemmUkernel* uk = nullptr;
  for (auto& u : kernels::cpu::gemm_f32_ukernels())
    if (u.isa == isa) uk = &u;
  if (!uk || isa > max_isa()) {
    st.SkipWithError("this CPU lacks the ISA");
    return;
  }
  const int64_t n = st.range(0);
  auto a = random_matrix(n, 1), b = random_matrix(n, 2);
  kernels::cpu::PackedF32 c(static_cast<size_t>(n * n)), bp(static_cast<size_t>(kernels::cpu::packed_b_size(*uk, n, n)));
  kernels::cpu::pack_b_f32(*uk, b.data(), n, 1, n, n, bp.data());
  for (auto _ : st) {
    kernels::cpu::gemm_f32_packed(*uk, n, n, n, a.data(), n, 1, bp.data(), c.data(), n, {}, nullptr);
    benchmark::ClobberMemory();
  }
  set_gflops(st, n);
}

void BM_gemm_openblas(benchmark::State& st) {
  openblas_set_num_threads(1);
  const int64_t n = st.range(0);
  auto a = random_matrix(n, 1), b = random_matrix(n, 2);
  std::vector<float> c(static_cast<size_t>(n * n));
  const int ni = static_cast<int>(n);
  for (auto _ : st) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ni, ni, ni, 1.0f, a.data(), ni, b.data(), ni, 0.0f, c.data(), ni);
    benchmark::ClobberMemory();
  }
  set_gflops(st, n);
}

void BM_gemm_onednn(benchmark::State& st) {
  if (!set_omp_threads(1)) st.counters["omp_threads_unset"] = 1;
  const int64_t n = st.range(0);
  auto a = random_matrix(n, 1), b = random_matrix(n, 2);
  std::vector<float> c(static_cast<size_t>(n * n));
  for (auto _ : st) {
    dnnl_sgemm('N', 'N', n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
    benchmark::ClobberMemory();
  }
  set_gflops(st, n);
}

// C[M,N] = A[M,K] x packed B[K,N] with joule's best micro-kernel on a pool of `threads` (args M, K, N, threads).
void BM_gemm_joule_threads(benchmark::State& st) {
  const kernels::cpu::GemmUkernel* uk = best_ukernel();
  if (!uk) {
    st.SkipWithError("this CPU has no f32 GEMM micro-kernel");
    return;
  }
  const int64_t m = st.range(0), k = st.range(1), n = st.range(2);
  const int threads = static_cast<int>(st.range(3));
  auto a = random_matrix(m, 1, k), b = random_matrix(k, 2, n);
  kernels::cpu::PackedF32 c(static_cast<size_t>(m * n)), bp(static_cast<size_t>(kernels::cpu::packed_b_size(*uk, k, n)));
  kernels::cpu::pack_b_f32(*uk, b.data(), n, 1, k, n, bp.data());
  ThreadPool pool(threads);
  const kernels::cpu::GemmSplit sp = kernels::cpu::gemm_f32_split(*uk, m, n, k, threads);
  for (auto _ : st) {
    kernels::cpu::gemm_f32_packed(*uk, m, n, k, a.data(), k, 1, bp.data(), c.data(), n, {}, &pool);
    benchmark::ClobberMemory();
  }
  st.counters["GFLOP/s"] = benchmark::Counter(2.0 * m * n * k * static_cast<double>(st.iterations()), benchmark::Counter::kIsRate,
                                              benchmark::Counter::kIs1000);
  st.counters["row_chunks"] = static_cast<double>(sp.mt);
  st.counters["col_chunks"] = static_cast<double>(sp.nt);
}

// oneDNN sgemm on the same shapes with `threads` OpenMP threads (args M, K, N, threads).
void BM_gemm_onednn_threads(benchmark::State& st) {
  const int64_t m = st.range(0), k = st.range(1), n = st.range(2);
  if (!set_omp_threads(static_cast<int>(st.range(3)))) st.counters["omp_threads_unset"] = 1;
  auto a = random_matrix(m, 1, k), b = random_matrix(k, 2, n);
  std::vector<float> c(static_cast<size_t>(m * n));
  for (auto _ : st) {
    dnnl_sgemm('N', 'N', m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(), n);
    benchmark::ClobberMemory();
  }
  st.counters["GFLOP/s"] = benchmark::Counter(2.0 * m * n * k * static_cast<double>(st.iterations()), benchmark::Counter::kIsRate,
                                              benchmark::Counter::kIs1000);
  set_omp_threads(1);
}

void BM_fma_peak_avx2(benchmark::State& st) {
  if (max_isa() < Isa::kAvx2) {
    st.SkipWithError("this CPU lacks AVX2");
    return;
  }
  double flops = 0;
  for (auto _ : st) flops += fma_peak_flops_avx2(1 << 20);
  st.counters["GFLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

}  // namespace

BENCHMARK(BM_fma_peak_avx2)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_gemm_ref)->Arg(256)->Arg(512)->Unit(benchmark::kMillisecond);  // 1024 takes seconds per run
BENCHMARK_CAPTURE(BM_gemm_joule, avx2, Isa::kAvx2)->Arg(256)->Arg(512)->Arg(1024)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_gemm_joule, avx512, Isa::kAvx512)->Arg(256)->Arg(512)->Arg(1024)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_gemm_openblas)->Arg(256)->Arg(512)->Arg(1024)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_gemm_onednn)->Arg(256)->Arg(512)->Arg(1024)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_gemm_joule_threads)
    ->ArgNames({"M", "K", "N", "threads"})
    ->Args({128, 768, 3072, 1})  // BERT-base FFN up / down
    ->Args({128, 3072, 768, 1})
    ->Args({128, 384, 1536, 1})
    ->Args({128, 384, 1536, 2})
    ->Args({1024, 1024, 1024, 1})
    ->Args({1024, 1024, 1024, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_gemm_onednn_threads)
    ->ArgNames({"M", "K", "N", "threads"})
    ->Args({128, 768, 3072, 1})
    ->Args({128, 3072, 768, 1})
    ->Args({128, 384, 1536, 1})
    ->Args({128, 384, 1536, 2})
    ->Args({1024, 1024, 1024, 1})
    ->Args({1024, 1024, 1024, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_MAIN();
