// GPU benchmark of the CUDA backend's kernels against cuBLAS / cuBLASLt on the same shapes, with NVML joules
// (runtime/energy: the GPU's total-energy counter, synchronized at window edges).
//
//   joule_cuda_bench [--m 4096 --n 4096 --k 4096] [--iters 50] [--check]
//
// Prints one line per kernel: time per call (CUDA events, after warm-up), TOPS / TFLOP/s (2*M*N*K per call),
// joules per call (NVML) and the ratio to the cuBLAS(Lt) baseline:
//   INT8 GEMM  joule gemm_s8_mma (int32 out)       vs cublasLtMatmul INT8 (CUBLAS_COMPUTE_32I, TN layout)
//   INT8 GEMM  joule gemm_s8_mma (requantized s8)  (the fused epilogue's cost)
//   FP16 GEMM  joule MatMul kernel (cuBLAS + epilogue dispatch) vs cublasGemmEx FP16 (f32 accumulate)
//   INT4 GEMV  joule matmul_nbits (M=1, K x N)     vs cublasGemmEx FP16 GEMV on the dequantized weights
// --check compares the INT8 outputs of joule and cuBLASLt element by element (they must be identical).
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_context.h"
#include "kernels/cuda/cuda_launch.h"
#include "kernels/kernel_registry.h"
#include "runtime/energy/energy_meter.h"
#include "runtime/ir/graph.h"

using namespace joule;
namespace cu = joule::kernels::cuda;

