// Baseline driver of the M == 1 packed f32 GEMV: picks the panel kernel for the GEMM micro-kernel's
// packing, splits panels over the pool, applies the GEMM's epilogue. See gemv_f32.h.
#include "kernels/cpu/gemv_f32.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace joule::kernels::cpu {
namespace {

bool gemv_enabled() {
  static const bool on = [] {
    const char* e = std::getenv("JOULE_GEMV");
    return !(e && std::strcmp(e, "0") == 0);
  }();
  return on;
}

GemvPanelsFn panels_fn(const GemmUkernel& uk) {
  if (uk.fn == gemm_f32_6x16__avx2 && uk.nr == 16) return gemv_f32_nr16__avx2;
  if (uk.fn == gemm_f32_12x32__avx512 && uk.nr == 32) return gemv_f32_nr32__avx512;
  return nullptr;
}

// The GEMM driver's epilogue for row 0, element by element in the same operations.
template <Activation A>
void epilogue_row(float* y, int64_t j0, int64_t j1, const GemmEpilogue& ep) {
  const float alpha = ep.alpha, beta = ep.beta, lo = ep.lo, hi = ep.hi;
  const float* bias = ep.bias;
  const int64_t bcs = ep.bias_cs;
  for (int64_t j = j0; j < j1; ++j) {
    float v = alpha * y[j];
    if (bias) v += beta * (bcs ? bias[j * bcs] : bias[0]);
    if constexpr (A == Activation::kRelu) v = v > 0.0f ? v : 0.0f;
    if constexpr (A == Activation::kClip) v = std::min(std::max(v, lo), hi);
    y[j] = v;
  }
}

void epilogue(float* y, int64_t j0, int64_t j1, const GemmEpilogue& ep) {
  if (ep.trivial()) return;
  switch (ep.act) {
    case Activation::kNone: epilogue_row<Activation::kNone>(y, j0, j1, ep); break;
    case Activation::kRelu: epilogue_row<Activation::kRelu>(y, j0, j1, ep); break;
    case Activation::kClip: epilogue_row<Activation::kClip>(y, j0, j1, ep); break;
  }
}

}  // namespace

bool gemv_f32_packed(const GemmUkernel& uk, int64_t n, int64_t k, const float* a, int64_t a_cs, const float* packed_b,
                     float* c, const GemmEpilogue& ep, ThreadPool* pool) {
  const GemvPanelsFn fn = panels_fn(uk);
  if (!fn || !gemv_enabled()) return false;
  if (n <= 0) return true;
  const int64_t nr = uk.nr, npan = (n + nr - 1) / nr, kc = gemm_f32_kc(uk);
  thread_local std::vector<float> arow;
  if (a_cs != 1 && k > 0) {
    arow.resize(static_cast<size_t>(k));
    for (int64_t p = 0; p < k; ++p) arow[static_cast<size_t>(p)] = a[p * a_cs];
    a = arow.data();
  }
  auto range = [&](int64_t q0, int64_t q1) {
    const int64_t j0 = q0 * nr, j1 = std::min(n, q1 * nr);
    if (k <= 0) {
      std::fill(c + j0, c + j1, 0.0f);
    } else {
      fn(k, kc, a, packed_b + q0 * k * nr, q1 - q0, c + j0, j1 - j0);
    }
    epilogue(c, j0, j1, ep);
  };
  // An extra thread pays off from ~128K multiply-adds (as in the GEMM split).
  const int threads = pool ? pool->threads() : 1;
  const int64_t chunks = std::min<int64_t>({threads, npan, std::max<int64_t>(1, n * std::max<int64_t>(k, 1) / 131072)});
  if (chunks > 1) {
    pool->parallel_for(npan, (npan + chunks - 1) / chunks, range);
  } else {
    range(0, npan);
  }
  return true;
}

}  // namespace joule::kernels::cpu
