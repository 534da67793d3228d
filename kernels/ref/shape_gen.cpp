// Reference kernels for tensor creators: Shape, Size, Constant, ConstantOfShape, Range,
// EyeLike, and the Trilu mask. Output shapes were computed by inference from the input values.
#include <algorithm>
#include <cstring>

#include "kernels/kernel_registry.h"
#include "kernels/ref/movement.h"
#include "runtime/ir/dtype_dispatch.h"
#include "runtime/ops/shape_util.h"

namespace joule::kernels {

namespace {

// Shape: out[i] = in.shape[start + i] (start resolved like in inference).
Status shape_ref(KernelContext& ctx) {
  const Shape& s = ctx.in(0).shape();
  const int64_t r = static_cast<int64_t>(s.size());
  int64_t start = ctx.node.attr_int("start", 0);
  if (start < 0) start += r;
  start = std::clamp<int64_t>(start, 0, r);
  int64_t* o = ctx.out(0).data<int64_t>();
  for (int64_t i = 0; i < ctx.out(0).numel(); ++i) o[i] = s[static_cast<size_t>(start + i)];
  return Status::ok();
}

Status size_ref(KernelContext& ctx) {
  *ctx.out(0).data<int64_t>() = ctx.in(0).numel();
  return Status::ok();
}

Status constant_ref(KernelContext& ctx) {
  Tensor t;
  JOULE_RETURN_IF_ERROR(ops::constant_attr_value(ctx.node, t));
  if (t.nbytes() != ctx.out(0).nbytes()) return internal_error(ctx.node.label() + ": constant size differs from the inferred one");
  if (t.nbytes()) std::memcpy(ctx.out(0).raw(), t.raw(), t.nbytes());
  return Status::ok();
}

// ConstantOfShape: every element is a copy of the `value` attribute's single element (default float 0).
Status constant_of_shape_ref(KernelContext& ctx) {
  Tensor& out = ctx.out(0);
  const Tensor* v = ctx.node.attr_tensor("value");
  Tensor zero = Tensor::scalar<float>(0.0f);
  if (!v) v = &zero;
  bool ok = dispatch_word(dtype_size(out.dtype()), [&]<class W>() {
    W w;
    std::memcpy(&w, v->raw(), sizeof(W));
    std::fill_n(out.data<W>(), out.numel(), w);
  });
  return ok ? Status::ok() : ctx.fail_unsupported("dtype " + std::string(dtype_name(out.dtype())));
}

// Range: out[i] = start + i * delta, in T for floats and exactly (128-bit) for integers.
Status range_ref(KernelContext& ctx) {
  Tensor& out = ctx.out(0);
  bool ok = dispatch_numeric(out.dtype(), [&]<class T>() {
    using C = ComputeT<T>;
    const C start = to_compute(ctx.in(0).data<T>()[0]), delta = to_compute(ctx.in(2).data<T>()[0]);
    T* o = out.data<T>();
    for (int64_t i = 0; i < out.numel(); ++i) {
      if constexpr (std::is_floating_point_v<C>) {
        o[i] = from_compute<T>(start + static_cast<C>(i) * delta);
      } else {
        o[i] = static_cast<T>(static_cast<__int128>(start) + static_cast<__int128>(i) * static_cast<__int128>(delta));
      }
    }
  });
  return ok ? Status::ok() : ctx.fail_unsupported("dtype " + std::string(dtype_name(out.dtype())));
}

// EyeLike: out[i][j] = (j - i == k) ? 1 : 0.
Status eye_like_ref(KernelContext& ctx) {
  Tensor& out = ctx.out(0);
  const int64_t rows = out.shape()[0], cols = out.shape()[1], k = ctx.node.attr_int("k", 0);
  std::memset(out.raw(), 0, out.nbytes());
  bool ok = dispatch_all(out.dtype(), [&]<class T>() {
    T* o = out.data<T>();
    for (int64_t i = 0; i < rows; ++i) {
      // j = i + k without overflow for extreme k: compare before adding.
      if (k >= cols - i || k < -i) continue;
      o[i * cols + i + k] = from_compute<T>(1);
    }
  });
  return ok ? Status::ok() : ctx.fail_unsupported("dtype " + std::string(dtype_name(out.dtype())));
}

// Trilu: over the last two dims [rows, cols], keeps elements with j - i >= k (upper=1) or
// j - i <= k (upper=0) and zeroes the rest; k is the optional scalar input (default 0).
Status trilu_ref(KernelContext& ctx) {
  const Tensor& in = ctx.in(0);
  Tensor& out = ctx.out(0);
  const Shape& s = in.shape();
  const int64_t rows = s[s.size() - 2], cols = s[s.size() - 1];
  int64_t k = ctx.has_input(1) ? ctx.in(1).value_as_int(0) : 0;
  k = std::clamp<int64_t>(k, -rows - 1, cols + 1);  // beyond this range the mask no longer changes
  const bool upper = ctx.node.attr_int("upper", 1) != 0;
  const size_t es = dtype_size(in.dtype());
  if (es == 0) return ctx.fail_unsupported("dtype " + std::string(dtype_name(in.dtype())));
  std::memset(out.raw(), 0, out.nbytes());
  const int64_t mats = rows * cols == 0 ? 0 : in.numel() / (rows * cols);
  const auto* src = static_cast<const std::byte*>(in.raw());
  auto* dst = static_cast<std::byte*>(out.raw());
  for (int64_t m = 0; m < mats; ++m) {
    for (int64_t i = 0; i < rows; ++i) {
      // Kept columns [lo, hi) of row i.
      int64_t lo = upper ? std::clamp<int64_t>(i + k, 0, cols) : 0;
      int64_t hi = upper ? cols : std::clamp<int64_t>(i + k + 1, 0, cols);
      if (hi <= lo) continue;
      size_t off = static_cast<size_t>((m * rows + i) * cols + lo) * es;
      std::memcpy(dst + off, src + off, static_cast<size_t>(hi - lo) * es);
    }
  }
  return Status::ok();
}

KernelDef ref(const char* op, const char* name, KernelFn fn) {
  return {"", op, name, Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, fn};
}

}  // namespace

void register_ref_shape_gen(KernelRegistry& r) {
  r.add(ref("Shape", "shape__ref", shape_ref));
  r.add(ref("Size", "size__ref", size_ref));
  r.add(ref("Constant", "constant__ref", constant_ref));
  r.add(ref("ConstantOfShape", "constantofshape__ref", constant_of_shape_ref));
  r.add(ref("Range", "range__ref", range_ref));
  r.add(ref("EyeLike", "eyelike__ref", eye_like_ref));
  r.add(ref("Trilu", "trilu__ref", trilu_ref));
}

}  // namespace joule::kernels
