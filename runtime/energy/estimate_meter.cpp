// The labelled estimate used when no energy counter can be read.
//
// Model: E = cpu_seconds * P_active + wall_seconds * P_idle * cores_used
//   cpu_seconds  this process's user+system CPU time (CLOCK_PROCESS_CPUTIME_ID), all threads;
//   P_active     extra power of one busy core: TDP / cores of a typical part of the family (table
//                below) or --cpu-watts;
//   P_idle       the idle power a core is charged while the workload holds it: 25% of P_active
//                (servers idle at roughly 25-35% of TDP);
//   cores_used   the workload's threads.
// Uncertainty: easily +-50% in absolute terms (turbo, SMT, memory traffic, DRAM and uncore are not
// modelled), much better for ratios between variants on the same machine, since they mostly differ
// in CPU seconds.
#include <time.h>

#include <fstream>
#include <sstream>

#include "runtime/energy/energy_meter.h"

namespace joule::energy {

namespace {

struct WattRow {
  const char* match;  // substring of the /proc/cpuinfo model name
  double watts;       // active watts per core
  const char* basis;
};

// Rough TDP / core counts of representative parts; the first match wins.
constexpr WattRow kTable[] = {
    {"EPYC", 4.0, "AMD EPYC: ~280 W / 64 cores (7763), ~360 W / 96 cores (9654)"},
    {"Threadripper", 8.0, "AMD Threadripper: ~280 W / 32 cores"},
    {"Ryzen", 8.0, "AMD Ryzen desktop: 105-170 W / 16 cores"},
    {"Xeon", 6.5, "Intel Xeon Scalable: ~270 W / 40 cores (8380), ~150 W / 20 cores (6248)"},
    {"Core(TM) Ultra", 7.0, "Intel Core Ultra mobile: ~28-45 W / 6 P-cores"},
    {"Core(TM) i", 10.0, "Intel Core desktop/laptop: 28-125 W / 4-8 P-cores"},
    {"Neoverse", 2.0, "Arm Neoverse server: ~100-250 W / 64-128 cores"},
};
constexpr double kDefaultWatts = 5.0;
constexpr double kIdleFraction = 0.25;

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + ts.tv_nsec * 1e-9;
}
double monotonic_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + ts.tv_nsec * 1e-9;
}

class EstimateMeter : public EnergyMeter {
 public:
  EstimateMeter(EstimateModel m, Clocks c) : m_(std::move(m)), c_(std::move(c)) {}
  Status start() override {
    cpu0_ = c_.cpu_seconds();
    wall0_ = c_.wall_seconds();
    return Status::ok();
  }
  Status stop(double& joules) override {
    double cpu = c_.cpu_seconds() - cpu0_, wall = c_.wall_seconds() - wall0_;
    joules = cpu * m_.active_watts_per_core + wall * m_.idle_watts_per_core * m_.cores_used;
    return Status::ok();
  }
  std::string description() const override {
    std::ostringstream os;
    os << "estimated: CPU-seconds x " << m_.active_watts_per_core << " W/core + wall x " << m_.idle_watts_per_core
       << " W idle x " << m_.cores_used << " core" << (m_.cores_used == 1 ? "" : "s") << " (" << m_.source << ")";
    return os.str();
  }
  bool measured() const override { return false; }

 private:
  EstimateModel m_;
  Clocks c_;
  double cpu0_ = 0, wall0_ = 0;
};

}  // namespace

Clocks default_clocks() { return {process_cpu_seconds, monotonic_seconds}; }

std::string cpu_model_name(const std::string& cpuinfo_path) {
  std::ifstream f(cpuinfo_path);
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto p = line.find(':');
      if (p != std::string::npos) {
        std::string v = line.substr(p + 1);
        while (!v.empty() && v.front() == ' ') v.erase(v.begin());
        return v;
      }
    }
  }
  return "unknown CPU";
}

EstimateModel estimate_model_for(const std::string& cpu_model, double cpu_watts, int cores_used) {
  EstimateModel m;
  m.cores_used = cores_used < 1 ? 1 : cores_used;
  if (cpu_watts > 0) {
    m.active_watts_per_core = cpu_watts;
    m.source = "--cpu-watts " + std::to_string(cpu_watts).substr(0, std::to_string(cpu_watts).find('.') + 3);
  } else {
    m.active_watts_per_core = kDefaultWatts;
    m.source = "default for an unknown CPU";
    for (const auto& row : kTable)
      if (cpu_model.find(row.match) != std::string::npos) {
        m.active_watts_per_core = row.watts;
        m.source = std::string("table: ") + row.basis;
        break;
      }
  }
  m.idle_watts_per_core = m.active_watts_per_core * kIdleFraction;
  return m;
}

std::unique_ptr<EnergyMeter> make_estimate_meter(const EstimateModel& model, Clocks clocks) {
  return std::make_unique<EstimateMeter>(model, std::move(clocks));
}

std::unique_ptr<EnergyMeter> choose_meter(const MeterRequest& req, std::vector<std::string>& notes) {
  std::unique_ptr<EnergyMeter> m;
  if (req.device == "cuda") {
    NvmlApi api;
    Status st = load_nvml(api);
    if (st.is_ok()) st = make_nvml_meter(m, std::move(api));
    if (st.is_ok()) return m;
    notes.push_back("NVML: " + st.message());
  } else {
    Status st = make_rapl_meter(m);
    if (st.is_ok()) {
      // Probe: a package counter must move within 50 ms.
      double j = 0;
      st = m->start();
      if (st.is_ok()) {
        timespec ts{0, 50'000'000};
        nanosleep(&ts, nullptr);
        st = m->stop(j);
      }
      if (st.is_ok()) return m;
    }
    notes.push_back("RAPL: " + st.message());
    st = make_perf_meter(m);
    if (st.is_ok()) return m;
    notes.push_back("perf: " + st.message());
  }
  return make_estimate_meter(estimate_model_for(cpu_model_name(), req.cpu_watts, req.threads));
}

}  // namespace joule::energy
