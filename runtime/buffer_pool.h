// BufferPool: a session's cache of freed activation blocks, so runs whose shapes were not known at load time
// (a symbolic batch or sequence dimension leaves the memory plan without an arena) stop paying malloc/free and
// glibc's trimming for every intermediate tensor of every run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>

#include "joule/status.h"
#include "joule/tensor.h"

namespace joule {

class BufferPool : public std::enable_shared_from_this<BufferPool> {
 public:
  /// Blocks kept while free beyond this total are given back to the system instead.
  explicit BufferPool(size_t max_cached_bytes = size_t{512} << 20) : max_cached_(max_cached_bytes) {}
  ~BufferPool();
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  /// A zero-filled, 64-byte aligned tensor, like Tensor(dtype, shape), whose storage comes back to this pool
  /// when its last copy is released. Refuses (like HeapAllocator) a tensor over `max_bytes`.
  Status allocate(DType dtype, const Shape& shape, uint64_t max_bytes, Tensor& out);

  size_t cached_bytes() const;

 private:
  struct Release;
  void give_back(void* p, size_t bytes);

  mutable std::mutex mu_;
  std::multimap<size_t, void*> free_;  // by block size
  size_t cached_ = 0;
  size_t max_cached_;
};

}  // namespace joule
