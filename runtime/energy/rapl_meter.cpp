// RAPL through Linux powercap: sums package and DRAM zones, handles counter wrap-around.
//
// Layout: <root>/intel-rapl:N/{name,energy_uj,max_energy_range_uj} is package N ("package-N");
// <root>/intel-rapl:N:M/ are its subzones ("core", "uncore", "dram"); only "dram" is added, since
// core/uncore are already inside the package figure. energy_uj counts microjoules and wraps to 0
// after max_energy_range_uj, so a reading lower than the start means one wrap.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "runtime/energy/energy_meter.h"

namespace joule::energy {

namespace fs = std::filesystem;

Status read_sysfs_file(const std::string& path, std::string& out) {
  errno = 0;
  std::ifstream f(path);
  if (!f) {
    int e = errno;
    if (e == EACCES || e == EPERM)
      return io_error(path + ": permission denied (RAPL energy counters are root-only on kernels patched for "
                             "CVE-2020-8694; run as root or `chmod o+r` the energy_uj files)");
    return io_error(path + ": cannot read (" + std::string(e ? std::strerror(e) : "missing") + ")");
  }
  std::stringstream ss;
  ss << f.rdbuf();
  out = ss.str();
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return Status::ok();
}

namespace {

Status read_u64(const FileReader& reader, const std::string& path, uint64_t& v) {
  std::string s;
  JOULE_RETURN_IF_ERROR(reader(path, s));
  try {
    size_t used = 0;
    v = std::stoull(s, &used);
    if (used == 0) throw std::invalid_argument("empty");
  } catch (...) {
    return io_error(path + ": not a number: '" + s + "'");
  }
  return Status::ok();
}

struct Zone {
  std::string dir;    // e.g. <root>/intel-rapl:0
  std::string name;   // package-0, dram
  uint64_t max_range = 0;
  uint64_t start = 0;
};

class RaplMeter : public EnergyMeter {
 public:
  RaplMeter(std::vector<Zone> zones, FileReader reader, bool has_dram)
      : zones_(std::move(zones)), reader_(std::move(reader)), has_dram_(has_dram) {}

  Status start() override {
    for (auto& z : zones_) JOULE_RETURN_IF_ERROR(read_u64(reader_, z.dir + "/energy_uj", z.start));
    t0_ = std::chrono::steady_clock::now();
    return Status::ok();
  }

  Status stop(double& joules) override {
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    uint64_t total_uj = 0;
    bool any_moved = false;
    for (auto& z : zones_) {
      uint64_t now = 0;
      JOULE_RETURN_IF_ERROR(read_u64(reader_, z.dir + "/energy_uj", now));
      // One wrap at most between start and stop (a package at 200 W wraps a 2^32 uJ range in ~6 h).
      uint64_t delta = now >= z.start ? now - z.start : (z.max_range - z.start) + now;
      if (delta != 0) any_moved = true;
      total_uj += delta;
    }
    // The counters update every ~1 ms; a package uses energy even when idle, so no change over
    // 10 ms or more means the counter is frozen (some VMs expose it that way).
    if (!any_moved && elapsed >= 0.01)
      return io_error("RAPL counters in " + zones_.front().dir + " did not move over " + std::to_string(elapsed) +
                      " s (frozen counter, e.g. in a VM)");
    joules = static_cast<double>(total_uj) * 1e-6;
    return Status::ok();
  }

  std::string description() const override {
    return std::string("measured: RAPL package") + (has_dram_ ? "+dram" : "") + " via powercap";
  }
  bool measured() const override { return true; }

 private:
  std::vector<Zone> zones_;
  FileReader reader_;
  bool has_dram_;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace

Status make_rapl_meter(std::unique_ptr<EnergyMeter>& out, const std::string& root, FileReader reader) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return io_error(root + ": no powercap interface (RAPL not exposed)");
  std::vector<std::string> dirs;
  for (auto& e : fs::directory_iterator(root, ec)) {
    std::string n = e.path().filename().string();
    if (n.rfind("intel-rapl:", 0) == 0) dirs.push_back(e.path().string());
  }
  std::sort(dirs.begin(), dirs.end());
  std::vector<Zone> zones;
  bool has_dram = false;
  for (auto& d : dirs) {
    std::string leaf = fs::path(d).filename().string();
    bool sub = std::count(leaf.begin(), leaf.end(), ':') == 2;  // intel-rapl:N:M
    Zone z;
    z.dir = d;
    if (!reader(d + "/name", z.name).is_ok()) continue;
    if (sub && z.name != "dram") continue;
    if (!sub && z.name.rfind("package", 0) != 0) continue;  // psys and others overlap the packages
    JOULE_RETURN_IF_ERROR(read_u64(reader, d + "/max_energy_range_uj", z.max_range));
    uint64_t probe = 0;
    JOULE_RETURN_IF_ERROR(read_u64(reader, d + "/energy_uj", probe));  // explains EACCES early
    if (sub) has_dram = true;
    zones.push_back(std::move(z));
  }
  if (zones.empty()) return io_error(root + ": no RAPL package zones (intel-rapl:N with name package-N)");
  out = std::make_unique<RaplMeter>(std::move(zones), std::move(reader), has_dram);
  return Status::ok();
}

}  // namespace joule::energy
