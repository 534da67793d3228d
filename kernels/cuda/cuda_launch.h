// Host-side launchers of the custom CUDA kernels (kernels/cuda/*.cu). Plain C++ (no CUDA headers):
// pointers are device memory, `stream` is a cudaStream_t. Each launcher returns the launch error, if any.
// Float kernels take f32 or f16 (DType::kF16) data and compute in f32.
#pragma once

#include <cstdint>

#include "joule/dtype.h"
#include "joule/status.h"

namespace joule::kernels::cuda {

constexpr int kMaxRank = 6;

/// Activation applied by elementwise kernels and GEMM epilogues.
enum class Activation : int {
  kNone, kRelu, kSigmoid, kTanh, kGelu /* erf form */, kGeluTanh, kErf, kClip /* [lo, hi] */,
  kLeakyRelu /* alpha = lo */, kNeg, kAbs, kExp, kLog, kSqrt, kReciprocal, kFloor, kCeil
};

/// y = act(x) elementwise over n elements (lo/hi: Clip bounds, or LeakyRelu's alpha in lo).
Status launch_unary(Activation act, DType t, const void* x, void* y, int64_t n, float lo, float hi, void* stream);

enum class BinaryOp : int { kAdd, kSub, kMul, kDiv, kMax, kMin, kPow };

/// Output dims and the element strides of A and B along them (0 on broadcast dims), rank <= kMaxRank.
struct BroadcastIndex {
  int rank = 0;
  int64_t dims[kMaxRank] = {};
  int64_t a_stride[kMaxRank] = {};
  int64_t b_stride[kMaxRank] = {};
};

/// y = act(a op b) with numpy broadcasting described by `ix` (n = product of ix.dims).
Status launch_binary(BinaryOp op, DType t, const void* a, const void* b, void* y, const BroadcastIndex& ix, int64_t n,
                     Activation act, float lo, float hi, void* stream);

/// GEMM epilogue in place: Y[i, j] = act(alpha_y * Y[i, j] + beta * C[i * c_stride_m + j * c_stride_n]) for an
/// [m, n] row-major Y; c may be null (no bias). The strides express C's broadcast (0 on broadcast dims).
Status launch_bias_activation(DType t, void* y, int64_t m, int64_t n, const void* c, int64_t c_stride_m,
                              int64_t c_stride_n, float beta, Activation act, float lo, float hi, void* stream);

/// Softmax / LogSoftmax of x viewed as [outer, axis_len, inner] along the middle dim.
Status launch_softmax(DType t, const void* x, void* y, int64_t outer, int64_t axis_len, int64_t inner, bool log,
                      void* stream);

/// LayerNormalization of x viewed as [rows, cols] along cols; scale/bias are [cols] (bias may be null).
Status launch_layer_norm(DType t, const void* x, const void* scale, const void* bias, void* y, int64_t rows,
                         int64_t cols, float epsilon, void* stream);

/// y[out index] = x[in index] for a permutation: out_dims = x dims permuted; in_stride[d] is the x stride
/// of the input dim that output dim d reads. Any dtype of `elem_bytes` 1, 2, 4 or 8.
Status launch_transpose(int elem_bytes, const void* x, void* y, int rank, const int64_t* out_dims,
                        const int64_t* in_stride, int64_t n, void* stream);

/// 3-D window geometry (1-D and 2-D pools use leading unit dims), as ops::WindowGeometry::as_3d().
struct PoolGeometry3d {
  int64_t in[3], kernel[3], strides[3], dilations[3], pad_begin[3], pad_end[3], out[3];
};
enum class PoolKind : int { kMax, kAverage, kAverageIncludePad };
/// Max / average pooling over `planes` (= N*C) planes of x [planes, in...] into y [planes, out...].
Status launch_pool(PoolKind kind, DType t, const void* x, void* y, int64_t planes, const PoolGeometry3d& g, void* stream);
/// Global average / max over each of `planes` planes of `size` elements.
Status launch_global_pool(bool max, DType t, const void* x, void* y, int64_t planes, int64_t size, void* stream);

/// Per-tensor QuantizeLinear: y = saturate(rint(x / scale) + zero_point) (x f32/f16, division in f32 as the
/// reference does; y u8 or s8 per y_signed).
Status launch_quantize_linear(DType xt, const void* x, bool y_signed, void* y, int64_t n, float scale, int32_t zero_point,
                              void* stream);
/// Per-tensor DequantizeLinear to f32: y = float(x - zero_point) * scale (x u8 or s8 per x_signed).
Status launch_dequantize_linear(bool x_signed, const void* x, float* y, int64_t n, float scale, int32_t zero_point, void* stream);

/// INT8 GEMM on tensor cores (mma.sync m16n8k32, sm_80+), see gemm_s8_mma.cu:
///   acc[i, j] = sum_k A[i, k] * Bt[j, k] + col_offset[j]          (exact in int32)
///   Y[i, j]   = int32 acc                                          when multiplier is null, else
///   Y[i, j]   = clamp(rint(double(acc) * double(multiplier[j])) + y_zero_point, relu ? y_zero_point : lo, hi)
/// A [m, k] row-major u8 or s8 (row stride lda); Bt [n, k_pad] s8 (B transposed, K zero-padded to a multiple
/// of 32); col_offset [n] int32 (bias - a_zero_point * column sums of B; may be null); Y [m, n] row-major
/// (int32, or u8/s8 per y_signed).
struct GemmS8Params {
  const void* a = nullptr;
  bool a_signed = false;
  int64_t m = 0, n = 0, k = 0, lda = 0;
  const int8_t* bt = nullptr;
  int64_t k_pad = 0;
  const int32_t* col_offset = nullptr;
  const float* multiplier = nullptr;
  int32_t y_zero_point = 0;
  bool y_signed = false;
  bool relu = false;
  void* y = nullptr;
};
Status launch_gemm_s8_mma(const GemmS8Params& p, void* stream);

/// INT4 weight-only GEMV/GEMM (MatMulNBits layout): Y[i, j] = sum_k A[i, k] * (q[j, k] - zp[j, b]) * scale[j, b]
/// (+ bias[j]), b = k / block. B packed u8 [n, k_blocks, block/2] (low nibble first); scales and zero
/// points as f32 [n * k_blocks] (zero_points null: 8); bias f32 [n] or null. A and Y f32 or f16 (type t).
struct GemvQ4Params {
  DType t = DType::kF32;
  const void* a = nullptr;
  int64_t m = 0, n = 0, k = 0, block = 32, k_blocks = 0;
  const uint8_t* b = nullptr;
  const float* scales = nullptr;
  const float* zero_points = nullptr;
  const float* bias = nullptr;
  void* y = nullptr;
};
Status launch_gemv_q4(const GemvQ4Params& p, void* stream);

}  // namespace joule::kernels::cuda
