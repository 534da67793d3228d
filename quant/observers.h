// Streaming statistics for post-training quantization: each observer sees a tensor's values
// batch after batch and keeps a fixed amount of state (a histogram of `bins` counts plus min/max),
// so memory is bounded by the histogram size, never by the dataset size.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "joule/status.h"
#include "joule/tensor.h"

namespace joule::quant {

/// How a clipping range is chosen from the observed values.
enum class CalibMethod {
  kMinMax,      // the exact observed [min, max]
  kPercentile,  // |x| clipped at the given percentile of the |x| histogram
  kEntropy,     // |x| threshold minimising KL(P || Q) between the histogram and its quantized form (TensorRT)
  kMse,         // |x| threshold minimising expected squared error (clipping + rounding)
};

Status parse_calib_method(const std::string& s, CalibMethod& out);
const char* calib_method_name(CalibMethod m);

struct ObserverConfig {
  CalibMethod method = CalibMethod::kMinMax;
  int bins = 2048;             // histogram resolution over [0, max|x|]
  double percentile = 99.999;  // for kPercentile, in percent
  int levels = 128;            // quantization levels on one side of zero (entropy/MSE search)
};

/// A real-valued clipping range [lo, hi] (lo <= 0 <= hi once made quantizable).
struct Range {
  float lo = 0, hi = 0;
};

/// Per-tensor observer: exact min/max plus a histogram of |x| over [0, limit). When a value beyond
/// `limit` arrives, the limit doubles (repeatedly) and adjacent bins merge pairwise, so the state
/// stays `bins` counts whatever the data. Non-finite values are ignored (and counted).
class HistogramObserver {
 public:
  explicit HistogramObserver(ObserverConfig cfg = {});
  /// Adds every element of a float tensor.
  void observe(const float* x, int64_t n);
  Status observe(const Tensor& t);

  bool empty() const { return count_ == 0; }
  int64_t count() const { return count_; }
  int64_t nonfinite() const { return nonfinite_; }
  float min() const { return min_; }
  float max() const { return max_; }
  float limit() const { return limit_; }
  const std::vector<double>& histogram() const { return hist_; }
  /// Bytes of state, independent of how many values were observed.
  size_t state_bytes() const { return sizeof(*this) + hist_.capacity() * sizeof(double); }

  /// The |x| clipping threshold the configured method picks (max|x| for minmax).
  float threshold() const;
  /// The clipping range: [min, max] clipped to [-threshold, threshold].
  Range range() const;

 private:
  void grow_to(float a);
  ObserverConfig cfg_;
  std::vector<double> hist_;
  float limit_ = 0;  // histogram covers [0, limit_); 0 until the first non-zero value
  float min_ = 0, max_ = 0;
  int64_t count_ = 0, nonfinite_ = 0;
};

/// Threshold search on a histogram of |x| with bin width `width` (exposed for tests).
float percentile_threshold(const std::vector<double>& hist, float width, double percentile);
float entropy_threshold(const std::vector<double>& hist, float width, int levels);
float mse_threshold(const std::vector<double>& hist, float width, int levels);

/// Per-channel min/max along `axis` (weights): O(channels) state.
class ChannelMinMaxObserver {
 public:
  Status observe(const Tensor& t, int axis);
  const std::vector<float>& min() const { return min_; }
  const std::vector<float>& max() const { return max_; }

 private:
  std::vector<float> min_, max_;
};

}  // namespace joule::quant
