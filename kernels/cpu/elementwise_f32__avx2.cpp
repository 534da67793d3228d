// FP32 elementwise / activation / Softmax / LayerNormalization row kernels with AVX2 + FMA (8 floats per ymm).
// The vector type below is all the ISA-specific code; the kernels are in elementwise_f32_simd_impl.h.
#include <immintrin.h>

namespace joule::kernels::cpu {
namespace {

struct V {
  using R = __m256;
  using M = __m256;  // lane mask: all ones / all zeros per lane
  static constexpr int N = 8;
  static R load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, R v) { _mm256_storeu_ps(p, v); }
  static R set1(float f) { return _mm256_set1_ps(f); }
  static R add(R a, R b) { return _mm256_add_ps(a, b); }
  static R sub(R a, R b) { return _mm256_sub_ps(a, b); }
  static R mul(R a, R b) { return _mm256_mul_ps(a, b); }
  static R div(R a, R b) { return _mm256_div_ps(a, b); }
  static R fma(R a, R b, R c) { return _mm256_fmadd_ps(a, b, c); }
  static R sqrt(R a) { return _mm256_sqrt_ps(a); }
  static R max(R a, R b) { return _mm256_max_ps(a, b); }  // b when either is NaN
  static R min(R a, R b) { return _mm256_min_ps(a, b); }
  static R max_keep_nan(R x, R b) { return _mm256_max_ps(b, x); }  // x when x is NaN
  static R min_keep_nan(R x, R b) { return _mm256_min_ps(b, x); }
  static M is_nan(R a) { return _mm256_cmp_ps(a, a, _CMP_UNORD_Q); }
  // max_nan / min_nan: b > a ? b : a, as std::max(a, b) (so signed zeros match the reference); NaN if either is.
  static R max_nan(R a, R b) { return _mm256_blendv_ps(_mm256_max_ps(b, a), _mm256_add_ps(a, b), _mm256_cmp_ps(a, b, _CMP_UNORD_Q)); }
  static R min_nan(R a, R b) { return _mm256_blendv_ps(_mm256_min_ps(b, a), _mm256_add_ps(a, b), _mm256_cmp_ps(a, b, _CMP_UNORD_Q)); }
  static M lt(R a, R b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
  static bool any(M m) { return _mm256_movemask_ps(m) != 0; }
  static bool all(M m) { return _mm256_movemask_ps(m) == 0xff; }
  static R select(M m, R t, R f) { return _mm256_blendv_ps(f, t, m); }
  static R abs(R a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
  static R neg(R a) { return _mm256_xor_ps(_mm256_set1_ps(-0.0f), a); }
  static R or_sign(R a, R s) { return _mm256_or_ps(abs(a), _mm256_and_ps(_mm256_set1_ps(-0.0f), s)); }
  static R round(R a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static R pow2(R n) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23));
  }
  static float hsum(R v) {  // fixed order: (lo + hi) halves, then pairs
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static float hmax(R v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
};

}  // namespace
}  // namespace joule::kernels::cpu

#include "kernels/cpu/elementwise_f32_simd_impl.h"

namespace joule::kernels::cpu {
const ElementwiseF32Kernels& elementwise_f32_avx2() { return kTable; }
}  // namespace joule::kernels::cpu
