// Exact integer GEMM on 16-bit operands for the fused int8 ops (joule.QConv, joule.QGemm, joule.DynQMatMul).
//
// Both operands are widened once to int16 with their zero points subtracted (u8 - zp and s8 - zp both fit),
// so a pair product sum (a0*b0 + a1*b1, |.| <= 2 * 255 * 255) fits int32 and vpmaddwd / vpdpwssd are exact
// for full-range 8-bit data: no vpmaddubsw 16-bit saturation, no zero-point correction terms.
// Sums stay exact in int32 while K * 255 * 255 < 2^31 (K < 33025).
//
// Layouts:
//   left operand:  MR row pointers, each int16 [kp] (kp = K rounded up to even, zero padded)
//   right panel:   int16 [kp/2][16][2]: pair p of column j at (p*16 + j)*2 .. +1
//   tile:          int32 [MR][16]
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/cpu_features.h"

namespace joule::kernels::cpu {

constexpr int64_t kQgemmNr = 16;

/// tile[i*16 + j] = sum_p rows[i][p] * panel(p, j) for i < MR, j < 16.
using QgemmTileFn = void (*)(int64_t kp, const int16_t* const* rows, const int16_t* panel, int32_t* tile);

struct QgemmUkernel {
  const char* name;  // e.g. "qgemm_s16_6x16__avx2"
  Isa isa;
  int mr;
  QgemmTileFn fn;
  bool (*runs_here)();  // CPU features beyond `isa` (AVX-VNNI)
};

void qgemm_s16_6x16__avx2(int64_t kp, const int16_t* const* rows, const int16_t* panel, int32_t* tile);
void qgemm_s16_6x16__avxvnni(int64_t kp, const int16_t* const* rows, const int16_t* panel, int32_t* tile);
void qgemm_s16_12x16__avx512(int64_t kp, const int16_t* const* rows, const int16_t* panel, int32_t* tile);
void qgemm_s16_12x16__avx512vnni(int64_t kp, const int16_t* const* rows, const int16_t* panel, int32_t* tile);

/// The micro-kernels this build has, lowest ISA first (avx2, avxvnni, avx512, avx512vnni).
const std::vector<QgemmUkernel>& qgemm_s16_ukernels();

/// Plain C++ tile (the oracle for the micro-kernel tests).
void qgemm_s16_tile_ref(int mr, int64_t kp, const int16_t* const* rows, const int16_t* panel, int32_t* tile);

/// kp for K.
inline int64_t qgemm_kp(int64_t k) { return (k + 1) & ~int64_t{1}; }

/// Packs columns [j0, j0 + nc) (nc <= 16) of a row-major int16 matrix src[K][ld] into one panel (kp*16).
void qpack_panel_s16(const int16_t* src, int64_t ld, int64_t k, int64_t j0, int64_t nc, int16_t* panel);
void qpack_panel_s16__avx2(const int16_t* src, int64_t ld, int64_t k, int64_t j0, int64_t nc, int16_t* panel);

/// The same from 8-bit rows src[K][ld], widened minus zp on the way (1x1 convolutions: no im2col copy).
void qpack_panel_u8__avx2(const uint8_t* src, int64_t ld, int64_t k, int64_t j0, int64_t nc, bool is_signed, int32_t zp,
                          int16_t* panel);
/// dst[i] = int16(src[i] - zp) for n 8-bit values (signed when `is_signed`).
void qwiden_s16__avx2(const uint8_t* src, bool is_signed, int32_t zp, int64_t n, int16_t* dst);

/// Requantization of one row of sums: out[j] = clamp(rint(double(acc[j] + bias[j*bs]) * double(mult[j*ms])) + zp, lo, hi)
/// (bs / ms = 0: one value for the row; bias may be null). Output int8 when `out_signed`, else uint8,
/// then mapped through `lut` when given.
struct QRequant {
  const int32_t* bias = nullptr;
  int64_t bias_step = 0;
  const float* mult = nullptr;
  int64_t mult_step = 0;
  int32_t zp = 0, lo = 0, hi = 255;
  bool out_signed = false;
  const uint8_t* lut = nullptr;  // optional: out[j] = lut[byte ^ (out_signed ? 0x80 : 0)] (index q - type_min)
};
void qrequant_row__avx2(const int32_t* acc, int64_t n, const QRequant& rq, void* out);

/// Float epilogue of the dynamic path: out[j] = float(acc[j]) * scale[j] (+ bias[j]), no FMA contraction.
void qscale_row_f32__avx2(const int32_t* acc, int64_t n, const float* scale, const float* bias, float* out);

/// DynamicQuantizeLinear's scale / zero point for n floats (false on NaN), then rows of int16 (q - zp).
bool qdynamic_range__avx2(const float* x, int64_t n, float& scale, int32_t& zp);
void qdynamic_quantize_s16__avx2(const float* x, int64_t n, float scale, int32_t zp, int16_t* dst);

}  // namespace joule::kernels::cpu
