// Row reductions: Softmax / LogSoftmax along one axis and LayerNormalization along the trailing dims.
// One thread block per row; f32 accumulation (two passes over the row; it stays in L1/L2 for rows of
// transformer size). f32 and f16 storage.
#include <cfloat>

#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/float_access.cuh"

namespace joule::kernels::cuda {

namespace {

constexpr int kThreads = 256;  // a multiple of 32

/// Reduces v over the block (sum or max); every thread gets the result. `scratch` holds 32 floats.
template <bool kMax>
__device__ float block_reduce(float v, float* scratch) {
  for (int o = 16; o > 0; o >>= 1) {
    float w = __shfl_xor_sync(0xffffffffu, v, o);
    v = kMax ? fmaxf(v, w) : v + w;
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  __syncthreads();  // scratch may still be read by a previous reduction
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : (kMax ? -FLT_MAX : 0.f);
  for (int o = 16; o > 0; o >>= 1) {
    float w = __shfl_xor_sync(0xffffffffu, v, o);
    v = kMax ? fmaxf(v, w) : v + w;
  }
  return v;
}

template <class T>
__global__ void softmax_kernel(const T* x, T* y, int64_t axis_len, int64_t inner, bool log_softmax) {
  __shared__ float scratch[32];
  const int64_t row = blockIdx.x;  // = outer index * inner + inner index
  const int64_t o = row / inner, in = row - o * inner;
  const int64_t base = o * axis_len * inner + in;
  float mx = -FLT_MAX;
  for (int64_t j = threadIdx.x; j < axis_len; j += blockDim.x) mx = fmaxf(mx, load_f(x, base + j * inner));
  mx = block_reduce<true>(mx, scratch);
  float sum = 0.f;
  for (int64_t j = threadIdx.x; j < axis_len; j += blockDim.x) sum += expf(load_f(x, base + j * inner) - mx);
  sum = block_reduce<false>(sum, scratch);
  const float inv = 1.f / sum, log_sum = logf(sum);
  for (int64_t j = threadIdx.x; j < axis_len; j += blockDim.x) {
    float d = load_f(x, base + j * inner) - mx;
    store_f(y, base + j * inner, log_softmax ? d - log_sum : expf(d) * inv);
  }
}

template <class T>
__global__ void layer_norm_kernel(const T* x, const T* scale, const T* bias, T* y, int64_t cols, float epsilon) {
  __shared__ float scratch[32];
  const int64_t base = blockIdx.x * cols;
  float s = 0.f;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) s += load_f(x, base + j);
  const float mean = block_reduce<false>(s, scratch) / static_cast<float>(cols);
  float v = 0.f;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
    float d = load_f(x, base + j) - mean;
    v += d * d;
  }
  const float inv_std = rsqrtf(block_reduce<false>(v, scratch) / static_cast<float>(cols) + epsilon);
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
    float r = (load_f(x, base + j) - mean) * inv_std * load_f(scale, j);
    if (bias) r += load_f(bias, j);
    store_f(y, base + j, r);
  }
}

}  // namespace

Status launch_softmax(DType t, const void* x, void* y, int64_t outer, int64_t axis_len, int64_t inner, bool log,
                      void* stream) {
  const int64_t rows = outer * inner;
  if (rows == 0 || axis_len == 0) return Status::ok();
  if (rows > 0x7fffffff) return unsupported("softmax with more than 2^31 rows");
  if (t == DType::kF32)
    softmax_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream_of(stream)>>>(
        static_cast<const float*>(x), static_cast<float*>(y), axis_len, inner, log);
  else
    softmax_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream_of(stream)>>>(
        static_cast<const __half*>(x), static_cast<__half*>(y), axis_len, inner, log);
  return launch_status("softmax_kernel");
}

Status launch_layer_norm(DType t, const void* x, const void* scale, const void* bias, void* y, int64_t rows,
                         int64_t cols, float epsilon, void* stream) {
  if (rows == 0 || cols == 0) return Status::ok();
  if (rows > 0x7fffffff) return unsupported("layer norm with more than 2^31 rows");
  if (t == DType::kF32)
    layer_norm_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream_of(stream)>>>(
        static_cast<const float*>(x), static_cast<const float*>(scale), static_cast<const float*>(bias),
        static_cast<float*>(y), cols, epsilon);
  else
    layer_norm_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream_of(stream)>>>(
        static_cast<const __half*>(x), static_cast<const __half*>(scale), static_cast<const __half*>(bias),
        static_cast<__half*>(y), cols, epsilon);
  return launch_status("layer_norm_kernel");
}

}  // namespace joule::kernels::cuda
