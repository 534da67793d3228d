// Reference kernels for Concat and Split. Both view every tensor as [outer, dim_axis * inner]
// with outer = prod(dims before axis), inner = prod(dims after axis), and move contiguous
// chunks of dim_axis * inner elements: Concat appends each input's chunk per outer row,
// Split hands consecutive ranges of each input row to the outputs.
#include <cstring>

#include "kernels/kernel_registry.h"
#include "kernels/ref/movement.h"
#include "runtime/ops/infer_helpers.h"

namespace joule::kernels {

namespace {

// Bytes of one element, or 0 for packed/unsupported types.
size_t elem_bytes(DType t) { return dtype_size(t); }

Status concat_ref(KernelContext& ctx) {
  Tensor& out = ctx.out(0);
  const Shape& os = out.shape();
  const int axis = *ops::normalize_axis(ctx.node.attr_int("axis", 0), static_cast<int>(os.size()));
  const size_t es = elem_bytes(out.dtype());
  if (es == 0) return ctx.fail_unsupported("dtype " + std::string(dtype_name(out.dtype())));
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= os[static_cast<size_t>(d)];
  for (size_t d = static_cast<size_t>(axis) + 1; d < os.size(); ++d) inner *= os[d];
  const size_t out_row = static_cast<size_t>(os[static_cast<size_t>(axis)] * inner) * es;
  auto* dst = static_cast<std::byte*>(out.raw());
  size_t col = 0;  // byte offset of the current input's chunk inside an output row
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    const Tensor& in = ctx.in(i);
    if (in.numel() == 0) continue;  // contributes nothing (and may have another rank, see inference)
    const size_t chunk = static_cast<size_t>(in.shape()[static_cast<size_t>(axis)] * inner) * es;
    const auto* src = static_cast<const std::byte*>(in.raw());
    if (chunk)
      for (int64_t o = 0; o < outer; ++o) std::memcpy(dst + static_cast<size_t>(o) * out_row + col, src + static_cast<size_t>(o) * chunk, chunk);
    col += chunk;
  }
  return Status::ok();
}

Status split_ref(KernelContext& ctx) {
  const Tensor& in = ctx.in(0);
  const Shape& is = in.shape();
  const int axis = *ops::normalize_axis(ctx.node.attr_int("axis", 0), static_cast<int>(is.size()));
  const size_t es = elem_bytes(in.dtype());
  if (es == 0) return ctx.fail_unsupported("dtype " + std::string(dtype_name(in.dtype())));
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= is[static_cast<size_t>(d)];
  for (size_t d = static_cast<size_t>(axis) + 1; d < is.size(); ++d) inner *= is[d];
  const size_t in_row = static_cast<size_t>(is[static_cast<size_t>(axis)] * inner) * es;
  const auto* src = static_cast<const std::byte*>(in.raw());
  size_t col = 0;
  for (size_t i = 0; i < ctx.outputs.size(); ++i) {
    // Output sizes along the axis come from inference (outputs of Split are never optional).
    if (!ctx.has_output(i)) return ctx.fail_unsupported("omitted Split outputs are not supported");
    Tensor& out = ctx.out(i);
    const size_t chunk = static_cast<size_t>(out.shape()[static_cast<size_t>(axis)] * inner) * es;
    auto* dst = static_cast<std::byte*>(out.raw());
    if (chunk)
      for (int64_t o = 0; o < outer; ++o) std::memcpy(dst + static_cast<size_t>(o) * chunk, src + static_cast<size_t>(o) * in_row + col, chunk);
    col += chunk;
  }
  return Status::ok();
}

}  // namespace

void register_ref_concat_split(KernelRegistry& r) {
  r.add({"", "Concat", "concat__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, concat_ref});
  r.add({"", "Split", "split__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, split_ref});
}

}  // namespace joule::kernels
