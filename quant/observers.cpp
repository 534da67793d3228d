// Streaming observers and clipping-threshold searches (minmax, percentile, entropy, MSE).
#include "quant/observers.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "runtime/ir/dtype_dispatch.h"

namespace joule::quant {

Status parse_calib_method(const std::string& s, CalibMethod& out) {
  if (s == "minmax") out = CalibMethod::kMinMax;
  else if (s == "percentile") out = CalibMethod::kPercentile;
  else if (s == "entropy") out = CalibMethod::kEntropy;
  else if (s == "mse") out = CalibMethod::kMse;
  else return invalid_argument("unknown calibration method '" + s + "' (expected minmax, percentile, entropy or mse)");
  return Status::ok();
}

const char* calib_method_name(CalibMethod m) {
  switch (m) {
    case CalibMethod::kMinMax: return "minmax";
    case CalibMethod::kPercentile: return "percentile";
    case CalibMethod::kEntropy: return "entropy";
    case CalibMethod::kMse: return "mse";
  }
  return "?";
}

HistogramObserver::HistogramObserver(ObserverConfig cfg) : cfg_(cfg) {
  if (cfg_.bins < 16) cfg_.bins = 16;
  if (cfg_.levels < 2) cfg_.levels = 2;
  hist_.assign(static_cast<size_t>(cfg_.bins), 0.0);
}

// Doubles the covered range until it holds `a`, merging bin pairs (2k, 2k+1) -> k each time.
void HistogramObserver::grow_to(float a) {
  if (limit_ == 0) {
    limit_ = a * 1.0001f;  // first non-zero magnitude: start just above it
    if (!(limit_ > 0)) limit_ = std::numeric_limits<float>::min();
    return;
  }
  while (a >= limit_) {
    size_t n = hist_.size();
    for (size_t k = 0; k < n / 2; ++k) hist_[k] = hist_[2 * k] + hist_[2 * k + 1];
    std::fill(hist_.begin() + static_cast<std::ptrdiff_t>(n / 2), hist_.end(), 0.0);
    limit_ *= 2;
  }
}

void HistogramObserver::observe(const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    float v = x[i];
    if (!std::isfinite(v)) {
      ++nonfinite_;
      continue;
    }
    if (count_ == 0) min_ = max_ = v;
    min_ = std::min(min_, v);
    max_ = std::max(max_, v);
    ++count_;
    float a = std::fabs(v);
    if (a >= limit_) grow_to(a);  // a == 0 with limit_ == 0 starts nothing
    if (limit_ == 0) {
      hist_[0] += 1;  // zeros before any non-zero value
      continue;
    }
    size_t b = static_cast<size_t>(a / limit_ * static_cast<float>(hist_.size()));
    hist_[std::min(b, hist_.size() - 1)] += 1;
  }
}

Status HistogramObserver::observe(const Tensor& t) {
  if (t.dtype() == DType::kF32) {
    observe(t.data<float>(), t.numel());
    return Status::ok();
  }
  if (!dtype_is_float(t.dtype())) return invalid_argument("observer: tensor is " + std::string(dtype_name(t.dtype())) + ", not float");
  std::vector<float> tmp(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) tmp[static_cast<size_t>(i)] = static_cast<float>(t.value_as_double(i));
  observe(tmp.data(), t.numel());
  return Status::ok();
}

float percentile_threshold(const std::vector<double>& hist, float width, double percentile) {
  double total = 0;
  for (double c : hist) total += c;
  if (total <= 0) return 0;
  double target = total * std::clamp(percentile, 0.0, 100.0) / 100.0, run = 0;
  for (size_t i = 0; i < hist.size(); ++i) {
    run += hist[i];
    if (run >= target) return static_cast<float>(i + 1) * width;
  }
  return static_cast<float>(hist.size()) * width;
}

