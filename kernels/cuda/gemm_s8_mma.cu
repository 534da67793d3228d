// INT8 GEMM on tensor cores with mma.sync.m16n8k32 (sm_80+), int32 accumulation and a fused
// bias / zero-point / requantize / ReLU epilogue; contract in cuda_launch.h (GemmS8Params).
//
// Tiling: a 128-thread block computes a 64x64 tile of Y; 4 warps in 2x2, each 32x32 = 2 (m16) x 4 (n8)
// mma tiles. K advances 32 at a time through shared memory rows of 48 bytes (32 used; the padding makes
// the fragment loads bank-conflict free: rows g = 0..7 start at words 12*g mod 32, all distinct groups).
// Fragment layouts (PTX ISA, mma.m16n8k32 with 8-bit types; g = lane / 4, t = lane % 4):
//   A (16x32, row): a0 = A[g][4t..4t+3], a1 = A[g+8][4t..], a2 = A[g][16+4t..], a3 = A[g+8][16+4t..]
//   B (32x8, col):  b0 = B[4t..4t+3][g], b1 = B[16+4t..][g]  -> rows of Bt = B transposed, [n][k]
//   C (16x8):       c0, c1 = C[g][2t], C[g][2t+1]; c2, c3 = C[g+8][2t], C[g+8][2t+1]
// Simple by design (no cp.async pipeline, one buffer): the first version to verify on a GPU; tuning
// (128x128 tiles, multi-stage cp.async, ldmatrix) comes after it is correct.
#include <cstring>

#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/cuda_launch.h"

