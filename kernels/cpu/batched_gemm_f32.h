// Batched, strided f32 GEMM on the packed GEMM (gemm_f32.h): C[b] = A[b] x B[b] for every index b of a
// batch shape, each operand read through per-batch-dim strides plus (row, column) strides, so transposed
// operands (attention's K^T, heads split out of [seq, heads, dim]) and transposed outputs need no copy.
// Used by the MatMul kernel's batched path (linalg_f32.cpp) and joule.StridedMatMul (strided_matmul_f32.cpp).
//
// Threads: with at least as many batches as threads, one parallel_for over (batch x M chunk) tasks, each
// packing its own B slice (attention heads run in parallel, without one GEMM dispatch per head); with
// fewer, batch by batch with the GEMM's own M/N split. Every C element is summed in the same k-order in
// every case, so results are bitwise identical for any thread count.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/cpu/gemm_f32.h"

namespace joule::kernels::cpu {

/// One operand: element (batch index b (multi-index), row i, column j) at
/// data[sum_d b[d] * batch_strides[d] + i * rs + j * cs]. batch_strides has one entry per batch dim
/// (0 on a broadcast dim).
struct StridedOperand {
  const float* data = nullptr;
  std::vector<int64_t> batch_strides;
  int64_t rs = 0, cs = 1;
};

/// Applied to each finished C row block, in float, in this order: v = v * scale (or v / scale when
/// `divide`), then v = v + addend (addend element read through its own strides; null = none).
/// The same float operations as separate Mul/Div and Add steps, so the results are bitwise equal.
struct BatchedEpilogue {
  bool has_scale = false;
  bool divide = false;
  float scale = 1.0f;
  StridedOperand addend;  // addend.data == nullptr: none
  bool trivial() const { return !has_scale && !addend.data; }
};

/// C (element (b, i, j) at c[sum b[d] * c_batch_strides[d] + i * ldc + j]) = epilogue(A[b] x B[b]) for
/// every b in `batch` (M x K times K x N). `pool` may be null.
void batched_gemm_f32(const GemmUkernel& uk, const std::vector<int64_t>& batch, int64_t m, int64_t n, int64_t k,
                      const StridedOperand& a, const StridedOperand& b, float* c,
                      const std::vector<int64_t>& c_batch_strides, int64_t ldc, const BatchedEpilogue& ep,
                      ThreadPool* pool);

}  // namespace joule::kernels::cpu
