// FP32 elementwise, activation, Softmax, LayerNormalization and pooling-sum row kernels, one table per ISA
// (elementwise_f32__avx2.cpp, elementwise_f32__avx512.cpp; bodies in elementwise_f32_simd_impl.h).
// The op files (elementwise_f32.cpp, softmax_layer_norm_f32.cpp, pool_f32.cpp) do broadcasting,
// attribute reading and threading, and call these on contiguous runs of floats.
#pragma once

#include <cstdint>

#include "runtime/cpu_features.h"

namespace joule::kernels::cpu {

enum class BinaryOpF32 : int { kAdd, kSub, kMul, kDiv, kMax, kMin };

enum class UnaryOpF32 : int {
  kRelu, kLeakyRelu, kSigmoid, kTanh, kErf, kGeluErf, kGeluTanh, kHardSwish, kHardSigmoid, kClip, kExp, kSqrt, kNeg,
  kSquare,  // Pow(x, 2)
};

/// Attribute values of a unary op: LeakyRelu alpha = a; HardSigmoid alpha = a, beta = b; Clip lo = a, hi = b.
struct UnaryParamsF32 {
  float a = 0.f, b = 0.f;
};

/// Row kernels of one ISA. Every element is computed the same way wherever it sits in a run, so any
/// split of a tensor over threads gives bitwise identical results.
struct ElementwiseF32Kernels {
  /// y[j] = op(a[j * sa], b[j * sb]) for j < n; sa, sb are 0 (broadcast scalar) or 1.
  void (*binary)(BinaryOpF32 op, const float* a, int64_t sa, const float* b, int64_t sb, float* y, int64_t n);
  /// y[j] = op(x[j]) for j < n (y may equal x).
  void (*unary)(UnaryOpF32 op, const UnaryParamsF32& p, const float* x, float* y, int64_t n);
  /// Softmax along each of `rows` contiguous rows of `len` floats.
  void (*softmax_rows)(const float* x, float* y, int64_t rows, int64_t len);
  /// Softmax along the middle dim of one [len][inner] block (inner > 1), vectorised across inner.
  void (*softmax_strided)(const float* x, float* y, int64_t len, int64_t inner);
  /// LayerNormalization of `rows` contiguous rows of `len` floats: y = (x - mean) * inv_std * scale + bias
  /// (bias may be null); mean / inv_std (per row) written when non-null.
  void (*layer_norm_rows)(const float* x, const float* scale, const float* bias, float* y, int64_t rows, int64_t len,
                          float eps, float* mean, float* inv_std);
  /// y[p] = mean of plane p (`planes` contiguous planes of `len` floats each).
  void (*plane_means)(const float* x, float* y, int64_t planes, int64_t len);
};

const ElementwiseF32Kernels& elementwise_f32_avx2();
const ElementwiseF32Kernels& elementwise_f32_avx512();

/// The table for `isa` (kAvx2 or kAvx512; higher levels use the AVX-512 table).
inline const ElementwiseF32Kernels& elementwise_f32_kernels(Isa isa) {
  return isa >= Isa::kAvx512 ? elementwise_f32_avx512() : elementwise_f32_avx2();
}

}  // namespace joule::kernels::cpu
