// Dtype-agnostic data movement for the shape/index reference kernels: elements are moved as
// opaque words of 1, 2, 4 or 8 bytes, so one code path serves bool, float16, int64, double ...
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "joule/tensor.h"

namespace joule::kernels {

class KernelRegistry;
// Sub-families of register_ref_shape / register_ref_index (kernels/ref/*.cpp).
void register_ref_concat_split(KernelRegistry& r);
void register_ref_shape_gen(KernelRegistry& r);
void register_ref_gather_scatter(KernelRegistry& r);

/// Calls fn.template operator()<W>() with an unsigned word type of `elem_size` bytes.
/// Returns false for sizes other than 1, 2, 4, 8 (packed 4-bit types, strings).
template <class Fn>
bool dispatch_word(size_t elem_size, Fn&& fn) {
  switch (elem_size) {
    case 1: fn.template operator()<uint8_t>(); return true;
    case 2: fn.template operator()<uint16_t>(); return true;
    case 4: fn.template operator()<uint32_t>(); return true;
    case 8: fn.template operator()<uint64_t>(); return true;
    default: return false;
  }
}

/// out[i] = in[base + sum_d idx_d(i) * in_strides[d]], where idx(i) is the row-major
/// multi-index of i in `shape` (the output's logical shape, which may have more dims than
/// the real output, e.g. Tile's interleaved [r0, d0, r1, d1, ...]). Strides are in elements
/// and may be 0 (broadcast) or negative (reversed slice). Returns false for an unsupported
/// element size.
inline bool strided_copy(const void* in, int64_t base, const std::vector<int64_t>& in_strides, const Shape& shape,
                         void* out, size_t elem_size) {
  int64_t n = shape_numel(shape);
  if (n <= 0) return elem_size == 1 || elem_size == 2 || elem_size == 4 || elem_size == 8;
  return dispatch_word(elem_size, [&]<class W>() {
    const W* src = static_cast<const W*>(in) + base;
    W* dst = static_cast<W*>(out);
    const int r = static_cast<int>(shape.size());
    if (r == 0) {
      dst[0] = src[0];
      return;
    }
    // The innermost dim is copied in one loop; the outer dims advance an odometer.
    const int64_t inner = shape[static_cast<size_t>(r - 1)];
    const int64_t inner_stride = in_strides[static_cast<size_t>(r - 1)];
    std::vector<int64_t> idx(static_cast<size_t>(r), 0);
    int64_t off = 0;
    for (int64_t o = 0; o < n; o += inner) {
      const W* s = src + off;
      if (inner_stride == 1) {
        std::memcpy(dst + o, s, static_cast<size_t>(inner) * sizeof(W));
      } else {
        for (int64_t j = 0; j < inner; ++j) dst[o + j] = s[j * inner_stride];
      }
      for (int d = r - 2; d >= 0; --d) {
        size_t du = static_cast<size_t>(d);
        ++idx[du];
        off += in_strides[du];
        if (idx[du] < shape[du]) break;
        off -= in_strides[du] * shape[du];
        idx[du] = 0;
      }
    }
  });
}

}  // namespace joule::kernels
