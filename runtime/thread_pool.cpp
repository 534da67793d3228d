// Thread pool: callers post a Job (on their own stack) to a short list; workers and the caller claim
// its chunks from an atomic counter. Idle workers spin a bounded time, then sleep (see thread_pool.h).
#include "runtime/thread_pool.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <sched.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace joule {

namespace {

constexpr int64_t kDefaultSpinNs = 50'000;  // ~ a futex wake-up on a VM costs tens of microseconds

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Spins (with pause) until done() or `ns` nanoseconds passed; returns done().
template <class Done>
bool spin_until(Done done, int64_t ns) {
  if (done()) return true;
  if (ns <= 0) return false;
  const int64_t deadline = now_ns() + ns;
  for (;;) {
    for (int i = 0; i < 32; ++i) {
      cpu_relax();
      if (done()) return true;
    }
    if (now_ns() >= deadline) return done();
  }
}

}  // namespace

struct ThreadPool::Job {
  RangeFn fn;
  int64_t n = 0, chunks = 0;
  int64_t step = 0;  // > 0: chunk c is [c*step, (c+1)*step); 0: balanced split of n into `chunks`
  std::atomic<int64_t> next{0};
  std::atomic<int> active{0};    // workers inside run(); decremented under mu_
  int helpers = 0;               // workers that joined so far (under mu_), at most chunks - 1
  bool caller_sleeping = false;  // under mu_
  bool linked = false;           // under mu_
  Job* prev = nullptr;
  Job* next_job = nullptr;

  explicit Job(RangeFn f) : fn(f) {}
  void run_chunks() {
    for (;;) {
      const int64_t c = next.fetch_add(1, std::memory_order_relaxed);
      if (c >= chunks) return;
      int64_t b, e;
      if (step > 0) {
        b = c * step;
        e = std::min(n, b + step);
      } else {
        b = c * n / chunks;
        e = (c + 1) * n / chunks;
      }
      if (b < e) fn(b, e);
    }
  }
};

int default_thread_count() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) threads = default_thread_count();
  spin_ns_ = kDefaultSpinNs;
  if (const char* s = std::getenv("JOULE_SPIN_US")) spin_ns_ = std::max<int64_t>(0, std::atoll(s)) * 1000;
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
    epoch_.fetch_add(1, std::memory_order_release);
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::unlink(Job& job) {
  if (!job.linked) return;
  (job.prev ? job.prev->next_job : head_) = job.next_job;
  if (job.next_job) job.next_job->prev = job.prev;
  job.linked = false;
}

ThreadPool::Job* ThreadPool::take_job() {
  for (Job* j = head_; j;) {
    Job* following = j->next_job;
    if (j->next.load(std::memory_order_relaxed) >= j->chunks) {
      unlink(*j);  // every chunk claimed: nothing left to help with
    } else if (j->helpers < j->chunks - 1) {
      ++j->helpers;
      j->active.fetch_add(1, std::memory_order_relaxed);
      return j;
    }
    j = following;
  }
  return nullptr;
}

void ThreadPool::worker_loop() {
  for (;;) {
    const uint64_t seen = epoch_.load(std::memory_order_acquire);
    Job* job = nullptr;
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (stop_) return;
      job = take_job();
    }
    if (job) {
      job->run_chunks();
      bool wake;
      {
        // The caller may return as soon as `active` reads 0: read caller_sleeping first, touch nothing after.
        std::lock_guard<std::mutex> lk(mu_);
        wake = job->caller_sleeping;
        job->active.fetch_sub(1, std::memory_order_release);
      }
      if (wake) done_cv_.notify_all();
      continue;
    }
    if (spin_until([&] { return epoch_.load(std::memory_order_relaxed) != seen; }, spin_ns_)) continue;
    std::unique_lock<std::mutex> lk(mu_);
    ++sleepers_;
    cv_.wait(lk, [&] { return stop_ || epoch_.load(std::memory_order_relaxed) != seen; });
    --sleepers_;
  }
}

void ThreadPool::run(Job& job) {
  int wake = 0;
  bool all = false;
  {
    std::lock_guard<std::mutex> lk(mu_);
    job.prev = nullptr;
    if (head_) {
      Job* tail = head_;
      while (tail->next_job) tail = tail->next_job;
      tail->next_job = &job;
      job.prev = tail;
    } else {
      head_ = &job;
    }
    job.linked = true;
    epoch_.fetch_add(1, std::memory_order_release);
    const int64_t want = std::min<int64_t>(job.chunks - 1, static_cast<int64_t>(workers_.size()));
    wake = static_cast<int>(std::min<int64_t>(want, sleepers_));
    all = wake == sleepers_;
  }
  if (all && wake > 0) cv_.notify_all();
  else
    for (int i = 0; i < wake; ++i) cv_.notify_one();

  job.run_chunks();  // the caller works too; afterwards every chunk is claimed

  {
    std::lock_guard<std::mutex> lk(mu_);
    unlink(job);  // no worker can join from now on
  }
  if (spin_until([&] { return job.active.load(std::memory_order_acquire) == 0; }, spin_ns_)) return;
  std::unique_lock<std::mutex> lk(mu_);
  job.caller_sleeping = true;
  done_cv_.wait(lk, [&] { return job.active.load(std::memory_order_acquire) == 0; });
}

void ThreadPool::parallel_for(int64_t n, int64_t grain, RangeFn fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t chunks = std::min<int64_t>((n + grain - 1) / grain, threads());
  if (chunks <= 1) return fn(0, n);
  Job job(fn);
  job.n = n;
  job.chunks = chunks;
  run(job);
}

void ThreadPool::parallel_for_dynamic(int64_t n, int64_t chunk, RangeFn fn) {
  if (n <= 0) return;
  chunk = std::max<int64_t>(chunk, 1);
  const int64_t chunks = (n + chunk - 1) / chunk;
  if (chunks <= 1 || workers_.empty()) return fn(0, n);
  Job job(fn);
  job.n = n;
  job.chunks = chunks;
  job.step = chunk;
  run(job);
}

}  // namespace joule
