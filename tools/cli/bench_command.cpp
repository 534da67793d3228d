// joule bench REF.onnx VARIANT.onnx ...: latency, energy per inference and fidelity side by side,
// and the greenest variant within an accuracy budget.
//
// Protocol: load every model; compute fidelity on all samples; measure an idle baseline (meter over
// a sleep); warm each model up; then K repeats, each running every variant (round-robin, so drift
// and thermal state hit all variants alike) over the samples until both --runs inferences and
// --min-seconds have passed, with a short pause between repeats. Joules per inference per repeat
// give a mean and a Student-t 95% confidence interval.
#include <sys/resource.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <random>
#include <sstream>
#include <thread>

#include "joule/session.h"
#include "onnx_import/sample_io.h"
#include "runtime/energy/energy_meter.h"
#include "runtime/ir/dtype_dispatch.h"
#include "tools/cli/bench_report.h"
#include "tools/cli/cli_args.h"
#include "tools/cli/commands.h"

namespace joule::cli {

namespace fs = std::filesystem;

namespace {

constexpr const char* kBenchHelp =
    "usage: joule bench REF.onnx [VARIANT.onnx ...] [options]\n\n"
    "Measures every model on the same inputs: latency, throughput, power, joules per inference\n"
    "(total and above idle, 95% CI over repeats), mWh and gCO2e per 1000 inferences, peak memory,\n"
    "and fidelity against the first model. Marks the greenest acceptable variant.\n\n"
    "  --eval DIR          sample folders (one subfolder per sample, as `joule run --inputs` reads);\n"
    "                      without it: random inputs (symbolic dims = 1), with a warning\n"
    "  --labels FILE       one integer class per sample (.npy or one per line), sorted sample order\n"
    "  --max-drop X        accepted accuracy drop in percentage points (default 1); without labels a\n"
    "                      variant is acceptable when its cosine similarity to the reference >= 0.99\n"
    "  --threads N         intra-op threads (default 1: the most comparable energy figures)\n"
    "  --runs N            inferences per repeat, at least (default 50)\n"
    "  --min-seconds T     seconds per repeat, at least (default 0.3)\n"
    "  --repeats K         repeats per variant (default 3)\n"
    "  --idle-seconds S    idle baseline length (default 0.5; 0 skips it)\n"
    "  --warmup N          warm-up inferences per variant (default 5)\n"
    "  --device cpu|cuda   where to run and which meter to use (default cpu)\n"
    "  --grid-intensity G  gCO2e per kWh (default 475: IEA world average, as CodeCarbon's fallback)\n"
    "  --cpu-watts W       active watts per core for the estimate (default: table by CPU model)\n"
    "  --json              print JSON instead of the table\n"
    "  --csv FILE          write CodeCarbon emissions.csv columns, one row per variant\n"
    "  --plot FILE         write an SVG: joules/inference vs accuracy change and latency, Pareto front\n";

int fail(const std::string& msg) {
  std::cerr << "joule bench: error: " << msg << "\n";
  return 2;
}

Status parse_double(const std::string& opt, const std::string& s, double& v, double lo) {
  try {
    size_t used = 0;
    v = std::stod(s, &used);
    if (used != s.size() || !std::isfinite(v) || v < lo) throw std::invalid_argument(s);
  } catch (...) {
    return invalid_argument(opt + ": expected a number >= " + std::to_string(lo).substr(0, 3) + ", got '" + s + "'");
  }
  return Status::ok();
}

// Random valid inputs for a model: floats in [-1, 1), integers in [0, 10), symbolic dims = 1.
Status random_samples(const Session& s, int count, std::vector<std::vector<std::pair<std::string, Tensor>>>& out) {
  std::mt19937 rng(1234);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  for (int k = 0; k < count; ++k) {
    std::vector<std::pair<std::string, Tensor>> sample;
    for (const auto& io : s.inputs()) {
      Shape shape = io.shape;
      for (auto& d : shape)
        if (d < 0) d = 1;
      Tensor t(io.dtype, shape);
      bool ok = dispatch_all(io.dtype, [&]<class T>() {
        T* p = t.data<T>();
        for (int64_t i = 0; i < t.numel(); ++i) {
          if constexpr (std::is_same_v<T, bool>)
            p[i] = (rng() & 1) != 0;
          else if constexpr (std::is_integral_v<T>)
            p[i] = static_cast<T>(rng() % 10);
          else
            p[i] = from_compute<T>(u(rng));
        }
      });
      if (!ok) return unsupported("input '" + io.name + "' has dtype " + std::string(dtype_name(io.dtype)) + "; give --eval DIR");
      sample.emplace_back(io.name, std::move(t));
    }
    out.push_back(std::move(sample));
  }
  return Status::ok();
}

Status load_eval(const std::string& dir, const Session& s, std::vector<std::vector<std::pair<std::string, Tensor>>>& out) {
  std::vector<std::string> dirs;
  JOULE_RETURN_IF_ERROR(onnx_import::list_sample_dirs(dir, dirs));
  for (const auto& d : dirs) {
    std::vector<std::pair<std::string, Tensor>> in;
    JOULE_RETURN_IF_ERROR(onnx_import::load_sample_dir(d, in));
    bool named = false;
    for (auto& [n, t] : in)
      for (auto& io : s.inputs()) named |= !n.empty() && n == io.name;
    if (!named) {
      if (in.size() != s.inputs().size())
        return invalid_argument(d + ": has " + std::to_string(in.size()) + " inputs, the model takes " +
                                std::to_string(s.inputs().size()));
      for (size_t i = 0; i < in.size(); ++i) in[i].first = s.inputs()[i].name;
    }
    out.push_back(std::move(in));
  }
  return Status::ok();
}

Status load_labels(const std::string& path, std::vector<int64_t>& labels) {
  if (path.size() > 4 && path.substr(path.size() - 4) == ".npy") {
    Tensor t;
    JOULE_RETURN_IF_ERROR(onnx_import::load_npy(path, t));
    labels = t.to_int64_vector();
    return Status::ok();
  }
  std::ifstream f(path);
  if (!f) return io_error(path + ": cannot read labels");
  std::string line;
  int n = 0;
  while (std::getline(f, line)) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      size_t used = 0;
      labels.push_back(std::stoll(line, &used));
    } catch (...) {
      return invalid_argument(path + ":" + std::to_string(n) + ": not an integer class: '" + line + "'");
    }
  }
  return Status::ok();
}

