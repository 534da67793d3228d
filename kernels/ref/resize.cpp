// Reference Resize / Upsample kernel: N-dimensional nearest, n-linear and n-cubic interpolation
// with every coordinate_transformation_mode, antialiasing and tf_crop_and_resize extrapolation.
//
// The math follows the ONNX reference (onnx/backend/test/case/node/resize.py): interpolation is
// separable, so output[y] = sum over taps of prod_d w_d(y_d, tap_d) * input[tap index], where each
// axis d independently maps output coordinate y_d to an original coordinate x (see original_coord)
// and picks taps around it:
//   nearest: one tap, x rounded per nearest_mode, clamped to [0, n-1];
//   linear / cubic: with f = floor(x), r = x - f (an integer x uses f = x - 1, r = 1), taps
//     f + start + j for j in [0, 2 - 2*start) with weight K((start + j - r) * k), where k = 1, or
//     min(scale, 1) with antialias (the kernel is stretched by 1/scale when downsampling);
//     start = floor(-1/k) + 1 (linear, K(d) = max(0, 1 - |d|)) or floor(-2/k) + 1 (cubic, Keys
//     kernel with coefficient A). Indices outside [0, n) are clamped (edge padding), or with
//     exclude_outside get weight 0; antialias and exclude_outside renormalize weights to sum 1.
// tf_crop_and_resize: an output whose coordinate on any axis falls outside [0, n-1] is
// extrapolation_value.
// Integer outputs of linear/cubic are rounded to nearest and saturated; nearest copies exactly.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/kernel_registry.h"
#include "runtime/ir/dtype_dispatch.h"
#include "runtime/ops/infer_helpers.h"
#include "runtime/ops/resize_pad_params.h"

