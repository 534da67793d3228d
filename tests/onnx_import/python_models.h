// Test helper: runs a Python model generator (python3-onnx) once per version of the script.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace joule::testutil {

inline const char* python_path() { return "/usr/bin/python3"; }

/// True when /usr/bin/python3 can import onnx and numpy.
inline bool have_python_onnx() {
  static const bool ok = std::filesystem::exists(python_path()) &&
                         std::system("/usr/bin/python3 -c 'import onnx, numpy' >/dev/null 2>&1") == 0;
  return ok;
}

/// Runs `script OUT_DIR` and returns OUT_DIR, or "" when the script fails. The folder name carries the
/// script's modification time, so the many test processes ctest starts share one generation; a
/// temporary folder renamed into place keeps concurrent generators from seeing half-written files.
inline std::string generate_models(const std::string& script, const std::string& name) {
  namespace fs = std::filesystem;
  std::error_code ec;
  auto stamp = static_cast<uint64_t>(fs::last_write_time(script, ec).time_since_epoch().count());
  if (ec) return "";
  fs::path root = fs::path(JOULE_BINARY_DIR) / "test_out";
  fs::path dir = root / (name + "-" + std::to_string(stamp));
  if (fs::is_directory(dir)) return dir.string();
  fs::path tmp = root / (name + ".tmp." + std::to_string(::getpid()));
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  std::string cmd = std::string(python_path()) + " '" + script + "' '" + tmp.string() + "'";
  if (std::system(cmd.c_str()) != 0) return "";
  fs::rename(tmp, dir, ec);
  if (ec) fs::remove_all(tmp, ec);  // another process won the race; its folder is identical
  return fs::is_directory(dir) ? dir.string() : "";
}

}  // namespace joule::testutil
