// Tensor storage and conversions.
#include "joule/tensor.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "runtime/ir/dtype_dispatch.h"

namespace joule {

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) {
    if (d < 0) return -1;
    n *= d;
  }
  return n;
}

std::string shape_to_string(const Shape& s) {
  if (s.empty()) return "scalar";
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += 'x';
    out += s[i] < 0 ? std::string("?") : std::to_string(s[i]);
  }
  return out;
}

namespace {
struct AlignedFree {
  void operator()(void* p) const { std::free(p); }
};

std::shared_ptr<void> allocate_aligned(size_t bytes) {
  size_t rounded = (bytes + 63) / 64 * 64;
  if (rounded == 0) rounded = 64;
  void* p = std::aligned_alloc(64, rounded);
  if (!p) throw std::bad_alloc();
  std::memset(p, 0, rounded);
  return std::shared_ptr<void>(p, AlignedFree());
}
}  // namespace

Tensor::Tensor(DType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)) {
  owner_ = allocate_aligned(nbytes());
  data_ = owner_.get();
}

Tensor Tensor::borrow(DType dtype, Shape shape, void* data) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.data_ = data;
  return t;
}

Tensor Tensor::from_shared(DType dtype, Shape shape, std::shared_ptr<void> owner, void* data) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.owner_ = std::move(owner);
  t.data_ = data;
  return t;
}

Tensor Tensor::reshaped(Shape shape) const {
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::clone() const {
  Tensor t(dtype_, shape_);
  if (nbytes()) std::memcpy(t.data_, data_, nbytes());
  t.quant = quant;
  return t;
}

double Tensor::value_as_double(int64_t i) const {
  double out = 0;
  dispatch_all(dtype_, [&]<class T>() { out = static_cast<double>(to_compute(data<T>()[i])); });
  return out;
}

int64_t Tensor::value_as_int(int64_t i) const {
  int64_t out = 0;
  dispatch_all(dtype_, [&]<class T>() { out = static_cast<int64_t>(to_compute(data<T>()[i])); });
  return out;
}

std::vector<int64_t> Tensor::to_int64_vector() const {
  std::vector<int64_t> v(static_cast<size_t>(numel() < 0 ? 0 : numel()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = value_as_int(static_cast<int64_t>(i));
  return v;
}

}  // namespace joule
