// joule bench's results and how they are reported: the verdict, the table, JSON, CodeCarbon CSV, SVG.
#pragma once

#include <cmath>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "joule/status.h"

namespace joule::cli {

inline constexpr double kDefaultGridIntensity = 475.0;
inline constexpr const char* kDefaultGridSource =
    "default 475 gCO2e/kWh: world average carbon intensity of electricity (IEA, Global Energy & CO2 Status Report "
    "2019), the fallback CodeCarbon uses when the location is unknown";

/// Options and facts common to every variant.
struct BenchConfig {
  int threads = 1, runs = 50, repeats = 3, warmup = 5, samples = 0;
  double min_seconds = 0.3, idle_seconds = 0.5, max_drop_pp = 1.0, grid_intensity = kDefaultGridIntensity, cpu_watts = 0;
  std::string device = "cpu", grid_source, eval_dir, meter, cpu_model;
  bool measured = false, labelled = false, peak_rss_reset = false;
  double idle_watts = 0;
  std::vector<std::string> meter_notes;  // why better meters were not used
};

/// One model's results.
struct BenchVariant {
  std::string path, name;
  int64_t size_bytes = 0, peak_rss_bytes = 0, inferences = 0;
  double total_joules = 0, total_seconds = 0;
  std::vector<double> rep_joules_per_inf, rep_above_idle_per_inf;
  double p50 = 0, p90 = 0, p99 = 0, mean_ms = 0, throughput = 0, avg_watts = 0;
  double j_per_inf = 0, j_per_inf_ci = NAN, j_above_idle = NAN, j_above_idle_ci = NAN;
  double mwh_per_1000 = 0, gco2e_per_1000 = 0;
  // fidelity against the first model
  double top1_agreement = NAN, cosine = NAN, max_abs_error = NAN, mean_abs_error = NAN, accuracy = NAN;
  bool shape_mismatch = false;
  // verdict
  bool acceptable = false, greenest = false;
  std::string verdict;
};

/// Marks acceptable variants (within max_drop percentage points of the reference's accuracy with
/// labels, else cosine >= 0.99), the greenest (least joules per inference) among them, and says why
/// each other variant lost.
void choose_greenest(const BenchConfig& cfg, std::vector<BenchVariant>& vars);

void print_table(std::ostream& os, const BenchConfig& cfg, const std::vector<BenchVariant>& vars);
void print_json(std::ostream& os, const BenchConfig& cfg, const std::vector<BenchVariant>& vars);
/// CodeCarbon emissions.csv columns (v2.x layout); columns joule cannot fill are blank, and two
/// extra columns at the end say how the energy was obtained and the joules per inference.
Status write_codecarbon_csv(const std::string& path, const BenchConfig& cfg, const std::vector<BenchVariant>& vars);
/// SVG: joules per inference against accuracy change (or 1 - cosine) and against p50 latency, with
/// the Pareto front drawn and the greenest variant marked.
Status write_svg_plot(const std::string& path, const BenchConfig& cfg, const std::vector<BenchVariant>& vars);

}  // namespace joule::cli
