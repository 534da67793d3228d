// Baseline driver of the packed f32 GEMM: packing, KC/MC/NC blocking, threading and the epilogue.
// See gemm_f32.h for the layouts.
#include "kernels/cpu/gemm_f32.h"

#include "kernels/cpu/gemv_f32.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>

#include <sys/mman.h>

namespace joule::kernels::cpu {

namespace {
constexpr std::size_t kMappedPackedBytes = std::size_t{1} << 20;
}  // namespace

void* packed_alloc(std::size_t bytes) {
  if (bytes < kMappedPackedBytes) return ::operator new(bytes, std::align_val_t{64});
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  return p;
}

void packed_free(void* p, std::size_t bytes) noexcept {
  if (p == nullptr) return;
  if (bytes < kMappedPackedBytes) {
    ::operator delete(p, std::align_val_t{64});
    return;
  }
  munmap(p, bytes);
}

namespace {

// K block: a KC x NR B micro-panel (32 KiB at NR=16, 32 KiB at NR=32) stays in L1; fewer KC blocks
// also mean fewer read-modify-write passes over C (at n=1024 on Zen 3, KC=512 measured ~3% faster than 256).
int64_t kc_of(const GemmUkernel& uk) { return 8192 / uk.nr; }
// M block (a multiple of every MR): the packed A block (144 x KC) stays in L2. 144 >= 128 keeps an
// encoder's M=128 GEMMs in one block, so B streams through once (Zen 4, 1 MiB L2: 96 -> 144 measured
// 1.60/1.63 -> 1.54/1.61 ms on 128x384x1536, 1024^3 unchanged within noise).
constexpr int64_t kMc = 144;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Packs rows [i0, i0+mc) x depth [p0, p0+kc) of A into [ceil(mc/MR)][kc][MR], zero padded.
void pack_a_block(const GemmUkernel& uk, const float* a, int64_t rs, int64_t cs, int64_t i0, int64_t mc, int64_t p0,
                  int64_t kc, float* dst) {
  const int64_t mr = uk.mr;
  for (int64_t ib = 0; ib < mc; ib += mr) {
    int64_t mv = std::min<int64_t>(mr, mc - ib);
    const float* src = a + (i0 + ib) * rs + p0 * cs;
    if (cs == 1 && uk.pack_a) {
      uk.pack_a(src, rs, mv, kc, dst);
      dst += kc * mr;
      continue;
    }
    if (cs == 1) {
      for (int64_t r = 0; r < mv; ++r) {
        const float* row = src + r * rs;
        for (int64_t p = 0; p < kc; ++p) dst[p * mr + r] = row[p];
      }
    } else {
      for (int64_t p = 0; p < kc; ++p)
        for (int64_t r = 0; r < mv; ++r) dst[p * mr + r] = src[r * rs + p * cs];
    }
    for (int64_t r = mv; r < mr; ++r)
      for (int64_t p = 0; p < kc; ++p) dst[p * mr + r] = 0.0f;
    dst += kc * mr;
  }
}

// Row by row with the activation hoisted out of the loop, so each variant vectorizes.
template <Activation A>
void apply_epilogue_act(float* c, int64_t ldc, int64_t i0, int64_t i1, int64_t j0, int64_t j1, const GemmEpilogue& ep) {
  const float alpha = ep.alpha, beta = ep.beta, lo = ep.lo, hi = ep.hi;
  for (int64_t i = i0; i < i1; ++i) {
    float* row = c + i * ldc;
    const float* bias = ep.bias ? ep.bias + i * ep.bias_rs : nullptr;
    const int64_t bcs = ep.bias_cs;
    for (int64_t j = j0; j < j1; ++j) {
      float v = alpha * row[j];
      if (bias) v += beta * (bcs ? bias[j * bcs] : bias[0]);
      if constexpr (A == Activation::kRelu) v = v > 0.0f ? v : 0.0f;
      if constexpr (A == Activation::kClip) v = std::min(std::max(v, lo), hi);
      row[j] = v;
    }
  }
}

void apply_epilogue(float* c, int64_t ldc, int64_t i0, int64_t i1, int64_t j0, int64_t j1, const GemmEpilogue& ep) {
  switch (ep.act) {
    case Activation::kNone: apply_epilogue_act<Activation::kNone>(c, ldc, i0, i1, j0, j1, ep); break;
    case Activation::kRelu: apply_epilogue_act<Activation::kRelu>(c, ldc, i0, i1, j0, j1, ep); break;
    case Activation::kClip: apply_epilogue_act<Activation::kClip>(c, ldc, i0, i1, j0, j1, ep); break;
  }
}

}  // namespace

const std::vector<GemmUkernel>& gemm_f32_ukernels() {
  static const std::vector<GemmUkernel> list = {
      {"gemm_f32_6x16__avx2", Isa::kAvx2, 6, 16, gemm_f32_6x16__avx2, gemm_f32_pack_a_6__avx2},
      {"gemm_f32_12x32__avx512", Isa::kAvx512, 12, 32, gemm_f32_12x32__avx512, gemm_f32_pack_a_12__avx512},
  };
  return list;
}

int64_t packed_b_size(const GemmUkernel& uk, int64_t k, int64_t n) { return ceil_div(n, uk.nr) * uk.nr * k; }

void pack_b_f32(const GemmUkernel& uk, const float* b, int64_t rs, int64_t cs, int64_t k, int64_t n, float* dst) {
  const int64_t nr = uk.nr;
  for (int64_t j0 = 0; j0 < n; j0 += nr) {
    int64_t nv = std::min(nr, n - j0);
    for (int64_t p = 0; p < k; ++p) {
      const float* src = b + p * rs + j0 * cs;
      if (cs == 1) {
        std::memcpy(dst, src, static_cast<size_t>(nv) * sizeof(float));
      } else {
        for (int64_t j = 0; j < nv; ++j) dst[j] = src[j * cs];
      }
      for (int64_t j = nv; j < nr; ++j) dst[j] = 0.0f;
      dst += nr;
    }
  }
}

int64_t gemm_f32_mc() { return kMc; }
int64_t gemm_f32_kc(const GemmUkernel& uk) { return kc_of(uk); }

int64_t packed_a_size(const GemmUkernel& uk, int64_t m, int64_t k) { return ceil_div(m, uk.mr) * uk.mr * k; }

void pack_a_f32(const GemmUkernel& uk, const float* a, int64_t rs, int64_t cs, int64_t m, int64_t k, float* dst) {
  const int64_t kKc = kc_of(uk);
  for (int64_t i0 = 0; i0 < m; i0 += kMc) {
    const int64_t mc = std::min(kMc, m - i0), mcp = ceil_div(mc, uk.mr) * uk.mr;
    for (int64_t p0 = 0; p0 < k; p0 += kKc)
      pack_a_block(uk, a, rs, cs, i0, mc, p0, std::min(kKc, k - p0), dst + i0 * k + p0 * mcp);
  }
}

namespace {

// Packs MR-row panels [q0, q1) of A (all KC blocks) into the pack_a_f32 layout.
void pack_a_panels(const GemmUkernel& uk, const float* a, int64_t rs, int64_t cs, int64_t m, int64_t k, int64_t q0,
                   int64_t q1, float* dst) {
  const int64_t mr = uk.mr, kKc = kc_of(uk);
  for (int64_t q = q0; q < q1;) {
    const int64_t r0 = q * mr, i0 = r0 / kMc * kMc, mc = std::min(kMc, m - i0), mcp = ceil_div(mc, mr) * mr;
    const int64_t r1 = std::min({q1 * mr, i0 + mc});  // stay inside this MC block
    for (int64_t p0 = 0; p0 < k; p0 += kKc) {
      const int64_t kc = std::min(kKc, k - p0);
      pack_a_block(uk, a, rs, cs, r0, r1 - r0, p0, kc, dst + i0 * k + p0 * mcp + (r0 - i0) * kc);
    }
    q = ceil_div(r1, mr);
  }
}

// Modelled cost of one task, in MR x NR tile steps (one tile x one k: ~6 cycles): the tiles x depth, its
// B micro-panels streamed from L3 once per MC block its rows touch, its A rows read (and packed, when
// each task packs its own), and a fixed cost (claiming it, the call, warming the caches).
double task_cost(int64_t row_panels, int64_t mr, int64_t mc_blocks, int64_t col_panels, int64_t k, bool packs_a) {
  const double rows = static_cast<double>(row_panels * mr), kd = static_cast<double>(k);
  double c = static_cast<double>(row_panels * col_panels) * kd;
  c += 0.4 * static_cast<double>(col_panels * mc_blocks) * kd;
  c += (packs_a ? 0.07 : 0.02) * rows * kd;
  return c + 500.0;
}

// Tasks are claimed one at a time (parallel_for_dynamic), so the busiest thread ends at about
// total / threads + (largest - smallest task); a thread that starts late (preempted, or a worker waking)
// holds back about one task more, weighted 0.5 below: several equal tasks per thread beat one big one
// when the GEMM is large enough to pay their fixed cost.
GemmSplit choose_split(int64_t m, int64_t n, int64_t k, int64_t mr, int64_t nr, int threads) {
  GemmSplit best;
  const int64_t mpan = ceil_div(m, mr), npan = ceil_div(n, nr);
  // Each extra thread should get at least ~128K multiply-adds (a few microseconds), or the hand-off costs more.
  const int64_t useful = std::max<int64_t>(1, std::min<int64_t>(threads, m * n * std::max<int64_t>(k, 1) / 131072));
  if (useful <= 1 || mpan * npan <= 1) return best;
  double best_obj = 0.0;
  for (int64_t t = useful; t >= 2; --t) {  // prefer all the useful threads; fewer only if the grid is too small
    for (int64_t mult = 1; mult <= 8; ++mult) {
      const int64_t tasks = t * mult;
      for (int64_t mt = 1; mt <= std::min(tasks, mpan); ++mt) {
        if (tasks % mt) continue;
        const int64_t nt = tasks / mt;
        if (nt > npan) continue;
        const bool packs_a = nt == 1;
        const int64_t cp_lo = npan / nt, n_hi = npan - cp_lo * nt;  // n_hi column chunks have cp_lo + 1 panels
        double total = 0.0, largest = 0.0, smallest = 0.0;
        for (int64_t im = 0; im < mt; ++im) {
          const int64_t q0 = im * mpan / mt, q1 = (im + 1) * mpan / mt;
          const int64_t r0 = q0 * mr, r1 = std::min(m, q1 * mr), blocks = (r1 - 1) / kMc - r0 / kMc + 1;
          const double lo = task_cost(q1 - q0, mr, blocks, cp_lo, k, packs_a);
          const double hi = n_hi ? task_cost(q1 - q0, mr, blocks, cp_lo + 1, k, packs_a) : lo;
          total += static_cast<double>(nt - n_hi) * lo + static_cast<double>(n_hi) * hi;
          largest = std::max(largest, hi);
          smallest = im == 0 ? lo : std::min(smallest, lo);
        }
        const double obj = total / static_cast<double>(t) + (largest - smallest) + 0.5 * largest;
        if (best.threads == 1 || obj < best_obj * 0.999) {
          best = {mt, nt, t};
          best_obj = obj;
        }
      }
    }
    if (best.threads > 1) break;
  }
  return best;
}

}  // namespace

GemmSplit gemm_f32_split(const GemmUkernel& uk, int64_t m, int64_t n, int64_t k, int threads) {
  if (threads <= 1 || m <= 0 || n <= 0) return {};
  return choose_split(m, n, k, uk.mr, uk.nr, threads);
}

void gemm_f32_packed(const GemmUkernel& uk, int64_t m, int64_t n, int64_t k, const float* a, int64_t a_rs, int64_t a_cs,
                     const float* packed_b, float* c, int64_t ldc, const GemmEpilogue& ep, ThreadPool* pool,
                     const float* packed_a) {
  if (m <= 0 || n <= 0) return;
  // One row: the GEMV reads the packed panels directly (same sums, bitwise).
  if (m == 1 && !packed_a && gemv_f32_packed(uk, n, k, a, a_cs, packed_b, c, ep, pool)) return;
  const int64_t mr = uk.mr, nr = uk.nr, kKc = kc_of(uk);
  const int64_t mpan = ceil_div(m, mr), npan = ceil_div(n, nr);
  const int threads = pool ? pool->threads() : 1;
  const GemmSplit split = gemm_f32_split(uk, m, n, k, threads);
  const int64_t mt = split.mt, nt = split.nt, tasks = mt * nt;

  // Several N chunks per row range: pack A once up front (split over the threads when large) instead
  // of once per task. Same values, so the same sums.
  thread_local std::vector<float> apack_all;
  if (!packed_a && nt > 1 && k > 0) {
    apack_all.resize(static_cast<size_t>(packed_a_size(uk, m, k)));
    float* dst = apack_all.data();
    if (m * k >= 65536) {
      pool->parallel_for(mpan, 1, [&](int64_t q0, int64_t q1) { pack_a_panels(uk, a, a_rs, a_cs, m, k, q0, q1, dst); });
    } else {
      pack_a_panels(uk, a, a_rs, a_cs, m, k, 0, mpan, dst);
    }
    packed_a = dst;
  }

  // Task t: row panels of chunk t / nt, column panels of chunk t % nt. Rows are walked in the global MC
  // blocks (the packed A layout), each (row, column) element summed over the KC blocks in order, so the
  // result does not depend on the split.
  auto task = [&](int64_t t) {
    const int64_t im = t / nt, jn = t % nt;
    const int64_t r0 = im * mpan / mt * mr, r1 = std::min(m, (im + 1) * mpan / mt * mr);
    const int64_t pj0 = jn * npan / nt, pj1 = (jn + 1) * npan / nt;
    const int64_t j0 = pj0 * nr, j1 = std::min(n, pj1 * nr);
    thread_local std::vector<float> apack;
    if (!packed_a && apack.size() < static_cast<size_t>(kMc * kKc + 64)) apack.resize(static_cast<size_t>(kMc * kKc + 64));
    for (int64_t s0 = r0; s0 < r1;) {
      const int64_t i0 = s0 / kMc * kMc, s1 = std::min(r1, i0 + kMc);  // rows [s0, s1) of MC block i0
      const int64_t ms = s1 - s0, mcp = ceil_div(std::min(kMc, m - i0), mr) * mr;
      if (k == 0) {
        for (int64_t i = s0; i < s1; ++i) std::fill(c + i * ldc + j0, c + i * ldc + j1, 0.0f);
      }
      for (int64_t p0 = 0; p0 < k; p0 += kKc) {
        const int64_t kc = std::min(kKc, k - p0);
        const float* ablk;
        if (packed_a) {
          ablk = packed_a + (i0 * k + p0 * mcp + (s0 - i0) * kc);
        } else {
          pack_a_block(uk, a, a_rs, a_cs, s0, ms, p0, kc, apack.data());
          ablk = apack.data();
        }
        // The next B micro-panel lies k*NR floats on (another 32 KiB block, from DRAM for large weights):
        // its lines are prefetched into L2 a share per micro-kernel call while this panel runs.
        const int64_t lines = kc * nr / 16, per_call = (lines + ceil_div(ms, mr) - 1) / ceil_div(ms, mr);
        for (int64_t pj = pj0; pj < pj1; ++pj) {
          const float* bp = packed_b + pj * k * nr + p0 * nr;
          const char* bnext = pj + 1 < pj1 ? reinterpret_cast<const char*>(bp + k * nr) : nullptr;
          const int64_t nv = std::min(nr, n - pj * nr);
          int64_t pf = 0;
          for (int64_t ir = 0; ir < ms; ir += mr) {
            const int64_t mv = std::min(mr, ms - ir);
            if (bnext)
              for (const int64_t end = std::min(lines, pf + per_call); pf < end; ++pf) __builtin_prefetch(bnext + pf * 64, 0, 1);
            uk.fn(kc, ablk + ir * kc, bp, c + (s0 + ir) * ldc + pj * nr, ldc, mv, nv, p0 > 0);
          }
        }
      }
      if (!ep.trivial()) apply_epilogue(c, ldc, s0, s1, j0, j1, ep);
      s0 = s1;
    }
  };

  if (tasks > 1) {
    // Equal tasks, a multiple of split.threads of them, claimed one at a time.
    pool->parallel_for_dynamic(tasks, 1, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) task(t);
    });
  } else {
    task(0);
  }
}

}  // namespace joule::kernels::cpu