// TensorRT-style: for each candidate cut i (>= levels bins), P = hist[0..i) with the tail folded into
// bin i-1; Q = P merged into `levels` groups and spread back evenly over each group's non-empty bins.
// The cut with the smallest KL(P || Q) wins.
float entropy_threshold(const std::vector<double>& hist, float width, int levels) {
  const size_t n = hist.size(), L = static_cast<size_t>(levels);
  double total = 0;
  size_t last_nonzero = 0;
  for (size_t i = 0; i < n; ++i) {
    total += hist[i];
    if (hist[i] > 0) last_nonzero = i;
  }
  if (total <= 0) return 0;
  if (last_nonzero + 1 <= L) return static_cast<float>(last_nonzero + 1) * width;  // fits at full resolution
  std::vector<double> suffix(n + 1, 0.0);
  for (size_t i = n; i-- > 0;) suffix[i] = suffix[i + 1] + hist[i];
  double best_kl = std::numeric_limits<double>::infinity();
  size_t best_i = n;
  std::vector<double> p, q;
  for (size_t i = L; i <= n; ++i) {
    p.assign(hist.begin(), hist.begin() + static_cast<std::ptrdiff_t>(i));
    p[i - 1] += suffix[i];
    q.assign(i, 0.0);
    for (size_t g = 0; g < L; ++g) {
      size_t b0 = g * i / L, b1 = (g + 1) * i / L;
      double sum = 0;
      int nonzero = 0;
      for (size_t b = b0; b < b1; ++b) {
        sum += hist[b];
        nonzero += hist[b] > 0;
      }
      if (nonzero == 0) continue;
      for (size_t b = b0; b < b1; ++b)
        if (hist[b] > 0) q[b] = sum / nonzero;
    }
    double psum = 0, qsum = 0;
    for (size_t b = 0; b < i; ++b) psum += p[b], qsum += q[b];
    if (psum <= 0 || qsum <= 0) continue;
    double kl = 0;
    for (size_t b = 0; b < i; ++b) {
      if (p[b] <= 0) continue;
      double pb = p[b] / psum, qb = std::max(q[b] / qsum, 1e-12);  // the folded tail may land on an empty bin
      kl += pb * std::log(pb / qb);
    }
    if (kl < best_kl) best_kl = kl, best_i = i;
  }
  return static_cast<float>(best_i) * width;
}

// Expected squared error of quantizing |x| with threshold T and `levels` steps: values above T are
// clipped (error (x - T)^2), values below are rounded (error step^2 / 12). Bin centres stand for values.
float mse_threshold(const std::vector<double>& hist, float width, int levels) {
  const size_t n = hist.size();
  double best = std::numeric_limits<double>::infinity();
  size_t best_i = n;
  for (size_t i = 1; i <= n; ++i) {
    double t = static_cast<double>(i) * width, step = t / levels, err = 0, in_range = 0;
    for (size_t b = 0; b < n; ++b) {
      if (hist[b] <= 0) continue;
      double c = (static_cast<double>(b) + 0.5) * width;
      if (c > t) err += hist[b] * (c - t) * (c - t);
      else in_range += hist[b];
    }
    err += in_range * step * step / 12.0;
    if (err < best) best = err, best_i = i;
  }
  return static_cast<float>(best_i) * width;
}

float HistogramObserver::threshold() const {
  float amax = std::max(std::fabs(min_), std::fabs(max_));
  if (count_ == 0 || limit_ == 0) return amax;
  float width = limit_ / static_cast<float>(hist_.size());
  float t = amax;
  switch (cfg_.method) {
    case CalibMethod::kMinMax: return amax;
    case CalibMethod::kPercentile: t = percentile_threshold(hist_, width, cfg_.percentile); break;
    case CalibMethod::kEntropy: t = entropy_threshold(hist_, width, cfg_.levels); break;
    case CalibMethod::kMse: t = mse_threshold(hist_, width, cfg_.levels); break;
  }
  return std::min(t, amax);
}

Range HistogramObserver::range() const {
  float t = threshold();
  Range r{std::max(min_, -t), std::min(max_, t)};
  return r;
}

Status ChannelMinMaxObserver::observe(const Tensor& t, int axis) {
  if (t.dtype() != DType::kF32) return invalid_argument("per-channel observer: expected a float tensor");
  const Shape& s = t.shape();
  if (axis < 0 || axis >= static_cast<int>(s.size())) return invalid_argument("per-channel observer: axis out of range");
  int64_t channels = s[static_cast<size_t>(axis)], inner = 1, outer = 1;
  for (size_t d = static_cast<size_t>(axis) + 1; d < s.size(); ++d) inner *= s[d];
  for (int d = 0; d < axis; ++d) outer *= s[static_cast<size_t>(d)];
  if (min_.empty()) {
    min_.assign(static_cast<size_t>(channels), std::numeric_limits<float>::infinity());
    max_.assign(static_cast<size_t>(channels), -std::numeric_limits<float>::infinity());
  } else if (static_cast<int64_t>(min_.size()) != channels) {
    return invalid_argument("per-channel observer: channel count changed");
  }
  const float* x = t.data<float>();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t k = 0; k < inner; ++k) {
        float v = x[(o * channels + c) * inner + k];
        if (!std::isfinite(v)) continue;
        min_[static_cast<size_t>(c)] = std::min(min_[static_cast<size_t>(c)], v);
        max_[static_cast<size_t>(c)] = std::max(max_[static_cast<size_t>(c)], v);
      }
  return Status::ok();
}

}  // namespace joule::quant
