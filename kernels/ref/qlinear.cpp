// Reference kernels for the integer matmul / conv ops:
//   MatMulInteger: Y(int32) = (A - a_zp) @ (B - b_zp)
//   QLinearMatMul: Y = saturate(round((A - a_zp) @ (B - b_zp) * (a_scale * b_scale / y_scale)) + y_zp)
//   ConvInteger:   Y(int32) = conv(X - x_zp, W - w_zp)           (NC<spatial...>, any spatial rank)
//   QLinearConv:   Y = saturate(round((conv(X - x_zp, W - w_zp) + B) * (x_scale * w_scale[oc] / y_scale)) + y_zp)
// Products accumulate exactly in 64 bits and are stored as int32 (the spec's accumulator type).
// The requantization multiplier is formed in float and applied in double, as the spec's numpy
// reference does (int32 array times float32 array).
#include <cmath>

#include "kernels/kernel_registry.h"
#include "kernels/ref/quant_common.h"
#include "runtime/ir/dtype_dispatch.h"
#include "runtime/ops/infer_helpers.h"
#include "runtime/ops/linalg_shapes.h"

namespace joule::kernels {

namespace {

using namespace quant;

// Zero point of every row of an operand laid out as [batch..., R, K] (A: R = M) or of every
// column of one laid out as [batch..., K, R] (B: R = N), flattened as batch * R + r.
// Accepted zero-point shapes: one value; 1-D of length R; or broadcastable to [batch..., R]
// with the K dim kept as 1 (e.g. [D1, D2, M, 1] for A).
Status expand_zero_points(const Tensor* zp, const Shape& promoted, bool is_a, std::vector<int32_t>& out, std::string& err) {
  size_t r = promoted.size();
  int64_t rows = is_a ? promoted[r - 2] : promoted[r - 1];
  int64_t batch = 1;
  for (size_t d = 0; d + 2 < r; ++d) batch *= promoted[d];
  out.assign(static_cast<size_t>(batch * rows), 0);
  if (!zp) return Status::ok();
  if (zp->numel() == 1) {
    std::fill(out.begin(), out.end(), load_q(*zp, 0));
    return Status::ok();
  }
  if (zp->rank() == 1 && zp->dim(0) == rows) {
    for (size_t i = 0; i < out.size(); ++i) out[i] = load_q(*zp, static_cast<int64_t>(i) % rows);
    return Status::ok();
  }
  // General case: broadcast to the operand shape with the K dim set to 1.
  Shape target = promoted;
  target[is_a ? r - 1 : r - 2] = 1;
  auto b = ops::broadcast_shapes(zp->shape(), target);
  if (!b || *b != target) {
    err = "zero point of shape " + shape_to_string(zp->shape()) + " does not fit operand " + shape_to_string(promoted);
    return invalid_argument(err);
  }
  auto st = ops::broadcast_strides(zp->shape(), target);
  std::vector<int64_t> idx(target.size(), 0);
  for (size_t i = 0; i < out.size(); ++i) {
    int64_t off = 0;
    for (size_t d = 0; d < target.size(); ++d) off += idx[d] * st[d];
    out[i] = load_q(*zp, off);
    for (size_t d = target.size(); d-- > 0;) {
      if (++idx[d] < target[d]) break;
      idx[d] = 0;
    }
  }
  return Status::ok();
}

// Batched integer matmul with numpy broadcasting; finish(i, j, acc) gives the stored value.
template <class Finish>
Status int_matmul(KernelContext& ctx, const Tensor& ta, const Tensor* za, const Tensor& tb, const Tensor* zb, Finish finish) {
  Shape a = ta.rank() == 1 ? Shape{1, ta.dim(0)} : ta.shape();
  Shape b = tb.rank() == 1 ? Shape{tb.dim(0), 1} : tb.shape();
  int64_t m = a[a.size() - 2], k = a.back(), n = b.back();
  std::vector<int32_t> zpa, zpb;
  std::string err;
  if (!expand_zero_points(za, a, true, zpa, err).is_ok() || !expand_zero_points(zb, b, false, zpb, err).is_ok())
    return ctx.fail(err);
  Shape ba(a.begin(), a.end() - 2), bb(b.begin(), b.end() - 2);
  Shape batch = *ops::broadcast_shapes(ba, bb);
  auto sa = ops::broadcast_strides(ba, batch), sb = ops::broadcast_strides(bb, batch);
  std::vector<int64_t> idx(batch.size(), 0), acc(static_cast<size_t>(n));
  for (int64_t bi = 0, nb = shape_numel(batch); bi < nb; ++bi) {
    int64_t oa = 0, ob = 0;  // batch index within A and B
    for (size_t d = 0; d < batch.size(); ++d) {
      oa += idx[d] * sa[d];
      ob += idx[d] * sb[d];
    }
    for (int64_t i = 0; i < m; ++i) {
      std::fill(acc.begin(), acc.end(), 0);
      int32_t za_i = zpa[size_t(oa * m + i)];
      for (int64_t p = 0; p < k; ++p) {
        int64_t av = int64_t{load_q(ta, (oa * m + i) * k + p)} - za_i;
        for (int64_t j = 0; j < n; ++j)
          acc[size_t(j)] += av * (int64_t{load_q(tb, (ob * k + p) * n + j)} - zpb[size_t(ob * n + j)]);
      }
      for (int64_t j = 0; j < n; ++j) finish((bi * m + i) * n + j, i, j, static_cast<int32_t>(acc[size_t(j)]));
    }
    for (size_t d = batch.size(); d-- > 0;) {
      if (++idx[d] < batch[d]) break;
      idx[d] = 0;
    }
  }
  return Status::ok();
}

Status matmul_integer_ref(KernelContext& ctx) {
  Tensor& y = ctx.out(0);
  int32_t* py = y.data<int32_t>();
  return int_matmul(ctx, ctx.in(0), ctx.has_input(2) ? &ctx.in(2) : nullptr, ctx.in(1), ctx.has_input(3) ? &ctx.in(3) : nullptr,
                    [&](int64_t o, int64_t, int64_t, int32_t acc) { py[o] = acc; });
}

// Scale value for row/column r: one value, or one per r.
Status scale_vector(KernelContext& ctx, const Tensor& s, int64_t count, const char* name, std::vector<float>& out) {
  if (s.numel() != 1 && s.numel() != count)
    return ctx.fail(std::string(name) + " must hold 1 or " + std::to_string(count) + " values, got " + shape_to_string(s.shape()));
  out.resize(static_cast<size_t>(count));
  for (int64_t r = 0; r < count; ++r) out[size_t(r)] = static_cast<float>(s.value_as_double(s.numel() == 1 ? 0 : r));
  return Status::ok();
}

Status qlinear_matmul_ref(KernelContext& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(3);
  Tensor& y = ctx.out(0);
  int64_t m = a.rank() == 1 ? 1 : a.dim(a.rank() - 2), n = b.rank() == 1 ? 1 : b.dim(b.rank() - 1);
  std::vector<float> sa, sb;
  JOULE_RETURN_IF_ERROR(scale_vector(ctx, ctx.in(1), m, "a_scale", sa));
  JOULE_RETURN_IF_ERROR(scale_vector(ctx, ctx.in(4), n, "b_scale", sb));
  if (ctx.in(6).numel() != 1 || ctx.in(7).numel() != 1) return ctx.fail("y_scale and y_zero_point must be scalars");
  float ys = static_cast<float>(ctx.in(6).value_as_double(0));
  int32_t yzp = load_q(ctx.in(7), 0), lo, hi;
  q_range(y.dtype(), lo, hi);
  return int_matmul(ctx, a, &ctx.in(2), b, &ctx.in(5), [&](int64_t o, int64_t i, int64_t j, int32_t acc) {
    float mult = sa[size_t(i)] * sb[size_t(j)] / ys;
    store_q(y, o, saturate_round(static_cast<double>(acc) * static_cast<double>(mult), yzp, lo, hi));
  });
}

// Direct N-D integer convolution; finish(out_index, oc, acc) stores each output.
template <class Finish>
Status int_conv(KernelContext& ctx, const Tensor& x, const Tensor* xzp, const Tensor& w, const Tensor* wzp, Finish finish) {
  ops::ConvGeometry g;
  Status st = ops::conv_geometry(ctx.node, x.shape(), w.shape(), g);
  if (!st.is_ok()) return ctx.fail(st.message());
  int64_t nbatch = x.dim(0), cin = x.dim(1), oc_total = w.dim(0);
  int64_t cpg = cin / g.group, opg = oc_total / g.group;  // channels per group (in / out)
  size_t s = g.kernel.size();
  if (xzp && xzp->numel() != 1) return ctx.fail("x_zero_point must be a scalar");
  if (wzp && wzp->numel() != 1 && wzp->numel() != oc_total)
    return ctx.fail("w_zero_point must hold 1 or " + std::to_string(oc_total) + " values");
  int32_t xz = xzp ? load_q(*xzp, 0) : 0;
  int64_t in_size = shape_numel(g.in_spatial), out_size = shape_numel(g.out_spatial), k_size = shape_numel(g.kernel);
  std::vector<int64_t> in_st = ops::strides_of(g.in_spatial);
  // Spatial multi-index of every kernel tap.
  std::vector<std::vector<int64_t>> taps(static_cast<size_t>(k_size), std::vector<int64_t>(s));
  for (int64_t t = 0; t < k_size; ++t)
    for (size_t d = s, rem = size_t(t); d-- > 0;) {
      taps[size_t(t)][d] = int64_t(rem % size_t(g.kernel[d]));
      rem /= size_t(g.kernel[d]);
    }
  std::vector<int64_t> opos(s, 0);
  for (int64_t nb = 0; nb < nbatch; ++nb)
    for (int64_t oc = 0; oc < oc_total; ++oc) {
      int64_t grp = oc / opg;
      int32_t wz = wzp ? load_q(*wzp, wzp->numel() == 1 ? 0 : oc) : 0;
      std::fill(opos.begin(), opos.end(), 0);
      for (int64_t op = 0; op < out_size; ++op) {
        int64_t acc = 0;
        for (int64_t t = 0; t < k_size; ++t) {
          int64_t in_off = 0;
          bool inside = true;
          for (size_t d = 0; d < s && inside; ++d) {
            int64_t c = opos[d] * g.strides[d] - g.pads_begin[d] + taps[size_t(t)][d] * g.dilations[d];
            inside = c >= 0 && c < g.in_spatial[d];
            in_off += c * in_st[d];
          }
          if (!inside) continue;  // padding holds x_zero_point, which contributes 0
          for (int64_t ic = 0; ic < cpg; ++ic) {
            int64_t xi = (nb * cin + grp * cpg + ic) * in_size + in_off;
            int64_t wi = (oc * cpg + ic) * k_size + t;
            acc += (int64_t{load_q(x, xi)} - xz) * (int64_t{load_q(w, wi)} - wz);
          }
        }
        finish((nb * oc_total + oc) * out_size + op, oc, static_cast<int32_t>(acc));
        for (size_t d = s; d-- > 0;) {
          if (++opos[d] < g.out_spatial[d]) break;
          opos[d] = 0;
        }
      }
    }
  return Status::ok();
}

Status conv_integer_ref(KernelContext& ctx) {
  int32_t* py = ctx.out(0).data<int32_t>();
  return int_conv(ctx, ctx.in(0), ctx.has_input(2) ? &ctx.in(2) : nullptr, ctx.in(1), ctx.has_input(3) ? &ctx.in(3) : nullptr,
                  [&](int64_t o, int64_t, int32_t acc) { py[o] = acc; });
}

Status qlinear_conv_ref(KernelContext& ctx) {
  Tensor& y = ctx.out(0);
  int64_t oc_total = ctx.in(3).dim(0);
  if (ctx.in(1).numel() != 1 || ctx.in(6).numel() != 1 || ctx.in(7).numel() != 1)
    return ctx.fail("x_scale, y_scale and y_zero_point must be scalars");
  std::vector<float> ws;
  JOULE_RETURN_IF_ERROR(scale_vector(ctx, ctx.in(4), oc_total, "w_scale", ws));
  float xs = static_cast<float>(ctx.in(1).value_as_double(0)), ys = static_cast<float>(ctx.in(6).value_as_double(0));
  const int32_t* bias = ctx.has_input(8) ? ctx.in(8).data<int32_t>() : nullptr;
  int32_t yzp = load_q(ctx.in(7), 0), lo, hi;
  q_range(y.dtype(), lo, hi);
  return int_conv(ctx, ctx.in(0), &ctx.in(2), ctx.in(3), &ctx.in(5), [&](int64_t o, int64_t oc, int32_t acc) {
    int64_t sum = int64_t{acc} + (bias ? bias[oc] : 0);
    float mult = xs * ws[size_t(oc)] / ys;
    store_q(y, o, saturate_round(static_cast<double>(sum) * static_cast<double>(mult), yzp, lo, hi));
  });
}

}  // namespace

void register_ref_qlinear(KernelRegistry& r) {
  r.add({"", "MatMulInteger", "matmul_integer__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, matmul_integer_ref});
  r.add({"", "QLinearMatMul", "qlinear_matmul__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, qlinear_matmul_ref});
  r.add({"", "ConvInteger", "conv_integer__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, conv_integer_ref});
  r.add({"", "QLinearConv", "qlinear_conv__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, qlinear_conv_ref});
}

}  // namespace joule::kernels
