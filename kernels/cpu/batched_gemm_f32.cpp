// Batched strided f32 GEMM driver; see batched_gemm_f32.h.
#include "kernels/cpu/batched_gemm_f32.h"

#include <algorithm>

namespace joule::kernels::cpu {
namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Offsets of every batch element (row-major over `batch`) for one operand's batch strides.
void batch_offsets(const std::vector<int64_t>& batch, const std::vector<int64_t>& strides, std::vector<int64_t>& out) {
  int64_t nb = 1;
  for (int64_t d : batch) nb *= d;
  out.assign(static_cast<size_t>(nb), 0);
  std::vector<int64_t> idx(batch.size(), 0);
  int64_t off = 0;
  for (int64_t bi = 0; bi < nb; ++bi) {
    out[static_cast<size_t>(bi)] = off;
    for (size_t d = batch.size(); d-- > 0;) {
      off += strides[d];
      if (++idx[d] < batch[d]) break;
      off -= strides[d] * batch[d];
      idx[d] = 0;
    }
  }
}

template <bool kScale, bool kDivide, bool kAdd>
void epilogue_rows(float* c, int64_t ldc, int64_t i0, int64_t i1, int64_t n, float scale, const float* add, int64_t ars,
                   int64_t acs) {
  for (int64_t i = i0; i < i1; ++i) {
    float* row = c + i * ldc;
    const float* arow = kAdd ? add + i * ars : nullptr;
    if (kAdd && acs == 1) {
      for (int64_t j = 0; j < n; ++j) {
        float v = row[j];
        if constexpr (kScale) v = kDivide ? v / scale : v * scale;
        row[j] = v + arow[j];
      }
    } else {
      for (int64_t j = 0; j < n; ++j) {
        float v = row[j];
        if constexpr (kScale) v = kDivide ? v / scale : v * scale;
        if constexpr (kAdd) v = v + arow[j * acs];
        row[j] = v;
      }
    }
  }
}

void apply_epilogue(const BatchedEpilogue& ep, float* c, int64_t ldc, int64_t i0, int64_t i1, int64_t n, const float* add) {
  const int64_t ars = ep.addend.rs, acs = ep.addend.cs;
  const float s = ep.scale;
  if (!ep.has_scale) {
    if (add) epilogue_rows<false, false, true>(c, ldc, i0, i1, n, s, add, ars, acs);
  } else if (ep.divide) {
    if (add) epilogue_rows<true, true, true>(c, ldc, i0, i1, n, s, add, ars, acs);
    else epilogue_rows<true, true, false>(c, ldc, i0, i1, n, s, nullptr, 0, 0);
  } else {
    if (add) epilogue_rows<true, false, true>(c, ldc, i0, i1, n, s, add, ars, acs);
    else epilogue_rows<true, false, false>(c, ldc, i0, i1, n, s, nullptr, 0, 0);
  }
}

}  // namespace

void batched_gemm_f32(const GemmUkernel& uk, const std::vector<int64_t>& batch, int64_t m, int64_t n, int64_t k,
                      const StridedOperand& a, const StridedOperand& b, float* c,
                      const std::vector<int64_t>& c_batch_strides, int64_t ldc, const BatchedEpilogue& ep,
                      ThreadPool* pool) {
  if (m <= 0 || n <= 0) return;
  std::vector<int64_t> oa, ob, oc, oadd;
  batch_offsets(batch, a.batch_strides, oa);
  batch_offsets(batch, b.batch_strides, ob);
  batch_offsets(batch, c_batch_strides, oc);
  if (ep.addend.data) batch_offsets(batch, ep.addend.batch_strides, oadd);
  const int64_t nb = static_cast<int64_t>(oa.size());
  if (nb == 0) return;
  const GemmEpilogue none;
  const int64_t bsize = packed_b_size(uk, k, n);
  const int threads = pool ? pool->threads() : 1;

  // Rows [i0, i1) of batch element bi, B packed into `bpack` (bsize floats) by the caller.
  auto rows = [&](int64_t bi, int64_t i0, int64_t i1, const float* bpack, ThreadPool* gemm_pool) {
    const size_t s = static_cast<size_t>(bi);
    float* cb = c + oc[s];
    gemm_f32_packed(uk, i1 - i0, n, k, a.data + oa[s] + i0 * a.rs, a.rs, a.cs, bpack, cb + i0 * ldc, ldc, none, gemm_pool);
    if (!ep.trivial()) apply_epilogue(ep, cb, ldc, i0, i1, n, ep.addend.data ? ep.addend.data + oadd[s] : nullptr);
  };

  if (threads > 1 && nb >= threads) {
    // One task per (batch element, M chunk): M is split only when there are few batch elements, each
    // chunk then packing the same B slice (cheap next to its share of the product).
    const int64_t mr = uk.mr;
    int64_t mchunks = std::min(ceil_div(m, mr), ceil_div(2 * threads, nb));
    mchunks = std::max<int64_t>(mchunks, 1);
    const int64_t chunk_rows = ceil_div(ceil_div(m, mchunks), mr) * mr;
    mchunks = ceil_div(m, chunk_rows);
    pool->parallel_for(nb * mchunks, 1, [&](int64_t t0, int64_t t1) {
      thread_local PackedF32 bpack;
      if (bpack.size() < static_cast<size_t>(bsize)) bpack.resize(static_cast<size_t>(bsize));
      int64_t packed_for = -1;
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t bi = t / mchunks, ci = t % mchunks;
        const size_t s = static_cast<size_t>(bi);
        // Consecutive tasks of one batch element (or broadcast B) reuse the pack.
        if (packed_for < 0 || ob[static_cast<size_t>(packed_for)] != ob[s]) {
          pack_b_f32(uk, b.data + ob[s], b.rs, b.cs, k, n, bpack.data());
          packed_for = bi;
        }
        rows(bi, ci * chunk_rows, std::min(m, (ci + 1) * chunk_rows), bpack.data(), nullptr);
      }
    });
    return;
  }
  thread_local PackedF32 bpack;
  if (bpack.size() < static_cast<size_t>(bsize)) bpack.resize(static_cast<size_t>(bsize));
  for (int64_t bi = 0; bi < nb; ++bi) {
    const size_t s = static_cast<size_t>(bi);
    if (bi == 0 || ob[s] != ob[s - 1]) pack_b_f32(uk, b.data + ob[s], b.rs, b.cs, k, n, bpack.data());
    rows(bi, 0, m, bpack.data(), pool);
  }
}

}  // namespace joule::kernels::cpu
