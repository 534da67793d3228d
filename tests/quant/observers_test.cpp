// Observers on synthetic distributions: thresholds are sane and memory does not grow with data.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "quant/observers.h"

namespace joule::quant {
namespace {

std::vector<float> gaussian(size_t n, float sigma, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.f, sigma);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

TEST(QuantObservers, MinMaxIsExactAcrossBatches) {
  HistogramObserver o;
  std::vector<float> a{0.5f, -1.25f, 3.f}, b{7.5f, -2.f}, c{0.f};
  o.observe(a.data(), 3);
  o.observe(b.data(), 2);
  o.observe(c.data(), 1);
  EXPECT_EQ(o.count(), 6);
  Range r = o.range();
  EXPECT_FLOAT_EQ(r.lo, -2.f);
  EXPECT_FLOAT_EQ(r.hi, 7.5f);
}

TEST(QuantObservers, HistogramGrowsByMergingAndKeepsCounts) {
  ObserverConfig cfg;
  cfg.bins = 64;
  HistogramObserver o(cfg);
  std::vector<float> small(1000, 0.01f), big{100.f, -250.f};
  o.observe(small.data(), 1000);
  float lim0 = o.limit();
  o.observe(big.data(), 2);
  EXPECT_GT(o.limit(), 250.f);
  EXPECT_GT(o.limit(), lim0);
  double total = 0;
  for (double c : o.histogram()) total += c;
  EXPECT_DOUBLE_EQ(total, 1002.0);
  EXPECT_EQ(o.histogram().size(), 64u);
}

TEST(QuantObservers, MemoryBoundedByBinsNotData) {
  ObserverConfig cfg;
  cfg.method = CalibMethod::kEntropy;
  HistogramObserver o(cfg);
  size_t before = o.state_bytes();
  for (uint32_t s = 0; s < 20; ++s) {
    auto v = gaussian(10007, 1.f + static_cast<float>(s), s);
    o.observe(v.data(), static_cast<int64_t>(v.size()));
  }
  EXPECT_EQ(o.state_bytes(), before);
  EXPECT_EQ(o.count(), 20 * 10007);
}

TEST(QuantObservers, NonFiniteIgnored) {
  HistogramObserver o;
  std::vector<float> v{1.f, NAN, INFINITY, -3.f};
  o.observe(v.data(), 4);
  EXPECT_EQ(o.count(), 2);
  EXPECT_EQ(o.nonfinite(), 2);
  EXPECT_FLOAT_EQ(o.range().lo, -3.f);
}

// Gaussian with a few huge outliers: percentile and entropy must clip the outliers but keep the
// bulk (between ~2.5 and ~8 sigma), while minmax keeps the outlier.
TEST(QuantObservers, ClippingMethodsIgnoreOutliersOnGaussian) {
  auto v = gaussian(200003, 1.f, 7);
  v[17] = 60.f;
  v[255] = -55.f;
  for (CalibMethod m : {CalibMethod::kPercentile, CalibMethod::kEntropy}) {
    ObserverConfig cfg;
    cfg.method = m;
    cfg.percentile = 99.99;
    HistogramObserver o(cfg);
    o.observe(v.data(), static_cast<int64_t>(v.size()));
    float t = o.threshold();
    EXPECT_GT(t, 2.5f) << calib_method_name(m);
    EXPECT_LT(t, 8.f) << calib_method_name(m);
    Range r = o.range();
    EXPECT_LT(r.lo, 0.f);
    EXPECT_GT(r.hi, 0.f);
  }
  HistogramObserver mm;
  mm.observe(v.data(), static_cast<int64_t>(v.size()));
  EXPECT_FLOAT_EQ(mm.threshold(), 60.f);
}

// MSE minimises total squared error, so two huge outliers among 200k values may legitimately keep the
// range wide at 8 bits; at 4 bits (8 levels a side) the optimum for a Gaussian is about 2.5 sigma.
TEST(QuantObservers, MseClipsGaussianAtLowBitWidth) {
  auto v = gaussian(200003, 1.f, 11);
  ObserverConfig cfg;
  cfg.method = CalibMethod::kMse;
  cfg.levels = 8;
  HistogramObserver o(cfg);
  o.observe(v.data(), static_cast<int64_t>(v.size()));
  EXPECT_GT(o.threshold(), 1.5f);
  EXPECT_LT(o.threshold(), 3.5f);
  EXPECT_LT(o.threshold(), o.max());
}

TEST(QuantObservers, PercentileOnUniformMatchesQuantile) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> d(0.f, 10.f);
  std::vector<float> v(100001);
  for (auto& x : v) x = d(rng);
  ObserverConfig cfg;
  cfg.method = CalibMethod::kPercentile;
  cfg.percentile = 90;
  HistogramObserver o(cfg);
  o.observe(v.data(), static_cast<int64_t>(v.size()));
  EXPECT_NEAR(o.threshold(), 9.f, 0.1f);
  Range r = o.range();
  EXPECT_GE(r.lo, 0.f);  // non-negative data (ReLU output) keeps lo at its min
}

TEST(QuantObservers, EntropyKeepsNarrowDistributionWhole) {
  // Few distinct magnitudes fit at full resolution: nothing to clip.
  std::vector<float> v;
  for (int i = 0; i < 1000; ++i) v.push_back(static_cast<float>(i % 5) * 0.25f);
  ObserverConfig cfg;
  cfg.method = CalibMethod::kEntropy;
  HistogramObserver o(cfg);
  o.observe(v.data(), static_cast<int64_t>(v.size()));
  EXPECT_NEAR(o.threshold(), 1.f, 1e-3f);
}

TEST(QuantObservers, ParseMethod) {
  CalibMethod m;
  EXPECT_TRUE(parse_calib_method("entropy", m).is_ok());
  EXPECT_EQ(m, CalibMethod::kEntropy);
  EXPECT_FALSE(parse_calib_method("kl", m).is_ok());
}

TEST(QuantObservers, PerChannelMinMax) {
  Tensor w(DType::kF32, {3, 2, 5});
  for (int64_t i = 0; i < w.numel(); ++i) w.data<float>()[i] = static_cast<float>(i % 10) - static_cast<float>(i / 10) * 20;
  ChannelMinMaxObserver o;
  ASSERT_TRUE(o.observe(w, 0).is_ok());
  ASSERT_EQ(o.min().size(), 3u);
  EXPECT_FLOAT_EQ(o.min()[1], -20.f);
  EXPECT_FLOAT_EQ(o.max()[2], -31.f);
  EXPECT_FALSE(o.observe(w, 3).is_ok());
  EXPECT_FALSE(o.observe(w, 1).is_ok());  // channel count changed
}

}  // namespace
}  // namespace joule::quant
