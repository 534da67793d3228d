// BufferPool (runtime/buffer_pool.h): zero-filled, aligned, reused after release, bounded, limit-checked;
// and a session whose input shapes are symbolic (no arena) gives the same outputs run after run through it.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "joule/session.h"
#include "runtime/buffer_pool.h"
#include "runtime/ir/graph.h"

namespace joule {
namespace {

TEST(BufferPool, BlocksAreZeroedAlignedAndReused) {
  auto pool = std::make_shared<BufferPool>();
  const void* first = nullptr;
  for (int64_t n : {1, 3, 17, 255, 1023}) {
    Tensor t;
    ASSERT_TRUE(pool->allocate(DType::kF32, {n}, uint64_t{1} << 30, t).is_ok());
    ASSERT_EQ(t.numel(), n);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw()) % 64, 0u);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(t.data<float>()[i], 0.0f);
    for (int64_t i = 0; i < n; ++i) t.data<float>()[i] = 1.5f + static_cast<float>(i);  // dirty it
    if (n == 1023) first = t.raw();
  }
  EXPECT_GT(pool->cached_bytes(), 0u);  // all five were released into the pool
  Tensor again;
  ASSERT_TRUE(pool->allocate(DType::kF32, {1000}, uint64_t{1} << 30, again).is_ok());
  EXPECT_EQ(again.raw(), first);  // best fit: the 1023-float block serves 1000 floats
  for (int64_t i = 0; i < 1000; ++i) ASSERT_EQ(again.data<float>()[i], 0.0f) << i;
}

TEST(BufferPool, SmallRequestDoesNotTakeAMuchLargerBlock) {
  auto pool = std::make_shared<BufferPool>();
  const void* big = nullptr;
  {
    Tensor t;
    ASSERT_TRUE(pool->allocate(DType::kF32, {4096}, uint64_t{1} << 30, t).is_ok());
    big = t.raw();
  }
  Tensor small;
  ASSERT_TRUE(pool->allocate(DType::kF32, {17}, uint64_t{1} << 30, small).is_ok());
  EXPECT_NE(small.raw(), big);
}

TEST(BufferPool, RefusesOverLimitAndBoundsTheCache) {
  auto pool = std::make_shared<BufferPool>(/*max_cached_bytes=*/4096);
  Tensor t;
  Status st = pool->allocate(DType::kF32, {1023}, 1000, t);
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("over the limit"), std::string::npos) << st.message();
  { Tensor a; ASSERT_TRUE(pool->allocate(DType::kF32, {3000}, uint64_t{1} << 30, a).is_ok()); }
  EXPECT_EQ(pool->cached_bytes(), 0u);  // 12 KB block over the 4 KB cache bound: freed, not kept
  { Tensor b; ASSERT_TRUE(pool->allocate(DType::kF32, {255}, uint64_t{1} << 30, b).is_ok()); }
  EXPECT_EQ(pool->cached_bytes(), 1024u);
}

TEST(BufferPool, OutlivesItsOwnerWhileATensorHoldsABlock) {
  Tensor kept;
  {
    auto pool = std::make_shared<BufferPool>();
    ASSERT_TRUE(pool->allocate(DType::kI64, {17}, uint64_t{1} << 30, kept).is_ok());
  }
  kept.data<int64_t>()[16] = 7;  // still valid: the block keeps the pool alive
  EXPECT_EQ(kept.data<int64_t>()[16], 7);
}

// x[batch, 17] -> Relu -> Add(x) -> Mul(x): symbolic batch, so the session has no arena and every
// intermediate comes from the pool; repeated runs with changing batch must match a fresh computation.
TEST(BufferPool, SymbolicShapeSessionRunsAreRepeatable) {
  ir::Graph g;
  g.opset_imports[""] = 17;
  ir::Value* x = g.add_value("x");
  x->desc = {DType::kF32, {-1, 17}, true};
  x->dim_params = {"batch", ""};
  g.inputs.push_back(x);
  ir::Value* r = g.add_value("r");
  ir::Value* s = g.add_value("s");
  ir::Value* y = g.add_value("y");
  g.add_node("Relu", {x}, {r});
  g.add_node("Add", {r, x}, {s});
  g.add_node("Mul", {s, x}, {y});
  g.outputs.push_back(y);
  std::unique_ptr<Session> sess;
  ASSERT_TRUE(Session::create(std::move(g), SessionOptions{}, sess).is_ok());
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-2.f, 2.f);
  for (int64_t batch : {1, 3, 255, 3, 1}) {
    Tensor in(DType::kF32, {batch, 17});
    for (int64_t i = 0; i < in.numel(); ++i) in.data<float>()[i] = u(rng);
    std::vector<Tensor> out;
    ASSERT_TRUE(sess->run({{"x", in}}, out).is_ok());
    ASSERT_EQ(out[0].shape(), (Shape{batch, 17}));
    for (int64_t i = 0; i < in.numel(); ++i) {
      float v = in.data<float>()[i];
      ASSERT_EQ(out[0].data<float>()[i], ((v > 0 ? v : 0.f) + v) * v) << batch << " " << i;
    }
  }
}

}  // namespace
}  // namespace joule
