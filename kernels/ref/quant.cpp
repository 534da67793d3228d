// Reference kernels for QuantizeLinear, DequantizeLinear and DynamicQuantizeLinear
// (MatMulInteger, ConvInteger, QLinearMatMul and QLinearConv live in qlinear.cpp).
//
//   QuantizeLinear:   y = saturate(round_half_even(x / scale) + zero_point)
//   DequantizeLinear: y = (x - zero_point) * scale
// with scale / zero point per tensor, per axis or per block (see runtime/ops/quant_layout.h).
// x / scale is computed in float for float inputs (as the spec's numpy reference does).
#include <cmath>
#include <limits>

#include "kernels/kernel_registry.h"
#include "kernels/ref/quant_common.h"
#include "runtime/ir/dtype_dispatch.h"
#include "runtime/ops/quant_layout.h"

namespace joule::kernels {

void register_ref_qlinear(KernelRegistry& r);  // qlinear.cpp
void register_ref_qfused(KernelRegistry& r);   // qfused.cpp: joule.QConv, joule.QGemm, joule.DynQMatMul

namespace {

using namespace quant;

// Element i of a float tensor (f32/f64/f16/bf16) or int32 tensor, as double.
double load_real(const Tensor& t, int64_t i) { return t.value_as_double(i); }

Status quantize_ref(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& scale = ctx.in(1);
  const Tensor* zp = ctx.has_input(2) ? &ctx.in(2) : nullptr;
  Tensor& y = ctx.out(0);
  ops::QuantLayout l;
  Status st = ops::resolve_quant_layout(ctx.node, x.shape(), scale.shape(), l);
  if (!st.is_ok()) return ctx.fail(st.message());
  int32_t lo, hi;
  q_range(y.dtype(), lo, hi);
  bool float_x = dtype_is_float(x.dtype()) && x.dtype() != DType::kF64;
  for (int64_t o = 0, i = 0; o < l.outer; ++o)
    for (int64_t a = 0; a < l.dim; ++a)
      for (int64_t in = 0; in < l.inner; ++in, ++i) {
        int64_t p = l.param_index(o, a, in);
        double s = load_real(scale, p);
        double v = float_x ? static_cast<double>(static_cast<float>(load_real(x, i)) / static_cast<float>(s)) : load_real(x, i) / s;
        store_q(y, i, saturate_round(v, zp ? load_q(*zp, p) : 0, lo, hi));
      }
  return Status::ok();
}

Status dequantize_ref(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& scale = ctx.in(1);
  const Tensor* zp = ctx.has_input(2) ? &ctx.in(2) : nullptr;
  Tensor& y = ctx.out(0);
  ops::QuantLayout l;
  Status st = ops::resolve_quant_layout(ctx.node, x.shape(), scale.shape(), l);
  if (!st.is_ok()) return ctx.fail(st.message());
  if (x.dtype() == DType::kI32 && zp) {
    for (int64_t i = 0; i < zp->numel(); ++i)
      if (load_q(*zp, i) != 0) return ctx.fail("int32 input requires a zero point of 0");
  }
  bool ok = dispatch_float(y.dtype(), [&]<class T>() {
    T* py = y.data<T>();
    for (int64_t o = 0, i = 0; o < l.outer; ++o)
      for (int64_t a = 0; a < l.dim; ++a)
        for (int64_t in = 0; in < l.inner; ++in, ++i) {
          int64_t p = l.param_index(o, a, in);
          int64_t diff = int64_t{load_q(x, i)} - (zp ? load_q(*zp, p) : 0);
          if constexpr (std::is_same_v<T, double>) py[i] = static_cast<double>(diff) * load_real(scale, p);
          else py[i] = from_compute<T>(static_cast<float>(diff) * static_cast<float>(load_real(scale, p)));
        }
  });
  return ok ? Status::ok() : ctx.fail_unsupported("scale dtype " + std::string(dtype_name(y.dtype())));
}

// uint8 quantization with scale = (max(0, max x) - min(0, min x)) / 255 and
// zero_point = saturate(round(-min / scale)), following the spec's reference arithmetic.
Status dynamic_quantize_ref(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const float* px = x.data<float>();
  int64_t n = x.numel();
  float mn = 0.0f, mx = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    if (std::isnan(px[i])) return ctx.fail("input contains NaN");
    mn = std::min(mn, px[i]);
    mx = std::max(mx, px[i]);
  }
  float scale = static_cast<float>(static_cast<double>(mx - mn) / 255.0);
  int32_t zp = 0;
  if (scale > 0 && std::isfinite(scale)) zp = saturate_round(-static_cast<double>(mn) / static_cast<double>(scale), 0, 0, 255);
  uint8_t* py = ctx.out(0).data<uint8_t>();
  for (int64_t i = 0; i < n; ++i)
    py[i] = scale > 0 ? static_cast<uint8_t>(saturate_round(static_cast<double>(px[i] / scale), zp, 0, 255)) : static_cast<uint8_t>(zp);
  if (ctx.has_output(1)) ctx.out(1).data<float>()[0] = scale;
  if (ctx.has_output(2)) ctx.out(2).data<uint8_t>()[0] = static_cast<uint8_t>(zp);
  return Status::ok();
}

}  // namespace

void register_ref_quant(KernelRegistry& r) {
  r.add({"", "QuantizeLinear", "quantize_linear__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, quantize_ref});
  r.add({"", "DequantizeLinear", "dequantize_linear__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, dequantize_ref});
  r.add({"", "DynamicQuantizeLinear", "dynamic_quantize_linear__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr,
         dynamic_quantize_ref});
  register_ref_qlinear(r);
  register_ref_qfused(r);
}

}  // namespace joule::kernels
