// joule bench reporting: the greenest-acceptable rule, table, JSON, CodeCarbon CSV and SVG plot.
#include "tools/cli/bench_report.h"

#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <random>
#include <sstream>

namespace joule::cli {

namespace {

std::string fmt(double v, int prec = 3) {
  if (std::isnan(v)) return "-";
  std::ostringstream os;
  os << std::fixed << std::setprecision(prec) << v;
  return os.str();
}
std::string fmt_g(double v) {
  if (std::isnan(v)) return "null";
  std::ostringstream os;
  os << std::setprecision(6) << v;
  return os.str();
}
std::string sig3(double v) {
  std::ostringstream os;
  os << std::setprecision(3) << v;
  return os.str();
}
std::string json_str(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\', o += c;
    else if (static_cast<unsigned char>(c) < 0x20) o += ' ';
    else o += c;
  }
  return o + "\"";
}
std::string xml(const std::string& s) {
  std::string o;
  for (char c : s) o += c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '&' ? "&amp;" : std::string(1, c);
  return o;
}
double drop_pp(const std::vector<BenchVariant>& v, size_t i) { return (v[0].accuracy - v[i].accuracy) * 100.0; }
std::string iso_now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", std::gmtime(&t));
  return buf;
}

// A variant's name for a column `width` wide (2 of which hold the "* " marker, 1 the gap): the whole name when
// it fits, else "..." and its end.
std::string variant_label(const std::string& name, int width) {
  const size_t room = static_cast<size_t>(width - 3);
  if (name.size() <= room) return name;
  return "..." + name.substr(name.size() - (room - 3));
}

}  // namespace

void choose_greenest(const BenchConfig& cfg, std::vector<BenchVariant>& vars) {
  // Acceptability.
  for (size_t i = 0; i < vars.size(); ++i) {
    auto& v = vars[i];
    if (i == 0) {
      v.acceptable = true;
    } else if (v.shape_mismatch) {
      v.acceptable = false;
      v.verdict = "output shape differs from the reference";
    } else if (cfg.labelled) {
      double d = drop_pp(vars, i);
      v.acceptable = d <= cfg.max_drop_pp + 1e-9;
      if (!v.acceptable) v.verdict = "accuracy drop " + fmt(d, 2) + " pp > allowed " + fmt(cfg.max_drop_pp, 2) + " pp";
    } else {
      v.acceptable = v.cosine >= 0.99;
      if (!v.acceptable) v.verdict = "cosine " + fmt(v.cosine, 4) + " < 0.99 against the reference";
    }
  }
  // Least joules per inference among the acceptable ones.
  size_t best = 0;
  for (size_t i = 1; i < vars.size(); ++i)
    if (vars[i].acceptable && vars[i].j_per_inf < vars[best].j_per_inf) best = i;
  vars[best].greenest = true;
  vars[best].verdict = "GREENEST: least joules per inference among acceptable variants";
  for (size_t i = 0; i < vars.size(); ++i) {
    if (i == best || !vars[i].acceptable) continue;
    double extra = (vars[i].j_per_inf / vars[best].j_per_inf - 1.0) * 100.0;
    vars[i].verdict = "acceptable, but uses " + fmt(extra, 1) + "% more energy per inference than " + vars[best].name;
    // Differences inside the noise are worth saying.
    double ci = std::max(std::isnan(vars[i].j_per_inf_ci) ? 0 : vars[i].j_per_inf_ci,
                         std::isnan(vars[best].j_per_inf_ci) ? 0 : vars[best].j_per_inf_ci);
    if (vars[i].j_per_inf - vars[best].j_per_inf <= ci) vars[i].verdict += " (within the 95% CI: a tie)";
  }
}

