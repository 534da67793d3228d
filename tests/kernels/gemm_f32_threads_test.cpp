// gemm_f32_packed split over 1, 2 and 3 threads: bitwise identical results on odd shapes (1, 3, 17,
// 255, 1023 in M/N/K), close to a double-precision product, with and without pre-packed A and epilogue;
// and the split itself: equal tasks, a multiple of the threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#ifdef JOULE_WITH_SIMD
#include "kernels/cpu/gemm_f32.h"
#include "tests/kernels/gemm_test_util.h"
#include "runtime/cpu_features.h"
#include "runtime/thread_pool.h"

using namespace joule;
using namespace joule::kernels::cpu;

namespace {

struct Shape3 {
  int64_t m, n, k;
};

using test::random_floats;
std::vector<const GemmUkernel*> runnable_ukernels() { return test::runnable_ukernels("gemm_f32"); }

}  // namespace

TEST(GemmF32Threads, BitwiseIdenticalAcrossThreadCounts) {
  const auto uks = runnable_ukernels();
  if (uks.empty()) GTEST_SKIP() << "no f32 GEMM micro-kernel runs on this CPU (max ISA " << isa_name(max_isa()) << ")";
  const std::vector<Shape3> shapes = {{1023, 255, 17}, {255, 1023, 3},  {17, 255, 1023}, {3, 1023, 255},
                                      {1, 1023, 255},  {1023, 17, 255}, {255, 255, 255}, {128, 1536, 384},
                                      {1023, 3, 17},   {17, 17, 1},     {1, 1, 1023},    {255, 17, 1023}};
  ThreadPool p2(2), p3(3);
  for (const GemmUkernel* uk : uks) {
    for (const Shape3& s : shapes) {
      SCOPED_TRACE(std::string(uk->name) + " M=" + std::to_string(s.m) + " N=" + std::to_string(s.n) + " K=" + std::to_string(s.k));
      const auto a = random_floats(static_cast<size_t>(s.m * s.k), 1);
      const auto b = random_floats(static_cast<size_t>(s.k * s.n), 2);
      const auto bias = random_floats(static_cast<size_t>(s.n), 3);
      std::vector<float> pb(static_cast<size_t>(packed_b_size(*uk, s.k, s.n)));
      pack_b_f32(*uk, b.data(), s.n, 1, s.k, s.n, pb.data());
      std::vector<float> pa(static_cast<size_t>(packed_a_size(*uk, s.m, s.k)));
      pack_a_f32(*uk, a.data(), s.k, 1, s.m, s.k, pa.data());
      GemmEpilogue ep;
      ep.bias = bias.data();
      ep.bias_cs = 1;
      ep.act = Activation::kRelu;
      for (bool pre_packed : {false, true}) {
        for (bool with_ep : {false, true}) {
          const GemmEpilogue& e = with_ep ? ep : GemmEpilogue{};
          std::vector<float> c1(static_cast<size_t>(s.m * s.n)), c2(c1.size(), 7.0f), c3(c1.size(), -7.0f);
          const float* pap = pre_packed ? pa.data() : nullptr;
          gemm_f32_packed(*uk, s.m, s.n, s.k, a.data(), s.k, 1, pb.data(), c1.data(), s.n, e, nullptr, pap);
          gemm_f32_packed(*uk, s.m, s.n, s.k, a.data(), s.k, 1, pb.data(), c2.data(), s.n, e, &p2, pap);
          gemm_f32_packed(*uk, s.m, s.n, s.k, a.data(), s.k, 1, pb.data(), c3.data(), s.n, e, &p3, pap);
          EXPECT_EQ(std::memcmp(c1.data(), c2.data(), c1.size() * sizeof(float)), 0) << "1 vs 2 threads differ";
          EXPECT_EQ(std::memcmp(c1.data(), c3.data(), c1.size() * sizeof(float)), 0) << "1 vs 3 threads differ";
          // Spot-check against a double-precision product (every 7th element).
          double worst = 0.0;
          for (int64_t i = 0; i < s.m; ++i) {
            for (int64_t j = (i * 3) % 7; j < s.n; j += 7) {
              double acc = 0.0, mag = 0.0;
              for (int64_t p = 0; p < s.k; ++p) {
                acc += static_cast<double>(a[static_cast<size_t>(i * s.k + p)]) * b[static_cast<size_t>(p * s.n + j)];
                mag += std::fabs(static_cast<double>(a[static_cast<size_t>(i * s.k + p)]) * b[static_cast<size_t>(p * s.n + j)]);
              }
              if (with_ep) acc = std::max(acc + bias[static_cast<size_t>(j)], 0.0);
              worst = std::max(worst, std::fabs(acc - c1[static_cast<size_t>(i * s.n + j)]) / (mag + 1e-6));
            }
          }
          EXPECT_LT(worst, 1e-5) << "pre_packed " << pre_packed << " epilogue " << with_ep;
        }
      }
    }
  }
}

