// Reference ConvTranspose (the gradient of Conv with respect to its input), by scattering.
//
// Layouts (row-major): X (N, C, D, H, W), W (C, M/group, kD, kH, kW), B (M), Y (N, M, oD, oH, oW);
// 1-D and 2-D run as 3-D with leading unit dims. For output channel m in group g:
//
//   Y[n, m, o] = B[m] + sum over ic < C/group, input position i, tap k with o = i*stride - pad_begin + k*dilation
//                of X[n, g*C/group + ic, i] * W[g*C/group + ic, m - g*M/group, k]
//
// Output positions no (i, k) pair reaches hold just the bias (output_padding, output_shape).
// One task per (n, m) output plane keeps the scatter race-free.
#include <algorithm>

#include "kernels/kernel_registry.h"
#include "kernels/ref/nn_common.h"
#include "runtime/ir/dtype_dispatch.h"
#include "runtime/ops/window_geometry.h"

namespace joule::kernels {

namespace {

struct ConvTransposePlan {
  ops::WindowGeometry g;  // 3-D form; g.in = X's spatial dims, g.out = Y's
  int64_t n = 0, c = 0, m = 0, cg = 0, mg = 0;
  std::vector<int64_t> iw_lo, iw_hi;  // per kw tap: input columns whose output column is inside Y
};

std::string make_plan(const Node& node, const Shape& xs, const Shape& ws, ConvTransposePlan& p) {
  if (xs.size() < 3 || ws.size() != xs.size()) return "input/weight ranks do not match";
  int64_t group = node.attr_int("group", 1);
  p.n = xs[0];
  p.c = xs[1];
  if (group < 1 || p.c % group != 0 || ws[0] != p.c) return "channels do not match group";
  p.cg = p.c / group;
  p.mg = ws[1];
  p.m = p.mg * group;
  ops::WindowGeometry g;
  std::string err = ops::resolve_transpose_window(node, Shape(xs.begin() + 2, xs.end()),
                                                  std::vector<int64_t>(ws.begin() + 2, ws.end()), g);
  if (!err.empty()) return err;
  p.g = g.as_3d();
  const ops::WindowGeometry& q = p.g;
  p.iw_lo.resize(static_cast<size_t>(q.kernel[2]));
  p.iw_hi.resize(static_cast<size_t>(q.kernel[2]));
  // Output column = iw * stride + off must lie in [0, oW): the same range problem as Conv's with
  // input and output swapped.
  for (int64_t kw = 0; kw < q.kernel[2]; ++kw)
    nnref::valid_output_range(q.out[2], q.in[2], q.strides[2], kw * q.dilations[2] - q.pad_begin[2], p.iw_lo[size_t(kw)],
                              p.iw_hi[size_t(kw)]);
  return "";
}

// Accumulates input channel plane xc (D x H x W) through weights wc (kD x kH x kW) into y.
template <class C>
void scatter_plane(const ConvTransposePlan& p, const C* xc, const C* wc, C* y) {
  const ops::WindowGeometry& g = p.g;
  const int64_t D = g.in[0], H = g.in[1], W = g.in[2];
  const int64_t oD = g.out[0], oH = g.out[1], oW = g.out[2];
  const int64_t kD = g.kernel[0], kH = g.kernel[1], kW = g.kernel[2];
  const int64_t sw = g.strides[2];
  for (int64_t id = 0; id < D; ++id) {
    for (int64_t kd = 0; kd < kD; ++kd) {
      int64_t od = id * g.strides[0] - g.pad_begin[0] + kd * g.dilations[0];
      if (od < 0 || od >= oD) continue;
      for (int64_t ih = 0; ih < H; ++ih) {
        const C* xr = xc + (id * H + ih) * W;
        for (int64_t kh = 0; kh < kH; ++kh) {
          int64_t oh = ih * g.strides[1] - g.pad_begin[1] + kh * g.dilations[1];
          if (oh < 0 || oh >= oH) continue;
          C* yr = y + (od * oH + oh) * oW;
          const C* wk = wc + (kd * kH + kh) * kW;
          for (int64_t kw = 0; kw < kW; ++kw) {
            const C wv = wk[kw];
            const int64_t off = kw * g.dilations[2] - g.pad_begin[2];
            for (int64_t iw = p.iw_lo[size_t(kw)]; iw < p.iw_hi[size_t(kw)]; ++iw) yr[iw * sw + off] += wv * xr[iw];
          }
        }
      }
    }
  }
}

template <class T>
void run_conv_transpose(const ConvTransposePlan& p, KernelContext& ctx) {
  using C = ComputeT<T>;
  nnref::ComputeView<T> x(ctx.inputs[0]), w(ctx.inputs[1]), b(ctx.has_input(2) ? ctx.inputs[2] : nullptr);
  nnref::ComputeOut<T> y(ctx.out(0));
  const int64_t in_plane = p.g.in_size(), out_plane = p.g.out_size(), ksize = p.g.kernel_size();
  const C* xp = x.data();
  const C* wp = w.data();
  const C* bp = b.data();
  C* yp = y.data();
  nnref::parallel_over(ctx.pool, p.n * p.m, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      int64_t n = t / p.m, m = t % p.m, grp = m / p.mg, mi = m - grp * p.mg;
      C* yt = yp + t * out_plane;
      std::fill(yt, yt + out_plane, bp ? bp[m] : C(0));
      for (int64_t ic = 0; ic < p.cg; ++ic) {
        int64_t ci = grp * p.cg + ic;  // absolute input channel
        scatter_plane<C>(p, xp + (n * p.c + ci) * in_plane, wp + (ci * p.mg + mi) * ksize, yt);
      }
    }
  });
  y.commit();
}

Status conv_transpose_ref(KernelContext& ctx) {
  if (ctx.in(0).rank() > 5) return ctx.fail_unsupported("transposed convolutions over more than 3 spatial dims are not supported");
  ConvTransposePlan p;
  std::string err = make_plan(ctx.node, ctx.in(0).shape(), ctx.in(1).shape(), p);
  if (!err.empty()) return ctx.fail(err);
  bool ok = dispatch_float(ctx.in(0).dtype(), [&]<class T>() { run_conv_transpose<T>(p, ctx); });
  return ok ? Status::ok() : ctx.fail_unsupported("dtype " + std::string(dtype_name(ctx.in(0).dtype())));
}

}  // namespace

void register_ref_conv_transpose(KernelRegistry& r) {
  r.add({"", "ConvTranspose", "conv_transpose__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, conv_transpose_ref});
}

}  // namespace joule::kernels
