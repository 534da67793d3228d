// Element access for quantized integer tensors in the reference quant kernels, including the
// packed 4-bit types (two values per byte, low nibble first, int4 sign-extended).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "joule/tensor.h"

namespace joule::kernels::quant {

/// Element i of an integer tensor (u8/i8/u16/i16/i32/u4/i4) as int32.
inline int32_t load_q(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::kU8: return t.data<uint8_t>()[i];
    case DType::kI8: return t.data<int8_t>()[i];
    case DType::kU16: return t.data<uint16_t>()[i];
    case DType::kI16: return t.data<int16_t>()[i];
    case DType::kI32: return t.data<int32_t>()[i];
    case DType::kU4:
    case DType::kI4: {
      uint8_t byte = static_cast<const uint8_t*>(t.raw())[i / 2];
      int32_t nib = (i % 2 == 0) ? (byte & 0x0F) : (byte >> 4);
      if (t.dtype() == DType::kI4 && nib >= 8) nib -= 16;
      return nib;
    }
    default: return 0;
  }
}

/// Writes v (already within the type's range) to element i.
inline void store_q(Tensor& t, int64_t i, int32_t v) {
  switch (t.dtype()) {
    case DType::kU8: t.data<uint8_t>()[i] = static_cast<uint8_t>(v); break;
    case DType::kI8: t.data<int8_t>()[i] = static_cast<int8_t>(v); break;
    case DType::kU16: t.data<uint16_t>()[i] = static_cast<uint16_t>(v); break;
    case DType::kI16: t.data<int16_t>()[i] = static_cast<int16_t>(v); break;
    case DType::kI32: t.data<int32_t>()[i] = v; break;
    case DType::kU4:
    case DType::kI4: {
      uint8_t& byte = static_cast<uint8_t*>(t.raw())[i / 2];
      uint8_t nib = static_cast<uint8_t>(v) & 0x0F;
      byte = (i % 2 == 0) ? static_cast<uint8_t>((byte & 0xF0) | nib) : static_cast<uint8_t>((byte & 0x0F) | (nib << 4));
      break;
    }
    default: break;
  }
}

/// Representable range of a quantized type.
inline void q_range(DType t, int32_t& lo, int32_t& hi) {
  switch (t) {
    case DType::kU8: lo = 0; hi = 255; break;
    case DType::kI8: lo = -128; hi = 127; break;
    case DType::kU16: lo = 0; hi = 65535; break;
    case DType::kI16: lo = -32768; hi = 32767; break;
    case DType::kU4: lo = 0; hi = 15; break;
    case DType::kI4: lo = -8; hi = 7; break;
    default: lo = INT32_MIN; hi = INT32_MAX; break;
  }
}

/// round-half-to-even(v) + zp, saturated to [lo, hi]; NaN maps to the zero point.
inline int32_t saturate_round(double v, int32_t zp, int32_t lo, int32_t hi) {
  if (std::isnan(v)) return std::clamp(zp, lo, hi);
  double r = std::nearbyint(v) + zp;  // default rounding mode: nearest, ties to even
  return static_cast<int32_t>(std::clamp(r, static_cast<double>(lo), static_cast<double>(hi)));
}

}  // namespace joule::kernels::quant
