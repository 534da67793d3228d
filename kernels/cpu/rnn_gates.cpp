// Batched-gate CPU kernels for float32 LSTM / GRU / RNN ("<op>_f32__batched_gates"): the baseline-ISA
// copy and its primitives (the AVX2 copy is in rnn_gates__avx2.cpp). See rnn_gates_impl.h for the
// algorithm and rnn_gates.h for the primitives' contract.
#include <cmath>

#include "kernels/cpu/rnn_gates_impl.h"

namespace joule::kernels {

namespace cpu {

typedef float V4 __attribute__((vector_size(16)));

void rnn_gate_gemm_f32(int64_t M, int64_t K, const float* A, int64_t lda, const float* panels, int64_t p0, int64_t p1,
                       const float* bias, float* C, int64_t ldc) {
  for (int64_t p = p0; p < p1; ++p) {
    const float* B = panels + p * K * kRnnPanel;
    for (int64_t m = 0; m < M; ++m) {
      // Four 4-wide accumulators (GCC/Clang vector types: SSE2 at the x86-64 baseline) held in
      // registers across the k loop.
      V4 acc[4] = {};
      const float* a = A + m * lda;
      for (int64_t k = 0; k < K; ++k) {
        const V4 s = {a[k], a[k], a[k], a[k]};
        const float* w = B + k * kRnnPanel;
        for (int q = 0; q < 4; ++q) {
          V4 wq;
          std::memcpy(&wq, w + 4 * q, sizeof(wq));
          acc[q] += s * wq;
        }
      }
      float* c = C + m * ldc + p * kRnnPanel;
      for (int q = 0; q < 4; ++q)
        for (int j = 0; j < 4; ++j) c[4 * q + j] = acc[q][j] + (bias ? bias[p * kRnnPanel + 4 * q + j] : 0.f);
    }
  }
}

void rnn_sigmoid_f32(float* v, int64_t n) {
  for (int64_t i = 0; i < n; ++i) v[i] = 1.f / (1.f + std::exp(-v[i]));
}

void rnn_tanh_f32(float* v, int64_t n) {
  for (int64_t i = 0; i < n; ++i) v[i] = std::tanh(v[i]);
}

}  // namespace cpu

namespace {
struct BaselinePrims {
  static constexpr auto gemm = cpu::rnn_gate_gemm_f32;
  static constexpr auto sigmoid = cpu::rnn_sigmoid_f32;
  static constexpr auto tanh = cpu::rnn_tanh_f32;
};
}  // namespace

void register_rnn_gates_avx2(KernelRegistry& r);  // rnn_gates__avx2.cpp

void register_rnn_gates_cpu(KernelRegistry& r) {
  add_batched_gate_kernels<BaselinePrims>(r, Isa::kScalar, 10, "");
  register_rnn_gates_avx2(r);  // chosen over the baseline copy when the CPU has AVX2 + FMA
}

}  // namespace joule::kernels
