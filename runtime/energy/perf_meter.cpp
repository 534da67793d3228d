// The perf_event "power" PMU: energy-pkg (and energy-ram when present) counted system-wide on CPU 0.
//
// sysfs: <root>/type holds the PMU type number; <root>/events/energy-pkg holds "event=0x02";
// energy-pkg.scale the joules per count (e.g. 2.3283064365386962890625e-10); energy-pkg.unit "Joules".
// The counter is 64-bit, so it does not wrap in practice. Opening needs CAP_PERFMON or
// /proc/sys/kernel/perf_event_paranoid <= 0.
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "runtime/energy/energy_meter.h"

namespace joule::energy {

PerfApi default_perf_api() {
  PerfApi api;
  api.open = [](uint32_t type, uint64_t config, int cpu) -> int {
    perf_event_attr attr;
    std::memset(&attr, 0, sizeof attr);
    attr.size = sizeof attr;
    attr.type = type;
    attr.config = config;
    long fd = syscall(SYS_perf_event_open, &attr, -1 /*all processes*/, cpu, -1 /*no group*/, 0);
    return fd < 0 ? -errno : static_cast<int>(fd);
  };
  api.read = [](int fd, uint64_t& v) -> Status {
    if (::read(fd, &v, sizeof v) != static_cast<ssize_t>(sizeof v)) return io_error("perf_event read failed");
    return Status::ok();
  };
  api.close = [](int fd) { ::close(fd); };
  return api;
}

namespace {

struct PerfEvent {
  std::string name;  // energy-pkg
  int fd = -1;
  double scale = 1;  // joules per count
  uint64_t start = 0;
};

class PerfMeter : public EnergyMeter {
 public:
  PerfMeter(std::vector<PerfEvent> events, PerfApi api) : events_(std::move(events)), api_(std::move(api)) {}
  ~PerfMeter() override {
    for (auto& e : events_) api_.close(e.fd);
  }
  Status start() override {
    for (auto& e : events_) JOULE_RETURN_IF_ERROR(api_.read(e.fd, e.start));
    return Status::ok();
  }
  Status stop(double& joules) override {
    joules = 0;
    for (auto& e : events_) {
      uint64_t now = 0;
      JOULE_RETURN_IF_ERROR(api_.read(e.fd, now));
      joules += static_cast<double>(now - e.start) * e.scale;  // unsigned difference handles a 64-bit wrap
    }
    return Status::ok();
  }
  std::string description() const override {
    std::string d = "measured: perf_event power/";
    for (size_t i = 0; i < events_.size(); ++i) d += (i ? "+" : "") + events_[i].name;
    return d;
  }
  bool measured() const override { return true; }

 private:
  std::vector<PerfEvent> events_;
  PerfApi api_;
};

// "event=0x02" or "event=0x02,umask=0x1" -> config (only event= matters for the power PMU).
bool parse_event_config(const std::string& s, uint64_t& config) {
  auto p = s.find("event=");
  if (p == std::string::npos) return false;
  try {
    config = std::stoull(s.substr(p + 6), nullptr, 0);
  } catch (...) {
    return false;
  }
  return true;
}

}  // namespace

Status make_perf_meter(std::unique_ptr<EnergyMeter>& out, const std::string& root, FileReader reader, PerfApi api) {
  std::string type_s;
  JOULE_RETURN_IF_ERROR(reader(root + "/type", type_s).with_context("perf power PMU"));
  uint32_t type = 0;
  try {
    type = static_cast<uint32_t>(std::stoul(type_s));
  } catch (...) {
    return io_error(root + "/type: not a number: '" + type_s + "'");
  }
  std::vector<PerfEvent> events;
  for (const char* name : {"energy-pkg", "energy-ram"}) {
    std::string ev, scale_s, unit;
    std::string base = root + "/events/" + name;
    if (!reader(base, ev).is_ok()) continue;  // energy-ram is often absent
    uint64_t config = 0;
    if (!parse_event_config(ev, config)) return io_error(base + ": cannot parse '" + ev + "'");
    JOULE_RETURN_IF_ERROR(reader(base + ".scale", scale_s));
    JOULE_RETURN_IF_ERROR(reader(base + ".unit", unit));
    PerfEvent e;
    e.name = name;
    try {
      e.scale = std::stod(scale_s);
    } catch (...) {
      return io_error(base + ".scale: not a number: '" + scale_s + "'");
    }
    if (unit != "Joules") return io_error(base + ".unit: expected Joules, got '" + unit + "'");
    int fd = api.open(type, config, 0);
    if (fd < 0) {
      for (auto& o : events) api.close(o.fd);
      std::string why = std::strerror(-fd);
      if (-fd == EACCES || -fd == EPERM)
        why += " (needs CAP_PERFMON/root or kernel.perf_event_paranoid <= 0)";
      return io_error(std::string("perf_event_open power/") + name + ": " + why);
    }
    e.fd = fd;
    events.push_back(e);
  }
  if (events.empty()) return io_error(root + "/events: no energy-pkg event");
  out = std::make_unique<PerfMeter>(std::move(events), std::move(api));
  return Status::ok();
}

}  // namespace joule::energy
