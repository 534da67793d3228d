// Intra-op thread pool owned by a Session. Safe to call parallel_for from several threads at once
// (and from inside a chunk: the caller always runs chunks of its own call, so nesting cannot deadlock).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>  // callers pass std::function too
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace joule {

/// Non-owning reference to a callable `void(int64_t begin, int64_t end)`: no allocation, one indirect
/// call. The callable must outlive the call it is passed to (a lambda argument does).
class RangeFn {
 public:
  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, RangeFn>>>
  RangeFn(F&& f)  // NOLINT(google-explicit-constructor): lambdas and std::function convert implicitly
      : obj_(static_cast<const void*>(std::addressof(f))),
        call_([](const void* o, int64_t b, int64_t e) {
          using T = std::remove_reference_t<F>;
          (*static_cast<T*>(const_cast<void*>(o)))(b, e);
        }) {}
  void operator()(int64_t b, int64_t e) const { call_(obj_, b, e); }

 private:
  const void* obj_;
  void (*call_)(const void*, int64_t, int64_t);
};

/// A fixed set of worker threads; the calling thread also works, so `threads == 1` spawns none.
///
/// Energy: a worker that runs out of work spins (pause instructions) for at most `spin_us()`
/// microseconds watching for the next call, then sleeps on a condition variable; the caller waits for
/// the last chunks the same way. Back-to-back calls (a model's steps) thus skip the futex wake-up,
/// while an idle pool burns no CPU. `JOULE_SPIN_US` overrides the default spin (0 = never spin).
class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }
  int64_t spin_us() const { return spin_ns_ / 1000; }

  /// Runs fn(begin, end) over [0, n) in min(threads, n / grain) contiguous chunks of (nearly) equal
  /// item counts and waits for all: for items of equal cost. A chunk is claimed by whichever thread is
  /// free first, so a late worker's share is picked up by the others.
  void parallel_for(int64_t n, int64_t grain, RangeFn fn);

  /// Runs fn over [0, n) in chunks of `chunk` items (the last may be shorter) claimed one at a time
  /// from an atomic counter: for items of uneven cost (more chunks than threads balance the load).
  void parallel_for_dynamic(int64_t n, int64_t chunk, RangeFn fn);

 private:
  struct Job;
  void run(Job& job);
  void worker_loop();
  Job* take_job();            // under mu_
  void unlink(Job& job);      // under mu_
  bool spin_until_changed(uint64_t seen, int64_t ns) const;

  std::vector<std::thread> workers_;
  int64_t spin_ns_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;       // workers sleep here
  std::condition_variable done_cv_;  // callers waiting for the last helpers sleep here
  Job* head_ = nullptr;              // jobs with chunks left, oldest first (under mu_)
  std::atomic<uint64_t> epoch_{0};   // bumped for every posted job (and at stop)
  int sleepers_ = 0;                 // workers blocked on cv_ (under mu_)
  bool stop_ = false;
};

/// Default thread count: the number of cores the process may use.
int default_thread_count();

}  // namespace joule
