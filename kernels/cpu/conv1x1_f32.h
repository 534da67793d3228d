// Pointwise (1x1, stride 1, no pads, group 1) f32 Conv straight on NCHW: Y[M, P] = W[M, K] x X[K, P]
// (P = H*W pixels), no packing of X and bias + Relu/Clip applied in registers before the one store.
#pragma once

#include <cstdint>

#include "kernels/cpu/gemm_f32.h"

namespace joule::kernels::cpu {

/// Weights packed for the micro-kernels: [ceil(M/6)][K][6] (zero padded rows), plus 8 floats of slack.
int64_t conv1x1_packed_w_size(int64_t m, int64_t k);
void conv1x1_pack_w(const float* w, int64_t m, int64_t k, float* dst);

/// Rows [0, mv) (mv <= 6) x pixels [0, nv) (nv <= 16) of Y (row stride ldy): act(bias[r] + sum_k a[k][r] * b[k*b_rs + j]),
/// k in order; a is one packed panel [K][6]; b must hold 16 readable floats per k row; bias may be null.
void conv1x1_6x16__avx2(int64_t k, const float* a, const float* b, int64_t b_rs, const float* bias, const GemmEpilogue& ep,
                        float* y, int64_t ldy, int64_t mv, int64_t nv);

/// One pixel column for the rows of one packed panel: y[r*ldy] = act(bias[r] + sum_k a[k][r] * b[k*b_rs]) for r < mv,
/// summed in 4 interleaved partial sums over k (k mod 4), then added in order; a needs 2 floats of slack.
void conv1x1_6x1__avx2(int64_t k, const float* a, const float* b, int64_t b_rs, const float* bias, const GemmEpilogue& ep,
                       float* y, int64_t ldy, int64_t mv);

/// AVX-512 weights: panels of 12 rows [M/12][K][12], the last panel's rows rounded up to 4 ([K][4|8|12],
/// zero padded), plus 16 floats of slack.
int64_t conv1x1_packed_w12_size(int64_t m, int64_t k);
void conv1x1_pack_w12(const float* w, int64_t m, int64_t k, float* dst);

/// Rows [0, mv) x pixels [0, nv) (nv <= 32) of Y: act(bias[r] + sum_k a[k][r] * b[k*b_rs + j]) summed from bias[r], k in order; a is
/// one packed panel [K][mr] (mr 4, 8 or 12, mv <= mr); b must hold 16 (nv <= 16) or 32 readable floats per k row.
void conv1x1_12x32__avx512(int64_t k, const float* a, int64_t mr, const float* b, int64_t b_rs, const float* bias,
                           const GemmEpilogue& ep, float* y, int64_t ldy, int64_t mv, int64_t nv);

/// One pixel column for the rows of one packed panel [K][mr]: y[r*ldy] = act(bias[r] + sum_k a[k][r] * b[k*b_rs]),
/// r < mv, summed in 4 interleaved partial sums over k (k mod 4), then added in order.
void conv1x1_12x1__avx512(int64_t k, const float* a, int64_t mr, const float* b, int64_t b_rs, const float* bias,
                          const GemmEpilogue& ep, float* y, int64_t ldy, int64_t mv);

}  // namespace joule::kernels::cpu
