// AVX2 + FMA copy of the batched-gate float32 LSTM / GRU / RNN kernels (rnn_gates_impl.h) and its
// primitives: the gate GEMM over 16-column panels and polynomial sigmoid / tanh (rnn_gates.h).
#include <immintrin.h>

#include "kernels/cpu/rnn_gates_impl.h"

namespace joule::kernels {

namespace cpu {

namespace {

// Rows 4 at a time: 4 x 16 accumulators, two panel loads and four broadcasts per k.
void gemm_panel_rows4(int64_t K, const float* A, int64_t lda, const float* B, __m256 b0, __m256 b1, float* C,
                      int64_t ldc) {
  __m256 c00 = b0, c01 = b1, c10 = b0, c11 = b1, c20 = b0, c21 = b1, c30 = b0, c31 = b1;
  for (int64_t k = 0; k < K; ++k) {
    const __m256 w0 = _mm256_loadu_ps(B + k * 16), w1 = _mm256_loadu_ps(B + k * 16 + 8);
    __m256 a = _mm256_broadcast_ss(A + k);
    c00 = _mm256_fmadd_ps(a, w0, c00), c01 = _mm256_fmadd_ps(a, w1, c01);
    a = _mm256_broadcast_ss(A + lda + k);
    c10 = _mm256_fmadd_ps(a, w0, c10), c11 = _mm256_fmadd_ps(a, w1, c11);
    a = _mm256_broadcast_ss(A + 2 * lda + k);
    c20 = _mm256_fmadd_ps(a, w0, c20), c21 = _mm256_fmadd_ps(a, w1, c21);
    a = _mm256_broadcast_ss(A + 3 * lda + k);
    c30 = _mm256_fmadd_ps(a, w0, c30), c31 = _mm256_fmadd_ps(a, w1, c31);
  }
  _mm256_storeu_ps(C, c00), _mm256_storeu_ps(C + 8, c01);
  _mm256_storeu_ps(C + ldc, c10), _mm256_storeu_ps(C + ldc + 8, c11);
  _mm256_storeu_ps(C + 2 * ldc, c20), _mm256_storeu_ps(C + 2 * ldc + 8, c21);
  _mm256_storeu_ps(C + 3 * ldc, c30), _mm256_storeu_ps(C + 3 * ldc + 8, c31);
}

// One row (the streaming GEMV): k unrolled by 4 into independent accumulators, so the FMAs do not
// wait on each other; the panel is read as one contiguous stream.
void gemm_panel_row1(int64_t K, const float* a, const float* B, __m256 b0, __m256 b1, float* C) {
  __m256 x0 = b0, x1 = b1, y0 = _mm256_setzero_ps(), y1 = y0, z0 = y0, z1 = y0, u0 = y0, u1 = y0;
  int64_t k = 0;
  for (; k + 4 <= K; k += 4) {
    const float* w = B + k * 16;
    __m256 s = _mm256_broadcast_ss(a + k);
    x0 = _mm256_fmadd_ps(s, _mm256_loadu_ps(w), x0), x1 = _mm256_fmadd_ps(s, _mm256_loadu_ps(w + 8), x1);
    s = _mm256_broadcast_ss(a + k + 1);
    y0 = _mm256_fmadd_ps(s, _mm256_loadu_ps(w + 16), y0), y1 = _mm256_fmadd_ps(s, _mm256_loadu_ps(w + 24), y1);
    s = _mm256_broadcast_ss(a + k + 2);
    z0 = _mm256_fmadd_ps(s, _mm256_loadu_ps(w + 32), z0), z1 = _mm256_fmadd_ps(s, _mm256_loadu_ps(w + 40), z1);
    s = _mm256_broadcast_ss(a + k + 3);
    u0 = _mm256_fmadd_ps(s, _mm256_loadu_ps(w + 48), u0), u1 = _mm256_fmadd_ps(s, _mm256_loadu_ps(w + 56), u1);
  }
  for (; k < K; ++k) {
    const __m256 s = _mm256_broadcast_ss(a + k);
    x0 = _mm256_fmadd_ps(s, _mm256_loadu_ps(B + k * 16), x0);
    x1 = _mm256_fmadd_ps(s, _mm256_loadu_ps(B + k * 16 + 8), x1);
  }
  _mm256_storeu_ps(C, _mm256_add_ps(_mm256_add_ps(x0, y0), _mm256_add_ps(z0, u0)));
  _mm256_storeu_ps(C + 8, _mm256_add_ps(_mm256_add_ps(x1, y1), _mm256_add_ps(z1, u1)));
}

// exp(x) for x in [-87.3, 88.3] (callers clamp): 2^n * p(r), r = x - n ln2 in [-ln2/2, ln2/2],
// p a degree-6 polynomial (relative error about 2 ulp).
inline __m256 exp_ps(__m256 x) {
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.f)));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

// Clamps to [lo, hi]; the constant goes first so a NaN x passes through (min/max return the second
// operand when either is NaN).
inline __m256 clamp_ps(__m256 x, float lo, float hi) {
  return _mm256_max_ps(_mm256_set1_ps(lo), _mm256_min_ps(_mm256_set1_ps(hi), x));
}

// Argument order matters for NaN: max_ps(c, x) returns x when x is NaN.
inline __m256 sigmoid_ps(__m256 x) {
  const __m256 e = exp_ps(clamp_ps(_mm256_sub_ps(_mm256_setzero_ps(), x), -87.3f, 88.3f));
  return _mm256_div_ps(_mm256_set1_ps(1.f), _mm256_add_ps(_mm256_set1_ps(1.f), e));
}

// tanh: odd Taylor polynomial up to x^11 for |x| < 0.3 (error < 1e-9 relative), else
// sign(x) * (1 - 2 / (1 + exp(2|x|))); |x| > 9 gives +-1 (tanh(9) rounds to 1 in float).
inline __m256 tanh_ps(__m256 x) {
  const __m256 sign = _mm256_and_ps(x, _mm256_set1_ps(-0.f));
  const __m256 ax = _mm256_andnot_ps(_mm256_set1_ps(-0.f), x);
  const __m256 x2 = _mm256_mul_ps(x, x);
  __m256 p = _mm256_set1_ps(-1382.f / 155925.f);
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(62.f / 2835.f));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-17.f / 315.f));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(2.f / 15.f));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-1.f / 3.f));
  const __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, x2), x, x);
  const __m256 e = exp_ps(_mm256_min_ps(_mm256_set1_ps(18.f), _mm256_add_ps(ax, ax)));
  const __m256 big = _mm256_sub_ps(_mm256_set1_ps(1.f), _mm256_div_ps(_mm256_set1_ps(2.f), _mm256_add_ps(_mm256_set1_ps(1.f), e)));
  const __m256 r = _mm256_or_ps(big, sign);
  // ax < 0.3 is false for NaN, and `big` is NaN there (exp of NaN): NaN passes through.
  return _mm256_blendv_ps(r, small, _mm256_cmp_ps(ax, _mm256_set1_ps(0.3f), _CMP_LT_OQ));
}