TEST(GemmF32Threads, SplitGivesEqualTasksPerThread) {
  const auto uks = runnable_ukernels();
  if (uks.empty()) GTEST_SKIP() << "no f32 GEMM micro-kernel runs on this CPU";
  const GemmUkernel& uk = *uks.back();
  // BERT/MiniLM FFN: M=128 used to go 96 + 32 rows to two threads (3:1); now the halves are equal.
  for (const Shape3& s : std::vector<Shape3>{{128, 1536, 384}, {128, 384, 1536}, {1024, 1024, 1024}, {64, 3136, 576}, {1023, 17, 255}}) {
    for (int threads : {2, 3, 4}) {
      SCOPED_TRACE("M=" + std::to_string(s.m) + " N=" + std::to_string(s.n) + " K=" + std::to_string(s.k) + " threads " + std::to_string(threads));
      const GemmSplit sp = gemm_f32_split(uk, s.m, s.n, s.k, threads);
      EXPECT_EQ(sp.threads, threads);
      EXPECT_EQ((sp.mt * sp.nt) % sp.threads, 0);
            const int64_t mpan = (s.m + uk.mr - 1) / uk.mr, npan = (s.n + uk.nr - 1) / uk.nr;
      int64_t lo = INT64_MAX, hi = 0;
      for (int64_t t = 0; t < sp.mt * sp.nt; ++t) {
        const int64_t im = t / sp.nt, jn = t % sp.nt;
        const int64_t tiles = ((im + 1) * mpan / sp.mt - im * mpan / sp.mt) * ((jn + 1) * npan / sp.nt - jn * npan / sp.nt);
        lo = std::min(lo, tiles);
        hi = std::max(hi, tiles);
      }
      // Within a quarter, or (few panels: 11 row panels of the 12x32 tile at M=128) within one panel
      // row plus one panel column of the largest task; the dynamic claiming evens out the rest.
      const int64_t one_row_col = (npan + sp.nt - 1) / sp.nt + (mpan + sp.mt - 1) / sp.mt;
      EXPECT_LE(static_cast<double>(hi - lo), std::max(0.25 * static_cast<double>(hi), static_cast<double>(one_row_col)))
          << "tiles per task " << lo << " .. " << hi;
      if (s.m == 128 && s.n == 1536 && threads == 2) EXPECT_EQ(lo, hi) << "the FFN GEMM should split exactly in two";
    }
  }
  // Too small to pay for a second thread: not split.
  EXPECT_EQ(gemm_f32_split(uk, 3, 17, 3, 2).threads, 1);
  EXPECT_EQ(gemm_f32_split(uk, 1, 1, 1023, 2).threads, 1);
}

// The SIMD A packers (GemmUkernel::pack_a) write exactly the driver's [kc][MR] layout, rows past mv zero,
// for every row count 1..MR and odd depths (tails of the 16-column steps), from rows with a padded stride.
TEST(GemmF32PackA, SimdPackMatchesScalarLayout) {
  int tested = 0;
  for (const GemmUkernel* uk : runnable_ukernels()) {
    if (!uk->pack_a) continue;
    ++tested;
    for (int64_t kc : {1, 3, 15, 16, 17, 255, 256}) {
      const int64_t rs = kc + 5;
      const auto a = random_floats(static_cast<size_t>(uk->mr * rs), 11);
      for (int64_t mv = 1; mv <= uk->mr; ++mv) {
        SCOPED_TRACE(std::string(uk->name) + " kc=" + std::to_string(kc) + " mv=" + std::to_string(mv));
        std::vector<float> got(static_cast<size_t>(kc * uk->mr), 99.0f), want(got.size(), 0.0f);
        for (int64_t p = 0; p < kc; ++p)
          for (int64_t r = 0; r < mv; ++r) want[static_cast<size_t>(p * uk->mr + r)] = a[static_cast<size_t>(r * rs + p)];
        uk->pack_a(a.data(), rs, mv, kc, got.data());
        EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0);
      }
    }
  }
  if (tested == 0) GTEST_SKIP() << "no micro-kernel with a SIMD A pack runs on this CPU (max ISA " << isa_name(max_isa()) << ")";
}

#else
TEST(GemmF32Threads, NotInThisBuild) { GTEST_SKIP() << "JOULE_SIMD=OFF: no kernels/cpu in this build"; }
#endif
