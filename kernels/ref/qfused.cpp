// Reference kernels for joule's fused integer ops (the oracle for kernels/cpu/qgemm_s16*):
//   joule.QConv:      y = requantize(conv(x - x_zp, w - w_zp[oc]) + B[oc])          any spatial rank
//   joule.QGemm:      y = requantize((a - a_zp) @ (b - b_zp[n]) + B[n])              b constant 2-D
//   joule.QAdd:       y = clamp(rint(fma(b - b_zp, b_scale / y_scale, (a - a_zp) * (a_scale / y_scale)))) + y_zp  (qadd_common.h)
//   joule.DynQMatMul: DynamicQuantizeLinear(a) -> (a_q - a_zp) @ (b - b_zp) -> float * (a_scale * b_scale[n]) [+ bias]
// requantize: kernels/ref/qfused_requant.h; then lut[q - type_min] when the node has a "lut" attribute. Sums are exact (64-bit here; the optimized kernels use
// int32, which cannot overflow for K * 255 * 255 < 2^31, i.e. K < 33025).
#include <cmath>

#include "kernels/kernel_registry.h"
#include "kernels/ref/qadd_common.h"
#include "kernels/ref/qfused_requant.h"
#include "kernels/ref/quant_common.h"
#include "runtime/ops/infer_helpers.h"
#include "runtime/ops/linalg_shapes.h"

