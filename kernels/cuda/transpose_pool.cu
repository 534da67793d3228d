// Data movement and windows: Transpose (any dtype by element size, rank <= 6), MaxPool / AveragePool over
// 1-3 spatial dims (3-D geometry with unit leading dims), GlobalAveragePool / GlobalMaxPool.
#include <cfloat>

#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/float_access.cuh"

namespace joule::kernels::cuda {

namespace {

constexpr int kThreads = 256;

struct TransposeIndex {
  int rank;
  int64_t out_dims[kMaxRank];
  int64_t in_stride[kMaxRank];
};

template <class E>
__global__ void transpose_kernel(const E* x, E* y, TransposeIndex ix, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    int64_t rem = i, off = 0;
    for (int d = ix.rank - 1; d >= 0; --d) {
      int64_t c = rem % ix.out_dims[d];
      rem /= ix.out_dims[d];
      off += c * ix.in_stride[d];
    }
    y[i] = x[off];
  }
}

// Number of taps k in [0, kernel) whose position start + k * dil lies in [0, size).
__device__ __forceinline__ int64_t taps_inside(int64_t start, int64_t kernel, int64_t dil, int64_t size, int64_t& lo) {
  lo = 0;
  while (lo < kernel && start + lo * dil < 0) ++lo;
  int64_t hi = kernel;
  while (hi > lo && start + (hi - 1) * dil >= size) --hi;
  return hi - lo;
}

template <class T>
__global__ void pool_kernel(PoolKind kind, const T* x, T* y, int64_t planes, PoolGeometry3d g) {
  const int64_t out_plane = g.out[0] * g.out[1] * g.out[2], in_plane = g.in[0] * g.in[1] * g.in[2];
  const int64_t n = planes * out_plane;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t pl = i / out_plane;
    int64_t r = i - pl * out_plane;
    const int64_t ow = r % g.out[2];
    r /= g.out[2];
    const int64_t oh = r % g.out[1], od = r / g.out[1];
    const int64_t s0 = od * g.strides[0] - g.pad_begin[0], s1 = oh * g.strides[1] - g.pad_begin[1],
                  s2 = ow * g.strides[2] - g.pad_begin[2];
    int64_t l0, l1, l2;
    const int64_t c0 = taps_inside(s0, g.kernel[0], g.dilations[0], g.in[0], l0);
    const int64_t c1 = taps_inside(s1, g.kernel[1], g.dilations[1], g.in[1], l1);
    const int64_t c2 = taps_inside(s2, g.kernel[2], g.dilations[2], g.in[2], l2);
    const T* xp = x + pl * in_plane;
    float best = -INFINITY, sum = 0.f;
    for (int64_t a = l0; a < l0 + c0; ++a)
      for (int64_t b = l1; b < l1 + c1; ++b)
        for (int64_t c = l2; c < l2 + c2; ++c) {
          float v = load_f(xp, ((s0 + a * g.dilations[0]) * g.in[1] + s1 + b * g.dilations[1]) * g.in[2] + s2 +
                                   c * g.dilations[2]);
          best = fmaxf(best, v);
          sum += v;
        }
    float out;
    if (kind == PoolKind::kMax) {
      out = best;
    } else {
      int64_t count = c0 * c1 * c2;
      if (kind == PoolKind::kAverageIncludePad) {  // taps inside the padded input [-pad_begin, in + pad_end)
        int64_t u;
        count = taps_inside(s0 + g.pad_begin[0], g.kernel[0], g.dilations[0], g.in[0] + g.pad_begin[0] + g.pad_end[0], u) *
                taps_inside(s1 + g.pad_begin[1], g.kernel[1], g.dilations[1], g.in[1] + g.pad_begin[1] + g.pad_end[1], u) *
                taps_inside(s2 + g.pad_begin[2], g.kernel[2], g.dilations[2], g.in[2] + g.pad_begin[2] + g.pad_end[2], u);
      }
      out = count > 0 ? sum / static_cast<float>(count) : 0.f;
    }
    store_f(y, i, out);
  }
}

