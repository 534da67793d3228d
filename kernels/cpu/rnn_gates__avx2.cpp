// The batched-gate float32 LSTM / GRU / RNN kernels (rnn_gates_impl.h) compiled with AVX2 + FMA.
#include "kernels/cpu/rnn_gates_impl.h"

namespace joule::kernels {

void register_rnn_gates_avx2(KernelRegistry& r) { add_batched_gate_kernels(r, Isa::kAvx2, 11, "_avx2"); }

}  // namespace joule::kernels
