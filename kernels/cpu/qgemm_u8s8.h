// Exact u8 x s8 integer GEMM for the fused int8 ops (joule.QConv, joule.QGemm, joule.DynQMatMul).
//
// One operand is unsigned 8-bit (the activations, s8 ones flipped to u8 by x ^ 0x80 = x + 128, zero point
// + 128), the other signed 8-bit (the weights minus their zero point). Zero points of the u8 side are
// corrected with precomputed weight sums:  sum_k (a - za) * w = sum_k a * w - za * sum_k w.
//
// AVX2 (vpmaddubsw): each 16-bit lane sums one pair a0*w0 + a1*w1 with signed saturation. With a in [0, 255]
// that sum cannot saturate when, for the pair (w0, w1), max(w0,0) + max(w1,0) <= 128 and
// min(w0,0) + min(w1,0) >= -128 (255 * 128 = 32640 <= 32767). qweights_fit_u8s8_pairs() checks it once
// per layer at prepare time; layers that fail it run the exact int16 kernels (kernels/cpu/qgemm_s16.h).
// 7-bit weights ([-63, 63], `quantize --reduce-range`, the default) always pass. The pair sums are then
// widened with vpmaddwd(ones) and added in int32.
// VNNI (vpdpbusd): four u8 x s8 products summed straight into int32: exact for any 8-bit weights.
// Sums stay exact in int32 while K * 255 * 128 < 2^31 (K <= 65792); the drivers share kMaxK with qgemm_s16.
//
// Layouts (pairs are aligned to even k, quads to k % 4 == 0):
//   rows:   MR row pointers, each kq bytes (kq = K rounded up to a multiple of 4, zero padded)
//   panel:  bytes [kq/4][16][4]: quad q of column j at (q*16 + j)*4 .. +3
//   tile:   int32 [MR][16]
// "u8s8": rows unsigned, panel signed (QGemm / DynQMatMul: activations x weight panels);
// "s8u8": rows signed, panel unsigned (QConv: weight rows x activation panels).
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/cpu_features.h"