template <class T>
__global__ void global_pool_kernel(bool max, const T* x, T* y, int64_t size) {
  __shared__ float scratch[kThreads];
  const T* xp = x + blockIdx.x * size;
  float acc = max ? -INFINITY : 0.f;
  for (int64_t j = threadIdx.x; j < size; j += blockDim.x) {
    float v = load_f(xp, j);
    acc = max ? fmaxf(acc, v) : acc + v;
  }
  scratch[threadIdx.x] = acc;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) scratch[threadIdx.x] = max ? fmaxf(scratch[threadIdx.x], scratch[threadIdx.x + s])
                                                    : scratch[threadIdx.x] + scratch[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) store_f(y, blockIdx.x, max ? scratch[0] : scratch[0] / static_cast<float>(size));
}

}  // namespace

Status launch_transpose(int elem_bytes, const void* x, void* y, int rank, const int64_t* out_dims,
                        const int64_t* in_stride, int64_t n, void* stream) {
  if (n == 0) return Status::ok();
  if (rank > kMaxRank) return unsupported("transpose of rank > 6");
  TransposeIndex ix{};
  ix.rank = rank;
  for (int d = 0; d < rank; ++d) {
    ix.out_dims[d] = out_dims[d];
    ix.in_stride[d] = in_stride[d];
  }
  const unsigned blocks = grid_for(n, kThreads);
  cudaStream_t s = stream_of(stream);
  switch (elem_bytes) {
    case 1: transpose_kernel<<<blocks, kThreads, 0, s>>>(static_cast<const uint8_t*>(x), static_cast<uint8_t*>(y), ix, n); break;
    case 2: transpose_kernel<<<blocks, kThreads, 0, s>>>(static_cast<const uint16_t*>(x), static_cast<uint16_t*>(y), ix, n); break;
    case 4: transpose_kernel<<<blocks, kThreads, 0, s>>>(static_cast<const uint32_t*>(x), static_cast<uint32_t*>(y), ix, n); break;
    case 8: transpose_kernel<<<blocks, kThreads, 0, s>>>(static_cast<const uint64_t*>(x), static_cast<uint64_t*>(y), ix, n); break;
    default: return unsupported("transpose of " + std::to_string(elem_bytes) + "-byte elements");
  }
  return launch_status("transpose_kernel");
}

Status launch_pool(PoolKind kind, DType t, const void* x, void* y, int64_t planes, const PoolGeometry3d& g, void* stream) {
  const int64_t n = planes * g.out[0] * g.out[1] * g.out[2];
  if (n == 0) return Status::ok();
  if (t == DType::kF32)
    pool_kernel<<<grid_for(n, kThreads), kThreads, 0, stream_of(stream)>>>(kind, static_cast<const float*>(x),
                                                                          static_cast<float*>(y), planes, g);
  else
    pool_kernel<<<grid_for(n, kThreads), kThreads, 0, stream_of(stream)>>>(kind, static_cast<const __half*>(x),
                                                                          static_cast<__half*>(y), planes, g);
  return launch_status("pool_kernel");
}

Status launch_global_pool(bool max, DType t, const void* x, void* y, int64_t planes, int64_t size, void* stream) {
  if (planes == 0) return Status::ok();
  if (planes > 0x7fffffff) return unsupported("global pool over more than 2^31 planes");
  if (t == DType::kF32)
    global_pool_kernel<<<static_cast<unsigned>(planes), kThreads, 0, stream_of(stream)>>>(
        max, static_cast<const float*>(x), static_cast<float*>(y), size);
  else
    global_pool_kernel<<<static_cast<unsigned>(planes), kThreads, 0, stream_of(stream)>>>(
        max, static_cast<const __half*>(x), static_cast<__half*>(y), size);
  return launch_status("global_pool_kernel");
}

}  // namespace joule::kernels::cuda