void print_table(std::ostream& os, const BenchConfig& cfg, const std::vector<BenchVariant>& vars) {
  os << "joule bench: " << vars.size() << " model" << (vars.size() == 1 ? "" : "s") << ", " << cfg.samples << " "
     << (cfg.eval_dir.empty() ? "random inputs" : "samples from " + cfg.eval_dir) << ", device " << cfg.device << ", "
     << cfg.threads << " thread" << (cfg.threads == 1 ? "" : "s") << "\n";
  os << "CPU: " << cfg.cpu_model << "\n";
  os << "energy: " << cfg.meter << "\n";
  for (auto& n : cfg.meter_notes) os << "  (not used: " << n << ")\n";
  os << "protocol: idle " << fmt(cfg.idle_seconds, 2) << " s (" << fmt(cfg.idle_watts, 2) << " W), warm-up "
     << cfg.warmup << ", " << cfg.repeats << " repeats of >= " << cfg.runs << " inferences and >= "
     << fmt(cfg.min_seconds, 2) << " s; +- is the 95% CI over repeats\n";
  os << "carbon: " << fmt(cfg.grid_intensity, 0) << " gCO2e/kWh (" << cfg.grid_source << ")\n\n";

  // The name column fits the longest variant name (22..44 characters); a longer name keeps its end, which
  // is what tells variants of one model apart ("...pruned30_int8.onnx").
  int name_w = 22;
  for (auto& v : vars) name_w = std::max(name_w, static_cast<int>(v.name.size()) + 3);
  name_w = std::min(name_w, 44);
  std::string e_label = cfg.measured ? "mJ/inf" : "mJ/inf(est)";
  os << std::left << std::setw(name_w) << "variant" << std::right << std::setw(9) << "size KB" << std::setw(9) << "p50 ms"
     << std::setw(9) << "p90 ms" << std::setw(9) << "p99 ms" << std::setw(9) << "mean ms" << std::setw(10) << "inf/s"
     << std::setw(8) << "W avg" << std::setw(22) << e_label << std::setw(20) << "above idle" << std::setw(10)
     << "mWh/1k" << std::setw(10) << "gCO2e/1k" << std::setw(10) << "peak MB" << "\n";
  for (auto& v : vars) {
    std::string nm = (v.greenest ? "* " : "  ") + variant_label(v.name, name_w);
    os << std::left << std::setw(name_w) << nm << std::right << std::setw(9) << fmt(v.size_bytes / 1024.0, 1) << std::setw(9)
       << fmt(v.p50) << std::setw(9) << fmt(v.p90) << std::setw(9) << fmt(v.p99) << std::setw(9) << fmt(v.mean_ms)
       << std::setw(10) << fmt(v.throughput, 1) << std::setw(8) << fmt(v.avg_watts, 2) << std::setw(22)
       << (fmt(v.j_per_inf * 1e3, 4) + " +- " + fmt(v.j_per_inf_ci * 1e3, 4)) << std::setw(20)
       << (fmt(v.j_above_idle * 1e3, 4) + " +- " + fmt(v.j_above_idle_ci * 1e3, 4)) << std::setw(10)
       << fmt(v.mwh_per_1000, 4) << std::setw(10) << sig3(v.gco2e_per_1000) << std::setw(10)
       << fmt(v.peak_rss_bytes / 1048576.0, 1) << "\n";
  }
  os << "\nfidelity against " << vars[0].name << (cfg.labelled ? "" : " (no --labels: accuracy not computed)") << ":\n";
  os << std::left << std::setw(name_w) << "variant" << std::right << std::setw(10) << "top-1 agr" << std::setw(10) << "cosine"
     << std::setw(12) << "max abs err" << std::setw(13) << "mean abs err" << std::setw(10) << "accuracy" << std::setw(10)
     << "drop pp" << "   verdict\n";
  for (size_t i = 0; i < vars.size(); ++i) {
    auto& v = vars[i];
    std::string nm = (v.greenest ? "* " : "  ") + variant_label(v.name, name_w);
    os << std::left << std::setw(name_w) << nm << std::right << std::setw(10) << fmt(v.top1_agreement * 100, 1) + "%"
       << std::setw(10) << fmt(v.cosine, 5) << std::setw(12) << fmt_g(v.max_abs_error) << std::setw(13)
       << fmt_g(v.mean_abs_error) << std::setw(10) << (cfg.labelled ? fmt(v.accuracy * 100, 2) + "%" : "-")
       << std::setw(10) << (cfg.labelled ? fmt(drop_pp(vars, i), 2) : "-") << "   " << v.verdict << "\n";
  }
  os << "\nrule: least joules per inference among variants within " << fmt(cfg.max_drop_pp, 2)
     << (cfg.labelled ? " pp of the reference's accuracy" : " (no labels: cosine >= 0.99 to the reference instead)")
     << ". peak MB: process VmHWM" << (cfg.peak_rss_reset ? " reset before each variant's runs" : " (not resettable here: process lifetime)")
     << ", includes every loaded model.\n";
  if (!cfg.measured)
    os << "note: energy is ESTIMATED (no readable energy counter); compare variants on the same machine, not absolute "
          "figures.\n";
}

