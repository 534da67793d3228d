// Per-tensor QuantizeLinear / DequantizeLinear on 8-bit types with AVX2 (quantize_linear_f32__avx2.cpp);
// everything else (per axis, blocked, 16/4-bit, other float types) stays on the reference kernels.
#include "kernels/kernel_registry.h"
#include "kernels/ref/quant_common.h"

namespace joule::kernels::cpu {

void quantize_f32_to_8bit__avx2(const float* x, int64_t n, float scale, int32_t zp, bool is_signed, void* out);
void dequantize_8bit_to_f32__avx2(const void* q, int64_t n, float scale, int32_t zp, bool is_signed, float* out);

namespace {

bool is_8bit(DType t) { return t == DType::kU8 || t == DType::kI8; }

// Scalar scale (and zero point), no block_size / output_dtype.
bool per_tensor(const KernelQuery& q) {
  if (q.inputs.size() < 2 || q.node.has_attr("block_size") || q.node.attr_int("output_dtype", 0) != 0) return false;
  if (q.inputs[1].dtype != DType::kF32 || !q.inputs[1].rank_known || shape_numel(q.inputs[1].shape) != 1) return false;
  if (q.inputs.size() > 2 && q.inputs[2].dtype != DType::kUndefined &&
      (!is_8bit(q.inputs[2].dtype) || !q.inputs[2].rank_known || shape_numel(q.inputs[2].shape) != 1))
    return false;
  return true;
}

// x's type may be unknown where inference stopped (dynamic shapes): run() hands non-float32 to the reference.
bool quantize_accepts(const KernelQuery& q) {
  return per_tensor(q) && (q.inputs[0].dtype == DType::kF32 || q.inputs[0].dtype == DType::kUndefined);
}
bool dequantize_accepts(const KernelQuery& q) {
  return per_tensor(q) && is_8bit(q.inputs[0].dtype) && (q.inputs.size() < 3 || q.inputs[2].dtype == DType::kUndefined ||
                                                          q.inputs[2].dtype == q.inputs[0].dtype);
}

Status quantize_run(KernelContext& ctx) {
  if (ctx.in(0).dtype() != DType::kF32) return KernelRegistry::builtin().reference("", "QuantizeLinear")->run(ctx);
  if (ctx.in(1).numel() != 1) return ctx.fail("scale must be a scalar here");
  const int32_t zp = ctx.has_input(2) ? quant::load_q(ctx.in(2), 0) : 0;
  Tensor& y = ctx.out(0);
  if (!is_8bit(y.dtype())) return ctx.fail_unsupported("output type " + std::string(dtype_name(y.dtype())));
  quantize_f32_to_8bit__avx2(ctx.in(0).data<float>(), ctx.in(0).numel(), ctx.in(1).data<float>()[0], zp, y.dtype() == DType::kI8,
                             y.raw());
  return Status::ok();
}

Status dequantize_run(KernelContext& ctx) {
  if (ctx.in(1).numel() != 1) return ctx.fail("scale must be a scalar here");
  const int32_t zp = ctx.has_input(2) ? quant::load_q(ctx.in(2), 0) : 0;
  if (ctx.out(0).dtype() != DType::kF32) return ctx.fail_unsupported("output type " + std::string(dtype_name(ctx.out(0).dtype())));
  dequantize_8bit_to_f32__avx2(ctx.in(0).raw(), ctx.in(0).numel(), ctx.in(1).data<float>()[0], zp, ctx.in(0).dtype() == DType::kI8,
                               ctx.out(0).data<float>());
  return Status::ok();
}

}  // namespace

void register_cpu_quantize_linear(KernelRegistry& r) {
  r.add({"", "QuantizeLinear", "quantize_linear_f32_8bit__avx2", Device::kCpu, Isa::kAvx2, 10, quantize_accepts, nullptr, quantize_run});
  r.add({"", "DequantizeLinear", "dequantize_linear_8bit_f32__avx2", Device::kCpu, Isa::kAvx2, 10, dequantize_accepts, nullptr,
         dequantize_run});
}

}  // namespace joule::kernels::cpu
