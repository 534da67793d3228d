// Energy meters against fake sysfs trees, a fake perf_event API and a fake NVML.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "runtime/energy/energy_meter.h"

namespace fs = std::filesystem;
using namespace joule;
using namespace joule::energy;

namespace {

struct TempTree {
  fs::path root;
  TempTree() {
    root = fs::temp_directory_path() / ("joule_energy_" + std::to_string(::getpid()) + "_" + std::to_string(counter()++));
    fs::remove_all(root);
    fs::create_directories(root);
  }
  ~TempTree() { fs::remove_all(root); }
  void write(const std::string& rel, const std::string& text) {
    fs::create_directories((root / rel).parent_path());
    std::ofstream(root / rel) << text << "\n";
  }
  static int& counter() {
    static int c = 0;
    return c;
  }
};

void add_zone(TempTree& t, const std::string& dir, const std::string& name, uint64_t energy, uint64_t max_range) {
  t.write(dir + "/name", name);
  t.write(dir + "/energy_uj", std::to_string(energy));
  t.write(dir + "/max_energy_range_uj", std::to_string(max_range));
}

}  // namespace

TEST(RaplMeter, SumsPackageAndDram) {
  TempTree t;
  add_zone(t, "intel-rapl:0", "package-0", 1'000'000, 262143328850);
  add_zone(t, "intel-rapl:0:0", "core", 5, 262143328850);  // inside the package figure: ignored
  add_zone(t, "intel-rapl:0:1", "dram", 2'000'000, 65712999613);
  add_zone(t, "intel-rapl:1", "package-1", 10, 262143328850);
  std::unique_ptr<EnergyMeter> m;
  ASSERT_TRUE(make_rapl_meter(m, t.root.string()).is_ok());
  EXPECT_EQ(m->description(), "measured: RAPL package+dram via powercap");
  EXPECT_TRUE(m->measured());
  ASSERT_TRUE(m->start().is_ok());
  t.write("intel-rapl:0/energy_uj", "3500000");   // +2.5 J
  t.write("intel-rapl:0:1/energy_uj", "2250000"); // +0.25 J
  t.write("intel-rapl:0:0/energy_uj", "99999999");
  t.write("intel-rapl:1/energy_uj", "1000010");   // +1 J
  double j = 0;
  ASSERT_TRUE(m->stop(j).is_ok());
  EXPECT_NEAR(j, 3.75, 1e-9);
}

TEST(RaplMeter, HandlesWrapAround) {
  TempTree t;
  add_zone(t, "intel-rapl:0", "package-0", 999'000'000, 1'000'000'000);
  std::unique_ptr<EnergyMeter> m;
  ASSERT_TRUE(make_rapl_meter(m, t.root.string()).is_ok());
  EXPECT_EQ(m->description(), "measured: RAPL package via powercap");
  ASSERT_TRUE(m->start().is_ok());
  t.write("intel-rapl:0/energy_uj", "500000");  // wrapped: 1 J to the top, then 0.5 J
  double j = 0;
  ASSERT_TRUE(m->stop(j).is_ok());
  EXPECT_NEAR(j, 1.5, 1e-9);
}

TEST(RaplMeter, MissingTreeAndFiles) {
  TempTree t;
  std::unique_ptr<EnergyMeter> m;
  Status st = make_rapl_meter(m, (t.root / "nope").string());
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("no powercap"), std::string::npos);
  t.write("intel-rapl:0/name", "package-0");  // no energy_uj / max_energy_range_uj
  st = make_rapl_meter(m, t.root.string());
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("max_energy_range_uj"), std::string::npos) << st.message();
  TempTree empty;
  EXPECT_FALSE(make_rapl_meter(m, empty.root.string()).is_ok());
}

