// Primitives of the batched-gate float32 LSTM / GRU / RNN kernels, one copy per ISA:
// the gate GEMM over 16-column weight panels and the sigmoid / tanh of the gate math.
// The baseline copies (rnn_gates.cpp) use std::exp / std::tanh; the AVX2 copies (rnn_gates__avx2.cpp)
// use polynomial approximations, within these bounds of the exact function (tests/rnn/rnn_gates_test.cpp):
//   sigmoid: |error| <= 1e-7 + 4e-7 * |exact|      tanh: |error| <= 1e-7 + 4e-7 * |exact|
// NaN inputs give NaN.
#pragma once

#include <cstdint>

namespace joule::kernels::cpu {

/// Weight panel width: packed weights are [panels][K][kRnnPanel] (see rnn_gates_impl.h).
constexpr int64_t kRnnPanel = 16;

/// C[m][p*16 .. p*16+16) = bias[p*16 ..] (or 0) + sum_k A[m*lda + k] * panels[(p*K + k)*16 ..], for
/// m < M and panels p in [p0, p1). Rows of C are ldc floats apart.
void rnn_gate_gemm_f32(int64_t M, int64_t K, const float* A, int64_t lda, const float* panels, int64_t p0, int64_t p1,
                       const float* bias, float* C, int64_t ldc);
void rnn_gate_gemm_f32__avx2(int64_t M, int64_t K, const float* A, int64_t lda, const float* panels, int64_t p0,
                             int64_t p1, const float* bias, float* C, int64_t ldc);

/// v[i] = 1 / (1 + exp(-v[i])) and v[i] = tanh(v[i]) for i < n, in place.
void rnn_sigmoid_f32(float* v, int64_t n);
void rnn_tanh_f32(float* v, int64_t n);
void rnn_sigmoid_f32__avx2(float* v, int64_t n);
void rnn_tanh_f32__avx2(float* v, int64_t n);

}  // namespace joule::kernels::cpu
