// Reference kernels for the index family's selection ops: NonZero, OneHot, Compress,
// ReverseSequence. Gather/Scatter live in gather_scatter.cpp.
#include <cmath>
#include <cstring>

#include "kernels/kernel_registry.h"
#include "kernels/ref/movement.h"
#include "runtime/ir/dtype_dispatch.h"
#include "runtime/ops/infer_helpers.h"
#include "runtime/ops/shape_util.h"

namespace joule::kernels {

namespace {

Status bad_dtype(const KernelContext& ctx, DType t) {
  return ctx.fail_unsupported("dtype " + std::string(dtype_name(t)) + " is not supported");
}

// NonZero: out [rank, nnz] int64; column j holds the multi-index of the j-th non-zero element
// in row-major order. A scalar is treated as shape [1].
Status nonzero_ref(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& out = ctx.out(0);
  const Shape shape = x.rank() == 0 ? Shape{1} : x.shape();
  const int r = static_cast<int>(shape.size());
  const int64_t nnz = out.shape()[1];
  int64_t* o = out.data<int64_t>();
  bool ok = dispatch_all(x.dtype(), [&]<class T>() {
    const T* p = x.data<T>();
    std::vector<int64_t> mi(static_cast<size_t>(r), 0);
    int64_t j = 0;
    for (int64_t i = 0; i < x.numel(); ++i) {
      if (to_compute(p[i]) != ComputeT<T>(0) && j < nnz) {
        for (int d = 0; d < r; ++d) o[d * nnz + j] = mi[static_cast<size_t>(d)];
        ++j;
      }
      for (int d = r - 1; d >= 0; --d) {
        if (++mi[static_cast<size_t>(d)] < shape[static_cast<size_t>(d)]) break;
        mi[static_cast<size_t>(d)] = 0;
      }
    }
  });
  return ok ? Status::ok() : bad_dtype(ctx, x.dtype());
}

// OneHot: out viewed as [outer, depth, inner] (depth inserted at axis); every element is
// values[0] (off) except out[o, idx(o, i), i] = values[1] (on) where idx is the index at
// position o * inner + i, negative ones counting from depth; out-of-range indices stay off.
Status one_hot_ref(KernelContext& ctx) {
  const Tensor& ind = ctx.in(0);
  const Tensor& values = ctx.in(2);
  Tensor& out = ctx.out(0);
  const Shape& os = out.shape();
  const size_t axis = static_cast<size_t>(*ops::normalize_axis(ctx.node.attr_int("axis", -1), static_cast<int>(os.size())));
  const int64_t depth = os[axis];
  int64_t outer = 1, inner = 1;
  for (size_t d = 0; d < axis; ++d) outer *= os[d];
  for (size_t d = axis + 1; d < os.size(); ++d) inner *= os[d];
  bool ok = dispatch_word(dtype_size(out.dtype()), [&]<class W>() {
    const W off = values.data<W>()[0], on = values.data<W>()[1];
    W* o = out.data<W>();
    std::fill_n(o, out.numel(), off);
    for (int64_t a = 0; a < outer; ++a) {
      for (int64_t i = 0; i < inner; ++i) {
        double v = ind.value_as_double(a * inner + i);
        if (!std::isfinite(v)) continue;
        if (v < 0) v += static_cast<double>(depth);
        if (v < 0 || v >= static_cast<double>(depth)) continue;
        o[(a * depth + static_cast<int64_t>(v)) * inner + i] = on;
      }
    }
  });
  return ok ? Status::ok() : bad_dtype(ctx, out.dtype());
}

// Compress: with an axis, copies the [outer, dim, inner] slices whose condition is true;
// without, the flattened elements whose condition is true.
Status compress_ref(KernelContext& ctx) {
  const Tensor& in = ctx.in(0);
  const Tensor& cond = ctx.in(1);
  const size_t es = dtype_size(in.dtype());
  if (es == 0) return bad_dtype(ctx, in.dtype());
  int64_t outer = 1, dim = in.numel(), inner = 1;
  if (ctx.node.has_attr("axis")) {
    const Shape& s = in.shape();
    const size_t axis = static_cast<size_t>(*ops::normalize_axis(ctx.node.attr_int("axis", 0), in.rank()));
    dim = s[axis];
    for (size_t d = 0; d < axis; ++d) outer *= s[d];
    for (size_t d = axis + 1; d < s.size(); ++d) inner *= s[d];
  }
  const int64_t n = std::min(dim, cond.numel());
  std::vector<int64_t> kept;
  for (int64_t i = 0; i < n; ++i)
    if (cond.value_as_double(i) != 0) kept.push_back(i);
  if (static_cast<int64_t>(kept.size()) * outer * inner != ctx.out(0).numel())
    return internal_error(ctx.node.label() + ": output size differs from the inferred one");
  const size_t row = static_cast<size_t>(inner) * es;
  const auto* src = static_cast<const std::byte*>(in.raw());
  auto* dst = static_cast<std::byte*>(ctx.out(0).raw());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k : kept) {
      std::memcpy(dst, src + static_cast<size_t>(o * dim + k) * row, row);
      dst += row;
    }
  return Status::ok();
}

// ReverseSequence: for batch b, the first sequence_lens[b] steps along time_axis are reversed,
// the rest copied. Batch and time axes are dims 0 and 1; `inner` covers the dims after them.
Status reverse_sequence_ref(KernelContext& ctx) {
  const Tensor& in = ctx.in(0);
  const Tensor& lens = ctx.in(1);
  Tensor& out = ctx.out(0);
  const Shape& s = in.shape();
  const bool batch_first = ctx.node.attr_int("batch_axis", 1) == 0;
  const int64_t batches = batch_first ? s[0] : s[1], steps = batch_first ? s[1] : s[0];
  int64_t inner = 1;
  for (size_t d = 2; d < s.size(); ++d) inner *= s[d];
  const size_t es = dtype_size(in.dtype());
  if (es == 0) return bad_dtype(ctx, in.dtype());
  const size_t row = static_cast<size_t>(inner) * es;
  // Byte offset of element [b, t, :] of the input/output.
  auto at = [&](int64_t b, int64_t t) { return static_cast<size_t>(batch_first ? b * steps + t : t * batches + b) * row; };
  const auto* src = static_cast<const std::byte*>(in.raw());
  auto* dst = static_cast<std::byte*>(out.raw());
  for (int64_t b = 0; b < batches; ++b) {
    const int64_t len = lens.dtype() == DType::kI32 ? lens.data<int32_t>()[b] : lens.data<int64_t>()[b];
    if (len < 0 || len > steps)
      return ctx.fail("sequence_lens[" + std::to_string(b) + "] = " + std::to_string(len) + " is outside [0, " + std::to_string(steps) + "]");
    for (int64_t t = 0; t < steps; ++t) {
      const int64_t from = t < len ? len - 1 - t : t;
      if (row) std::memcpy(dst + at(b, t), src + at(b, from), row);
    }
  }
  return Status::ok();
}

// Unique: Y gathers the first occurrence of each unique slice ([outer, U, inner] view);
// indices / inverse_indices / counts come straight from ops::compute_unique.
Status unique_ref(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  int axis = -1;
  if (ctx.node.has_attr("axis")) axis = *ops::normalize_axis(ctx.node.attr_int("axis", 0), x.rank());
  ops::UniqueResult r;
  if (!ops::compute_unique(x, axis, ctx.node.attr_int("sorted", 1) != 0, r)) return bad_dtype(ctx, x.dtype());
  int64_t outer = 1, n = x.numel(), inner = 1;
  if (axis >= 0) {
    n = x.shape()[static_cast<size_t>(axis)];
    for (int d = 0; d < axis; ++d) outer *= x.shape()[static_cast<size_t>(d)];
    for (size_t d = static_cast<size_t>(axis) + 1; d < x.shape().size(); ++d) inner *= x.shape()[d];
  }
  const int64_t u = static_cast<int64_t>(r.first.size());
  if (ctx.out(0).numel() != outer * u * inner) return internal_error(ctx.node.label() + ": output size differs from the inferred one");
  const size_t es = dtype_size(x.dtype()), row = static_cast<size_t>(inner) * es;
  const auto* src = static_cast<const std::byte*>(x.raw());
  auto* dst = static_cast<std::byte*>(ctx.out(0).raw());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k = 0; k < u; ++k)
      std::memcpy(dst + static_cast<size_t>(o * u + k) * row, src + static_cast<size_t>(o * n + r.first[static_cast<size_t>(k)]) * row, row);
  const std::vector<int64_t>* extra[3] = {&r.first, &r.inverse, &r.counts};
  for (size_t i = 1; i < 4; ++i)
    if (ctx.has_output(i)) std::copy(extra[i - 1]->begin(), extra[i - 1]->end(), ctx.out(i).data<int64_t>());
  return Status::ok();
}

KernelDef ref(const char* op, const char* name, KernelFn fn) {
  return {"", op, name, Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, fn};
}

}  // namespace

void register_ref_index(KernelRegistry& r) {
  r.add(ref("NonZero", "nonzero__ref", nonzero_ref));
  r.add(ref("OneHot", "onehot__ref", one_hot_ref));
  r.add(ref("Compress", "compress__ref", compress_ref));
  r.add(ref("ReverseSequence", "reversesequence__ref", reverse_sequence_ref));
  r.add(ref("Unique", "unique__ref", unique_ref));
  register_ref_gather_scatter(r);
}

}  // namespace joule::kernels
