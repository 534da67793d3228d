// Batched-gate CPU kernels for float32 LSTM / GRU / RNN ("<op>_f32__batched_gates").
//
// The input projection X·W^T (+ biases) does not depend on the recurrence, so it is computed for
// every time step and batch row of a direction as one GEMM: XG[seq*batch][G*H]. Each step then
// needs only the recurrent GEMM h·R^T over the batch ([batch][H] x [H][G*H]) and the elementwise
// cell. W and R are transposed once (at session build when they are constants) so both GEMMs run
// as rank-1 updates over contiguous rows, which the compiler vectorises. The cell math is that of
// the reference kernel (kernels/ref/rnn.cpp), which is the oracle for this one.
#include "kernels/cpu/rnn_gates_impl.h"

namespace joule::kernels {

void register_rnn_gates_avx2(KernelRegistry& r);  // rnn_gates__avx2.cpp

void register_rnn_gates_cpu(KernelRegistry& r) {
  add_batched_gate_kernels(r, Isa::kScalar, 10, "");
  register_rnn_gates_avx2(r);  // chosen over the baseline copy when the CPU has AVX2 + FMA
}

}  // namespace joule::kernels
