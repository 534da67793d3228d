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
  // int_zeros: every zero point is an integer in [0, 15] (always for symmetric and packed u8 zero points).
  // Then corr[panels][k_blocks][16] = -128 * sum over the block's k (padding included) of (code - zero), the
  // int32 start value of the wide VNNI tile (u8 activations offset by 128 x s8 weights code - zero).
  bool int_zeros = false;
  std::vector<int32_t> corr;
  const uint8_t* panel_codes(int64_t p) const { return codes.data() + p * k_pad * 8; }
  const float* panel_scales(int64_t p) const { return scales.data() + p * k_blocks * kNbitsPanel; }
  const float* panel_zeros(int64_t p) const { return zeros.data() + p * k_blocks * kNbitsPanel; }
  const int32_t* panel_corr(int64_t p) const { return corr.data() + p * k_blocks * kNbitsPanel; }
};

/// y[p*16 .. p*16+16) for panels [p0, p1) of one row: y = a x W^T (a zero-padded to k_pad); y has room for
/// whole panels (16 floats each). No bias.
void matmul_nbits_gemv_f32__avx2(const Int4Panels& w, const float* a, float* y, int64_t p0, int64_t p1);
void matmul_nbits_gemv_f32__avx512(const Int4Panels& w, const float* a, float* y, int64_t p0, int64_t p1);

/// Dequantizes `count` consecutive panels starting at p into dst [k][ld] (ld >= count*16: the packed-B panel
/// of the f32 GEMM micro-kernel with NR = ld), rows 0..k-1.
void matmul_nbits_dequant_panel_f32__avx2(const Int4Panels& w, int64_t p, int64_t count, int64_t ld, float* dst);
void matmul_nbits_dequant_panel_f32__avx512(const Int4Panels& w, int64_t p, int64_t count, int64_t ld, float* dst);

/// f16 <-> f32 (F16C, round to nearest even) for the f16 edges of MatMulNBits (A, bias, Y).
void matmul_nbits_f16_to_f32__avx2(const uint16_t* src, float* dst, int64_t n);
void matmul_nbits_f32_to_f16__avx2(const float* src, uint16_t* dst, int64_t n);

// ---- int8-activation path (accuracy_level 4, as ONNX Runtime names it) ----------------------------------
// A is quantized per row and per block: aq = round(a / sa), sa = max|a| / 127 over the block, and
// asum = sum(aq) over the block. Per 32 k the integer sums sum_k code * aq (u8 x s8 pairs of vpmaddubsw,
// |pair| <= 2 * 15 * 127, eight pairs summed in int16 <= 30480: no saturation) are widened to int32 and
// summed over the block; once per block: y += (isum - zero * asum) * scale * sa (isum and zero * asum are
// integers below 2^24 for integer zero points, so the subtraction is exact in float).
constexpr int64_t kNbitsQ8Rows = 4;  // rows per tile

/// Quantizes rows [i0, i1) of A [M][k] into aq [M][k_pad] (zero padded), sa and asum [M][k_blocks].
/// offset128: stores aq + 128 as u8 (the activation operand of the wide VNNI tile; padding 128).
void matmul_nbits_quantize_rows_q8__avx2(const float* a, int64_t k, int64_t block, int64_t k_blocks, int64_t k_pad,
                                         int64_t i0, int64_t i1, int8_t* aq, float* sa, float* asum,
                                         bool offset128 = false);
/// Unpacks panel p's codes into dst [k_pad/4][2][32] bytes: for each 4 consecutive k and each half of 8
/// columns, the 4 codes of column c at bytes 4c..4c+3 (the u8 operand of vpmaddubsw).
void matmul_nbits_unpack_panel_u8__avx2(const Int4Panels& w, int64_t p, uint8_t* dst);
/// ytile[r][0..16) = rows r < mr of aq (row stride lda, k_pad int8 each) times panel p (unpacked as above);
/// sa, asum: [mr][k_blocks] per-row block scales and code sums (row stride k_blocks).
void matmul_nbits_q8_tile__avx2(const Int4Panels& w, int64_t p, const uint8_t* wq, const int8_t* aq, int64_t lda,
                                const float* sa, const float* asum, int64_t mr, float* ytile);
/// The same tile with vpdpbusd (AVX-VNNI / AVX-512 VNNI on ymm); bitwise equal to the AVX2 tile.
void matmul_nbits_q8_tile__avxvnni(const Int4Panels& w, int64_t p, const uint8_t* wq, const int8_t* aq, int64_t lda,
                                   const float* sa, const float* asum, int64_t mr, float* ytile);
void matmul_nbits_q8_tile__avx512vnni(const Int4Panels& w, int64_t p, const uint8_t* wq, const int8_t* aq, int64_t lda,
                                      const float* sa, const float* asum, int64_t mr, float* ytile);
/// The int8-activation tile for this CPU (VNNI when it has it, else AVX2); nullptr below AVX2.

// ---- wide AVX-512 VNNI tile (int_zeros panels only) ------------------------------------------------------
// Weights as s8 (code - zero, -15..15), activations as u8 (aq + 128): vpdpbusd sums (aq + 128) * (code - zero)
// into int32 accumulators that start at corr (= -128 * sum(code - zero)), so each block ends with the exact
// integer sum(aq * (code - zero)) = isum - zero * asum of the 4x16 tile, without asum or an fnmadd; the float
// epilogue y += f * (scale * sa) is the same, so both tiles agree bitwise. Up to 8 rows x 16 columns (zmm),
// y kept in registers across blocks.
constexpr int64_t kNbitsQ8WideRows = 8;
/// dst [k_pad/4][16][4] s8: code - zero of panel p (the layout of matmul_nbits_unpack_panel_u8__avx2).
void matmul_nbits_unpack_panel_s8__avx512vnni(const Int4Panels& w, int64_t p, int8_t* dst);
/// ytile[r][0..16) for rows r < mr (<= 8) of aq (u8, offset 128, row stride lda) times panel p (unpacked s8);
/// sa [mr][k_blocks].
void matmul_nbits_q8_wide_tile__avx512vnni(const Int4Panels& w, int64_t p, const int8_t* wq, const uint8_t* aq,
                                           int64_t lda, const float* sa, int64_t mr, float* ytile);
/// The same for panels p and p + 1 (wq: two unpacked panels, the second at wq + k_pad * 16): ytile [mr][32],
/// mr <= 6.
constexpr int64_t kNbitsQ8Wide2Rows = 6;
void matmul_nbits_q8_wide2_tile__avx512vnni(const Int4Panels& w, int64_t p, const int8_t* wq, const uint8_t* aq,
                                            int64_t lda, const float* sa, int64_t mr, float* ytile);

using NbitsQ8Tile = void (*)(const Int4Panels&, int64_t, const uint8_t*, const int8_t*, int64_t, const float*,
                             const float*, int64_t, float*);
NbitsQ8Tile matmul_nbits_q8_tile_for_cpu();
/// Whether the int8-activation path takes the wide AVX-512 VNNI tile for w: the CPU (or JOULE_ISA) allows
/// avx512vnni, w.int_zeros, and JOULE_NBITS_Q8_TILE is not "4x16". Pairs of panels then run as 6x32 tiles
/// (JOULE_NBITS_Q8_TILE=8x16: one panel at a time).
bool matmul_nbits_q8_wide_for_cpu(const Int4Panels& w);

}  // namespace joule::kernels::cpu