void print_json(std::ostream& os, const BenchConfig& cfg, const std::vector<BenchVariant>& vars) {
  os << "{\n  \"cpu_model\": " << json_str(cfg.cpu_model) << ",\n  \"device\": " << json_str(cfg.device)
     << ",\n  \"threads\": " << cfg.threads << ",\n  \"samples\": " << cfg.samples
     << ",\n  \"eval_dir\": " << json_str(cfg.eval_dir) << ",\n  \"labelled\": " << (cfg.labelled ? "true" : "false")
     << ",\n  \"energy\": {\"description\": " << json_str(cfg.meter) << ", \"measured\": " << (cfg.measured ? "true" : "false")
     << ", \"notes\": [";
  for (size_t i = 0; i < cfg.meter_notes.size(); ++i) os << (i ? ", " : "") << json_str(cfg.meter_notes[i]);
  os << "]},\n  \"idle_watts\": " << fmt_g(cfg.idle_watts) << ",\n  \"protocol\": {\"idle_seconds\": "
     << fmt_g(cfg.idle_seconds) << ", \"warmup\": " << cfg.warmup << ", \"runs\": " << cfg.runs
     << ", \"min_seconds\": " << fmt_g(cfg.min_seconds) << ", \"repeats\": " << cfg.repeats
     << "},\n  \"grid_intensity_g_per_kwh\": " << fmt_g(cfg.grid_intensity) << ",\n  \"grid_intensity_source\": "
     << json_str(cfg.grid_source) << ",\n  \"max_drop_pp\": " << fmt_g(cfg.max_drop_pp)
     << ",\n  \"peak_rss_method\": " << json_str(cfg.peak_rss_reset ? "VmHWM from /proc/self/status, reset via /proc/self/clear_refs before each variant; process-wide" : "VmHWM from /proc/self/status over the process lifetime")
     << ",\n  \"variants\": [\n";
  std::string greenest;
  for (size_t i = 0; i < vars.size(); ++i) {
    auto& v = vars[i];
    if (v.greenest) greenest = v.name;
    os << "    {\"name\": " << json_str(v.name) << ", \"path\": " << json_str(v.path) << ", \"size_bytes\": " << v.size_bytes
       << ",\n     \"latency_ms\": {\"p50\": " << fmt_g(v.p50) << ", \"p90\": " << fmt_g(v.p90) << ", \"p99\": " << fmt_g(v.p99)
       << ", \"mean\": " << fmt_g(v.mean_ms) << "}, \"throughput_per_s\": " << fmt_g(v.throughput)
       << ", \"inferences\": " << v.inferences << ", \"seconds\": " << fmt_g(v.total_seconds)
       << ",\n     \"avg_power_w\": " << fmt_g(v.avg_watts) << ", \"energy_source\": " << json_str(cfg.meter)
       << ", \"energy_measured\": " << (cfg.measured ? "true" : "false")
       << ",\n     \"joules_per_inference\": {\"mean\": " << fmt_g(v.j_per_inf) << ", \"ci95\": " << fmt_g(v.j_per_inf_ci)
       << ", \"above_idle_mean\": " << fmt_g(v.j_above_idle) << ", \"above_idle_ci95\": " << fmt_g(v.j_above_idle_ci)
       << ", \"per_repeat\": [";
    for (size_t r = 0; r < v.rep_joules_per_inf.size(); ++r) os << (r ? ", " : "") << fmt_g(v.rep_joules_per_inf[r]);
    os << "]},\n     \"mwh_per_1000\": " << fmt_g(v.mwh_per_1000) << ", \"gco2e_per_1000\": " << fmt_g(v.gco2e_per_1000)
       << ", \"peak_rss_bytes\": " << v.peak_rss_bytes << ",\n     \"fidelity\": {\"top1_agreement\": "
       << fmt_g(v.top1_agreement) << ", \"cosine\": " << fmt_g(v.cosine) << ", \"max_abs_error\": " << fmt_g(v.max_abs_error)
       << ", \"mean_abs_error\": " << fmt_g(v.mean_abs_error) << ", \"accuracy\": " << fmt_g(v.accuracy)
       << ", \"accuracy_drop_pp\": " << (cfg.labelled ? fmt_g(drop_pp(vars, i)) : "null")
       << "},\n     \"acceptable\": " << (v.acceptable ? "true" : "false") << ", \"greenest\": " << (v.greenest ? "true" : "false")
       << ", \"verdict\": " << json_str(v.verdict) << "}" << (i + 1 < vars.size() ? "," : "") << "\n";
  }
  os << "  ],\n  \"greenest\": " << json_str(greenest) << "\n}\n";
}

