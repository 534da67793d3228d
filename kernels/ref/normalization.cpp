// Reference normalization kernels. Statistics are accumulated in double whatever the storage type.
//
// BatchNormalization (inference): X (N, C, S...) ; Y = (X - mean[c]) / sqrt(var[c] + eps) * scale[c] + B[c]
//   (before opset 9 with spatial=0 the parameters hold one value per (c, position) instead).
// InstanceNormalization: per (n, c) plane, Y = (X - mean) / sqrt(var + eps) * scale[c] + B[c].
// LayerNormalization: per row X[i, :] over dims [axis, rank), Y = (X - mean) * inv_std * Scale + B with
//   Scale/B broadcast to those dims; optional outputs Mean and InvStdDev = 1 / sqrt(var + eps).
// LRN: Y[n, c, s] = X[n, c, s] / (bias + alpha / size * sum_{c' in window(c)} X[n, c', s]^2) ^ beta,
//   window(c) = [c - floor((size-1)/2), c + ceil((size-1)/2)] clipped to [0, C).
// MeanVarianceNormalization: Y = (X - mean) / (sqrt(var) + 1e-9), statistics over `axes`.
#include <algorithm>
#include <cmath>

#include "kernels/kernel_registry.h"
#include "kernels/ref/nn_common.h"
#include "runtime/ir/dtype_dispatch.h"
#include "runtime/ops/infer_helpers.h"

