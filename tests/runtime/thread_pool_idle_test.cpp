// Energy-aware threading (runtime/thread_pool.h): idle workers sleep instead of spinning, and the pool
// never runs more chunks at once than it has threads.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <thread>

#include "runtime/thread_pool.h"

using namespace joule;

namespace {
double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}
}  // namespace

TEST(ThreadPoolIdle, IdleWorkersBurnNoCpuBetweenCalls) {
  ThreadPool pool(4);
  std::atomic<int64_t> sum{0};
  pool.parallel_for(1023, 1, [&](int64_t b, int64_t e) { sum += e - b; });  // workers woken once
  ASSERT_EQ(sum.load(), 1023);
  const double c0 = process_cpu_seconds();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const double burned = process_cpu_seconds() - c0;
  // Spinning workers would burn ~3 x 0.2 s here; sleeping ones a few microseconds.
  EXPECT_LT(burned, 0.03) << "3 idle workers used " << burned << " CPU-seconds in 0.2 s";
}

TEST(ThreadPoolIdle, NeverMoreConcurrentChunksThanThreads) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (int64_t n : {1, 3, 17, 255}) {
      std::atomic<int> running{0}, peak{0};
      std::atomic<int64_t> covered{0};
      pool.parallel_for(n, 1, [&](int64_t b, int64_t e) {
        int now = ++running;
        for (int p = peak.load(); now > p && !peak.compare_exchange_weak(p, now);) {
        }
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        covered += e - b;
        --running;
      });
      EXPECT_EQ(covered.load(), n);
      EXPECT_LE(peak.load(), threads) << "n " << n;
    }
  }
}