Status write_codecarbon_csv(const std::string& path, const BenchConfig& cfg, const std::vector<BenchVariant>& vars) {
  std::ofstream f(path);
  if (!f) return io_error(path + ": cannot write");
  f << "timestamp,project_name,run_id,duration,emissions,emissions_rate,cpu_power,gpu_power,ram_power,cpu_energy,"
       "gpu_energy,ram_energy,energy_consumed,country_name,country_iso_code,region,cloud_provider,cloud_region,os,"
       "python_version,codecarbon_version,cpu_count,cpu_model,gpu_count,gpu_model,longitude,latitude,ram_total_size,"
       "tracking_mode,on_cloud,pue,joule_energy_source,joule_joules_per_inference\n";
  utsname u{};
  uname(&u);
  struct sysinfo si {};
  sysinfo(&si);
  double ram_gb = static_cast<double>(si.totalram) * si.mem_unit / (1024.0 * 1024 * 1024);
  std::mt19937_64 rng(std::random_device{}());
  auto quote = [](std::string s) {
    std::string o = "\"";
    for (char c : s) o += c == '"' ? std::string("\"\"") : std::string(1, c);
    return o + "\"";
  };
  bool gpu = cfg.device == "cuda";
  for (auto& v : vars) {
    // run_id: a random UUID v4, as CodeCarbon writes.
    uint64_t h = rng(), l = rng();
    char id[40];
    std::snprintf(id, sizeof id, "%08x-%04x-4%03x-%04x-%012llx", unsigned(h >> 32), unsigned((h >> 16) & 0xffff),
                  unsigned(h & 0xfff), unsigned(0x8000 | (l >> 48 & 0x3fff)), (unsigned long long)(l & 0xffffffffffffULL));
    double kwh = v.total_joules / 3.6e6;
    double kg = kwh * cfg.grid_intensity / 1000.0;
    f << iso_now() << "," << quote("joule bench " + v.name) << "," << id << "," << fmt_g(v.total_seconds) << ","
      << fmt_g(kg) << "," << fmt_g(kg / v.total_seconds) << "," << (gpu ? "" : fmt_g(v.avg_watts)) << ","
      << (gpu ? fmt_g(v.avg_watts) : "") << ",," << (gpu ? "" : fmt_g(kwh)) << "," << (gpu ? fmt_g(kwh) : "") << ",,"
      << fmt_g(kwh) << ",,,,,," << quote(std::string(u.sysname) + "-" + u.release + "-" + u.machine) << ",,,"
      << sysconf(_SC_NPROCESSORS_ONLN) << "," << quote(cfg.cpu_model) << ",,,,," << fmt_g(ram_gb) << ","
      << (cfg.measured ? "machine" : "process") << ",,1.0," << quote(cfg.meter) << "," << fmt_g(v.j_per_inf) << "\n";
  }
  if (!f) return io_error(path + ": write failed");
  return Status::ok();
}