namespace joule::kernels {

namespace {

Status bad_dtype(const KernelContext& ctx) {
  return ctx.fail_unsupported("dtype " + std::string(dtype_name(ctx.in(0).dtype())));
}

// All elements of a float tensor as doubles (parameters are small: one per channel or position).
std::vector<double> to_doubles(const Tensor& t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = t.value_as_double(static_cast<int64_t>(i));
  return v;
}

// Values of `t` broadcast (numpy rules, right-aligned) to `target`, as doubles in row-major order.
std::vector<double> broadcast_to(const Tensor& t, const Shape& target) {
  std::vector<double> src = to_doubles(t);
  std::vector<int64_t> st = ops::broadcast_strides(t.shape(), target);
  int64_t n = shape_numel(target);
  std::vector<double> out(static_cast<size_t>(n));
  std::vector<int64_t> idx(target.size(), 0);
  int64_t off = 0;
  for (int64_t i = 0; i < n; ++i) {
    out[static_cast<size_t>(i)] = src[static_cast<size_t>(off)];
    for (size_t d = target.size(); d-- > 0;) {  // odometer increment
      ++idx[d];
      off += st[d];
      if (idx[d] < target[d]) break;
      off -= st[d] * target[d];
      idx[d] = 0;
    }
  }
  return out;
}

Status batch_norm_ref(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const int64_t n = x.dim(0), c = x.dim(1);
  const int64_t spatial = c > 0 && n > 0 ? x.numel() / (n * c) : 0;
  const double eps = ctx.node.attr_float("epsilon", 1e-5f);
  std::vector<double> scale = to_doubles(ctx.in(1)), bias = to_doubles(ctx.in(2)), mean = to_doubles(ctx.in(3)),
                      var = to_doubles(ctx.in(4));
  // Fold into y = x * a + b, per parameter slot.
  const bool per_element = static_cast<int64_t>(scale.size()) != c;
  std::vector<double> a(scale.size()), b(scale.size());
  for (size_t i = 0; i < scale.size(); ++i) {
    a[i] = scale[i] / std::sqrt(var[i] + eps);
    b[i] = bias[i] - mean[i] * a[i];
  }
  bool ok = dispatch_float(x.dtype(), [&]<class T>() {
    const T* xp = x.data<T>();
    T* yp = ctx.out(0).data<T>();
    nnref::parallel_over(ctx.pool, n * c, [&](int64_t begin, int64_t end) {
      for (int64_t pl = begin; pl < end; ++pl) {
        const int64_t ch = pl % c;
        for (int64_t s = 0; s < spatial; ++s) {
          size_t slot = static_cast<size_t>(per_element ? ch * spatial + s : ch);
          int64_t i = pl * spatial + s;
          yp[i] = from_compute<T>(static_cast<double>(to_compute(xp[i])) * a[slot] + b[slot]);
        }
      }
    });
  });
  return ok ? Status::ok() : bad_dtype(ctx);
}

Status instance_norm_ref(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const int64_t n = x.dim(0), c = x.dim(1);
  const int64_t spatial = c > 0 && n > 0 ? x.numel() / (n * c) : 0;
  const double eps = ctx.node.attr_float("epsilon", 1e-5f);
  std::vector<double> scale = to_doubles(ctx.in(1)), bias = to_doubles(ctx.in(2));
  bool ok = dispatch_float(x.dtype(), [&]<class T>() {
    const T* xp = x.data<T>();
    T* yp = ctx.out(0).data<T>();
    nnref::parallel_over(ctx.pool, n * c, [&](int64_t begin, int64_t end) {
      for (int64_t pl = begin; pl < end; ++pl) {
        const T* xs = xp + pl * spatial;
        double sum = 0, sq = 0;
        for (int64_t s = 0; s < spatial; ++s) sum += static_cast<double>(to_compute(xs[s]));
        double mean = sum / static_cast<double>(spatial);
        for (int64_t s = 0; s < spatial; ++s) {
          double d = static_cast<double>(to_compute(xs[s])) - mean;
          sq += d * d;
        }
        double inv = 1.0 / std::sqrt(sq / static_cast<double>(spatial) + eps);
        size_t ch = static_cast<size_t>(pl % c);
        for (int64_t s = 0; s < spatial; ++s)
          yp[pl * spatial + s] = from_compute<T>((static_cast<double>(to_compute(xs[s])) - mean) * inv * scale[ch] + bias[ch]);
      }
    });
  });
  return ok ? Status::ok() : bad_dtype(ctx);
}

Status layer_norm_ref(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const int rank = x.rank();
  const int axis = *ops::normalize_axis(ctx.node.attr_int("axis", -1), rank);
  Shape norm_shape(x.shape().begin() + axis, x.shape().end());
  const int64_t inner = shape_numel(norm_shape);
  const int64_t outer = inner > 0 ? x.numel() / inner : 0;
  const double eps = ctx.node.attr_float("epsilon", 1e-5f);
  std::vector<double> scale = broadcast_to(ctx.in(1), norm_shape);
  std::vector<double> bias = ctx.has_input(2) ? broadcast_to(ctx.in(2), norm_shape) : std::vector<double>(scale.size(), 0.0);
  std::vector<double> means(static_cast<size_t>(outer)), inv_stds(static_cast<size_t>(outer));
  bool ok = dispatch_float(x.dtype(), [&]<class T>() {
    const T* xp = x.data<T>();
    T* yp = ctx.out(0).data<T>();
    nnref::parallel_over(ctx.pool, outer, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const T* xr = xp + r * inner;
        double sum = 0, sq = 0;
        for (int64_t j = 0; j < inner; ++j) sum += static_cast<double>(to_compute(xr[j]));
        double mean = sum / static_cast<double>(inner);
        for (int64_t j = 0; j < inner; ++j) {
          double d = static_cast<double>(to_compute(xr[j])) - mean;
          sq += d * d;
        }
        double inv = 1.0 / std::sqrt(sq / static_cast<double>(inner) + eps);
        for (int64_t j = 0; j < inner; ++j) {
          size_t k = static_cast<size_t>(j);
          yp[r * inner + j] = from_compute<T>((static_cast<double>(to_compute(xr[j])) - mean) * inv * scale[k] + bias[k]);
        }
        means[static_cast<size_t>(r)] = mean;
        inv_stds[static_cast<size_t>(r)] = inv;
      }
    });
  });
  if (!ok) return bad_dtype(ctx);
  // Optional statistics outputs, in the stash_type dtype.
  for (size_t o = 1; o <= 2; ++o) {
    if (!ctx.has_output(o)) continue;
    const std::vector<double>& src = o == 1 ? means : inv_stds;
    Tensor& t = ctx.out(o);
    dispatch_float(t.dtype(), [&]<class T>() {
      for (size_t i = 0; i < src.size(); ++i) t.data<T>()[i] = from_compute<T>(src[i]);
    });
  }
  return Status::ok();
}

