// FP32 elementwise / activation / Softmax / LayerNormalization row kernels with AVX-512F (16 floats per zmm).
// The vector type below is all the ISA-specific code; the kernels are in elementwise_f32_simd_impl.h.
// Not yet run on an AVX-512 machine here: its oracle tests skip on CPUs without AVX-512.
#include <immintrin.h>

#include <cstdint>

namespace joule::kernels::cpu {
namespace {

struct V {
  using R = __m512;
  using M = __mmask16;
  static constexpr int N = 16;
  static R load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, R v) { _mm512_storeu_ps(p, v); }
  static R set1(float f) { return _mm512_set1_ps(f); }
  static R add(R a, R b) { return _mm512_add_ps(a, b); }
  static R sub(R a, R b) { return _mm512_sub_ps(a, b); }
  static R mul(R a, R b) { return _mm512_mul_ps(a, b); }
  static R div(R a, R b) { return _mm512_div_ps(a, b); }
  static R fma(R a, R b, R c) { return _mm512_fmadd_ps(a, b, c); }
  static R sqrt(R a) { return _mm512_sqrt_ps(a); }
  static R max(R a, R b) { return _mm512_max_ps(a, b); }  // b when either is NaN
  static R min(R a, R b) { return _mm512_min_ps(a, b); }
  static R max_keep_nan(R x, R b) { return _mm512_max_ps(b, x); }  // x when x is NaN
  static R min_keep_nan(R x, R b) { return _mm512_min_ps(b, x); }
  static M is_nan(R a) { return _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q); }
  // max_nan / min_nan: b > a ? b : a, as std::max(a, b) (so signed zeros match the reference); NaN if either is.
  static R max_nan(R a, R b) { return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_UNORD_Q), _mm512_max_ps(b, a), _mm512_add_ps(a, b)); }
  static R min_nan(R a, R b) { return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_UNORD_Q), _mm512_min_ps(b, a), _mm512_add_ps(a, b)); }
  static M lt(R a, R b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  static bool any(M m) { return m != 0; }
  static bool all(M m) { return m == 0xffff; }
  static R select(M m, R t, R f) { return _mm512_mask_blend_ps(m, f, t); }
  static R abs(R a) { return _mm512_abs_ps(a); }
  static R neg(R a) { return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a), _mm512_set1_epi32(INT32_MIN))); }
  static R or_sign(R a, R s) {
    __m512i sign = _mm512_and_si512(_mm512_castps_si512(s), _mm512_set1_epi32(INT32_MIN));
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(abs(a)), sign));
  }
  static R round(R a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static R pow2(R n) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23));
  }
  static float hsum(R v) {  // fixed order: 256-bit halves, then as AVX2
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static float hmax(R v) { return _mm512_reduce_max_ps(v); }
};

}  // namespace
}  // namespace joule::kernels::cpu

#include "kernels/cpu/elementwise_f32_simd_impl.h"

namespace joule::kernels::cpu {
const ElementwiseF32Kernels& elementwise_f32_avx512() { return kTable; }
}  // namespace joule::kernels::cpu
