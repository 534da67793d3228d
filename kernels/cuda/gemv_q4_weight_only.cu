// INT4 weight-only GEMV (MatMulNBits layout), dequantizing in registers; contract in cuda_launch.h.
// One warp per output element Y[i, j]: each lane takes 8 consecutive k (one 32-bit load of 8 nibbles, which
// never straddles a block since block_size >= 16 is a power of 2), lanes stride by 256 k, then a warp
// shuffle reduction. Row j of B is block-major with block/2 bytes per block, i.e. byte k/2 holds code k
// (low nibble first), so the row reads as one packed nibble array. Built for decode-size M (1..a few);
// larger M works but re-reads B per row.
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/float_access.cuh"

namespace joule::kernels::cuda {

namespace {

constexpr int kWarps = 4;

template <class T>
__global__ void __launch_bounds__(kWarps * 32) gemv_q4_kernel(GemvQ4Params p) {
  const int lane = threadIdx.x & 31;
  const int64_t j = int64_t{blockIdx.x} * kWarps + (threadIdx.x >> 5);
  const int64_t i = blockIdx.y;
  if (j >= p.n) return;
  const uint8_t* brow = p.b + j * p.k_blocks * (p.block / 2);
  const T* arow = static_cast<const T*>(p.a) + i * p.k;
  const float* srow = p.scales + j * p.k_blocks;
  const float* zrow = p.zero_points ? p.zero_points + j * p.k_blocks : nullptr;
  float acc = 0.f;
  for (int64_t k0 = int64_t{lane} * 8; k0 < p.k; k0 += 256) {
    const uint32_t w = *reinterpret_cast<const uint32_t*>(brow + k0 / 2);
    const int64_t blk = k0 / p.block;
    const float s = srow[blk], z = zrow ? zrow[blk] : 8.f;
#pragma unroll
    for (int c = 0; c < 8; ++c) {
      const int64_t k = k0 + c;
      if (k < p.k) acc += load_f(arow, k) * ((static_cast<float>((w >> (4 * c)) & 15u) - z) * s);
    }
  }
  for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
  if (lane == 0) {
    if (p.bias) acc += p.bias[j];
    store_f(static_cast<T*>(p.y), i * p.n + j, acc);
  }
}

}  // namespace

Status launch_gemv_q4(const GemvQ4Params& p, void* stream) {
  if (p.m == 0 || p.n == 0) return Status::ok();
  if (p.block < 16 || (p.block & (p.block - 1)) != 0) return internal_error("gemv_q4: block must be a power of 2 >= 16");
  if (p.k_blocks * p.block < p.k) return internal_error("gemv_q4: k_blocks * block < k");
  if (reinterpret_cast<uintptr_t>(p.b) % 8 != 0) return internal_error("gemv_q4: B not 8-byte aligned");
  if (p.m > 65535) return unsupported("gemv_q4: more than 65535 rows (use a GEMM)");
  dim3 grid(static_cast<unsigned>((p.n + kWarps - 1) / kWarps), static_cast<unsigned>(p.m));
  if (p.t == DType::kF32) gemv_q4_kernel<float><<<grid, kWarps * 32, 0, stream_of(stream)>>>(p);
  else gemv_q4_kernel<__half><<<grid, kWarps * 32, 0, stream_of(stream)>>>(p);
  return launch_status("gemv_q4_kernel");
}

}  // namespace joule::kernels::cuda