namespace joule::kernels::cuda {

namespace {

constexpr int kBM = 64, kBN = 64, kBK = 32, kRow = 48, kThreads = 128;

template <bool kASigned>
__device__ __forceinline__ void mma_s8(int32_t (&c)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  if constexpr (kASigned) {
    asm volatile(
        "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k32.row.col.s32.u8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
#else
  __trap();  // built only for sm_80+; the launcher refuses older devices
#endif
}

__device__ __forceinline__ uint32_t lds32(const uint8_t* p) { return *reinterpret_cast<const uint32_t*>(p); }

template <bool kASigned>
__global__ void __launch_bounds__(kThreads) gemm_s8_mma_kernel(GemmS8Params p) {
  __shared__ __align__(16) uint8_t as[kBM * kRow];
  __shared__ __align__(16) uint8_t bs[kBN * kRow];
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int wm = (warp >> 1) * 32, wn = (warp & 1) * 32;
  const int g = lane >> 2, t = lane & 3;
  const int64_t m0 = int64_t{blockIdx.y} * kBM, n0 = int64_t{blockIdx.x} * kBN;
  const uint8_t* a = static_cast<const uint8_t*>(p.a);
  const uint8_t* bt = reinterpret_cast<const uint8_t*>(p.bt);
  const bool a_vec = p.k % 16 == 0 && p.lda % 16 == 0 && reinterpret_cast<uintptr_t>(a) % 16 == 0;
  const int lr = tid >> 1, lc = (tid & 1) * 16;  // this thread's 16-byte chunk of each tile row

  int32_t acc[2][4][4];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0;

  for (int64_t k0 = 0; k0 < p.k; k0 += kBK) {
    uint4 av = make_uint4(0, 0, 0, 0);
    const int64_t ar = m0 + lr, ak = k0 + lc;
    if (ar < p.m) {
      const uint8_t* src = a + ar * p.lda + ak;
      if (a_vec) {
        if (ak < p.k) av = *reinterpret_cast<const uint4*>(src);
      } else {
        uint8_t tmp[16];
#pragma unroll
        for (int j = 0; j < 16; ++j) tmp[j] = ak + j < p.k ? src[j] : 0;
        memcpy(&av, tmp, 16);
      }
    }
    *reinterpret_cast<uint4*>(as + lr * kRow + lc) = av;
    uint4 bv = make_uint4(0, 0, 0, 0);
    const int64_t bn = n0 + lr;
    if (bn < p.n) bv = *reinterpret_cast<const uint4*>(bt + bn * p.k_pad + k0 + lc);  // k0 + 32 <= k_pad
    *reinterpret_cast<uint4*>(bs + lr * kRow + lc) = bv;
    __syncthreads();

    uint32_t af[2][4], bf[4][2];
#pragma unroll
    for (int mi = 0; mi < 2; ++mi) {
      const uint8_t* r0 = as + (wm + mi * 16 + g) * kRow + t * 4;
      const uint8_t* r8 = r0 + 8 * kRow;
      af[mi][0] = lds32(r0);
      af[mi][1] = lds32(r8);
      af[mi][2] = lds32(r0 + 16);
      af[mi][3] = lds32(r8 + 16);
    }
#pragma unroll
    for (int ni = 0; ni < 4; ++ni) {
      const uint8_t* c = bs + (wn + ni * 8 + g) * kRow + t * 4;
      bf[ni][0] = lds32(c);
      bf[ni][1] = lds32(c + 16);
    }
#pragma unroll
    for (int mi = 0; mi < 2; ++mi)
#pragma unroll
      for (int ni = 0; ni < 4; ++ni) mma_s8<kASigned>(acc[mi][ni], af[mi], bf[ni]);
    __syncthreads();
  }

  const int32_t lo0 = p.y_signed ? -128 : 0, hi = p.y_signed ? 127 : 255;
  const int32_t lo = p.relu ? max(lo0, p.y_zero_point) : lo0;  // ReLU in the quantized domain: q >= zero point
#pragma unroll
  for (int mi = 0; mi < 2; ++mi)
#pragma unroll
    for (int ni = 0; ni < 4; ++ni)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int64_t row = m0 + wm + mi * 16 + g + (e >> 1) * 8;
        const int64_t col = n0 + wn + ni * 8 + t * 2 + (e & 1);
        if (row >= p.m || col >= p.n) continue;
        // Wrapping int32 addition, like the reference's int32 cast of the exact sum.
        const int32_t v = static_cast<int32_t>(static_cast<uint32_t>(acc[mi][ni][e]) +
                                               static_cast<uint32_t>(p.col_offset ? p.col_offset[col] : 0));
        const int64_t o = row * p.n + col;
        if (!p.multiplier) {
          static_cast<int32_t*>(p.y)[o] = v;
          continue;
        }
        double q = rint(static_cast<double>(v) * static_cast<double>(p.multiplier[col])) + p.y_zero_point;
        q = fmin(fmax(q, static_cast<double>(lo)), static_cast<double>(hi));
        if (p.y_signed) static_cast<int8_t*>(p.y)[o] = static_cast<int8_t>(q);
        else static_cast<uint8_t*>(p.y)[o] = static_cast<uint8_t>(q);
      }
}

}  // namespace

Status launch_gemm_s8_mma(const GemmS8Params& p, void* stream) {
  if (p.m == 0 || p.n == 0) return Status::ok();
  if (p.k_pad % 32 != 0 || p.k_pad < p.k || p.lda < p.k)
    return internal_error("gemm_s8_mma: B must be [n, k_pad] with k_pad a multiple of 32 >= k, lda >= k");
  if (reinterpret_cast<uintptr_t>(p.bt) % 16 != 0) return internal_error("gemm_s8_mma: B not 16-byte aligned");
  if ((p.m + kBM - 1) / kBM > 65535) return unsupported("gemm_s8_mma: more than 65535*64 rows");
  dim3 grid(static_cast<unsigned>((p.n + kBN - 1) / kBN), static_cast<unsigned>((p.m + kBM - 1) / kBM));
  if (p.a_signed) gemm_s8_mma_kernel<true><<<grid, kThreads, 0, stream_of(stream)>>>(p);
  else gemm_s8_mma_kernel<false><<<grid, kThreads, 0, stream_of(stream)>>>(p);
  return launch_status("gemm_s8_mma_kernel");
}

}  // namespace joule::kernels::cuda
