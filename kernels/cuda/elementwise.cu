// Elementwise CUDA kernels: unary activations, binary ops with numpy broadcasting (plus a fused activation),
// and the GEMM bias/activation epilogue. f32 and f16 storage, f32 math. Grid-stride loops, 64-bit indices.
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/float_access.cuh"

namespace joule::kernels::cuda {

namespace {

constexpr int kThreads = 256;

template <class T>
__global__ void unary_kernel(Activation act, const T* x, T* y, int64_t n, float lo, float hi) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    store_f(y, i, activate(act, load_f(x, i), lo, hi));
}

__device__ __forceinline__ float binary(BinaryOp op, float a, float b) {
  switch (op) {
    case BinaryOp::kAdd: return a + b;
    case BinaryOp::kSub: return a - b;
    case BinaryOp::kMul: return a * b;
    case BinaryOp::kDiv: return a / b;
    case BinaryOp::kMax: return fmaxf(a, b);
    case BinaryOp::kMin: return fminf(a, b);
    case BinaryOp::kPow: return powf(a, b);
  }
  return 0.f;
}

template <class T>
__global__ void binary_kernel(BinaryOp op, const T* a, const T* b, T* y, BroadcastIndex ix, int64_t n, Activation act,
                              float lo, float hi) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    int64_t rem = i, oa = 0, ob = 0;
    for (int d = ix.rank - 1; d >= 0; --d) {
      int64_t c = rem % ix.dims[d];
      rem /= ix.dims[d];
      oa += c * ix.a_stride[d];
      ob += c * ix.b_stride[d];
    }
    store_f(y, i, activate(act, binary(op, load_f(a, oa), load_f(b, ob)), lo, hi));
  }
}

template <class T>
__global__ void bias_activation_kernel(T* y, int64_t m, int64_t n, const T* c, int64_t csm, int64_t csn, float beta,
                                       Activation act, float lo, float hi) {
  const int64_t total = m * n;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total; i += int64_t{gridDim.x} * blockDim.x) {
    int64_t r = i / n, col = i - r * n;
    float v = load_f(y, i);
    if (c) v += beta * load_f(c, r * csm + col * csn);
    store_f(y, i, activate(act, v, lo, hi));
  }
}

template <class T, class Q>
__global__ void quantize_kernel(const T* x, Q* y, int64_t n, float scale, int32_t zp, float lo, float hi) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    y[i] = static_cast<Q>(fminf(fmaxf(rintf(load_f(x, i) / scale) + static_cast<float>(zp), lo), hi));
}

template <class Q>
__global__ void dequantize_kernel(const Q* x, float* y, int64_t n, float scale, int32_t zp) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    y[i] = static_cast<float>(static_cast<int32_t>(x[i]) - zp) * scale;
}

}  // namespace

Status launch_quantize_linear(DType xt, const void* x, bool y_signed, void* y, int64_t n, float scale, int32_t zero_point,
                              void* stream) {
  if (n == 0) return Status::ok();
  const float lo = y_signed ? -128.f : 0.f, hi = y_signed ? 127.f : 255.f;
  const unsigned g = grid_for(n, kThreads);
  cudaStream_t s = stream_of(stream);
  if (xt == DType::kF32) {
    if (y_signed) quantize_kernel<<<g, kThreads, 0, s>>>(static_cast<const float*>(x), static_cast<int8_t*>(y), n, scale, zero_point, lo, hi);
    else quantize_kernel<<<g, kThreads, 0, s>>>(static_cast<const float*>(x), static_cast<uint8_t*>(y), n, scale, zero_point, lo, hi);
  } else {
    if (y_signed) quantize_kernel<<<g, kThreads, 0, s>>>(static_cast<const __half*>(x), static_cast<int8_t*>(y), n, scale, zero_point, lo, hi);
    else quantize_kernel<<<g, kThreads, 0, s>>>(static_cast<const __half*>(x), static_cast<uint8_t*>(y), n, scale, zero_point, lo, hi);
  }
  return launch_status("quantize_kernel");
}

Status launch_dequantize_linear(bool x_signed, const void* x, float* y, int64_t n, float scale, int32_t zero_point, void* stream) {
  if (n == 0) return Status::ok();
  const unsigned g = grid_for(n, kThreads);
  if (x_signed) dequantize_kernel<<<g, kThreads, 0, stream_of(stream)>>>(static_cast<const int8_t*>(x), y, n, scale, zero_point);
  else dequantize_kernel<<<g, kThreads, 0, stream_of(stream)>>>(static_cast<const uint8_t*>(x), y, n, scale, zero_point);
  return launch_status("dequantize_kernel");
}

Status launch_unary(Activation act, DType t, const void* x, void* y, int64_t n, float lo, float hi, void* stream) {
  if (n == 0) return Status::ok();
  if (t == DType::kF32)
    unary_kernel<<<grid_for(n, kThreads), kThreads, 0, stream_of(stream)>>>(act, static_cast<const float*>(x),
                                                                           static_cast<float*>(y), n, lo, hi);
  else
    unary_kernel<<<grid_for(n, kThreads), kThreads, 0, stream_of(stream)>>>(act, static_cast<const __half*>(x),
                                                                           static_cast<__half*>(y), n, lo, hi);
  return launch_status("unary_kernel");
}

Status launch_binary(BinaryOp op, DType t, const void* a, const void* b, void* y, const BroadcastIndex& ix, int64_t n,
                     Activation act, float lo, float hi, void* stream) {
  if (n == 0) return Status::ok();
  if (t == DType::kF32)
    binary_kernel<<<grid_for(n, kThreads), kThreads, 0, stream_of(stream)>>>(
        op, static_cast<const float*>(a), static_cast<const float*>(b), static_cast<float*>(y), ix, n, act, lo, hi);
  else
    binary_kernel<<<grid_for(n, kThreads), kThreads, 0, stream_of(stream)>>>(
        op, static_cast<const __half*>(a), static_cast<const __half*>(b), static_cast<__half*>(y), ix, n, act, lo, hi);
  return launch_status("binary_kernel");
}

Status launch_bias_activation(DType t, void* y, int64_t m, int64_t n, const void* c, int64_t c_stride_m,
                              int64_t c_stride_n, float beta, Activation act, float lo, float hi, void* stream) {
  if (m * n == 0 || (!c && act == Activation::kNone)) return Status::ok();
  if (t == DType::kF32)
    bias_activation_kernel<<<grid_for(m * n, kThreads), kThreads, 0, stream_of(stream)>>>(
        static_cast<float*>(y), m, n, static_cast<const float*>(c), c_stride_m, c_stride_n, beta, act, lo, hi);
  else
    bias_activation_kernel<<<grid_for(m * n, kThreads), kThreads, 0, stream_of(stream)>>>(
        static_cast<__half*>(y), m, n, static_cast<const __half*>(c), c_stride_m, c_stride_n, beta, act, lo, hi);
  return launch_status("bias_activation_kernel");
}

}  // namespace joule::kernels::cuda
