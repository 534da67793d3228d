// Fast MatMulNBits (4-bit weights, f32 activations) on CPU: the weights are repacked once (prepare) into
// 16-column panels so that one 8-byte load holds the codes of one k for 16 output columns; the float
// weights never exist as a whole (GEMV decodes in registers; GEMM decodes one [K][16|32] panel at a time
// into per-thread scratch and runs the f32 micro-kernel over all rows of A with it).
//
// Layout (Int4Panels):
//   codes:  [panels][k_pad][8] bytes, byte j = code(col j) | code(col j + 8) << 4 (cols of the panel)
//   scales: [panels][k_blocks][16] f32;  zeros: [panels][k_blocks][16] f32 (zero point, 8 when absent)
//   k_pad = k_blocks * block; codes past K and columns past N are 0 with scale 0.
// Dequantized weight of (k, col) = (code - zero) * scale, computed exactly as the reference does.
#pragma once

#include <cstdint>
#include <vector>

namespace joule::kernels::cpu {

constexpr int64_t kNbitsPanel = 16;  // output columns per panel

struct Int4Panels {
  int64_t k = 0, n = 0, block = 32, k_blocks = 0, k_pad = 0, panels = 0;
  std::vector<uint8_t> codes;
  std::vector<float> scales, zeros;
  const uint8_t* panel_codes(int64_t p) const { return codes.data() + p * k_pad * 8; }
  const float* panel_scales(int64_t p) const { return scales.data() + p * k_blocks * kNbitsPanel; }
  const float* panel_zeros(int64_t p) const { return zeros.data() + p * k_blocks * kNbitsPanel; }
};

/// y[p*16 .. p*16+16) for panels [p0, p1) of one row: y = a x W^T (a zero-padded to k_pad); y has room for
/// whole panels (16 floats each). No bias.
void matmul_nbits_gemv_f32__avx2(const Int4Panels& w, const float* a, float* y, int64_t p0, int64_t p1);
void matmul_nbits_gemv_f32__avx512(const Int4Panels& w, const float* a, float* y, int64_t p0, int64_t p1);

/// Dequantizes `count` consecutive panels starting at p into dst [k][ld] (ld >= count*16: the packed-B panel
/// of the f32 GEMM micro-kernel with NR = ld), rows 0..k-1.
void matmul_nbits_dequant_panel_f32__avx2(const Int4Panels& w, int64_t p, int64_t count, int64_t ld, float* dst);
void matmul_nbits_dequant_panel_f32__avx512(const Int4Panels& w, int64_t p, int64_t count, int64_t ld, float* dst);

}  // namespace joule::kernels::cpu