TEST(RaplMeter, PermissionDeniedIsExplained) {
  TempTree t;
  add_zone(t, "intel-rapl:0", "package-0", 1, 1000);
  // Tests run as root, so chmod 000 would not stop the read: inject the EACCES instead.
  FileReader denying = [](const std::string& path, std::string& out) -> Status {
    if (path.find("energy_uj") != std::string::npos && path.find("max_") == std::string::npos)
      return io_error(path + ": permission denied (RAPL energy counters are root-only on kernels patched for "
                             "CVE-2020-8694; run as root or `chmod o+r` the energy_uj files)");
    return read_sysfs_file(path, out);
  };
  std::unique_ptr<EnergyMeter> m;
  Status st = make_rapl_meter(m, t.root.string(), denying);
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("root"), std::string::npos);
  // The real reader explains EACCES the same way (only observable when not root).
  if (::geteuid() != 0) {
    fs::permissions(t.root / "intel-rapl:0/energy_uj", fs::perms::none);
    std::string s;
    Status r = read_sysfs_file((t.root / "intel-rapl:0/energy_uj").string(), s);
    EXPECT_NE(r.message().find("permission denied"), std::string::npos);
  }
}

TEST(RaplMeter, FrozenCounterIsAnError) {
  TempTree t;
  add_zone(t, "intel-rapl:0", "package-0", 1234, 1'000'000'000);
  std::unique_ptr<EnergyMeter> m;
  ASSERT_TRUE(make_rapl_meter(m, t.root.string()).is_ok());
  ASSERT_TRUE(m->start().is_ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(15));
  double j = 0;
  Status st = m->stop(j);
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("did not move"), std::string::npos);
}

TEST(PerfMeter, ReadsScaleAndCounts) {
  TempTree t;
  t.write("type", "23");
  t.write("events/energy-pkg", "event=0x02");
  t.write("events/energy-pkg.scale", "2.3283064365386962890625e-10");
  t.write("events/energy-pkg.unit", "Joules");
  uint64_t count = 1000;
  uint32_t seen_type = 0;
  uint64_t seen_config = 0;
  PerfApi api;
  api.open = [&](uint32_t type, uint64_t config, int) {
    seen_type = type;
    seen_config = config;
    return 7;
  };
  api.read = [&](int fd, uint64_t& v) {
    EXPECT_EQ(fd, 7);
    v = count;
    return Status::ok();
  };
  int closed = 0;
  api.close = [&](int) { ++closed; };
  {
    std::unique_ptr<EnergyMeter> m;
    ASSERT_TRUE(make_perf_meter(m, t.root.string(), read_sysfs_file, api).is_ok());
    EXPECT_EQ(seen_type, 23u);
    EXPECT_EQ(seen_config, 2u);
    EXPECT_EQ(m->description(), "measured: perf_event power/energy-pkg");
    ASSERT_TRUE(m->start().is_ok());
    count += uint64_t{1} << 32;  // 2^32 * 2^-32 J = 1 J
    double j = 0;
    ASSERT_TRUE(m->stop(j).is_ok());
    EXPECT_NEAR(j, 1.0, 1e-9);
  }
  EXPECT_EQ(closed, 1);
}

TEST(PerfMeter, MissingPmuAndPermission) {
  TempTree t;
  std::unique_ptr<EnergyMeter> m;
  EXPECT_FALSE(make_perf_meter(m, (t.root / "power").string()).is_ok());
  t.write("type", "23");
  t.write("events/energy-pkg", "event=0x02");
  t.write("events/energy-pkg.scale", "1e-6");
  t.write("events/energy-pkg.unit", "Joules");
  PerfApi api = default_perf_api();
  api.open = [](uint32_t, uint64_t, int) { return -EACCES; };
  Status st = make_perf_meter(m, t.root.string(), read_sysfs_file, api);
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("perf_event_paranoid"), std::string::npos) << st.message();
}

namespace {
// A fake NVML: a GPU drawing `watts`, with or without the total energy counter.
struct FakeGpu {
  std::atomic<double> watts{150.0};
  std::atomic<unsigned long long> energy_mj{5000};
  bool has_energy = true;
  int shutdowns = 0;
  NvmlApi api() {
    NvmlApi a;
    a.init = [] { return 0; };
    a.shutdown = [this] { return ++shutdowns, 0; };
    a.device_by_index = [](unsigned i, void** d) {
      *d = reinterpret_cast<void*>(0x1);
      return i == 0 ? 0 : 2;
    };
    a.device_name = [](void*, std::string& s) { return s = "Fake H100", 0; };
    if (has_energy) a.total_energy = [this](void*, unsigned long long& mj) { return mj = energy_mj.load(), 0; };
    a.power_usage = [this](void*, unsigned& mw) { return mw = static_cast<unsigned>(watts * 1000), 0; };
    return a;
  }
};
}  // namespace

