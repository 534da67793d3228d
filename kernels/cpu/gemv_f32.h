// M == 1 path of the packed f32 GEMM (gemm_f32_packed hands a one-row A to it): y[0:n] = epilogue(a x B)
// straight from the packed B panels [ceil(N/NR)][K][NR], instead of an MR x NR micro-kernel that
// wastes MR-1 of its rows. Each output is summed exactly as the GEMM sums it (one FMA chain from zero per
// KC block of K, the blocks added in order), so the result is bitwise the GEMM's; speed comes from
// running several panels' chains side by side, so the loop streams B at memory speed.
// Split over the thread pool by whole panels (each output written by one thread): any thread count
// gives the same bits. JOULE_GEMV=0 turns it off (the GEMM then runs with M = 1, as before).
#pragma once

#include <cstdint>

#include "kernels/cpu/gemm_f32.h"

namespace joule::kernels::cpu {

/// Raw sums of `panels` packed-B panels (NR columns each, panel stride k*NR) with a[0:k], K walked in
/// blocks of kc: writes y[0:nv) (nv <= panels*NR; the last panel may be partial). k >= 1.
using GemvPanelsFn = void (*)(int64_t k, int64_t kc, const float* a, const float* b, int64_t panels, float* y,
                              int64_t nv);
void gemv_f32_nr16__avx2(int64_t k, int64_t kc, const float* a, const float* b, int64_t panels, float* y, int64_t nv);
void gemv_f32_nr32__avx512(int64_t k, int64_t kc, const float* a, const float* b, int64_t panels, float* y, int64_t nv);

/// c[0:n] = epilogue(A row x packed B) for `uk`'s packing (A element p at a[p*a_cs]); the row-0 slice of
/// ep's bias is used. Returns false (nothing written) when there is no GEMV for `uk` or JOULE_GEMV=0.
bool gemv_f32_packed(const GemmUkernel& uk, int64_t n, int64_t k, const float* a, int64_t a_cs, const float* packed_b,
                     float* c, const GemmEpilogue& ep, ThreadPool* pool);

}  // namespace joule::kernels::cpu