Status lrn_ref(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const int64_t n = x.dim(0), c = x.dim(1);
  const int64_t spatial = c > 0 && n > 0 ? x.numel() / (n * c) : 0;
  const int64_t size = ctx.node.attr_int("size", 1);
  const double alpha = ctx.node.attr_float("alpha", 1e-4f), beta = ctx.node.attr_float("beta", 0.75f),
               bias = ctx.node.attr_float("bias", 1.0f);
  const int64_t before = (size - 1) / 2, after = size - 1 - before;
  bool ok = dispatch_float(x.dtype(), [&]<class T>() {
    const T* xp = x.data<T>();
    T* yp = ctx.out(0).data<T>();
    nnref::parallel_over(ctx.pool, n * c, [&](int64_t begin, int64_t end) {
      for (int64_t pl = begin; pl < end; ++pl) {
        const int64_t b = pl / c, ch = pl % c;
        const int64_t c0 = std::max<int64_t>(0, ch - before), c1 = std::min<int64_t>(c - 1, ch + after);
        for (int64_t s = 0; s < spatial; ++s) {
          double sq = 0;
          for (int64_t k = c0; k <= c1; ++k) {
            double v = static_cast<double>(to_compute(xp[(b * c + k) * spatial + s]));
            sq += v * v;
          }
          int64_t i = pl * spatial + s;
          yp[i] = from_compute<T>(static_cast<double>(to_compute(xp[i])) / std::pow(bias + alpha / static_cast<double>(size) * sq, beta));
        }
      }
    });
  });
  return ok ? Status::ok() : bad_dtype(ctx);
}

Status mvn_ref(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Shape& xs = x.shape();
  const int rank = x.rank();
  // Statistics shape: X's shape with the reduced axes set to 1.
  Shape stat_shape = xs;
  for (int64_t a : ctx.node.attr_ints("axes", {0, 2, 3})) stat_shape[static_cast<size_t>(*ops::normalize_axis(a, rank))] = 1;
  const int64_t groups = shape_numel(stat_shape);
  const int64_t count = groups > 0 ? x.numel() / groups : 0;
  std::vector<int64_t> st = ops::broadcast_strides(stat_shape, xs);  // element -> statistics slot
  std::vector<double> sum(static_cast<size_t>(groups), 0.0), sq(static_cast<size_t>(groups), 0.0);
  bool ok = dispatch_float(x.dtype(), [&]<class T>() {
    const T* xp = x.data<T>();
    T* yp = ctx.out(0).data<T>();
    // Two passes over X with an odometer that tracks each element's statistics slot.
    for (int pass = 0; pass < 2; ++pass) {
      std::vector<int64_t> idx(xs.size(), 0);
      int64_t slot = 0;
      for (int64_t i = 0; i < x.numel(); ++i) {
        size_t g = static_cast<size_t>(slot);
        double v = static_cast<double>(to_compute(xp[i]));
        if (pass == 0) {
          sum[g] += v;
          sq[g] += v * v;
        } else {
          double mean = sum[g] / static_cast<double>(count);
          double var = std::max(0.0, sq[g] / static_cast<double>(count) - mean * mean);
          yp[i] = from_compute<T>((v - mean) / (std::sqrt(var) + 1e-9));
        }
        for (size_t d = xs.size(); d-- > 0;) {
          ++idx[d];
          slot += st[d];
          if (idx[d] < xs[d]) break;
          slot -= st[d] * xs[d];
          idx[d] = 0;
        }
      }
    }
  });
  return ok ? Status::ok() : bad_dtype(ctx);
}

}  // namespace

void register_ref_normalization(KernelRegistry& r) {
  r.add({"", "BatchNormalization", "batch_norm__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, batch_norm_ref});
  r.add({"", "InstanceNormalization", "instance_norm__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, instance_norm_ref});
  r.add({"", "LayerNormalization", "layer_norm__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, layer_norm_ref});
  r.add({"", "LRN", "lrn__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, lrn_ref});
  r.add({"", "MeanVarianceNormalization", "mvn__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, mvn_ref});
}

}  // namespace joule::kernels
