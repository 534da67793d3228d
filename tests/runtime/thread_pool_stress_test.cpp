// ThreadPool under stress: several threads calling parallel_for / parallel_for_dynamic on one pool at
// once, uneven chunk costs, n < threads, n = 0, nested calls from inside a chunk; every item must run
// exactly once and every call must return only after all of its items ran.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "runtime/thread_pool.h"

using namespace joule;

namespace {

// Busy work proportional to `units` (uneven chunk costs without sleeping).
uint64_t burn(int64_t units) {
  uint64_t x = static_cast<uint64_t>(units) * 2654435761u + 1;
  for (int64_t i = 0; i < units * 50; ++i) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  return x;
}

// Runs one call over n items (static or dynamic) and checks each item ran exactly once before it returned.
void one_call(ThreadPool& pool, int64_t n, int64_t grain, bool dynamic, std::atomic<uint64_t>& sink) {
  std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
  for (auto& h : hits) h.store(0);
  auto fn = [&](int64_t b, int64_t e) {
    ASSERT_LE(0, b);
    ASSERT_LT(b, e);
    ASSERT_LE(e, n);
    for (int64_t i = b; i < e; ++i) {
      sink += burn(i % 7 == 0 ? 40 : 1);  // every 7th item ~40x the others
      hits[static_cast<size_t>(i)].fetch_add(1);
    }
  };
  if (dynamic) pool.parallel_for_dynamic(n, grain, fn);
  else pool.parallel_for(n, grain, fn);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << "item " << i << " of " << n;
}

}  // namespace

TEST(ThreadPoolStress, ConcurrentCallersUnevenChunks) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    std::atomic<uint64_t> sink{0};
    std::vector<std::thread> callers;
    for (int c = 0; c < 4; ++c) {
      callers.emplace_back([&, c] {
        const int64_t sizes[] = {0, 1, 2, 3, 17, 255, 1023};
        for (int iter = 0; iter < 60; ++iter) {
          const int64_t n = sizes[(iter + c) % 7];
          one_call(pool, n, 1 + (iter % 5), (iter + c) % 2 == 0, sink);
        }
      });
    }
    for (auto& t : callers) t.join();
    EXPECT_NE(sink.load(), 0u);
  }
}

TEST(ThreadPoolStress, FewerItemsThanThreadsAndEmpty) {
  ThreadPool pool(3);
  std::atomic<uint64_t> sink{0};
  for (int64_t n : {0, 1, 2}) {
    one_call(pool, n, 1, false, sink);
    one_call(pool, n, 1, true, sink);
  }
  int calls = 0;
  pool.parallel_for(0, 1, [&](int64_t, int64_t) { ++calls; });
  pool.parallel_for_dynamic(-3, 1, [&](int64_t, int64_t) { ++calls; });
  EXPECT_EQ(calls, 0);
}

TEST(ThreadPoolStress, DynamicChunksBalanceUnevenWork) {
  // 17 one-item chunks; item 0 is "slow": it waits (up to 10 s) until the 16 others are done. With chunks
  // claimed one at a time, the other threads take all of them; a contiguous split would leave items 1..5
  // behind item 0 on its thread until the timeout.
  for (int threads : {2, 3}) {
    ThreadPool pool(threads);
    std::atomic<int> others_done{0};
    std::atomic<bool> timed_out{false};
    pool.parallel_for_dynamic(17, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        if (i != 0) {
          ++others_done;
          continue;
        }
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (others_done.load() < 16) {
          if (std::chrono::steady_clock::now() > deadline) {
            timed_out = true;
            break;
          }
          std::this_thread::yield();
        }
      }
    });
    EXPECT_FALSE(timed_out.load()) << threads << " threads: items queued behind the slow one";
    EXPECT_EQ(others_done.load(), 16);
  }
}

TEST(ThreadPoolStress, NestedCallsFromChunks) {
  ThreadPool pool(2);
  std::atomic<int64_t> total{0};
  pool.parallel_for(5, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      pool.parallel_for_dynamic(255, 16, [&](int64_t b2, int64_t e2) { total += e2 - b2; });
  });
  EXPECT_EQ(total.load(), 5 * 255);
}

TEST(ThreadPoolStress, BackToBackCallsStayCheap) {
  // Many tiny calls in a row (a model's steps): every one completes and covers its range.
  ThreadPool pool(2);
  int64_t covered = 0;
  std::atomic<int64_t> sum{0};
  for (int i = 0; i < 20000; ++i) {
    pool.parallel_for(2, 1, [&](int64_t b, int64_t e) { sum += e - b; });
    covered += 2;
  }
  EXPECT_EQ(sum.load(), covered);
}