TEST(NvmlMeter, UsesTotalEnergyCounter) {
  FakeGpu gpu;
  std::unique_ptr<EnergyMeter> m;
  ASSERT_TRUE(make_nvml_meter(m, gpu.api()).is_ok());
  EXPECT_EQ(m->description(), "measured: NVML total energy counter on Fake H100");
  ASSERT_TRUE(m->start().is_ok());
  gpu.energy_mj += 2500;
  double j = 0;
  ASSERT_TRUE(m->stop(j).is_ok());
  EXPECT_NEAR(j, 2.5, 1e-9);
  m.reset();
  EXPECT_EQ(gpu.shutdowns, 1);
}

TEST(NvmlMeter, FallsBackToSampledPower) {
  FakeGpu gpu;
  gpu.has_energy = false;
  std::unique_ptr<EnergyMeter> m;
  ASSERT_TRUE(make_nvml_meter(m, gpu.api(), 0, 5).is_ok());
  EXPECT_NE(m->description().find("NVML power sampled"), std::string::npos);
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(m->start().is_ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  double j = 0;
  ASSERT_TRUE(m->stop(j).is_ok());
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NEAR(j, 150.0 * secs, 150.0 * 0.03);  // constant 150 W integrates to 150 W x elapsed
}

TEST(NvmlMeter, FrozenCounterAndNoGpu) {
  FakeGpu gpu;
  std::unique_ptr<EnergyMeter> m;
  ASSERT_TRUE(make_nvml_meter(m, gpu.api()).is_ok());
  ASSERT_TRUE(m->start().is_ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(260));
  double j = 0;
  EXPECT_FALSE(m->stop(j).is_ok());
  EXPECT_FALSE(make_nvml_meter(m, gpu.api(), 3).is_ok());
}

TEST(EstimateMeter, ModelAndLabel) {
  double cpu = 10, wall = 100;
  Clocks c{[&] { return cpu; }, [&] { return wall; }};
  EstimateModel model = estimate_model_for("AMD EPYC 7763 64-Core Processor", 0, 2);
  EXPECT_DOUBLE_EQ(model.active_watts_per_core, 4.0);
  auto m = make_estimate_meter(model, c);
  EXPECT_FALSE(m->measured());
  EXPECT_EQ(m->description().rfind("estimated: ", 0), 0u);
  ASSERT_TRUE(m->start().is_ok());
  cpu += 3;   // 3 CPU-seconds (e.g. 2 threads for 1.5 s)
  wall += 2;  // 2 s wall
  double j = 0;
  ASSERT_TRUE(m->stop(j).is_ok());
  EXPECT_NEAR(j, 3 * 4.0 + 2 * 1.0 * 2, 1e-9);
  EXPECT_DOUBLE_EQ(estimate_model_for("Mystery CPU", 0, 1).active_watts_per_core, 5.0);
  EstimateModel over = estimate_model_for("AMD EPYC", 12.5, 1);
  EXPECT_DOUBLE_EQ(over.active_watts_per_core, 12.5);
  EXPECT_NE(over.source.find("--cpu-watts"), std::string::npos);
}

TEST(ChooseMeter, AlwaysLabelled) {
  std::vector<std::string> notes;
  auto m = choose_meter({"cpu", 0, 1}, notes);
  ASSERT_TRUE(m);
  std::string d = m->description();
  EXPECT_TRUE(d.rfind("measured: ", 0) == 0 || d.rfind("estimated: ", 0) == 0) << d;
  if (!m->measured()) EXPECT_GE(notes.size(), 2u);  // why RAPL and perf were not used
}

TEST(ChooseMeter, CudaWithoutNvmlFallsBackLabelled) {
  std::vector<std::string> notes;
  auto m = choose_meter({"cuda", 0, 1}, notes);
  ASSERT_TRUE(m);
  if (m->measured()) {
    EXPECT_NE(m->description().find("NVML"), std::string::npos);
  } else {
    EXPECT_EQ(m->description().rfind("estimated: ", 0), 0u);
    ASSERT_FALSE(notes.empty());
    EXPECT_EQ(notes[0].rfind("NVML: ", 0), 0u) << notes[0];
  }
}