Status write_svg_plot(const std::string& path, const BenchConfig& cfg, const std::vector<BenchVariant>& vars) {
  std::ofstream f(path);
  if (!f) return io_error(path + ": cannot write");
  const int W = 900, H = 420, pw = 360, ph = 300, top = 60;
  const int left[2] = {70, 520};
  // x values: accuracy change in pp (labels) or 1 - cosine; p50 latency.
  std::vector<double> xa, xl, y;
  for (size_t i = 0; i < vars.size(); ++i) {
    xa.push_back(cfg.labelled ? -drop_pp(vars, i) : 1.0 - vars[i].cosine);
    xl.push_back(vars[i].p50);
    y.push_back(vars[i].j_per_inf * 1e3);
  }
  auto range = [](const std::vector<double>& v, double& lo, double& hi) {
    lo = *std::min_element(v.begin(), v.end()), hi = *std::max_element(v.begin(), v.end());
    double pad = (hi - lo) * 0.1;
    if (pad <= 0) pad = std::max(std::fabs(hi) * 0.1, 1e-6);
    lo -= pad, hi += pad;
  };
  double ylo, yhi;
  range(y, ylo, yhi);
  ylo = std::min(ylo, 0.0);
  f << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H
    << "\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    << "<text x=\"" << W / 2 << "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">joule bench: energy per inference ("
    << xml(cfg.measured ? "measured" : "estimated") << ")</text>\n<text x=\"" << W / 2
    << "\" y=\"40\" text-anchor=\"middle\" fill=\"#555\">" << xml(cfg.meter) << "</text>\n";
  for (int p = 0; p < 2; ++p) {
    const auto& x = p == 0 ? xa : xl;
    // "better" is larger accuracy change (less negative) in panel 0, lower latency in panel 1.
    double xlo, xhi;
    range(x, xlo, xhi);
    auto px = [&](double v) { return left[p] + (v - xlo) / (xhi - xlo) * pw; };
    auto py = [&](double v) { return top + ph - (v - ylo) / (yhi - ylo) * ph; };
    f << "<rect x=\"" << left[p] << "\" y=\"" << top << "\" width=\"" << pw << "\" height=\"" << ph
      << "\" fill=\"none\" stroke=\"#333\"/>\n";
    for (int t = 0; t <= 4; ++t) {
      double xv = xlo + (xhi - xlo) * t / 4, yv = ylo + (yhi - ylo) * t / 4;
      f << "<text x=\"" << px(xv) << "\" y=\"" << top + ph + 16 << "\" text-anchor=\"middle\" font-size=\"10\">"
        << fmt_g(xv) << "</text>\n<text x=\"" << left[p] - 4 << "\" y=\"" << py(yv) + 3
        << "\" text-anchor=\"end\" font-size=\"10\">" << fmt_g(yv) << "</text>\n";
    }
    std::string xlabel = p == 1 ? "p50 latency (ms)"
                                : (cfg.labelled ? "accuracy change vs reference (pp)" : "1 - cosine vs reference");
    f << "<text x=\"" << left[p] + pw / 2 << "\" y=\"" << top + ph + 34 << "\" text-anchor=\"middle\">" << xml(xlabel)
      << "</text>\n<text transform=\"translate(" << left[p] - 50 << "," << top + ph / 2
      << ") rotate(-90)\" text-anchor=\"middle\">mJ / inference</text>\n";
    // Pareto front: points no other point beats on both axes (less energy, better x).
    auto better_x = [&](size_t a, size_t b) { return p == 0 ? (cfg.labelled ? x[a] >= x[b] : x[a] <= x[b]) : x[a] <= x[b]; };
    std::vector<size_t> front;
    for (size_t i = 0; i < x.size(); ++i) {
      bool dominated = false;
      for (size_t j = 0; j < x.size() && !dominated; ++j)
        dominated = j != i && y[j] <= y[i] && better_x(j, i) && (y[j] < y[i] || x[j] != x[i]);
      if (!dominated) front.push_back(i);
    }
    std::sort(front.begin(), front.end(), [&](size_t a, size_t b) { return x[a] < x[b]; });
    f << "<polyline fill=\"none\" stroke=\"#2a9d8f\" stroke-width=\"2\" stroke-dasharray=\"5,3\" points=\"";
    for (size_t i : front) f << px(x[i]) << "," << py(y[i]) << " ";
    f << "\"/>\n";
    for (size_t i = 0; i < x.size(); ++i) {
      const char* color = vars[i].greenest ? "#2a9d8f" : vars[i].acceptable ? "#264653" : "#e76f51";
      f << "<circle cx=\"" << px(x[i]) << "\" cy=\"" << py(y[i]) << "\" r=\"" << (vars[i].greenest ? 7 : 5)
        << "\" fill=\"" << color << "\"><title>" << xml(vars[i].name) << "</title></circle>\n<text x=\"" << px(x[i]) + 8
        << "\" y=\"" << py(y[i]) - 6 << "\" font-size=\"10\">" << xml(vars[i].name + (vars[i].greenest ? " (greenest)" : ""))
        << "</text>\n";
    }
  }
  f << "<text x=\"" << left[0] << "\" y=\"" << H - 10
    << "\" font-size=\"10\" fill=\"#555\">dashed: Pareto front; green: greenest acceptable; red: not acceptable</text>\n</svg>\n";
  if (!f) return io_error(path + ": write failed");
  return Status::ok();
}

}  // namespace joule::cli