namespace joule::kernels::cpu {

constexpr int64_t kQgemmU8Nr = 16;

/// tile[i*16 + j] = sum_p rows[i][p] * panel(p, j) for i < MR, j < 16 (operand signedness as the name says).
using QgemmU8TileFn = void (*)(int64_t kq, const uint8_t* const* rows, const uint8_t* panel, int32_t* tile);
/// Two panels at once: panel and panel + panel_stride; tile int32 [2][MR][16] (panel 0's tile, then panel 1's).
using QgemmU8Tile2Fn = void (*)(int64_t kq, const uint8_t* const* rows, const uint8_t* panel, int64_t panel_stride, int32_t* tile);

struct QgemmU8Ukernel {
  const char* name;   // e.g. "6x16__avx2"
  Isa isa;
  int mr;
  QgemmU8TileFn u8s8;  // rows u8, panel s8
  QgemmU8TileFn s8u8;  // rows s8, panel u8
  bool (*runs_here)();  // CPU features beyond `isa` (AVX-VNNI)
  bool any_weights;     // true: exact for all 8-bit weights (VNNI); false: needs qweights_fit_u8s8_pairs
  QgemmU8Tile2Fn u8s8_x2 = nullptr;  // optional MR x 32 variants (two panels a call); drivers use them when set
  QgemmU8Tile2Fn s8u8_x2 = nullptr;
};

void qgemm_u8s8_6x16__avx2(int64_t kq, const uint8_t* const* rows, const uint8_t* panel, int32_t* tile);
void qgemm_s8u8_6x16__avx2(int64_t kq, const uint8_t* const* rows, const uint8_t* panel, int32_t* tile);
void qgemm_u8s8_6x16__avxvnni(int64_t kq, const uint8_t* const* rows, const uint8_t* panel, int32_t* tile);
void qgemm_s8u8_6x16__avxvnni(int64_t kq, const uint8_t* const* rows, const uint8_t* panel, int32_t* tile);
void qgemm_u8s8_12x16__avx512vnni(int64_t kq, const uint8_t* const* rows, const uint8_t* panel, int32_t* tile);
void qgemm_s8u8_12x16__avx512vnni(int64_t kq, const uint8_t* const* rows, const uint8_t* panel, int32_t* tile);
void qgemm_u8s8_12x32__avx512vnni(int64_t kq, const uint8_t* const* rows, const uint8_t* panel, int64_t panel_stride, int32_t* tile);
void qgemm_s8u8_12x32__avx512vnni(int64_t kq, const uint8_t* const* rows, const uint8_t* panel, int64_t panel_stride, int32_t* tile);

/// The micro-kernels this build has, lowest ISA first (avx2, avxvnni, avx512vnni).
const std::vector<QgemmU8Ukernel>& qgemm_u8s8_ukernels();

/// Plain C++ tile (the oracle for the micro-kernel tests); `rows_unsigned` picks u8s8 or s8u8.
void qgemm_u8s8_tile_ref(int mr, int64_t kq, const uint8_t* const* rows, const uint8_t* panel, int32_t* tile, bool rows_unsigned);

/// kq for K.
inline int64_t qgemm_kq(int64_t k) { return (k + 3) & ~int64_t{3}; }

/// True when every even-aligned k pair (w[k], w[k+1]) of every column keeps vpmaddubsw's pair sums exact for
/// any u8 activations (see the header comment). w(c, k) gives the weight (already minus its zero point).
template <class W>
bool qweights_fit_u8s8_pairs(int64_t columns, int64_t k, W w) {
  for (int64_t c = 0; c < columns; ++c)
    for (int64_t p = 0; p < k; p += 2) {
      const int32_t w0 = w(c, p), w1 = p + 1 < k ? w(c, p + 1) : 0;
      if (w0 < -128 || w0 > 127 || w1 < -128 || w1 > 127) return false;
      if ((w0 > 0 ? w0 : 0) + (w1 > 0 ? w1 : 0) > 128 || (w0 < 0 ? w0 : 0) + (w1 < 0 ? w1 : 0) < -128) return false;
    }
  return true;
}

/// Packs columns [j0, j0 + nc) (nc <= 16) of row-major bytes src[K][ld] into one panel (kq*16 bytes), each byte
/// XOR `flip` (0x80 turns s8 into u8 + 128); k >= K and j >= nc are zero.
void qpack_panel_u8q(const uint8_t* src, int64_t ld, int64_t k, int64_t j0, int64_t nc, uint8_t flip, uint8_t* panel);
void qpack_panel_u8q__avx2(const uint8_t* src, int64_t ld, int64_t k, int64_t j0, int64_t nc, uint8_t flip, uint8_t* panel);

/// Requantizes `rows` full tile rows of 16 sums (QConv: one bias and multiplier per row, mult[r] <= 1, no lookup
/// table) to out + r * out_stride; the same values as qrequant_row__avx2 (kernels/cpu/qgemm_s16.h).
void qrequant_rows16__avx2(const int32_t* tile, int64_t rows, const int32_t* bias, const float* mult, int32_t zp, int32_t lo, int32_t hi,
                           bool out_signed, uint8_t* out, int64_t out_stride);

/// AVX-512 form of the QConv epilogue for `rows` tile rows (row stride 16) of which the first nc <= 16 columns are
/// stored: any mult, and with lut32 (256 entries, index = output byte ^ (out_signed ? 0x80 : 0)) the fused table.
void qrequant_rows16__avx512(const int32_t* tile, int64_t rows, int64_t nc, const int32_t* bias, const float* mult, int32_t zp, int32_t lo,
                             int32_t hi, bool out_signed, const int32_t* lut32, uint8_t* out, int64_t out_stride);

/// One im2col row for stride 1 or 2: d[j] = xr[j * stride + off] ^ flip where 0 <= j * stride + off < w, else pad,
/// for j < ow (reads only inside [xr, xr + w)).
void qim2col_row_u8__avx512(const uint8_t* xr, int64_t off, int64_t stride, int64_t w, int64_t ow, uint8_t pad, uint8_t flip, uint8_t* d);

/// dst[i] = src[i] ^ flip for n bytes.
void qcopy_flip_u8__avx2(const uint8_t* src, uint8_t flip, int64_t n, uint8_t* dst);
/// dst[i] = src[2 * i] ^ flip for n bytes (stride-2 im2col rows); reads src[0 .. 2n - 2] only.
void qgather_stride2_u8__avx2(const uint8_t* src, uint8_t flip, int64_t n, uint8_t* dst);

/// DynamicQuantizeLinear's u8 values: dst[i] = clamp(round_half_even(x[i] / scale) + zp, 0, 255) (zp when !(scale > 0)).
void qdynamic_quantize_u8__avx2(const float* x, int64_t n, float scale, int32_t zp, uint8_t* dst);

/// Float epilogue of the dynamic path with a zero-point correction:
/// out[j] = float(acc[j] + corr[j]) * scale[j] (+ bias[j]), no FMA contraction.
void qscale_row_corr_f32__avx2(const int32_t* acc, const int32_t* corr, int64_t n, const float* scale, const float* bias, float* out);

}  // namespace joule::kernels::cpu
