// Reference Conv: a direct convolution, written to be the readable oracle for the optimized
// kernels while still fast enough to run a ResNet-50 in seconds.
//
// Layouts (row-major): X (N, C, D, H, W), W (M, C/group, kD, kH, kW), B (M), Y (N, M, oD, oH, oW);
// 1-D and 2-D convolutions run as 3-D ones with leading unit dims.
//
//   Y[n, m, o] = B[m] + sum_{ic < C/group, k} X[n, g*C/group + ic, o*stride - pad_begin + k*dilation] * W[m, ic, k]
//   with g = m / (M/group) and out-of-image input positions contributing zero.
//
// Loop order: one task per (n, m) output plane; for each output row the kernel taps are walked
// with their valid column range precomputed, so the innermost loop is a bounds-check-free
// "row += w * shifted input row" that compilers vectorize.
#include <algorithm>

#include "kernels/kernel_registry.h"
#include "kernels/ref/nn_common.h"
#include "runtime/ir/dtype_dispatch.h"
#include "runtime/ops/window_geometry.h"

namespace joule::kernels {

namespace {

struct ConvPlan {
  ops::WindowGeometry g;  // 3-D form (D, H, W)
  int64_t n = 0, c = 0, m = 0;
  int64_t cg = 0;  // input channels per group
  int64_t mg = 0;  // output channels per group
  std::vector<int64_t> ow_lo, ow_hi;  // per kw tap: output columns whose input column is inside X
};

std::string make_plan(const Node& node, const Shape& xs, const Shape& ws, ConvPlan& p) {
  if (xs.size() < 3 || ws.size() != xs.size()) return "input/weight ranks do not match";
  int64_t group = node.attr_int("group", 1);
  p.n = xs[0];
  p.c = xs[1];
  p.m = ws[0];
  if (group < 1 || p.c % group != 0 || p.m % group != 0 || ws[1] * group != p.c) return "channels do not match group";
  p.cg = p.c / group;
  p.mg = p.m / group;
  ops::WindowGeometry g;
  std::string err = ops::resolve_window(node, Shape(xs.begin() + 2, xs.end()), std::vector<int64_t>(ws.begin() + 2, ws.end()),
                                        ops::WindowRounding::kFloor, g);
  if (!err.empty()) return err;
  if (g.rank() > 3) return "more than 3 spatial dims";
  p.g = g.as_3d();
  ops::WindowGeometry& q = p.g;
  // A 1x1x1 kernel with unit strides and no pads maps each plane onto itself: treat it as one long
  // row so the inner loop runs over the whole plane (the 1x1 convs of ResNet-style models).
  bool pointwise = true;
  for (size_t i = 0; i < 3; ++i)
    pointwise = pointwise && q.kernel[i] == 1 && q.strides[i] == 1 && q.pad_begin[i] == 0 && q.pad_end[i] == 0;
  if (pointwise) {
    int64_t size = q.in_size();
    q.in = {1, 1, size};
    q.out = {1, 1, size};
  }
  p.ow_lo.resize(static_cast<size_t>(q.kernel[2]));
  p.ow_hi.resize(static_cast<size_t>(q.kernel[2]));
  for (int64_t kw = 0; kw < q.kernel[2]; ++kw)
    nnref::valid_output_range(q.in[2], q.out[2], q.strides[2], kw * q.dilations[2] - q.pad_begin[2], p.ow_lo[size_t(kw)],
                              p.ow_hi[size_t(kw)]);
  return "";
}

// Computes one output plane y (oD x oH x oW) of output channel m from the cg input channels of its
// group (x_g: cg planes of D x H x W) and the weights w_m (cg x kD x kH x kW).
template <class C>
void conv_plane(const ConvPlan& p, const C* x_g, const C* w_m, C bias, C* y) {
  const ops::WindowGeometry& g = p.g;
  const int64_t D = g.in[0], H = g.in[1], W = g.in[2];
  const int64_t oD = g.out[0], oH = g.out[1], oW = g.out[2];
  const int64_t kD = g.kernel[0], kH = g.kernel[1], kW = g.kernel[2];
  const int64_t sw = g.strides[2];
  for (int64_t od = 0; od < oD; ++od) {
    for (int64_t oh = 0; oh < oH; ++oh) {
      C* yr = y + (od * oH + oh) * oW;
      std::fill(yr, yr + oW, bias);
      for (int64_t ic = 0; ic < p.cg; ++ic) {
        const C* xc = x_g + ic * D * H * W;
        const C* wc = w_m + ic * kD * kH * kW;
        for (int64_t kd = 0; kd < kD; ++kd) {
          int64_t id = od * g.strides[0] - g.pad_begin[0] + kd * g.dilations[0];
          if (id < 0 || id >= D) continue;
          for (int64_t kh = 0; kh < kH; ++kh) {
            int64_t ih = oh * g.strides[1] - g.pad_begin[1] + kh * g.dilations[1];
            if (ih < 0 || ih >= H) continue;
            const C* xr = xc + (id * H + ih) * W;
            const C* wk = wc + (kd * kH + kh) * kW;
            for (int64_t kw = 0; kw < kW; ++kw) {
              const C wv = wk[kw];
              const int64_t off = kw * g.dilations[2] - g.pad_begin[2];  // input column = ow * sw + off
              const int64_t lo = p.ow_lo[size_t(kw)], hi = p.ow_hi[size_t(kw)];
              if (sw == 1) {
                const C* xs = xr + off + lo;
                C* ys = yr + lo;
                for (int64_t j = 0; j < hi - lo; ++j) ys[j] += wv * xs[j];
              } else {
                for (int64_t ow = lo; ow < hi; ++ow) yr[ow] += wv * xr[ow * sw + off];
              }
            }
          }
        }
      }
    }
  }
}

template <class T>
void run_conv(const ConvPlan& p, KernelContext& ctx) {
  using C = ComputeT<T>;
  nnref::ComputeView<T> x(ctx.inputs[0]), w(ctx.inputs[1]), b(ctx.has_input(2) ? ctx.inputs[2] : nullptr);
  nnref::ComputeOut<T> y(ctx.out(0));
  const int64_t in_plane = p.g.in_size(), out_plane = p.g.out_size();
  const int64_t w_per_m = p.cg * p.g.kernel_size();
  const C* xp = x.data();
  const C* wp = w.data();
  const C* bp = b.data();
  C* yp = y.data();
  nnref::parallel_over(ctx.pool, p.n * p.m, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      int64_t n = t / p.m, m = t % p.m, grp = m / p.mg;
      conv_plane<C>(p, xp + (n * p.c + grp * p.cg) * in_plane, wp + m * w_per_m, bp ? bp[m] : C(0), yp + t * out_plane);
    }
  });
  y.commit();
}

Status conv_ref(KernelContext& ctx) {
  if (ctx.in(0).rank() > 5) return ctx.fail_unsupported("convolutions over more than 3 spatial dims are not supported");
  ConvPlan p;
  std::string err = make_plan(ctx.node, ctx.in(0).shape(), ctx.in(1).shape(), p);
  if (!err.empty()) return ctx.fail(err);
  bool ok = dispatch_float(ctx.in(0).dtype(), [&]<class T>() { run_conv<T>(p, ctx); });
  return ok ? Status::ok() : ctx.fail_unsupported("dtype " + std::string(dtype_name(ctx.in(0).dtype())));
}

}  // namespace

void register_ref_conv(KernelRegistry& r) {
  r.add({"", "Conv", "conv__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, conv_ref});
}

}  // namespace joule::kernels
