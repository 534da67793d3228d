// Element types of tensors. Numeric values match ONNX TensorProto.DataType.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace joule {

/// Element type; the numbering is ONNX's so import and export are a cast.
enum class DType : int32_t {
  kUndefined = 0,
  kF32 = 1,
  kU8 = 2,
  kI8 = 3,
  kU16 = 4,
  kI16 = 5,
  kI32 = 6,
  kI64 = 7,
  kString = 8,
  kBool = 9,
  kF16 = 10,
  kF64 = 11,
  kU32 = 12,
  kU64 = 13,
  kBF16 = 16,
  kU4 = 21,  // two values per byte, low nibble first
  kI4 = 22,
};

/// IEEE binary16 stored as bits; arithmetic happens in float.
struct Half {
  uint16_t bits = 0;
  Half() = default;
  explicit Half(float f);
  operator float() const;
};

/// bfloat16 stored as bits (upper half of a binary32).
struct BFloat16 {
  uint16_t bits = 0;
  BFloat16() = default;
  explicit BFloat16(float f);
  operator float() const;
};

/// Bytes per element; 0 for packed 4-bit types and strings (see storage_bytes()).
size_t dtype_size(DType t);
/// Bytes needed to store `n` elements of type `t` (rounds packed types up).
size_t storage_bytes(DType t, int64_t n);
/// ONNX-style lower-case name, e.g. "float32", "int64".
std::string_view dtype_name(DType t);
bool dtype_is_float(DType t);    // f16, bf16, f32, f64
bool dtype_is_integer(DType t);  // signed or unsigned ints incl. 4-bit
/// True for types joule can hold in a Tensor (everything but string/undefined).
bool dtype_is_supported(DType t);
/// Maps an ONNX data_type integer to a DType; kUndefined for unknown values.
DType dtype_from_onnx(int32_t v);

/// Compile-time mapping from C++ type to DType.
template <class T> struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::kF32; };
template <> struct DTypeOf<double> { static constexpr DType value = DType::kF64; };
template <> struct DTypeOf<Half> { static constexpr DType value = DType::kF16; };
template <> struct DTypeOf<BFloat16> { static constexpr DType value = DType::kBF16; };
template <> struct DTypeOf<int8_t> { static constexpr DType value = DType::kI8; };
template <> struct DTypeOf<uint8_t> { static constexpr DType value = DType::kU8; };
template <> struct DTypeOf<int16_t> { static constexpr DType value = DType::kI16; };
template <> struct DTypeOf<uint16_t> { static constexpr DType value = DType::kU16; };
template <> struct DTypeOf<int32_t> { static constexpr DType value = DType::kI32; };
template <> struct DTypeOf<uint32_t> { static constexpr DType value = DType::kU32; };
template <> struct DTypeOf<int64_t> { static constexpr DType value = DType::kI64; };
template <> struct DTypeOf<uint64_t> { static constexpr DType value = DType::kU64; };
template <> struct DTypeOf<bool> { static constexpr DType value = DType::kBool; };

}  // namespace joule
