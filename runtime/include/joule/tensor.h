// Tensor: dtype + shape + (shared or borrowed) storage, with optional quantization parameters.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "joule/dtype.h"

namespace joule {

/// Concrete dimensions, outermost first. A scalar has an empty shape.
using Shape = std::vector<int64_t>;

/// Product of dims (1 for a scalar); -1 if any dim is negative (unknown).
int64_t shape_numel(const Shape& s);
/// "1x3x224x224" style text; "scalar" for rank 0; unknown dims print as "?".
std::string shape_to_string(const Shape& s);

/// Quantization parameters that travel with a tensor.
/// per-tensor: one scale; per-axis: one per slice along `axis`;
/// per-block: one per `block_size` elements along `axis` (INT4 weight formats).
struct QuantParams {
  std::vector<float> scale;
  std::vector<int32_t> zero_point;  // empty means symmetric (all zero)
  int axis = -1;                    // -1 with one scale means per-tensor
  int block_size = 0;               // 0 unless per-block

  bool empty() const { return scale.empty(); }
};

/// An n-dimensional array. Copies share storage (like a shared_ptr); use clone() for a deep copy.
class Tensor {
 public:
  Tensor() = default;
  /// Allocates zero-initialised, 64-byte aligned storage.
  Tensor(DType dtype, Shape shape);
  /// Wraps caller-owned memory without copying; the caller keeps it alive.
  static Tensor borrow(DType dtype, Shape shape, void* data);
  /// Wraps memory kept alive by `owner`.
  static Tensor from_shared(DType dtype, Shape shape, std::shared_ptr<void> owner, void* data);
  /// Allocates and copies `data` (n elements of T).
  template <class T>
  static Tensor from_vector(Shape shape, const std::vector<T>& data);
  /// Rank-0 tensor holding one value.
  template <class T>
  static Tensor scalar(T v) {
    Tensor t(DTypeOf<T>::value, {});
    *t.data<T>() = v;
    return t;
  }

  bool defined() const { return dtype_ != DType::kUndefined; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const { return shape_[static_cast<size_t>(i)]; }
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return storage_bytes(dtype_, numel()); }

  void* raw() { return data_; }
  const void* raw() const { return data_; }
  template <class T> T* data() { return static_cast<T*>(data_); }
  template <class T> const T* data() const { return static_cast<const T*>(data_); }

  /// Same storage viewed with another shape of equal element count.
  Tensor reshaped(Shape shape) const;
  /// Deep copy with its own storage.
  Tensor clone() const;
  /// Element i converted to double / int64 (any numeric dtype; for shape-like inputs).
  double value_as_double(int64_t i) const;
  int64_t value_as_int(int64_t i) const;
  /// All elements converted to int64 (for shape, axes, pads inputs).
  std::vector<int64_t> to_int64_vector() const;

  QuantParams quant;  // empty unless the tensor is quantized

 private:
  DType dtype_ = DType::kUndefined;
  Shape shape_;
  std::shared_ptr<void> owner_;
  void* data_ = nullptr;
};

template <class T>
Tensor Tensor::from_vector(Shape shape, const std::vector<T>& data) {
  Tensor t(DTypeOf<T>::value, std::move(shape));
  for (size_t i = 0; i < data.size() && static_cast<int64_t>(i) < t.numel(); ++i) t.data<T>()[i] = data[i];
  return t;
}

}  // namespace joule
