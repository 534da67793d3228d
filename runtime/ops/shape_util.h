// Shape arithmetic shared by the shape/index op definitions (runtime/ops/shape_ops.cpp,
// index_ops.cpp) and their reference kernels (kernels/ref/shape*.cpp, gather_scatter.cpp ...):
// overflow-safe element counts, size guards and Slice parameter resolution.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "joule/status.h"
#include "joule/tensor.h"
#include "runtime/ir/graph.h"

namespace joule::ops {

class OpRegistry;
/// Sub-families of register_shape_ops / register_index_ops (shape_gen_ops.cpp, index_ops.cpp).
void register_shape_generator_ops(OpRegistry& r);
void register_unique_op(OpRegistry& r);

/// Unique (runtime/ops/unique_ops.cpp), shared by inference and the reference kernel. The input
/// is viewed as [outer, n, inner] around `axis` (flattened to [1, numel, 1] when axis < 0) and
/// the n slices are compared lexicographically. For each unique slice u (in ascending order when
/// `sorted`, else in order of first occurrence): first[u] = its first slice index, counts[u] =
/// its number of occurrences; inverse[k] = the u of slice k. False for an unsupported dtype.
struct UniqueResult {
  std::vector<int64_t> first, counts, inverse;
};
bool compute_unique(const Tensor& x, int axis, bool sorted, UniqueResult& r);

/// Largest tensor (in bytes) a shape/index op will infer; anything bigger is an absurd,
/// usually hostile, shape (e.g. Expand to 2^40 elements) and becomes a resource-limit error
/// at load or run time instead of an allocation attempt.
inline constexpr int64_t kMaxInferredBytes = int64_t{1} << 34;

/// Product of dims with overflow detection. False on a negative dim or when the product
/// exceeds 2^62; `n` is the product otherwise.
inline bool checked_numel(const Shape& s, int64_t& n) {
  n = 1;
  bool zero = false;
  for (int64_t d : s) {
    if (d < 0) return false;
    if (d == 0) zero = true;
  }
  if (zero) {
    n = 0;
    return true;
  }
  for (int64_t d : s) {
    if (n > (int64_t{1} << 62) / d) return false;
    n *= d;
  }
  return true;
}

/// Ok when a tensor of `s` and `t` is of a sane size; a resource-limit error naming `what` otherwise.
inline Status guard_size(const ir::Node& node, const Shape& s, DType t, const std::string& what = "output") {
  int64_t n = 0;
  size_t es = dtype_size(t) ? dtype_size(t) : 1;
  if (!checked_numel(s, n) || n > kMaxInferredBytes / static_cast<int64_t>(es))
    return resource_limit(node.label() + ": " + what + " of shape " + shape_to_string(s) +
                          " would be absurdly large (over " + std::to_string(kMaxInferredBytes) + " bytes)");
  return Status::ok();
}

/// The tensor a Constant node holds: its value / value_float / value_int / value_floats /
/// value_ints attribute (the importer folds Constant nodes; this serves graphs built in code).
inline Status constant_attr_value(const ir::Node& n, Tensor& out) {
  for (const auto& [name, a] : n.attrs) {
    if (name == "value" && a.kind == ir::Attribute::Kind::kTensor && a.t.defined()) out = a.t;
    else if (name == "value_float") out = Tensor::scalar<float>(a.f);
    else if (name == "value_int") out = Tensor::scalar<int64_t>(a.i);
    else if (name == "value_floats") out = Tensor::from_vector<float>({static_cast<int64_t>(a.floats.size())}, a.floats);
    else if (name == "value_ints") out = Tensor::from_vector<int64_t>({static_cast<int64_t>(a.ints.size())}, a.ints);
    else if (name == "sparse_value" || name == "value_string" || name == "value_strings")
      return unsupported(n.label() + ": " + name + " constants are not supported");
    else continue;
    return Status::ok();
  }
  return invalid_model(n.label() + ": has no value attribute");
}

/// Resolved Slice: for each input dim the first index and the step, and the output shape.
struct SliceParams {
  std::vector<int64_t> start;  // per input dim, in [0, dim) when the output dim is non-empty
  std::vector<int64_t> step;   // per input dim (1 for dims not sliced)
  Shape out;
};

/// Resolves Slice parameters. Opset < 10 reads the starts/ends/axes attributes; later opsets
/// read the starts/ends/axes/steps tensors (axes/steps may be null). Returns "" on success,
/// otherwise a description of what is wrong.
///
/// Semantics (ONNX Slice-13): negative starts/ends count from the end; starts are clamped to
/// [0, dim] for positive steps and [0, dim-1] for negative ones; ends to [0, dim] / [-1, dim-1].
/// The output length is ceil((end - start) / step) when positive, else 0.
inline std::string resolve_slice(const ir::Node& node, const Shape& in, const Tensor* starts_t, const Tensor* ends_t,
                                 const Tensor* axes_t, const Tensor* steps_t, SliceParams& p) {
  const int r = static_cast<int>(in.size());
  std::vector<int64_t> starts, ends, axes, steps;
  if (node.opset < 10) {
    starts = node.attr_ints("starts");
    ends = node.attr_ints("ends");
    axes = node.attr_ints("axes");
  } else {
    if (!starts_t || !ends_t) return "starts and ends inputs are required";
    if (starts_t->rank() != 1 || ends_t->rank() != 1) return "starts and ends must be 1-D";
    starts = starts_t->to_int64_vector();
    ends = ends_t->to_int64_vector();
    if (axes_t) axes = axes_t->to_int64_vector();
    if (steps_t) steps = steps_t->to_int64_vector();
  }
  if (starts.size() != ends.size())
    return "starts has " + std::to_string(starts.size()) + " values but ends has " + std::to_string(ends.size());
  if (axes.empty()) {  // default: the first starts.size() axes
    if (starts.size() > static_cast<size_t>(r))
      return std::to_string(starts.size()) + " starts for an input of rank " + std::to_string(r);
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  }
  if (axes.size() != starts.size())
    return "axes has " + std::to_string(axes.size()) + " values but starts has " + std::to_string(starts.size());
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (steps.size() != starts.size())
    return "steps has " + std::to_string(steps.size()) + " values but starts has " + std::to_string(starts.size());

  p.start.assign(static_cast<size_t>(r), 0);
  p.step.assign(static_cast<size_t>(r), 1);
  p.out = in;
  std::vector<bool> seen(static_cast<size_t>(r), false);
  for (size_t i = 0; i < axes.size(); ++i) {
    int64_t a = axes[i];
    if (a < -r || a >= r) return "axis " + std::to_string(a) + " is out of range for rank " + std::to_string(r);
    size_t ax = static_cast<size_t>(a < 0 ? a + r : a);
    if (seen[ax]) return "axis " + std::to_string(a) + " is repeated";
    seen[ax] = true;
    const int64_t dim = in[ax];
    // Clamp the step away from INT64_MIN so that -step is representable; no dim is that large.
    int64_t step = std::max(steps[i], -std::numeric_limits<int64_t>::max());
    if (step == 0) return "step for axis " + std::to_string(a) + " is 0";
    int64_t s = starts[i], e = ends[i];
    if (s < 0) s += dim;  // cannot overflow: s < 0 and dim >= 0
    if (e < 0) e += dim;
    int64_t len;
    if (dim == 0) {
      len = 0;
    } else if (step > 0) {
      s = std::clamp<int64_t>(s, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
      len = e > s ? (e - s - 1) / step + 1 : 0;
    } else {
      s = std::clamp<int64_t>(s, 0, dim - 1);
      e = std::clamp<int64_t>(e, -1, dim - 1);
      len = s > e ? (s - e - 1) / (-step) + 1 : 0;
    }
    p.start[ax] = len > 0 ? s : 0;
    p.step[ax] = step;
    p.out[ax] = len;
  }
  return "";
}

}  // namespace joule::ops
