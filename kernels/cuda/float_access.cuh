// Device helpers shared by the float kernels: f32/f16 loads and stores as float, activations, grid sizing.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/cuda_launch.h"

namespace joule::kernels::cuda {

__device__ __forceinline__ float load_f(const float* p, int64_t i) { return p[i]; }
__device__ __forceinline__ float load_f(const __half* p, int64_t i) { return __half2float(p[i]); }
__device__ __forceinline__ void store_f(float* p, int64_t i, float v) { p[i] = v; }
__device__ __forceinline__ void store_f(__half* p, int64_t i, float v) { p[i] = __float2half_rn(v); }

__device__ __forceinline__ float activate(Activation act, float x, float lo, float hi) {
  switch (act) {
    case Activation::kNone: return x;
    case Activation::kRelu: return x > 0.f ? x : 0.f;
    case Activation::kSigmoid: return 1.f / (1.f + expf(-x));
    case Activation::kTanh: return tanhf(x);
    case Activation::kGelu: return 0.5f * x * (1.f + erff(x * 0.70710678118654752f));
    case Activation::kGeluTanh: return 0.5f * x * (1.f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
    case Activation::kErf: return erff(x);
    case Activation::kClip: return fminf(fmaxf(x, lo), hi);
    case Activation::kLeakyRelu: return x >= 0.f ? x : lo * x;
    case Activation::kNeg: return -x;
    case Activation::kAbs: return fabsf(x);
    case Activation::kExp: return expf(x);
    case Activation::kLog: return logf(x);
    case Activation::kSqrt: return sqrtf(x);
    case Activation::kReciprocal: return 1.f / x;
    case Activation::kFloor: return floorf(x);
    case Activation::kCeil: return ceilf(x);
  }
  return x;
}

/// Blocks for a grid-stride loop over n elements with `threads` per block (capped; the loop covers the rest).
inline unsigned grid_for(int64_t n, int threads) {
  int64_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  if (b > 65535 * 8) b = 65535 * 8;
  return static_cast<unsigned>(b);
}

}  // namespace joule::kernels::cuda