namespace joule::kernels {

namespace {

using ops::CoordMode;
using ops::NearestMode;
using ops::ResizeMode;
using ops::ResizeParams;

// Taps of one axis in CSR form: output coordinate y uses taps [begin[y], begin[y+1]).
struct AxisTaps {
  std::vector<int64_t> begin;
  std::vector<int64_t> offset;  // input element offset: clamped index * stride of the axis
  std::vector<double> weight;
  std::vector<uint8_t> outside;  // per output coordinate: tf_crop_and_resize out-of-range
};

// Output coordinate y -> coordinate in the input along one axis. `s` is the axis scale, so the
// (real-valued) output length is s * n as in the ONNX reference; `out` is the integer length.
double original_coord(CoordMode c, double y, int64_t n, int64_t out, double s, double roi0, double roi1) {
  const double out_len = s * static_cast<double>(n);
  switch (c) {
    case CoordMode::kHalfPixel: return (y + 0.5) / s - 0.5;
    case CoordMode::kHalfPixelSymmetric: {
      const double adjustment = static_cast<double>(out) / out_len;
      const double offset = static_cast<double>(n) / 2 * (1 - adjustment);
      return offset + (y + 0.5) / s - 0.5;
    }
    case CoordMode::kPytorchHalfPixel: return out_len == 1 ? -0.5 : (y + 0.5) / s - 0.5;
    case CoordMode::kAlignCorners: return out_len == 1 ? 0.0 : y * static_cast<double>(n - 1) / (out_len - 1);
    case CoordMode::kAsymmetric: return y / s;
    case CoordMode::kTfHalfPixelForNn: return (y + 0.5) / s;
    case CoordMode::kTfCropAndResize: {
      const double span = (roi1 - roi0) * static_cast<double>(n - 1);
      const double x = out_len == 1 ? span / 2 : y * span / (out_len - 1);
      return x + roi0 * static_cast<double>(n - 1);
    }
  }
  return 0.0;
}

double cubic_kernel(double d, double a) {
  d = std::fabs(d);
  if (d <= 1) return ((a + 2) * d - (a + 3)) * d * d + 1;
  if (d < 2) return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a;
  return 0.0;
}

AxisTaps build_axis(const ResizeParams& p, size_t axis, int64_t n, int64_t out, int64_t stride) {
  AxisTaps t;
  t.begin.push_back(0);
  t.outside.assign(static_cast<size_t>(out), 0);
  const double s = p.scale[axis];
  const double k = p.antialias ? std::min(s, 1.0) : 1.0;
  const bool linear = p.mode == ResizeMode::kLinear;
  const int64_t start = static_cast<int64_t>(std::floor((linear ? -1.0 : -2.0) / k)) + 1;
  std::vector<double> w;
  std::vector<int64_t> idx;
  for (int64_t y = 0; y < out; ++y) {
    const double x = original_coord(p.coord, static_cast<double>(y), n, out, s, p.roi_start[axis], p.roi_end[axis]);
    if (p.coord == CoordMode::kTfCropAndResize && (x < 0 || x > static_cast<double>(n - 1))) {
      t.outside[static_cast<size_t>(y)] = 1;
    } else if (p.mode == ResizeMode::kNearest) {
      const double f = std::floor(x), r = x - f;
      double pick = f;
      if (r != 0) {
        switch (p.nearest) {
          case NearestMode::kRoundPreferFloor: pick = r <= 0.5 ? f : f + 1; break;
          case NearestMode::kRoundPreferCeil: pick = r < 0.5 ? f : f + 1; break;
          case NearestMode::kFloor: pick = f; break;
          case NearestMode::kCeil: pick = f + 1; break;
        }
      }
      const int64_t i = static_cast<int64_t>(std::clamp(pick, 0.0, static_cast<double>(n - 1)));
      t.offset.push_back(i * stride);
      t.weight.push_back(1.0);
    } else {
      double f = std::floor(x), r = x - f;
      if (r == 0) {  // the reference's "ratio in (0, 1]" convention
        f -= 1;
        r = 1;
      }
      const int64_t taps = 2 - 2 * start;
      w.assign(static_cast<size_t>(taps), 0.0);
      idx.assign(static_cast<size_t>(taps), 0);
      double sum = 0;
      for (int64_t j = 0; j < taps; ++j) {
        const double d = (static_cast<double>(start + j) - r) * k;
        double wj = linear ? std::max(0.0, 1 - std::fabs(d)) : cubic_kernel(d, p.cubic_a);
        const int64_t i = static_cast<int64_t>(f) + start + j;
        if (p.exclude_outside && (i < 0 || i >= n)) wj = 0;
        w[static_cast<size_t>(j)] = wj;
        idx[static_cast<size_t>(j)] = std::clamp<int64_t>(i, 0, n - 1);
        sum += wj;
      }
      const bool normalize = p.antialias || p.exclude_outside;
      for (int64_t j = 0; j < taps; ++j) {
        double wj = w[static_cast<size_t>(j)];
        if (normalize) wj /= sum;
        if (wj == 0) continue;  // skipping zero taps keeps identity axes at one tap
        t.offset.push_back(idx[static_cast<size_t>(j)] * stride);
        t.weight.push_back(wj);
      }
    }
    t.begin.push_back(static_cast<int64_t>(t.offset.size()));
  }
  return t;
}

// Converts an interpolated value to the output type (integers: round to nearest, saturate).
template <class T>
T to_output(double v) {
  if constexpr (std::is_integral_v<T>) {
    const double lo = static_cast<double>(std::numeric_limits<T>::lowest());
    const double hi = static_cast<double>(std::numeric_limits<T>::max());
    if (std::isnan(v)) return T(0);
    return static_cast<T>(std::clamp(std::round(v), lo, hi));
  } else {
    return from_compute<T>(v);
  }
}

// Walks the output row by row (a row = the last axis). For each row the taps of the outer axes
// are expanded once into (input offset, weight) combinations; each output element of the row then
// sums those combinations times the last axis' taps.
template <class T>
void resize_impl(const Tensor& x, Tensor& out, const std::vector<AxisTaps>& axes, ResizeMode mode, double extrapolation) {
  const Shape& os = out.shape();
  const T* pi = x.data<T>();
  T* po = out.data<T>();
  if (os.empty()) {  // rank 0: nothing to resize
    po[0] = pi[0];
    return;
  }
  const size_t r = os.size();
  const int64_t width = os[r - 1];
  const AxisTaps& last = axes[r - 1];
  const int64_t rows = out.numel() / width;
  std::vector<int64_t> pos(r - 1, 0);  // current outer output coordinates
  std::vector<std::pair<int64_t, double>> combos, next;
  for (int64_t row = 0; row < rows; ++row) {
    bool outside = false;
    combos.assign(1, {0, 1.0});
    for (size_t d = 0; d + 1 < r; ++d) {
      const AxisTaps& a = axes[d];
      const size_t y = static_cast<size_t>(pos[d]);
      outside |= a.outside[y] != 0;
      next.clear();
      for (const auto& [off, w] : combos)
        for (int64_t t = a.begin[y]; t < a.begin[y + 1]; ++t)
          next.push_back({off + a.offset[static_cast<size_t>(t)], w * a.weight[static_cast<size_t>(t)]});
      combos.swap(next);
    }
    T* dst = po + row * width;
    for (int64_t yl = 0; yl < width; ++yl) {
      const size_t y = static_cast<size_t>(yl);
      if (outside || last.outside[y]) {
        dst[yl] = to_output<T>(extrapolation);
      } else if (mode == ResizeMode::kNearest) {  // one tap per axis: copy without arithmetic
        dst[yl] = pi[combos[0].first + last.offset[static_cast<size_t>(last.begin[y])]];
      } else {
        double acc = 0;
        for (const auto& [off, w] : combos)
          for (int64_t t = last.begin[y]; t < last.begin[y + 1]; ++t)
            acc += w * last.weight[static_cast<size_t>(t)] * static_cast<double>(to_compute(pi[off + last.offset[static_cast<size_t>(t)]]));
        dst[yl] = to_output<T>(acc);
      }
    }
    for (size_t d = r - 1; d-- > 0;) {  // odometer over the outer axes
      if (++pos[d] < os[d]) break;
      pos[d] = 0;
    }
  }
}

Status resize_ref(KernelContext& ctx) {
  const Node& node = ctx.node;
  const Tensor& x = ctx.in(0);
  ops::ResizeInputs slots = ops::resize_input_slots(node);
  auto input_at = [&](int slot) -> const Tensor* {
    return slot >= 0 && ctx.has_input(static_cast<size_t>(slot)) ? ctx.inputs[static_cast<size_t>(slot)] : nullptr;
  };
  ResizeParams p;
  JOULE_RETURN_IF_ERROR(
      ops::decode_resize(node, x.shape(), input_at(slots.roi), input_at(slots.scales), input_at(slots.sizes), p)
          .with_context(node.label()));
  if (p.out_shape != ctx.out(0).shape()) return ctx.fail("output shape does not match scales/sizes");
  if (ctx.out(0).numel() == 0) return Status::ok();

  const std::vector<int64_t> strides = ops::strides_of(x.shape());
  std::vector<AxisTaps> axes;
  for (size_t d = 0; d < p.out_shape.size(); ++d) axes.push_back(build_axis(p, d, x.shape()[d], p.out_shape[d], strides[d]));

  bool ok;
  if (p.mode == ResizeMode::kNearest) {
    ok = dispatch_all(x.dtype(), [&]<class T>() { resize_impl<T>(x, ctx.out(0), axes, p.mode, p.extrapolation_value); });
  } else {
    ok = dispatch_numeric(x.dtype(), [&]<class T>() { resize_impl<T>(x, ctx.out(0), axes, p.mode, p.extrapolation_value); });
  }
  return ok ? Status::ok() : ctx.fail_unsupported("dtype " + std::string(dtype_name(x.dtype())) + " in this mode");
}

}  // namespace

void register_ref_resize(KernelRegistry& r) {
  r.add({"", "Resize", "resize__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, resize_ref});
  r.add({"", "Upsample", "upsample__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, resize_ref});
}

}  // namespace joule::kernels
