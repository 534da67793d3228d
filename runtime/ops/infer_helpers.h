// Shape arithmetic shared by op inference functions and reference kernels.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "joule/status.h"
#include "joule/tensor.h"

namespace joule::ops {

/// Numpy-style multidirectional broadcast of two shapes; unknown (-1) dims stay unknown
/// unless the other side fixes them. Returns nullopt when the shapes are incompatible.
std::optional<Shape> broadcast_shapes(const Shape& a, const Shape& b);

/// Maps a possibly negative axis into [0, rank); nullopt when out of range.
std::optional<int> normalize_axis(int64_t axis, int rank);

/// Row-major strides (in elements) of a shape.
std::vector<int64_t> strides_of(const Shape& s);

/// Strides of `in` broadcast to `out` (0 on broadcast dims); `in` is right-aligned to `out`.
std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out);

}  // namespace joule::ops
