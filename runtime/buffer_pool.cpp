// BufferPool: best-fit reuse of freed blocks (a block serves requests down to half its size).
#include "runtime/buffer_pool.h"

#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

namespace joule {

struct BufferPool::Release {
  std::shared_ptr<BufferPool> pool;  // keeps the pool alive while any of its blocks is in use
  size_t bytes;
  void operator()(void* p) const { pool->give_back(p, bytes); }
};

BufferPool::~BufferPool() {
  for (auto& [bytes, p] : free_) std::free(p);
}

size_t BufferPool::cached_bytes() const {
  std::lock_guard<std::mutex> lk(mu_);
  return cached_;
}

void BufferPool::give_back(void* p, size_t bytes) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (cached_ + bytes <= max_cached_) {
      free_.emplace(bytes, p);
      cached_ += bytes;
      return;
    }
  }
  std::free(p);
}

Status BufferPool::allocate(DType dtype, const Shape& shape, uint64_t max_bytes, Tensor& out) {
  int64_t n = shape_numel(shape);
  if (n < 0) return internal_error("allocation with unknown shape " + shape_to_string(shape));
  uint64_t bytes = storage_bytes(dtype, n);
  if (bytes > max_bytes || static_cast<uint64_t>(n) > max_bytes)
    return resource_limit("tensor of shape " + shape_to_string(shape) + " (" + std::string(dtype_name(dtype)) +
                          ") needs " + std::to_string(bytes) + " bytes, over the limit of " + std::to_string(max_bytes));
  size_t want = static_cast<size_t>((bytes + 63) / 64 * 64);
  if (want == 0) want = 64;
  void* p = nullptr;
  size_t have = 0;
  {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = free_.lower_bound(want);
    if (it != free_.end() && it->first / 2 <= want) {
      p = it->second;
      have = it->first;
      cached_ -= have;
      free_.erase(it);
    }
  }
  if (!p) {
    p = std::aligned_alloc(64, want);
    if (!p) return resource_limit("out of memory allocating " + std::to_string(want) + " bytes for a tensor of shape " + shape_to_string(shape));
    have = want;
  }
  std::memset(p, 0, static_cast<size_t>(bytes));  // same contract as Tensor(dtype, shape): zero-filled
  // (If the control block cannot be allocated, shared_ptr hands p to Release before rethrowing.)
  std::shared_ptr<void> owner(p, Release{shared_from_this(), have});
  out = Tensor::from_shared(dtype, shape, std::move(owner), p);
  return Status::ok();
}

}  // namespace joule
