// Reference pooling kernels: MaxPool (with optional Indices), AveragePool, LpPool and the Global* forms.
//
// Layout X (N, C, D, H, W) -> Y (N, C, oD, oH, oW), one task per (n, c) plane; 1-D and 2-D run as
// 3-D with leading unit dims. The window of output o along a dim covers input positions
//   i = o * stride - pad_begin + k * dilation,  k in [0, kernel),
// and only positions inside the input take part (padding never wins a max, never adds to a sum).
// AveragePool divides by the number of those positions, or with count_include_pad=1 by the number
// of window positions inside the padded input [-pad_begin, in + pad_end).
// MaxPool Indices are flat indices into X (n, c and position, padding not counted), with the
// spatial part row-major (storage_order 0) or column-major (storage_order 1).
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/kernel_registry.h"
#include "kernels/ref/nn_common.h"
#include "runtime/ir/dtype_dispatch.h"
#include "runtime/ops/window_geometry.h"

namespace joule::kernels {

namespace {

using nnref::valid_output_range;

// Resolves a windowed pool's geometry in 3-D form.
std::string pool_geometry(const Node& node, const Shape& xs, ops::WindowGeometry& g) {
  if (xs.size() > 5) return "pooling over more than 3 spatial dims is not supported";
  ops::WindowGeometry r;
  bool ceil_mode = node.attr_int("ceil_mode", 0) != 0;
  std::string err = ops::resolve_window(node, Shape(xs.begin() + 2, xs.end()), node.attr_ints("kernel_shape"),
                                        ceil_mode ? ops::WindowRounding::kCeil : ops::WindowRounding::kFloor, r);
  if (!err.empty()) return err;
  g = r.as_3d();
  return "";
}

// Taps [lo, hi) of the window starting at `start` along dim d whose input position is inside X.
inline void taps_inside(const ops::WindowGeometry& g, size_t d, int64_t o, int64_t& lo, int64_t& hi) {
  valid_output_range(g.in[d], g.kernel[d], g.dilations[d], o * g.strides[d] - g.pad_begin[d], lo, hi);
}

// Calls f(d, h, w) for each input position of output (od, oh, ow)'s window inside X.
template <class F>
inline void for_window(const ops::WindowGeometry& g, int64_t od, int64_t oh, int64_t ow, F f) {
  int64_t l0, h0, l1, h1, l2, h2;
  taps_inside(g, 0, od, l0, h0);
  taps_inside(g, 1, oh, l1, h1);
  taps_inside(g, 2, ow, l2, h2);
  for (int64_t a = l0; a < h0; ++a) {
    int64_t id = od * g.strides[0] - g.pad_begin[0] + a * g.dilations[0];
    for (int64_t b = l1; b < h1; ++b) {
      int64_t ih = oh * g.strides[1] - g.pad_begin[1] + b * g.dilations[1];
      for (int64_t c = l2; c < h2; ++c) f(id, ih, ow * g.strides[2] - g.pad_begin[2] + c * g.dilations[2]);
    }
  }
}

// Runs plane(x_plane, y_plane, plane_index) over all N*C planes for each output position.
template <class T, class PerOutput>
void run_planes(KernelContext& ctx, const ops::WindowGeometry& g, PerOutput per_output) {
  const Tensor& x = ctx.in(0);
  const int64_t planes = x.dim(0) * x.dim(1), in_plane = g.in_size(), out_plane = g.out_size();
  const T* xp = x.data<T>();
  T* yp = ctx.out(0).data<T>();
  nnref::parallel_over(ctx.pool, planes, [&](int64_t begin, int64_t end) {
    for (int64_t pl = begin; pl < end; ++pl) {
      int64_t o = 0;
      for (int64_t od = 0; od < g.out[0]; ++od)
        for (int64_t oh = 0; oh < g.out[1]; ++oh)
          for (int64_t ow = 0; ow < g.out[2]; ++ow, ++o)
            per_output(xp + pl * in_plane, yp + pl * out_plane + o, pl, pl * out_plane + o, od, oh, ow);
    }
  });
}

Status max_pool_ref(KernelContext& ctx) {
  ops::WindowGeometry g;
  std::string err = pool_geometry(ctx.node, ctx.in(0).shape(), g);
  if (!err.empty()) return ctx.fail(err);
  const bool col_major = ctx.node.attr_int("storage_order", 0) == 1;
  int64_t* indices = ctx.has_output(1) ? ctx.out(1).data<int64_t>() : nullptr;
  const int64_t D = g.in[0], H = g.in[1], W = g.in[2], in_plane = g.in_size();
  bool ok = dispatch_numeric(ctx.in(0).dtype(), [&]<class T>() {
    using C = ComputeT<T>;
    run_planes<T>(ctx, g, [&](const T* x, T* y, int64_t plane, int64_t out_index, int64_t od, int64_t oh, int64_t ow) {
      C best = std::numeric_limits<C>::has_infinity ? -std::numeric_limits<C>::infinity() : std::numeric_limits<C>::lowest();
      int64_t best_pos = -1;  // (d, h, w) of the max within the plane, row-major
      int64_t bd = 0, bh = 0, bw = 0;
      for_window(g, od, oh, ow, [&](int64_t d, int64_t h, int64_t w) {
        C v = to_compute(x[(d * H + h) * W + w]);
        if (best_pos < 0 || v > best) {
          best = v;
          best_pos = (d * H + h) * W + w;
          bd = d, bh = h, bw = w;
        }
      });
      *y = from_compute<T>(best);
      if (indices) {
        int64_t within = col_major ? bd + bh * D + bw * D * H : best_pos;
        indices[out_index] = best_pos < 0 ? -1 : plane * in_plane + within;
      }
    });
  });
  return ok ? Status::ok() : ctx.fail_unsupported("dtype " + std::string(dtype_name(ctx.in(0).dtype())));
}

Status average_pool_ref(KernelContext& ctx) {
  ops::WindowGeometry g;
  std::string err = pool_geometry(ctx.node, ctx.in(0).shape(), g);
  if (!err.empty()) return ctx.fail(err);
  const bool include_pad = ctx.node.attr_int("count_include_pad", 0) != 0;
  const int64_t H = g.in[1], W = g.in[2];
  bool ok = dispatch_float(ctx.in(0).dtype(), [&]<class T>() {
    run_planes<T>(ctx, g, [&](const T* x, T* y, int64_t, int64_t, int64_t od, int64_t oh, int64_t ow) {
      double sum = 0;
      int64_t count = 0;
      for_window(g, od, oh, ow, [&](int64_t d, int64_t h, int64_t w) {
        sum += static_cast<double>(to_compute(x[(d * H + h) * W + w]));
        ++count;
      });
      if (include_pad) {  // window positions inside the padded input, per dim
        count = 1;
        const int64_t o[3] = {od, oh, ow};
        for (size_t d = 0; d < 3; ++d) {
          int64_t lo, hi;
          valid_output_range(g.in[d] + g.pad_begin[d] + g.pad_end[d], g.kernel[d], g.dilations[d], o[d] * g.strides[d], lo, hi);
          count *= hi - lo;
        }
      }
      *y = from_compute<T>(count > 0 ? sum / static_cast<double>(count) : 0.0);
    });
  });
  return ok ? Status::ok() : ctx.fail_unsupported("dtype " + std::string(dtype_name(ctx.in(0).dtype())));
}

Status lp_pool_ref(KernelContext& ctx) {
  ops::WindowGeometry g;
  std::string err = pool_geometry(ctx.node, ctx.in(0).shape(), g);
  if (!err.empty()) return ctx.fail(err);
  const double p = static_cast<double>(ctx.node.attr_int("p", 2));
  const int64_t H = g.in[1], W = g.in[2];
  bool ok = dispatch_float(ctx.in(0).dtype(), [&]<class T>() {
    run_planes<T>(ctx, g, [&](const T* x, T* y, int64_t, int64_t, int64_t od, int64_t oh, int64_t ow) {
      double sum = 0;
      for_window(g, od, oh, ow, [&](int64_t d, int64_t h, int64_t w) {
        sum += std::pow(std::fabs(static_cast<double>(to_compute(x[(d * H + h) * W + w]))), p);
      });
      *y = from_compute<T>(std::pow(sum, 1.0 / p));
    });
  });
  return ok ? Status::ok() : ctx.fail_unsupported("dtype " + std::string(dtype_name(ctx.in(0).dtype())));
}

// Global pools: one output per (n, c) plane, reducing the whole spatial extent.
enum class GlobalKind { kAverage, kMax, kLp };

template <GlobalKind K>
Status global_pool_ref(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const int64_t planes = x.dim(0) * x.dim(1);
  const int64_t size = planes > 0 ? x.numel() / planes : 0;
  const double p = static_cast<double>(ctx.node.attr_int("p", 2));
  auto body = [&]<class T>() {
    using C = ComputeT<T>;
    const T* xp = x.data<T>();
    T* yp = ctx.out(0).data<T>();
    nnref::parallel_over(ctx.pool, planes, [&](int64_t begin, int64_t end) {
      for (int64_t pl = begin; pl < end; ++pl) {
        const T* xs = xp + pl * size;
        if constexpr (K == GlobalKind::kMax) {
          C best = size > 0 ? to_compute(xs[0]) : C(0);
          for (int64_t i = 1; i < size; ++i) best = std::max(best, to_compute(xs[i]));
          yp[pl] = from_compute<T>(best);
        } else {
          double acc = 0;
          for (int64_t i = 0; i < size; ++i) {
            double v = static_cast<double>(to_compute(xs[i]));
            acc += K == GlobalKind::kAverage ? v : std::pow(std::fabs(v), p);
          }
          double r = K == GlobalKind::kAverage ? (size > 0 ? acc / static_cast<double>(size) : 0.0) : std::pow(acc, 1.0 / p);
          yp[pl] = from_compute<T>(r);
        }
      }
    });
  };
  bool ok = K == GlobalKind::kMax ? dispatch_numeric(x.dtype(), body) : dispatch_float(x.dtype(), body);
  return ok ? Status::ok() : ctx.fail_unsupported("dtype " + std::string(dtype_name(x.dtype())));
}

}  // namespace

void register_ref_pool(KernelRegistry& r) {
  r.add({"", "MaxPool", "max_pool__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, max_pool_ref});
  r.add({"", "AveragePool", "average_pool__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, average_pool_ref});
  r.add({"", "LpPool", "lp_pool__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, lp_pool_ref});
  r.add({"", "GlobalAveragePool", "global_average_pool__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr,
         global_pool_ref<GlobalKind::kAverage>});
  r.add({"", "GlobalMaxPool", "global_max_pool__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr,
         global_pool_ref<GlobalKind::kMax>});
  r.add({"", "GlobalLpPool", "global_lp_pool__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr,
         global_pool_ref<GlobalKind::kLp>});
}

}  // namespace joule::kernels