// Peak resident memory: VmHWM from /proc/self/status, after resetting it by writing 5 to
// /proc/self/clear_refs (Linux >= 4.0). Process-wide: includes every loaded model and the runtime.
bool reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
  return static_cast<bool>(f);
}
int64_t peak_rss_bytes() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<int64_t>(ru.ru_maxrss) * 1024;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  double idx = p / 100.0 * (v.size() - 1);
  size_t lo = static_cast<size_t>(idx);
  size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (idx - lo);
}

// Two-sided 95% Student t quantiles for 1..30 degrees of freedom.
double t95(int df) {
  static const double t[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                             2.201,  2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                             2.080,  2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
  return df < 1 ? NAN : df <= 30 ? t[df - 1] : 1.96;
}
void mean_ci(const std::vector<double>& x, double& mean, double& ci) {
  mean = 0;
  for (double v : x) mean += v;
  mean /= x.size();
  if (x.size() < 2) {
    ci = NAN;
    return;
  }
  double ss = 0;
  for (double v : x) ss += (v - mean) * (v - mean);
  ci = t95(static_cast<int>(x.size()) - 1) * std::sqrt(ss / (x.size() - 1)) / std::sqrt(double(x.size()));
}

std::vector<double> as_doubles(const Tensor& t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.value_as_double(i);
  return v;
}
size_t argmax(const double* p, size_t n) { return static_cast<size_t>(std::max_element(p, p + n) - p); }

// Fidelity of `out` (first output per sample) against the reference's.
void fidelity(const std::vector<std::vector<double>>& ref, const std::vector<std::vector<double>>& out, int64_t row_len,
              const std::vector<int64_t>& labels, BenchVariant& v) {
  double dot = 0, nr = 0, no = 0, maxe = 0, sume = 0;
  int64_t count = 0, rows = 0, agree = 0, correct = 0;
  for (size_t s = 0; s < ref.size(); ++s) {
    const auto& a = ref[s];
    const auto& b = out[s];
    if (a.size() != b.size()) {
      v.shape_mismatch = true;
      continue;
    }
    for (size_t i = 0; i < a.size(); ++i) {
      dot += a[i] * b[i], nr += a[i] * a[i], no += b[i] * b[i];
      double e = std::fabs(a[i] - b[i]);
      maxe = std::max(maxe, e), sume += e, ++count;
    }
    size_t L = static_cast<size_t>(row_len > 0 ? row_len : 1);
    for (size_t r = 0; r + L <= a.size(); r += L, ++rows) agree += argmax(&a[r], L) == argmax(&b[r], L);
    if (s < labels.size() && !b.empty()) correct += static_cast<int64_t>(argmax(b.data(), std::min(L, b.size()))) == labels[s];
  }
  v.cosine = (nr > 0 && no > 0) ? dot / std::sqrt(nr * no) : (nr == no ? 1.0 : 0.0);
  v.max_abs_error = maxe;
  v.mean_abs_error = count ? sume / count : 0;
  v.top1_agreement = rows ? double(agree) / rows : NAN;
  v.accuracy = labels.empty() ? NAN : double(correct) / labels.size();
}

void progress(bool tty, int done, int total, const std::string& what) {
  if (!tty) return;
  int width = 30, filled = total ? done * width / total : width;
  std::cerr << "\r[" << std::string(filled, '#') << std::string(width - filled, '.') << "] " << done << "/" << total
            << " " << what << "          " << std::flush;
  if (done == total) std::cerr << "\r" << std::string(width + 60, ' ') << "\r" << std::flush;
}

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

}  // namespace

