// Packed-panel f32 GEMM shared by the AVX2 / AVX-512 MatMul, Gemm and Conv kernels.
// C[M,N] = epilogue(A[M,K] x B[K,N]); A and B are read through (row, column) strides, so
// transposed operands need no copy. The driver is baseline code; only the micro-kernels carry ISA flags.
//
// Layouts:
//   packed B: [ceil(N/NR)][K][NR]  (panel j holds columns j*NR.. j*NR+NR-1, zero padded)
//   packed A: [ceil(mc/MR)][kc][MR] per (MC, KC) block, packed by each worker into its own scratch.
// Blocking: KC = 8192/NR rows of K at a time (a KC x NR B micro-panel, 32 KiB, stays in L1), MC = 144 rows of A (in L2).
// Every C element is summed in the same k-order (KC blocks in order, FMA in order inside; KC does not
// depend on the thread count), so the result does not depend on how M/N tiles are spread over threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

#include "runtime/cpu_features.h"
#include "runtime/thread_pool.h"

namespace joule::kernels::cpu {

/// 64-byte aligned storage for packed operands; blocks of 1 MiB and more are pages mapped for them
/// alone, so they never pin heap space (see runtime/graph_plan.cpp on releasing constants). Throws
/// std::bad_alloc when the memory is not there.
void* packed_alloc(std::size_t bytes);
void packed_free(void* p, std::size_t bytes) noexcept;

/// Allocator giving 64-byte (cache line) aligned storage. Packed B panels must use it: the AVX-512
/// micro-kernel loads 64-byte B rows, and a panel that starts 16 bytes past a line (what malloc returns
/// for large blocks) splits every load over two lines; on Zen 4 that made some MiniLM FFN GEMMs 3x slower.
template <class T>
struct CacheLineAllocator {
  using value_type = T;
  CacheLineAllocator() = default;
  template <class U>
  CacheLineAllocator(const CacheLineAllocator<U>&) {}  // NOLINT(google-explicit-constructor)
  T* allocate(std::size_t n) { return static_cast<T*>(packed_alloc(n * sizeof(T))); }
  void deallocate(T* p, std::size_t n) { packed_free(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const CacheLineAllocator<U>&) const { return true; }
};
/// A float buffer for packed GEMM operands (64-byte aligned).
using PackedF32 = std::vector<float, CacheLineAllocator<float>>;

/// MR x NR micro-kernel: C[0:mv, 0:nv] (+)= Apanel[kc][MR] * Bpanel[kc][NR]; overwrites when !accumulate.
using GemmUkernelFn = void (*)(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int64_t mv, int64_t nv,
                               bool accumulate);

/// Packs rows [0, mv) (mv <= MR; row i at a + i*rs, columns contiguous) x kc columns of A into
/// [kc][MR], rows mv.. MR-1 zero: the same bytes as the driver's generic pack, by SIMD transposes.
using GemmPackAFn = void (*)(const float* a, int64_t rs, int64_t mv, int64_t kc, float* dst);

struct GemmUkernel {
  const char* name;  // e.g. "gemm_f32_6x16__avx2"
  Isa isa;
  int mr, nr;
  GemmUkernelFn fn;
  GemmPackAFn pack_a = nullptr;  // fast A pack for unit column stride; null: the driver's scalar loop
};

/// Writes the top-left mv x nv corner of a register tile (row stride tile_ld) to C, adding to C when
/// `accumulate`: the edge-tile path shared by every micro-kernel.
inline void store_partial_tile_f32(const float* tile, int64_t tile_ld, float* c, int64_t ldc, int64_t mv, int64_t nv,
                                   bool accumulate) {
  for (int64_t r = 0; r < mv; ++r) {
    float* row = c + r * ldc;
    const float* t = tile + r * tile_ld;
    for (int64_t j = 0; j < nv; ++j) row[j] = accumulate ? row[j] + t[j] : t[j];
  }
}

void gemm_f32_6x16__avx2(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int64_t mv, int64_t nv,
                         bool accumulate);
void gemm_f32_pack_a_6__avx2(const float* a, int64_t rs, int64_t mv, int64_t kc, float* dst);
void gemm_f32_12x32__avx512(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int64_t mv, int64_t nv,
                            bool accumulate);
void gemm_f32_pack_a_12__avx512(const float* a, int64_t rs, int64_t mv, int64_t kc, float* dst);

/// The micro-kernels this build has, lowest ISA first.
const std::vector<GemmUkernel>& gemm_f32_ukernels();

/// Activation applied after bias: kNone, Relu (max(x,0)) or Clip (min(max(x,lo),hi)).
enum class Activation { kNone = 0, kRelu = 1, kClip = 2 };

/// y = act(alpha * acc + beta * bias[i*bias_rs + j*bias_cs]) ; bias may be null.
struct GemmEpilogue {
  float alpha = 1.0f;
  float beta = 1.0f;
  const float* bias = nullptr;
  int64_t bias_rs = 0, bias_cs = 0;
  Activation act = Activation::kNone;
  float lo = 0.0f, hi = 0.0f;
  bool trivial() const { return alpha == 1.0f && !bias && act == Activation::kNone; }
};

/// Floats needed for B[K,N] packed for `uk`.
int64_t packed_b_size(const GemmUkernel& uk, int64_t k, int64_t n);
/// Packs B (element (p, j) at b[p*rs + j*cs]) into `dst` (packed_b_size floats).
void pack_b_f32(const GemmUkernel& uk, const float* b, int64_t rs, int64_t cs, int64_t k, int64_t n, float* dst);

/// The driver's blocking, i.e. the block layout pack_a_f32 writes: M in blocks of gemm_f32_mc() rows,
/// K in blocks of gemm_f32_kc(uk) (for callers that write packed A themselves, e.g. conv im2col).
int64_t gemm_f32_mc();
int64_t gemm_f32_kc(const GemmUkernel& uk);

/// Floats needed for A[M,K] packed for `uk` (all MC x KC blocks, see pack_a_f32).
int64_t packed_a_size(const GemmUkernel& uk, int64_t m, int64_t k);
/// Packs all of A (element (i, p) at a[i*rs + p*cs]) ahead of time: block (i0, p0) of the driver's
/// MC x KC blocking lies at dst + i0*K + p0*ceil(mc/MR)*MR, laid out [ceil(mc/MR)][kc][MR].
void pack_a_f32(const GemmUkernel& uk, const float* a, int64_t rs, int64_t cs, int64_t m, int64_t k, float* dst);

/// How gemm_f32_packed cuts the MR x NR tile grid for `threads` threads: rows in `mt` chunks of whole MR
/// panels, columns in `nt` chunks of whole NR panels (chunk sizes differ by at most one panel), run by
/// `threads` threads (fewer than asked when the GEMM is too small to pay for more). `mt * nt` is a
/// multiple of `threads` (1 to 8 tasks each, claimed one at a time), chosen by a cost model of the
/// busiest thread (tiles x K, B re-reads per row chunk, A packing, a fixed cost per task, and about one
/// task of slack for a thread that starts late).
struct GemmSplit {
  int64_t mt = 1, nt = 1, threads = 1;
};
GemmSplit gemm_f32_split(const GemmUkernel& uk, int64_t m, int64_t n, int64_t k, int threads);

/// C[M,N] (row stride ldc) = epilogue(A x packedB); A element (i, p) at a[i*a_rs + p*a_cs], or, when
/// `packed_a` is given (from pack_a_f32, e.g. constant conv weights), read from there instead.
/// Splits M/N tiles over `pool` (may be null); the result is the same for any thread count.
void gemm_f32_packed(const GemmUkernel& uk, int64_t m, int64_t n, int64_t k, const float* a, int64_t a_rs, int64_t a_cs,
                     const float* packed_b, float* c, int64_t ldc, const GemmEpilogue& ep, ThreadPool* pool,
                     const float* packed_a = nullptr);

}  // namespace joule::kernels::cpu