template <__m256 (*F)(__m256)>
void map_ps(float* v, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(v + i, F(_mm256_loadu_ps(v + i)));
  if (i < n) {
    alignas(32) float tail[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::memcpy(tail, v + i, sizeof(float) * static_cast<size_t>(n - i));
    _mm256_store_ps(tail, F(_mm256_load_ps(tail)));
    std::memcpy(v + i, tail, sizeof(float) * static_cast<size_t>(n - i));
  }
}

}  // namespace

void rnn_gate_gemm_f32__avx2(int64_t M, int64_t K, const float* A, int64_t lda, const float* panels, int64_t p0,
                             int64_t p1, const float* bias, float* C, int64_t ldc) {
  for (int64_t p = p0; p < p1; ++p) {
    const float* B = panels + p * K * kRnnPanel;
    const __m256 b0 = bias ? _mm256_loadu_ps(bias + p * kRnnPanel) : _mm256_setzero_ps();
    const __m256 b1 = bias ? _mm256_loadu_ps(bias + p * kRnnPanel + 8) : _mm256_setzero_ps();
    float* Cp = C + p * kRnnPanel;
    int64_t m = 0;
    for (; m + 4 <= M; m += 4) gemm_panel_rows4(K, A + m * lda, lda, B, b0, b1, Cp + m * ldc, ldc);
    for (; m < M; ++m) gemm_panel_row1(K, A + m * lda, B, b0, b1, Cp + m * ldc);
  }
}

void rnn_sigmoid_f32__avx2(float* v, int64_t n) { map_ps<sigmoid_ps>(v, n); }
void rnn_tanh_f32__avx2(float* v, int64_t n) { map_ps<tanh_ps>(v, n); }

}  // namespace cpu

namespace {
struct Avx2Prims {
  static constexpr auto gemm = cpu::rnn_gate_gemm_f32__avx2;
  static constexpr auto sigmoid = cpu::rnn_sigmoid_f32__avx2;
  static constexpr auto tanh = cpu::rnn_tanh_f32__avx2;
};
}  // namespace

void register_rnn_gates_avx2(KernelRegistry& r) { add_batched_gate_kernels<Avx2Prims>(r, Isa::kAvx2, 11, "_avx2"); }

}  // namespace joule::kernels
