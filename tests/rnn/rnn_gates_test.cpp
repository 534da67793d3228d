// Primitives of the batched-gate LSTM / GRU / RNN kernels (kernels/cpu/rnn_gates.h): the AVX2
// sigmoid / tanh approximations against the exact functions in double over the whole float range
// that matters, and the panel gate GEMM (baseline and AVX2) against a double-precision product on
// odd sizes (rows 1, 3, 4, 5, 17 cover the 4-row tile, the single-row GEMV and their mix).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "runtime/cpu_features.h"

#ifdef JOULE_WITH_SIMD
#include "kernels/cpu/rnn_gates.h"

using namespace joule;
using namespace joule::kernels::cpu;

namespace {

bool has_avx2() { return max_isa() >= Isa::kAvx2; }

// Max of |got - exact| / (1e-7 + 4e-7 |exact|): the bound of rnn_gates.h is <= 1.
template <class F, class E>
double worst_ratio(F f, E exact, const std::vector<float>& xs, float* worst_x) {
  std::vector<float> v = xs;
  f(v.data(), static_cast<int64_t>(v.size()));
  double worst = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const double e = exact(static_cast<double>(xs[i]));
    const double r = std::abs(v[i] - e) / (1e-7 + 4e-7 * std::abs(e));
    if (r > worst) worst = r, *worst_x = xs[i];
  }
  return worst;
}

std::vector<float> test_points() {
  std::vector<float> xs;
  for (double x = -30; x <= 30; x += 1.0 / 4096) xs.push_back(static_cast<float>(x));  // dense, incl. near 0
  for (float x : {0.f, -0.f, 1e-30f, -1e-30f, 1e-8f, 0.29999f, 0.3f, 0.30001f, -0.3f, 9.f, 18.f, 87.f, 88.f, 89.f,
                  -87.f, -88.f, -89.f, 1e30f, -1e30f, std::numeric_limits<float>::infinity(),
                  -std::numeric_limits<float>::infinity()})
    xs.push_back(x);
  std::mt19937 rng(3);
  std::normal_distribution<float> d(0.f, 3.f);
  for (int i = 0; i < 1023; ++i) xs.push_back(d(rng));  // odd count: exercises the tail
  return xs;
}

TEST(RnnGates, SigmoidAvx2WithinBound) {
  if (!has_avx2()) GTEST_SKIP() << "CPU has no AVX2 + FMA";
  float wx = 0;
  const double r = worst_ratio(rnn_sigmoid_f32__avx2, [](double x) { return 1 / (1 + std::exp(-x)); }, test_points(), &wx);
  EXPECT_LE(r, 1.0) << "worst at x = " << wx;
  std::printf("[ rnn ] sigmoid avx2: worst error %.3g of the bound (x = %g)\n", r, wx);
}

TEST(RnnGates, TanhAvx2WithinBound) {
  if (!has_avx2()) GTEST_SKIP() << "CPU has no AVX2 + FMA";
  float wx = 0;
  const double r = worst_ratio(rnn_tanh_f32__avx2, [](double x) { return std::tanh(x); }, test_points(), &wx);
  EXPECT_LE(r, 1.0) << "worst at x = " << wx;
  std::printf("[ rnn ] tanh avx2: worst error %.3g of the bound (x = %g)\n", r, wx);
  // Odd symmetry is exact.
  std::vector<float> a = test_points(), b = a;
  for (float& x : b) x = -x;
  rnn_tanh_f32__avx2(a.data(), static_cast<int64_t>(a.size()));
  rnn_tanh_f32__avx2(b.data(), static_cast<int64_t>(b.size()));
  for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], -b[i]) << i;
}

TEST(RnnGates, NanPassesThrough) {
  if (!has_avx2()) GTEST_SKIP() << "CPU has no AVX2 + FMA";
  std::vector<float> v(11, 0.5f);
  v[3] = std::numeric_limits<float>::quiet_NaN();
  v[9] = std::numeric_limits<float>::quiet_NaN();  // in the tail
  std::vector<float> w = v;
  rnn_sigmoid_f32__avx2(v.data(), 11);
  rnn_tanh_f32__avx2(w.data(), 11);
  EXPECT_TRUE(std::isnan(v[3]) && std::isnan(v[9]) && std::isnan(w[3]) && std::isnan(w[9]));
  EXPECT_FLOAT_EQ(v[0], 1 / (1 + std::exp(-0.5f)));
  EXPECT_NEAR(w[10], std::tanh(0.5f), 1e-7);
}

TEST(RnnGates, PanelGemmMatchesDoubleProduct) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  using Fn = void (*)(int64_t, int64_t, const float*, int64_t, const float*, int64_t, int64_t, const float*, float*, int64_t);
  std::vector<std::pair<const char*, Fn>> fns = {{"baseline", rnn_gate_gemm_f32}};
  if (has_avx2()) fns.push_back({"avx2", rnn_gate_gemm_f32__avx2});
  else std::printf("[ rnn ] CPU has no AVX2 + FMA: testing the baseline gate GEMM only\n");
  for (int64_t M : {1, 3, 4, 5, 17})
    for (int64_t K : {1, 3, 17, 255})
      for (int64_t P : {1, 3}) {
        const int64_t N = P * kRnnPanel, lda = K + 2, ldc = N + 5;
        std::vector<float> A(static_cast<size_t>(M * lda)), B(static_cast<size_t>(N * K)), bias(static_cast<size_t>(N));
        for (float& x : A) x = d(rng);
        for (float& x : B) x = d(rng);
        for (float& x : bias) x = d(rng);
        for (bool with_bias : {false, true})
          for (auto& [name, fn] : fns) {
            std::vector<float> C(static_cast<size_t>(M * ldc), 7.f);
            // Panels [1, P): panel 0 must stay untouched.
            fn(M, K, A.data(), lda, B.data(), 1, P, with_bias ? bias.data() : nullptr, C.data(), ldc);
            for (int64_t m = 0; m < M; ++m)
              for (int64_t n = 0; n < ldc; ++n) {
                const float got = C[static_cast<size_t>(m * ldc + n)];
                if (n < kRnnPanel || n >= N) {
                  ASSERT_EQ(got, 7.f) << name << " wrote outside its panels at " << m << "," << n;
                  continue;
                }
                const int64_t p = n / kRnnPanel, lane = n % kRnnPanel;
                double e = with_bias ? bias[static_cast<size_t>(n)] : 0.0, mag = std::abs(e);
                for (int64_t k = 0; k < K; ++k) {
                  const double t = double(A[static_cast<size_t>(m * lda + k)]) * B[static_cast<size_t>((p * K + k) * kRnnPanel + lane)];
                  e += t, mag += std::abs(t);
                }
                ASSERT_NEAR(got, e, 1e-6 * mag + 1e-7) << name << " M=" << M << " K=" << K << " at " << m << "," << n;
              }
          }
      }
}

}  // namespace

#else
TEST(RnnGates, NotInThisBuild) { GTEST_SKIP() << "JOULE_SIMD=OFF: no kernels/cpu in this build"; }
#endif