int bench_command(int argc, char** argv) {
  ParsedArgs a;
  Status st = parse_args(argc, argv, 2, {"--help", "-h", "--json"},
                         {"--eval", "--labels", "--max-drop", "--threads", "--runs", "--min-seconds", "--repeats",
                          "--idle-seconds", "--warmup", "--device", "--grid-intensity", "--cpu-watts", "--csv", "--plot"},
                         {}, a);
  if (!st.is_ok()) return fail(st.message());
  if (a.has("--help") || a.has("-h")) {
    std::cout << kBenchHelp;
    return 0;
  }
  if (a.positional.empty()) return fail("expected at least one MODEL (see --help)");
  BenchConfig cfg;
  int64_t iv = 0;
  auto int_opt = [&](const char* name, int& dst, int64_t lo) -> Status {
    if (!a.has(name)) return Status::ok();
    JOULE_RETURN_IF_ERROR(parse_int_option(name, a.get(name), iv));
    if (iv < lo) return invalid_argument(std::string(name) + ": must be >= " + std::to_string(lo));
    dst = static_cast<int>(iv);
    return Status::ok();
  };
  auto dbl_opt = [&](const char* name, double& dst, double lo) -> Status {
    return a.has(name) ? parse_double(name, a.get(name), dst, lo) : Status::ok();
  };
  for (Status s : {int_opt("--threads", cfg.threads, 1), int_opt("--runs", cfg.runs, 1), int_opt("--repeats", cfg.repeats, 1),
                   int_opt("--warmup", cfg.warmup, 0), dbl_opt("--max-drop", cfg.max_drop_pp, 0),
                   dbl_opt("--min-seconds", cfg.min_seconds, 0), dbl_opt("--idle-seconds", cfg.idle_seconds, 0),
                   dbl_opt("--grid-intensity", cfg.grid_intensity, 0), dbl_opt("--cpu-watts", cfg.cpu_watts, 0)})
    if (!s.is_ok()) return fail(s.message());
  cfg.device = a.get("--device", "cpu");
  if (cfg.device != "cpu" && cfg.device != "cuda") return fail("--device: expected cpu or cuda, got '" + cfg.device + "'");
  if (a.has("--labels") && !a.has("--eval")) return fail("--labels needs --eval DIR (labels follow the sample folders)");
  cfg.grid_source = a.has("--grid-intensity") ? "--grid-intensity" : kDefaultGridSource;

  // ---- load models -----------------------------------------------------------------------------
  std::vector<BenchVariant> vars(a.positional.size());
  std::vector<std::unique_ptr<Session>> sessions(vars.size());
  SessionOptions opts;
  opts.threads = cfg.threads;
  opts.device = cfg.device;
  for (size_t i = 0; i < vars.size(); ++i) {
    vars[i].path = a.positional[i];
    vars[i].name = fs::path(vars[i].path).filename().string();
    std::error_code ec;
    vars[i].size_bytes = static_cast<int64_t>(fs::file_size(vars[i].path, ec));
    if (ec) return fail(vars[i].path + ": cannot read model file");
    if (!(st = Session::create(vars[i].path, opts, sessions[i])).is_ok()) return fail(st.message());
  }
  for (size_t i = 1; i < vars.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (vars[i].name == vars[j].name) vars[i].name = vars[i].path;  // keep names distinct

  // ---- inputs and labels -----------------------------------------------------------------------
  std::vector<std::vector<std::pair<std::string, Tensor>>> samples;
  if (a.has("--eval")) {
    if (!(st = load_eval(a.get("--eval"), *sessions[0], samples)).is_ok()) return fail(st.message());
  } else {
    std::cerr << "joule bench: warning: no --eval DIR; using 8 random inputs (symbolic dims = 1): timings and energy "
                 "are real, fidelity reflects random data only\n";
    if (!(st = random_samples(*sessions[0], 8, samples)).is_ok()) return fail(st.message());
  }
  cfg.eval_dir = a.get("--eval");
  std::vector<int64_t> labels;
  if (a.has("--labels")) {
    if (!(st = load_labels(a.get("--labels"), labels)).is_ok()) return fail(st.message());
    if (labels.size() != samples.size())
      return fail(a.get("--labels") + ": has " + std::to_string(labels.size()) + " labels for " +
                  std::to_string(samples.size()) + " samples");
  }
  cfg.samples = static_cast<int>(samples.size());
  cfg.labelled = !labels.empty();

  // ---- fidelity --------------------------------------------------------------------------------
  std::vector<std::vector<std::vector<double>>> outs(vars.size());
  int64_t row_len = 1;
  for (size_t i = 0; i < vars.size(); ++i) {
    for (auto& s : samples) {
      std::vector<Tensor> o;
      if (!(st = sessions[i]->run(s, o)).is_ok()) return fail(vars[i].path + ": " + st.message());
      if (o.empty()) return fail(vars[i].path + ": model has no outputs");
      if (i == 0 && o[0].rank() > 0) row_len = o[0].shape().back();
      outs[i].push_back(as_doubles(o[0]));
    }
    fidelity(outs[0], outs[i], row_len, labels, vars[i]);
  }

  // ---- energy: meter and idle baseline ---------------------------------------------------------
  energy::MeterRequest req{cfg.device, cfg.cpu_watts, cfg.threads};
  auto meter = energy::choose_meter(req, cfg.meter_notes);
  cfg.meter = meter->description();
  cfg.measured = meter->measured();
  cfg.cpu_model = energy::cpu_model_name();
  bool tty = isatty(2) != 0;
  if (cfg.idle_seconds > 0) {
    double j = 0, t0 = now_s();
    if ((st = meter->start()).is_ok()) {
      std::this_thread::sleep_for(std::chrono::duration<double>(cfg.idle_seconds));
      st = meter->stop(j);
    }
    if (!st.is_ok()) return fail("idle baseline: " + st.message());
    cfg.idle_watts = j / (now_s() - t0);
  }

  // ---- warm-up, then K round-robin repeats -----------------------------------------------------
  for (size_t i = 0; i < vars.size(); ++i)
    for (int w = 0; w < cfg.warmup; ++w) {
      std::vector<Tensor> o;
      (void)sessions[i]->run(samples[w % samples.size()], o);
    }
  cfg.peak_rss_reset = true;
  std::vector<std::vector<double>> lat_ms(vars.size());
  int total_steps = cfg.repeats * static_cast<int>(vars.size()), step = 0;
  for (int r = 0; r < cfg.repeats; ++r) {
    if (r > 0) std::this_thread::sleep_for(std::chrono::milliseconds(200));  // pause between repeats
    for (size_t i = 0; i < vars.size(); ++i) {
      progress(tty, step, total_steps, vars[i].name + " repeat " + std::to_string(r + 1));
      cfg.peak_rss_reset &= reset_peak_rss();
      int64_t n = 0;
      double j = 0, t0 = now_s();
      if (!(st = meter->start()).is_ok()) return fail(st.message());
      for (;;) {
        std::vector<Tensor> o;
        double s0 = now_s();
        if (!(st = sessions[i]->run(samples[n % samples.size()], o)).is_ok()) return fail(vars[i].path + ": " + st.message());
        lat_ms[i].push_back((now_s() - s0) * 1e3);
        ++n;
        if (n >= cfg.runs && now_s() - t0 >= cfg.min_seconds) break;
      }
      if (!(st = meter->stop(j)).is_ok()) return fail(st.message());
      double secs = now_s() - t0;
      vars[i].peak_rss_bytes = std::max(vars[i].peak_rss_bytes, peak_rss_bytes());
      vars[i].rep_joules_per_inf.push_back(j / n);
      vars[i].rep_above_idle_per_inf.push_back((j - cfg.idle_watts * secs) / n);
      vars[i].total_joules += j;
      vars[i].total_seconds += secs;
      vars[i].inferences += n;
      ++step;
    }
  }
  progress(tty, total_steps, total_steps, "");

  // ---- summaries and the verdict ---------------------------------------------------------------
  for (size_t i = 0; i < vars.size(); ++i) {
    auto& v = vars[i];
    v.p50 = percentile(lat_ms[i], 50), v.p90 = percentile(lat_ms[i], 90), v.p99 = percentile(lat_ms[i], 99);
    v.mean_ms = 0;
    for (double x : lat_ms[i]) v.mean_ms += x;
    v.mean_ms /= lat_ms[i].size();
    v.throughput = v.inferences / v.total_seconds;
    v.avg_watts = v.total_joules / v.total_seconds;
    mean_ci(v.rep_joules_per_inf, v.j_per_inf, v.j_per_inf_ci);
    if (cfg.idle_seconds > 0) mean_ci(v.rep_above_idle_per_inf, v.j_above_idle, v.j_above_idle_ci);
    v.mwh_per_1000 = v.j_per_inf * 1000 / 3.6;             // 1 mWh = 3.6 J
    v.gco2e_per_1000 = v.j_per_inf * 1000 / 3.6e6 * cfg.grid_intensity;  // J -> kWh x g/kWh
  }
  choose_greenest(cfg, vars);

  if (a.has("--csv") && !(st = write_codecarbon_csv(a.get("--csv"), cfg, vars)).is_ok()) return fail(st.message());
  if (a.has("--plot") && !(st = write_svg_plot(a.get("--plot"), cfg, vars)).is_ok()) return fail(st.message());
  if (a.has("--json"))
    print_json(std::cout, cfg, vars);
  else
    print_table(std::cout, cfg, vars);
  return 0;
}

}  // namespace joule::cli
