// Calls a templated lambda with the C++ type of a runtime DType: fn.template operator()<T>().
// Kernels use these to write one template and cover every dtype an op's ONNX tests use.
#pragma once

#include <cstdint>
#include <type_traits>

#include "joule/dtype.h"

namespace joule {

/// Arithmetic type used to compute on T: float for 16-bit floats, T otherwise.
template <class T>
using ComputeT = std::conditional_t<std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>, float, T>;

template <class T>
inline ComputeT<T> to_compute(T v) {
  return static_cast<ComputeT<T>>(v);
}
template <class T, class C>
inline T from_compute(C v) {
  if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
    return T(static_cast<float>(v));
  } else {
    return static_cast<T>(v);
  }
}

/// Floating types: f32, f64, f16, bf16. Returns false when `t` is not one of them.
template <class Fn>
bool dispatch_float(DType t, Fn&& fn) {
  switch (t) {
    case DType::kF32: fn.template operator()<float>(); return true;
    case DType::kF64: fn.template operator()<double>(); return true;
    case DType::kF16: fn.template operator()<Half>(); return true;
    case DType::kBF16: fn.template operator()<BFloat16>(); return true;
    default: return false;
  }
}

/// Integer types (8 to 64 bits, signed and unsigned).
template <class Fn>
bool dispatch_int(DType t, Fn&& fn) {
  switch (t) {
    case DType::kI8: fn.template operator()<int8_t>(); return true;
    case DType::kU8: fn.template operator()<uint8_t>(); return true;
    case DType::kI16: fn.template operator()<int16_t>(); return true;
    case DType::kU16: fn.template operator()<uint16_t>(); return true;
    case DType::kI32: fn.template operator()<int32_t>(); return true;
    case DType::kU32: fn.template operator()<uint32_t>(); return true;
    case DType::kI64: fn.template operator()<int64_t>(); return true;
    case DType::kU64: fn.template operator()<uint64_t>(); return true;
    default: return false;
  }
}

/// Float and integer types (not bool).
template <class Fn>
bool dispatch_numeric(DType t, Fn&& fn) {
  return dispatch_float(t, fn) || dispatch_int(t, fn);
}

/// Every fixed-size type including bool (for data movement ops).
template <class Fn>
bool dispatch_all(DType t, Fn&& fn) {
  if (t == DType::kBool) {
    fn.template operator()<bool>();
    return true;
  }
  return dispatch_numeric(t, fn);
}

}  // namespace joule