namespace joule::kernels {

namespace {

using namespace quant;

// Per-output-channel value i of a 1-or-count tensor.
int32_t int_param(const Tensor* t, int64_t i) { return t ? load_q(*t, t->numel() == 1 ? 0 : i) : 0; }
float float_param(const Tensor& t, int64_t i) { return static_cast<float>(t.value_as_double(t.numel() == 1 ? 0 : i)); }

Status check_count(KernelContext& ctx, const Tensor* t, int64_t count, const char* name) {
  if (t && t->numel() != 1 && t->numel() != count)
    return ctx.fail(std::string(name) + " must hold 1 or " + std::to_string(count) + " values, got " + shape_to_string(t->shape()));
  return Status::ok();
}

// Output clamp: the type's range narrowed by the fused activation (attributes qmin / qmax).
void output_range(const ir::Node& n, DType t, int32_t& lo, int32_t& hi) {
  q_range(t, lo, hi);
  lo = std::max<int32_t>(lo, static_cast<int32_t>(n.attr_int("qmin", lo)));
  hi = std::min<int32_t>(hi, static_cast<int32_t>(n.attr_int("qmax", hi)));
}

// The final value of requantized q (of y_zero_point's type t): lut[q - min(t)] when the node has one.
struct OutputMap {
  const Tensor* lut = nullptr;
  int32_t type_lo = 0;
  OutputMap(const ir::Node& n, DType t) : lut(n.attr_tensor("lut")) {
    int32_t hi;
    q_range(t, type_lo, hi);
  }
  int32_t operator()(int32_t q) const { return lut ? load_q(*lut, q - type_lo) : q; }
};

Status qconv_ref(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& w = ctx.in(3);
  Tensor& y = ctx.out(0);
  ops::ConvGeometry g;
  Status st = ops::conv_geometry(ctx.node, x.shape(), w.shape(), g);
  if (!st.is_ok()) return ctx.fail(st.message());
  const int64_t nbatch = x.dim(0), cin = x.dim(1), oc_total = w.dim(0);
  const int64_t cpg = cin / g.group, opg = oc_total / g.group;
  if (ctx.in(1).numel() != 1 || ctx.in(2).numel() != 1 || ctx.in(6).numel() != 1 || ctx.in(7).numel() != 1)
    return ctx.fail("x_scale, x_zero_point, y_scale and y_zero_point must be scalars");
  JOULE_RETURN_IF_ERROR(check_count(ctx, &ctx.in(4), oc_total, "w_scale"));
  JOULE_RETURN_IF_ERROR(check_count(ctx, &ctx.in(5), oc_total, "w_zero_point"));
  const Tensor* bias = ctx.has_input(8) ? &ctx.in(8) : nullptr;
  if (bias && bias->numel() != oc_total) return ctx.fail("B must hold " + std::to_string(oc_total) + " values");
  const int32_t xz = load_q(ctx.in(2), 0), yz = load_q(ctx.in(7), 0);
  const float xs = float_param(ctx.in(1), 0), ys = float_param(ctx.in(6), 0);
  int32_t lo, hi;
  output_range(ctx.node, ctx.in(7).dtype(), lo, hi);
  const OutputMap map(ctx.node, ctx.in(7).dtype());
  if (map.lut && map.lut->numel() != 256) return ctx.fail("lut must hold 256 values");
  const size_t s = g.kernel.size();
  const int64_t in_size = shape_numel(g.in_spatial), out_size = shape_numel(g.out_spatial), k_size = shape_numel(g.kernel);
  const std::vector<int64_t> in_st = ops::strides_of(g.in_spatial), k_st = ops::strides_of(g.kernel),
                             o_st = ops::strides_of(g.out_spatial);
  for (int64_t nb = 0; nb < nbatch; ++nb)
    for (int64_t oc = 0; oc < oc_total; ++oc) {
      const int64_t grp = oc / opg;
      const int32_t wz = int_param(&ctx.in(5), oc);
      const float mult = requant_multiplier(xs, float_param(ctx.in(4), oc), ys);
      for (int64_t op = 0; op < out_size; ++op) {
        int64_t acc = bias ? load_q(*bias, oc) : 0;
        for (int64_t t = 0; t < k_size; ++t) {
          int64_t in_off = 0;
          bool inside = true;
          for (size_t d = 0; d < s && inside; ++d) {
            const int64_t o = (op / o_st[d]) % g.out_spatial[d], kt = (t / k_st[d]) % g.kernel[d];
            const int64_t c = o * g.strides[d] - g.pads_begin[d] + kt * g.dilations[d];
            inside = c >= 0 && c < g.in_spatial[d];
            in_off += c * in_st[d];
          }
          if (!inside) continue;  // padding holds x_zero_point: contributes 0
          for (int64_t ic = 0; ic < cpg; ++ic)
            acc += (int64_t{load_q(x, (nb * cin + grp * cpg + ic) * in_size + in_off)} - xz) *
                   (int64_t{load_q(w, (oc * cpg + ic) * k_size + t)} - wz);
        }
        store_q(y, (nb * oc_total + oc) * out_size + op, map(requantize(acc, mult, yz, lo, hi)));
      }
    }
  return Status::ok();
}

// Rows of a ([..., K]) times constant b; finish(row, n, acc) stores each output.
template <class Finish>
Status rows_times_b(KernelContext& ctx, const Tensor& a, const Tensor* az_t, int32_t az, const Tensor& b, const Tensor* bz,
                    bool trans, Finish finish) {
  if (b.rank() != 2) return ctx.fail("weight must be 2-D");
  const int64_t k = trans ? b.dim(1) : b.dim(0), n = trans ? b.dim(0) : b.dim(1);
  if (a.rank() < 1 || a.dim(a.rank() - 1) != k) return ctx.fail("input's last dimension must be " + std::to_string(k));
  JOULE_RETURN_IF_ERROR(check_count(ctx, bz, n, "b_zero_point"));
  (void)az_t;
  const int64_t m = a.numel() / std::max<int64_t>(k, 1);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      int64_t acc = 0;
      const int32_t zb = int_param(bz, j);
      for (int64_t p = 0; p < k; ++p)
        acc += (int64_t{load_q(a, i * k + p)} - az) * (int64_t{load_q(b, trans ? j * k + p : p * n + j)} - zb);
      finish(i, j, n, acc);
    }
  return Status::ok();
}

Status qgemm_ref(KernelContext& ctx) {
  const Tensor& b = ctx.in(3);
  Tensor& y = ctx.out(0);
  const bool trans = ctx.node.attr_int("transB", 0) != 0;
  if (b.rank() != 2) return ctx.fail("b must be 2-D");
  const int64_t n = trans ? b.dim(0) : b.dim(1);
  if (ctx.in(1).numel() != 1 || ctx.in(2).numel() != 1 || ctx.in(6).numel() != 1 || ctx.in(7).numel() != 1)
    return ctx.fail("a_scale, a_zero_point, y_scale and y_zero_point must be scalars");
  JOULE_RETURN_IF_ERROR(check_count(ctx, &ctx.in(4), n, "b_scale"));
  const Tensor* bias = ctx.has_input(8) ? &ctx.in(8) : nullptr;
  if (bias && bias->numel() != n) return ctx.fail("B must hold " + std::to_string(n) + " values");
  const float as = float_param(ctx.in(1), 0), ys = float_param(ctx.in(6), 0);
  const int32_t yz = load_q(ctx.in(7), 0);
  int32_t lo, hi;
  output_range(ctx.node, ctx.in(7).dtype(), lo, hi);
  const OutputMap map(ctx.node, ctx.in(7).dtype());
  if (map.lut && map.lut->numel() != 256) return ctx.fail("lut must hold 256 values");
  return rows_times_b(ctx, ctx.in(0), &ctx.in(2), load_q(ctx.in(2), 0), b, &ctx.in(5), trans,
                      [&](int64_t i, int64_t j, int64_t nn, int64_t acc) {
                        acc += bias ? load_q(*bias, j) : 0;
                        store_q(y, i * nn + j, map(requantize(acc, requant_multiplier(as, float_param(ctx.in(4), j), ys), yz, lo, hi)));
                      });
}

// DynamicQuantizeLinear's arithmetic (kernels/ref/quant.cpp) on the whole tensor.
Status dynamic_quantize(KernelContext& ctx, const Tensor& a, std::vector<uint8_t>& q, float& scale, int32_t& zp) {
  const float* pa = a.data<float>();
  float mn = 0.0f, mx = 0.0f;
  for (int64_t i = 0; i < a.numel(); ++i) {
    if (std::isnan(pa[i])) return ctx.fail("input contains NaN");
    mn = std::min(mn, pa[i]);
    mx = std::max(mx, pa[i]);
  }
  scale = static_cast<float>(static_cast<double>(mx - mn) / 255.0);
  zp = 0;
  if (scale > 0 && std::isfinite(scale)) zp = saturate_round(-static_cast<double>(mn) / static_cast<double>(scale), 0, 0, 255);
  q.resize(static_cast<size_t>(a.numel()));
  for (int64_t i = 0; i < a.numel(); ++i)
    q[size_t(i)] = scale > 0 ? static_cast<uint8_t>(saturate_round(static_cast<double>(pa[i] / scale), zp, 0, 255))
                             : static_cast<uint8_t>(zp);
  return Status::ok();
}

Status dynq_matmul_ref(KernelContext& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  if (b.rank() != 2) return ctx.fail("b must be 2-D");
  const int64_t n = b.dim(1);
  JOULE_RETURN_IF_ERROR(check_count(ctx, &ctx.in(3), n, "b_scale"));
  const Tensor* bias = ctx.has_input(4) ? &ctx.in(4) : nullptr;
  if (bias && bias->numel() != n) return ctx.fail("bias must hold " + std::to_string(n) + " values");
  std::vector<uint8_t> q;
  float as = 0.0f;
  int32_t az = 0;
  JOULE_RETURN_IF_ERROR(dynamic_quantize(ctx, a, q, as, az));
  Tensor qa(DType::kU8, a.shape());
  std::copy(q.begin(), q.end(), qa.data<uint8_t>());
  float* py = ctx.out(0).data<float>();
  return rows_times_b(ctx, qa, nullptr, az, b, ctx.has_input(2) ? &ctx.in(2) : nullptr, false,
                      [&](int64_t i, int64_t j, int64_t nn, int64_t acc) {
                        const float s = as * float_param(ctx.in(3), j);
                        float v = static_cast<float>(static_cast<int32_t>(acc)) * s;
                        if (bias) v = v + bias->data<float>()[j];
                        py[i * nn + j] = v;
                      });
}

// joule.QAdd(a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp): same-shape 8-bit a and b, per-tensor
// parameters, arithmetic of kernels/ref/qadd_common.h.
Status qadd_ref(KernelContext& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(3);
  Tensor& y = ctx.out(0);
  if (a.shape() != b.shape()) return ctx.fail("a and b must have the same shape, got " + shape_to_string(a.shape()) + " and " + shape_to_string(b.shape()));
  for (size_t i : {1, 2, 4, 5, 6, 7})
    if (ctx.in(i).numel() != 1) return ctx.fail("scales and zero points must be scalars");
  int32_t lo, hi;
  output_range(ctx.node, y.dtype(), lo, hi);
  const QAddParams p = qadd_params(ctx.in(1).data<float>()[0], load_q(ctx.in(2), 0), ctx.in(4).data<float>()[0], load_q(ctx.in(5), 0),
                                   ctx.in(6).data<float>()[0], load_q(ctx.in(7), 0), lo, hi);
  for (int64_t i = 0, n = a.numel(); i < n; ++i) store_q(y, i, qadd_one(p, load_q(a, i), load_q(b, i)));
  return Status::ok();
}

}  // namespace

void register_ref_qfused(KernelRegistry& r) {
  r.add({"joule", "QConv", "qconv__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, qconv_ref});
  r.add({"joule", "QGemm", "qgemm__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, qgemm_ref});
  r.add({"joule", "QAdd", "qadd__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, qadd_ref});
  r.add({"joule", "DynQMatMul", "dynq_matmul__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, dynq_matmul_ref});
}

}  // namespace joule::kernels