namespace {

#define CHECK_CUDA(x)                                                                         \
  do {                                                                                        \
    cudaError_t e_ = (x);                                                                     \
    if (e_ != cudaSuccess) {                                                                  \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
      std::exit(1);                                                                           \
    }                                                                                         \
  } while (0)
#define CHECK_CUBLAS(x)                                                                         \
  do {                                                                                          \
    cublasStatus_t s_ = (x);                                                                    \
    if (s_ != CUBLAS_STATUS_SUCCESS) {                                                          \
      std::fprintf(stderr, "%s:%d: %s: cuBLAS status %d\n", __FILE__, __LINE__, #x, int(s_));   \
      std::exit(1);                                                                             \
    }                                                                                           \
  } while (0)
#define CHECK_OK(x)                                                                   \
  do {                                                                                \
    ::joule::Status s_ = (x);                                                         \
    if (!s_.is_ok()) {                                                                \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, s_.message().c_str()); \
      std::exit(1);                                                                   \
    }                                                                                 \
  } while (0)

struct Timing {
  double ms = 0;       // per call
  double joules = -1;  // per call; -1 without NVML
};

/// Times `fn` (which enqueues one call on `stream`): warm-up, then `iters` calls between two events;
/// NVML energy over the same window (device synchronized at both edges).
Timing time_calls(cudaStream_t stream, int iters, energy::EnergyMeter* meter, const std::function<void()>& fn) {
  for (int i = 0; i < 5; ++i) fn();
  CHECK_CUDA(cudaStreamSynchronize(stream));
  cudaEvent_t a, b;
  CHECK_CUDA(cudaEventCreate(&a));
  CHECK_CUDA(cudaEventCreate(&b));
  if (meter) CHECK_OK(meter->start());
  CHECK_CUDA(cudaEventRecord(a, stream));
  for (int i = 0; i < iters; ++i) fn();
  CHECK_CUDA(cudaEventRecord(b, stream));
  CHECK_CUDA(cudaEventSynchronize(b));
  Timing t;
  if (meter) {
    double j = 0;
    CHECK_OK(meter->stop(j));
    t.joules = j / iters;
  }
  float ms = 0;
  CHECK_CUDA(cudaEventElapsedTime(&ms, a, b));
  t.ms = ms / iters;
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return t;
}

void report(const char* what, double ops, const Timing& t, const Timing* base) {
  std::printf("%-48s %9.3f ms  %8.1f T(FL)OPS  ", what, t.ms, ops / (t.ms * 1e-3) / 1e12);
  if (t.joules >= 0) std::printf("%9.4f J/call  ", t.joules);
  else std::printf("%9s J/call  ", "n/a");
  if (base) std::printf("%5.1f%% of baseline throughput", 100.0 * base->ms / t.ms);
  std::printf("\n");
}

void* dev_random_bytes(size_t n, std::mt19937& rng, int lo, int hi) {
  std::vector<int8_t> h(n);
  std::uniform_int_distribution<int> d(lo, hi);
  for (auto& v : h) v = static_cast<int8_t>(d(rng));
  void* p = nullptr;
  CHECK_CUDA(cudaMalloc(&p, n));
  CHECK_CUDA(cudaMemcpy(p, h.data(), n, cudaMemcpyHostToDevice));
  return p;
}

void* dev_random_half(size_t n, std::mt19937& rng) {
  std::vector<__half> h(n);
  std::uniform_real_distribution<float> d(-1, 1);
  for (auto& v : h) v = __float2half(d(rng));
  void* p = nullptr;
  CHECK_CUDA(cudaMalloc(&p, n * 2));
  CHECK_CUDA(cudaMemcpy(p, h.data(), n * 2, cudaMemcpyHostToDevice));
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t m = 4096, n = 4096, k = 4096;
  int iters = 50;
  bool check = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::atoll(argv[++i]) : 0; };
    if (a == "--m") m = next();
    else if (a == "--n") n = next();
    else if (a == "--k") k = next();
    else if (a == "--iters") iters = static_cast<int>(next());
    else if (a == "--check") check = true;
    else {
      std::fprintf(stderr, "usage: joule_cuda_bench [--m M --n N --k K] [--iters N] [--check]\n");
      return 2;
    }
  }
  Status st = cu::device_status();
  if (!st.is_ok()) {
    std::printf("joule_cuda_bench: SKIP: %s\n", st.message().c_str());
    return 0;
  }
  std::unique_ptr<cu::CudaContext> ctx;
  CHECK_OK(cu::CudaContext::create(ctx));
  cudaStream_t stream = static_cast<cudaStream_t>(ctx->stream);
  std::unique_ptr<energy::EnergyMeter> meter;
  energy::NvmlApi nvml;
  std::string meter_note = "energy: n/a";
  if (energy::load_nvml(nvml).is_ok() && energy::make_nvml_meter(meter, nvml).is_ok()) meter_note = meter->description();
  else meter.reset();
  std::printf("device: %s\n%s\nshape: M=%lld N=%lld K=%lld, %d timed calls after 5 warm-up calls\n",
              cu::device_description().c_str(), meter_note.c_str(), (long long)m, (long long)n, (long long)k, iters);
  std::mt19937 rng(7);
  const double ops = 2.0 * double(m) * double(n) * double(k);

  // ---- INT8 GEMM: A s8 [M, K] row-major, Bt s8 [N, K] row-major (B transposed), C int32 [M, N] row-major.
  const int64_t k_pad = (k + 31) / 32 * 32;
  void* a8 = dev_random_bytes(size_t(m * k), rng, -128, 127);
  void* bt8 = dev_random_bytes(size_t(n * k_pad), rng, -128, 127);
  void *c_joule = nullptr, *c_lt = nullptr, *y8 = nullptr, *mult = nullptr;
  CHECK_CUDA(cudaMalloc(&c_joule, size_t(m * n) * 4));
  CHECK_CUDA(cudaMalloc(&c_lt, size_t(m * n) * 4));
  CHECK_CUDA(cudaMalloc(&y8, size_t(m * n)));
  {
    std::vector<float> mv(size_t(n), 1e-4f);
    CHECK_CUDA(cudaMalloc(&mult, size_t(n) * 4));
    CHECK_CUDA(cudaMemcpy(mult, mv.data(), size_t(n) * 4, cudaMemcpyHostToDevice));
  }
  if (k_pad != k) std::printf("note: K padded to %lld for joule's B layout; cuBLASLt reads the same rows with ld=K_pad\n", (long long)k_pad);
  // cuBLASLt, column-major view: C^T [N, M] = Bt [N, K] (op T of the K x N col-major buffer) * A^T [K, M].
  cublasLtHandle_t lt = static_cast<cublasLtHandle_t>(ctx->cublaslt);
  cublasLtMatmulDesc_t op;
  CHECK_CUBLAS(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32I, CUDA_R_32I));
  cublasOperation_t tA = CUBLAS_OP_T, tB = CUBLAS_OP_N;
  CHECK_CUBLAS(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &tA, sizeof tA));
  CHECK_CUBLAS(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tB, sizeof tB));
  cublasLtMatrixLayout_t la, lb, lc;
  CHECK_CUBLAS(cublasLtMatrixLayoutCreate(&la, CUDA_R_8I, uint64_t(k), uint64_t(n), k_pad));
  CHECK_CUBLAS(cublasLtMatrixLayoutCreate(&lb, CUDA_R_8I, uint64_t(k), uint64_t(m), k));
  CHECK_CUBLAS(cublasLtMatrixLayoutCreate(&lc, CUDA_R_32I, uint64_t(n), uint64_t(m), n));
  cublasLtMatmulPreference_t pref;
  CHECK_CUBLAS(cublasLtMatmulPreferenceCreate(&pref));
  CHECK_CUBLAS(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ctx->workspace_bytes,
                                                    sizeof ctx->workspace_bytes));
  cublasLtMatmulHeuristicResult_t heur{};
  int found = 0;
  cublasStatus_t hs = cublasLtMatmulAlgoGetHeuristic(lt, op, la, lb, lc, lc, pref, 1, &heur, &found);
  const int32_t ialpha = 1, ibeta = 0;
  Timing t_lt;
  bool have_lt = hs == CUBLAS_STATUS_SUCCESS && found > 0;
  if (have_lt) {
    t_lt = time_calls(stream, iters, meter.get(), [&] {
      CHECK_CUBLAS(cublasLtMatmul(lt, op, &ialpha, bt8, la, a8, lb, &ibeta, c_lt, lc, c_lt, lc, &heur.algo, ctx->workspace,
                                  ctx->workspace_bytes, stream));
    });
    report("INT8 GEMM cublasLtMatmul (s8 x s8 -> s32)", ops, t_lt, nullptr);
  } else {
    std::printf("INT8 GEMM cublasLtMatmul: no algorithm for this shape (status %d)\n", int(hs));
  }
  cu::GemmS8Params p;
  p.a = a8;
  p.a_signed = true;
  p.m = m;
  p.n = n;
  p.k = k;
  p.lda = k;
  p.bt = static_cast<const int8_t*>(bt8);
  p.k_pad = k_pad;
  p.y = c_joule;
  Timing t_j = time_calls(stream, iters, meter.get(), [&] { CHECK_OK(cu::launch_gemm_s8_mma(p, stream)); });
  report("INT8 GEMM joule gemm_s8_mma m16n8k32 (-> s32)", ops, t_j, have_lt ? &t_lt : nullptr);
  cu::GemmS8Params pq = p;
  pq.multiplier = static_cast<const float*>(mult);
  pq.y = y8;
  pq.y_signed = true;
  pq.relu = true;
  Timing t_jq = time_calls(stream, iters, meter.get(), [&] { CHECK_OK(cu::launch_gemm_s8_mma(pq, stream)); });
  report("INT8 GEMM joule gemm_s8_mma + requant/ReLU (-> s8)", ops, t_jq, have_lt ? &t_lt : nullptr);
  if (check && have_lt) {
    std::vector<int32_t> hj(size_t(m * n)), hl(size_t(m * n));
    CHECK_CUDA(cudaMemcpy(hj.data(), c_joule, hj.size() * 4, cudaMemcpyDeviceToHost));
    CHECK_CUDA(cudaMemcpy(hl.data(), c_lt, hl.size() * 4, cudaMemcpyDeviceToHost));
    size_t bad = 0;
    for (size_t i = 0; i < hj.size(); ++i) bad += hj[i] != hl[i];
    std::printf("check: joule INT8 GEMM vs cuBLASLt: %zu of %zu int32 outputs differ%s\n", bad, hj.size(), bad ? "  <-- FAIL" : "");
    if (bad) return 1;
  }

  // ---- FP16 GEMM: raw cublasGemmEx vs joule's MatMul kernel (registry path: cuBLAS + epilogue dispatch).
  void* a16 = dev_random_half(size_t(m * k), rng);
  void* b16 = dev_random_half(size_t(k * n), rng);
  void* c16 = nullptr;
  CHECK_CUDA(cudaMalloc(&c16, size_t(m * n) * 2));
  cublasHandle_t h = static_cast<cublasHandle_t>(ctx->cublas);
  const float one = 1.f, zero = 0.f;
  Timing t_cb = time_calls(stream, iters, meter.get(), [&] {
    CHECK_CUBLAS(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, int(n), int(m), int(k), &one, b16, CUDA_R_16F, int(n), a16, CUDA_R_16F,
                              int(k), &zero, c16, CUDA_R_16F, int(n), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  });
  report("FP16 GEMM cublasGemmEx (f32 accumulate)", ops, t_cb, nullptr);
  {
    ir::Graph g;
    ir::Value* va = g.add_value("a");
    ir::Value* vb = g.add_value("b");
    va->desc = ir::TensorDesc::known(DType::kF16, {m, k});
    vb->desc = ir::TensorDesc::known(DType::kF16, {k, n});
    ir::Node* node = g.add_node("MatMul", {va, vb}, {g.add_value("y")}, "bench_matmul");
    node->opset = 17;
    kernels::KernelQuery q{*node, {va->desc, vb->desc}, {nullptr, nullptr}};
    const kernels::KernelDef* kd = kernels::KernelRegistry::builtin().select(q, kernels::Device::kCuda, Isa::kScalar);
    if (!kd) {
      std::printf("FP16 GEMM joule: no CUDA MatMul kernel accepts f16\n");
      return 1;
    }
    std::shared_ptr<void> none;
    Tensor ta = Tensor::from_shared(DType::kF16, {m, k}, none, a16), tb = Tensor::from_shared(DType::kF16, {k, n}, none, b16),
           tc = Tensor::from_shared(DType::kF16, {m, n}, none, c16);
    kernels::KernelContext kc{*node, {&ta, &tb}, {&tc}, nullptr, nullptr, nullptr};
    kc.device = ctx.get();
    Timing t_m = time_calls(stream, iters, meter.get(), [&] { CHECK_OK(kd->run(kc)); });
    std::string label = "FP16 GEMM joule " + kd->name;
    report(label.c_str(), ops, t_m, &t_cb);
  }

  // ---- INT4 weight-only GEMV: M = 1, weights N x K at 4 bits (block 32) vs FP16 GEMV on cuBLAS.
  {
    const int64_t block = 32, kb = (k + block - 1) / block;
    void* bq = dev_random_bytes(size_t(n * kb * block / 2), rng, -128, 127);
    std::vector<float> sc(size_t(n * kb), 0.01f);
    void* dsc = nullptr;
    CHECK_CUDA(cudaMalloc(&dsc, sc.size() * 4));
    CHECK_CUDA(cudaMemcpy(dsc, sc.data(), sc.size() * 4, cudaMemcpyHostToDevice));
    void* y16 = nullptr;
    CHECK_CUDA(cudaMalloc(&y16, size_t(n) * 2));
    cu::GemvQ4Params g;
    g.t = DType::kF16;
    g.a = a16;
    g.m = 1;
    g.n = n;
    g.k = k;
    g.block = block;
    g.k_blocks = kb;
    g.b = static_cast<const uint8_t*>(bq);
    g.scales = static_cast<const float*>(dsc);
    g.y = y16;
    const double gemv_ops = 2.0 * double(n) * double(k);
    Timing t_fp16 = time_calls(stream, iters, meter.get(), [&] {
      CHECK_CUBLAS(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, int(n), 1, int(k), &one, b16, CUDA_R_16F, int(n), a16, CUDA_R_16F,
                                int(k), &zero, y16, CUDA_R_16F, int(n), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    });
    report("FP16 GEMV cublasGemmEx (M=1)", gemv_ops, t_fp16, nullptr);
    Timing t_q4 = time_calls(stream, iters, meter.get(), [&] { CHECK_OK(cu::launch_gemv_q4(g, stream)); });
    report("INT4 GEMV joule gemv_q4 (M=1, block 32)", gemv_ops, t_q4, &t_fp16);
    std::printf("INT4 GEMV weight bandwidth: %.1f GB/s (FP16 GEMV: %.1f GB/s)\n",
                double(n * k) / 2 / (t_q4.ms * 1e-3) / 1e9, double(n * k) * 2 / (t_fp16.ms * 1e-3) / 1e9);
  }
  return 0;
}
