// NVIDIA GPU energy through NVML, loaded with dlopen at run time (no build-time dependency).
//
// Preferred: nvmlDeviceGetTotalEnergyConsumption (millijoules since driver load; Volta and newer).
// Fallback: nvmlDeviceGetPowerUsage (milliwatts, refreshed every ~20-100 ms by the driver) sampled
// on a thread every sample_ms and integrated with the trapezoid rule.
#include <dlfcn.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "runtime/energy/energy_meter.h"

namespace joule::energy {

namespace {

constexpr int kNvmlSuccess = 0;

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

class NvmlMeter : public EnergyMeter {
 public:
  NvmlMeter(NvmlApi api, void* dev, std::string name, bool counter, int sample_ms)
      : api_(std::move(api)), dev_(dev), name_(std::move(name)), counter_(counter), sample_ms_(sample_ms) {}
  ~NvmlMeter() override {
    halt_sampler();
    if (api_.shutdown) api_.shutdown();
  }

  Status start() override {
    t0_ = now_s();
    if (counter_) {
      if (api_.total_energy(dev_, start_mj_) != kNvmlSuccess) return io_error("NVML total energy read failed");
      return Status::ok();
    }
    halt_sampler();
    unsigned mw = 0;
    if (api_.power_usage(dev_, mw) != kNvmlSuccess) return io_error("NVML power read failed");
    integral_j_ = 0;
    last_w_ = mw * 1e-3;
    last_t_ = t0_;
    running_ = true;
    sampler_ = std::thread([this] {
      while (running_) {
        std::this_thread::sleep_for(std::chrono::milliseconds(sample_ms_));
        sample();
      }
    });
    return Status::ok();
  }

  Status stop(double& joules) override {
    if (counter_) {
      unsigned long long mj = 0;
      if (api_.total_energy(dev_, mj) != kNvmlSuccess) return io_error("NVML total energy read failed");
      double elapsed = now_s() - t0_;
      // The counter refreshes with the power reading (<= 100 ms); a GPU never draws 0 W.
      if (mj == start_mj_ && elapsed >= 0.25)
        return io_error("NVML total energy counter on " + name_ + " did not move over " + std::to_string(elapsed) + " s");
      joules = static_cast<double>(mj - start_mj_) * 1e-3;
      return Status::ok();
    }
    halt_sampler();
    sample();  // close the last interval at stop time
    std::lock_guard<std::mutex> lk(mu_);
    joules = integral_j_;
    return Status::ok();
  }

  std::string description() const override {
    if (counter_) return "measured: NVML total energy counter on " + name_;
    return "measured: NVML power sampled every " + std::to_string(sample_ms_) + " ms and integrated on " + name_;
  }
  bool measured() const override { return true; }

 private:
  void sample() {
    unsigned mw = 0;
    if (api_.power_usage(dev_, mw) != kNvmlSuccess) return;
    double t = now_s(), w = mw * 1e-3;
    std::lock_guard<std::mutex> lk(mu_);
    integral_j_ += 0.5 * (w + last_w_) * (t - last_t_);
    last_w_ = w;
    last_t_ = t;
  }
  void halt_sampler() {
    running_ = false;
    if (sampler_.joinable()) sampler_.join();
  }

  NvmlApi api_;
  void* dev_;
  std::string name_;
  bool counter_;
  int sample_ms_;
  double t0_ = 0;
  unsigned long long start_mj_ = 0;
  std::mutex mu_;
  double integral_j_ = 0, last_w_ = 0, last_t_ = 0;
  std::atomic<bool> running_{false};
  std::thread sampler_;
};

}  // namespace

Status load_nvml(NvmlApi& out) {
  void* lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) return io_error("libnvidia-ml.so.1 not found (no NVIDIA driver)");
  // The library stays loaded for the life of the process (NVML handles point into it).
  using InitFn = int (*)();
  using ByIndexFn = int (*)(unsigned, void**);
  using NameFn = int (*)(void*, char*, unsigned);
  using EnergyFn = int (*)(void*, unsigned long long*);
  using PowerFn = int (*)(void*, unsigned*);
  auto init = reinterpret_cast<InitFn>(dlsym(lib, "nvmlInit_v2"));
  auto shutdown = reinterpret_cast<InitFn>(dlsym(lib, "nvmlShutdown"));
  auto by_index = reinterpret_cast<ByIndexFn>(dlsym(lib, "nvmlDeviceGetHandleByIndex_v2"));
  auto name = reinterpret_cast<NameFn>(dlsym(lib, "nvmlDeviceGetName"));
  auto energy = reinterpret_cast<EnergyFn>(dlsym(lib, "nvmlDeviceGetTotalEnergyConsumption"));
  auto power = reinterpret_cast<PowerFn>(dlsym(lib, "nvmlDeviceGetPowerUsage"));
  if (!init || !shutdown || !by_index || !name || !power) return io_error("libnvidia-ml.so.1 lacks the NVML entry points joule needs");
  out.init = [init] { return init(); };
  out.shutdown = [shutdown] { return shutdown(); };
  out.device_by_index = [by_index](unsigned i, void** d) { return by_index(i, d); };
  out.device_name = [name](void* d, std::string& s) {
    char buf[96] = {};
    int rc = name(d, buf, sizeof buf);
    s = buf;
    return rc;
  };
  if (energy) out.total_energy = [energy](void* d, unsigned long long& mj) { return energy(d, &mj); };
  out.power_usage = [power](void* d, unsigned& mw) { return power(d, &mw); };
  return Status::ok();
}

Status make_nvml_meter(std::unique_ptr<EnergyMeter>& out, NvmlApi api, unsigned index, int sample_ms) {
  if (!api.init || api.init() != kNvmlSuccess) return io_error("nvmlInit failed");
  void* dev = nullptr;
  std::string name = "GPU " + std::to_string(index);
  if (api.device_by_index(index, &dev) != kNvmlSuccess) {
    api.shutdown();
    return io_error("NVML has no GPU " + std::to_string(index));
  }
  std::string n;
  if (api.device_name(dev, n) == kNvmlSuccess && !n.empty()) name = n;
  unsigned long long mj = 0;
  bool counter = api.total_energy && api.total_energy(dev, mj) == kNvmlSuccess;
  unsigned mw = 0;
  if (!counter && (!api.power_usage || api.power_usage(dev, mw) != kNvmlSuccess)) {
    api.shutdown();
    return io_error("NVML on " + name + ": neither total energy nor power usage is supported");
  }
  out = std::make_unique<NvmlMeter>(std::move(api), dev, name, counter, sample_ms < 1 ? 1 : sample_ms);
  return Status::ok();
}

}  // namespace joule::energy
