// Winograd F(4x4, 3x3) for f32 Conv (3x3, stride 1, dilation 1, group 1, 2-D NCHW): the input and
// output transforms (AVX2, 8 tiles per ymm) shared by the conv_f32_winograd_* kernels.
//
// Math (Lavin & Gray, points 0, +-1, +-2, inf): Y_tile[4x4] = A^T [ sum_ic (G g G^T) .* (B^T d B) ] A,
// d the 6x6 input patch of a tile, g the 3x3 filter. Per image the conv becomes 36 GEMMs, one per
// element e = 6i + j of the 6x6 transformed tile:  M_e[OC, T] = U_e[OC, IC] x V_e[IC, T]  (T tiles).
//
// Tiles: TW = ceil(OW/4) per row, TH = ceil(OH/4); tile t = ti*TW + tj covers output rows 4ti.. and
// columns 4tj.., and reads input rows 4ti - pad_top + (0..5), columns 4tj - pad_left + (0..5) (zero outside).
// Tiles go in groups of 8 (t0 = 8k); inside a group the 8 lanes of every transformed vector hold the
// tiles in the order kWinoLaneTile (what the register transposes give), in both V and M.
//   V (packed GEMM B operand of each e): v[e*estride + panel*IC*NR + ic*NR + t % NR]
//   M (GEMM output of each e):           m[e*mstride + oc*ldm + t]
#pragma once

#include <cstdint>

#include "kernels/cpu/gemm_f32.h"

namespace joule::kernels::cpu {

/// Geometry of one image plane of a Winograd F(4x4, 3x3) (or F(2x2, 3x3): tiles of 2x2) conv.
struct WinogradGeom {
  int64_t H = 0, W = 0;    // input plane
  int64_t OH = 0, OW = 0;  // output plane
  int64_t pad_top = 0, pad_left = 0;
  int64_t TW = 0, TH = 0, T = 0;  // tiles per row, tile rows, tiles in all (TW * TH)
};

/// Lane l of a group's vectors holds tile t0 + kWinoLaneTile[l].
inline constexpr int kWinoLaneTile[8] = {0, 4, 2, 6, 1, 5, 3, 7};

/// Floats of scratch winograd_f4_input_channel__avx2 / winograd_f4_output_channel__avx2 need.
int64_t winograd_f4_scratch_floats(const WinogradGeom& g);

/// B^T d B of every tile of one input channel plane `x` (H x W), groups [0, groups) of 8 tiles (tiles at
/// or past g.T get zeros): vector e of group k goes to dst + (8k / nr)*panel_stride + 8k % nr + e*estride.
/// The plane is first copied with its zero borders into `scratch`, so every patch row is one contiguous run.
void winograd_f4_input_channel__avx2(const float* x, const WinogradGeom& g, int64_t groups, float* dst, int64_t nr,
                                     int64_t panel_stride, int64_t estride, float* scratch);

/// A^T M A + bias, then the activation of `ep` (act/lo/hi), for every tile of one output channel:
/// element e of tile t at m[e*mstride + t] (lanes in kWinoLaneTile order per group of 8); writes the
/// output plane y (OH x OW).
void winograd_f4_output_channel__avx2(const float* m, int64_t mstride, const WinogradGeom& g, float bias, const GemmEpilogue& ep,
                                      float* y, float* scratch);

/// G g G^T (in double) for one 3x3 filter: u[e] for e = 6i + j.
void winograd_f4_filter(const float* g3x3, float u[36]);

// F(2x2, 3x3) (conv_winograd_f32.cpp, portable code: it runs only on small planes, e.g. 7x7, where the
// 16 GEMMs dominate): 4x4 input tiles, 16 elements e = 4i + j, tiles in natural order (no lane permutation).
/// G g G^T (in double) for one 3x3 filter, F(2x2, 3x3): u[e] for e = 4i + j.
void winograd_f2_filter(const float* g3x3, float u[16]);

}  // namespace joule::kernels::cpu
