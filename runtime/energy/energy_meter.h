// Energy meters: one small interface over hardware counters (RAPL via powercap, the perf_event power
// PMU, NVML) and a labelled estimate. Every meter reads through an injectable file reader / function
// table so tests can point it at fake sysfs trees and a fake NVML.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "joule/status.h"

namespace joule::energy {

/// Reads a whole small file (sysfs attribute). Returns an io_error whose message explains EACCES.
using FileReader = std::function<Status(const std::string& path, std::string& out)>;
/// The default reader: std::ifstream with errno translated into an explanation.
Status read_sysfs_file(const std::string& path, std::string& out);

/// Start/stop energy meter. stop() returns joules consumed since start() by the meter's domain(s).
class EnergyMeter {
 public:
  virtual ~EnergyMeter() = default;
  virtual Status start() = 0;
  virtual Status stop(double& joules) = 0;
  /// How the joules are obtained, e.g. "measured: RAPL package+dram via powercap" or "estimated: ...".
  virtual std::string description() const = 0;
  /// True for hardware counters, false for the estimate.
  virtual bool measured() const = 0;
};

// ---- Linux powercap RAPL ------------------------------------------------------------------------
/// Package zones /sys/class/powercap/intel-rapl:N (AMD too on kernels >= 5.17 with amd_energy/rapl)
/// and their "dram" subzones intel-rapl:N:M. Counters are energy_uj, wrapping at max_energy_range_uj.
Status make_rapl_meter(std::unique_ptr<EnergyMeter>& out, const std::string& root = "/sys/class/powercap",
                       FileReader reader = read_sysfs_file);

// ---- perf_event power PMU -------------------------------------------------------------------------
/// System calls the perf meter uses, replaceable in tests.
struct PerfApi {
  /// Opens a counting event (type, config) on `cpu`, system-wide; returns fd >= 0 or -errno.
  std::function<int(uint32_t type, uint64_t config, int cpu)> open;
  /// Reads the raw 64-bit count of `fd`.
  std::function<Status(int fd, uint64_t& value)> read;
  std::function<void(int fd)> close;
};
PerfApi default_perf_api();
/// Reads <root>/type and events/energy-{pkg,ram}{,.scale,.unit}; root defaults to the power PMU.
Status make_perf_meter(std::unique_ptr<EnergyMeter>& out,
                       const std::string& root = "/sys/bus/event_source/devices/power",
                       FileReader reader = read_sysfs_file, PerfApi api = default_perf_api());

// ---- NVML ---------------------------------------------------------------------------------------
/// The NVML entry points joule uses (return codes: 0 = NVML_SUCCESS). Null total_energy means the
/// driver lacks nvmlDeviceGetTotalEnergyConsumption (or the GPU does not support it, pre-Volta).
struct NvmlApi {
  std::function<int()> init;
  std::function<int()> shutdown;
  std::function<int(unsigned index, void** device)> device_by_index;
  std::function<int(void* device, std::string& name)> device_name;
  std::function<int(void* device, unsigned long long& millijoules)> total_energy;  // may be empty
  std::function<int(void* device, unsigned& milliwatts)> power_usage;
};
/// dlopen("libnvidia-ml.so.1") at run time; fails with a reason when the library is absent.
Status load_nvml(NvmlApi& out);
/// Meter for GPU `index`: the total energy counter when it works, else power sampled every
/// `sample_ms` on a thread and integrated with the trapezoid rule.
Status make_nvml_meter(std::unique_ptr<EnergyMeter>& out, NvmlApi api, unsigned index = 0, int sample_ms = 20);

// ---- the estimate -------------------------------------------------------------------------------
/// E = cpu_seconds * active_watts_per_core + wall_seconds * idle_watts_per_core * cores_used.
struct EstimateModel {
  double active_watts_per_core = 0;  // extra power of one busy core
  double idle_watts_per_core = 0;    // share of the machine's idle power per core used
  int cores_used = 1;                // threads of the workload (the idle share it is charged)
  std::string source;                // where the wattage came from (table row, --cpu-watts)
};
/// Picks the per-core wattage from a small table by CPU model string (or `cpu_watts` when > 0).
EstimateModel estimate_model_for(const std::string& cpu_model, double cpu_watts, int cores_used);
/// The CPU model string from /proc/cpuinfo ("model name"), or "unknown CPU".
std::string cpu_model_name(const std::string& cpuinfo_path = "/proc/cpuinfo");
/// Clocks the estimate reads (process CPU seconds, monotonic wall seconds), replaceable in tests.
struct Clocks {
  std::function<double()> cpu_seconds;
  std::function<double()> wall_seconds;
};
Clocks default_clocks();
std::unique_ptr<EnergyMeter> make_estimate_meter(const EstimateModel& model, Clocks clocks = default_clocks());

// ---- choosing a meter ---------------------------------------------------------------------------
struct MeterRequest {
  std::string device = "cpu";  // "cpu" or "cuda"
  double cpu_watts = 0;        // --cpu-watts override for the estimate
  int threads = 1;             // cores the workload uses (estimate's idle share)
};
/// Best available meter: cuda -> NVML; cpu -> RAPL, perf, estimate. Never fails: falls back to the
/// estimate. `notes` collects why each better meter was not used (one line each).
std::unique_ptr<EnergyMeter> choose_meter(const MeterRequest& req, std::vector<std::string>& notes);

}  // namespace joule::energy
