// Half/bfloat16 conversions and broadcasting helpers.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "joule/dtype.h"
#include "runtime/ops/infer_helpers.h"

using namespace joule;

TEST(Half, RoundTripsEveryFiniteHalf) {
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    Half h;
    h.bits = static_cast<uint16_t>(bits);
    float f = h;
    if (std::isnan(f)) continue;
    EXPECT_EQ(Half(f).bits, h.bits) << "bits " << bits;
  }
}

TEST(Half, RoundsToNearestEven) {
  EXPECT_EQ(static_cast<float>(Half(1.0f + 1.0f / 2048)), 1.0f);          // halfway: down to even
  EXPECT_EQ(static_cast<float>(Half(1.0f + 3.0f / 2048)), 1.0f + 2.0f / 1024);  // halfway: up to even
  EXPECT_TRUE(std::isinf(static_cast<float>(Half(70000.0f))));
  EXPECT_EQ(static_cast<float>(Half(-2.5f)), -2.5f);
}

TEST(BFloat16, MatchesTruncationWithRounding) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> d(-1e4f, 1e4f);
  for (int i = 0; i < 1000; ++i) {
    float f = d(rng);
    float r = BFloat16(f);
    EXPECT_LE(std::fabs(r - f), std::fabs(f) / 128.0f);
  }
}

TEST(Broadcast, ShapesFollowNumpyRules) {
  EXPECT_EQ(*ops::broadcast_shapes({2, 1, 4}, {3, 1}), (Shape{2, 3, 4}));
  EXPECT_EQ(*ops::broadcast_shapes({}, {5}), (Shape{5}));
  EXPECT_FALSE(ops::broadcast_shapes({2, 3}, {4, 3}).has_value());
  EXPECT_EQ(ops::broadcast_strides({3, 1}, {2, 3, 4}), (std::vector<int64_t>{0, 1, 0}));
}
