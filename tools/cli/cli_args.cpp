// Argument parsing for the joule CLIs.
#include "tools/cli/cli_args.h"

#include <cerrno>
#include <cstdlib>

namespace joule::cli {

Status parse_args(int argc, char** argv, int first, const std::set<std::string>& flags,
                  const std::set<std::string>& valued, const std::set<std::string>& multi, ParsedArgs& out) {
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (a.size() > 1 && a[0] == '-' && !(a.size() > 1 && (std::isdigit(static_cast<unsigned char>(a[1])) || a[1] == '.'))) {
      std::string key = a, value;
      bool has_eq = false;
      if (auto eq = a.find('='); eq != std::string::npos) {
        key = a.substr(0, eq);
        value = a.substr(eq + 1);
        has_eq = true;
      }
      if (flags.count(key)) {
        if (has_eq) return invalid_argument("option " + key + " takes no value");
        out.options[key].push_back("1");
      } else if (valued.count(key) || multi.count(key)) {
        if (!has_eq) {
          if (i + 1 >= argc) return invalid_argument("option " + key + " needs a value");
          value = argv[++i];
        }
        out.options[key].push_back(value);
        if (multi.count(key))
          while (i + 1 < argc && argv[i + 1][0] != '-') out.options[key].push_back(argv[++i]);
      } else {
        return invalid_argument("unknown option " + key + " (see --help)");
      }
    } else {
      out.positional.push_back(a);
    }
  }
  return Status::ok();
}

Status parse_shape_arg(const std::string& s, std::string& name, Shape& shape) {
  auto eq = s.rfind('=');
  if (eq == std::string::npos || eq == 0) return invalid_argument("--shape '" + s + "' must look like name=1x3x224x224");
  name = s.substr(0, eq);
  shape.clear();
  std::string dims = s.substr(eq + 1);
  size_t pos = 0;
  while (pos <= dims.size()) {
    size_t x = dims.find_first_of("x,", pos);
    std::string d = dims.substr(pos, x == std::string::npos ? std::string::npos : x - pos);
    if (d.empty() && dims.empty()) break;
    int64_t v;
    JOULE_RETURN_IF_ERROR(parse_int_option("--shape " + name, d, v));
    shape.push_back(v);
    if (x == std::string::npos) break;
    pos = x + 1;
  }
  return Status::ok();
}

Status parse_int_option(const std::string& opt, const std::string& s, int64_t& out) {
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || errno || !end || *end || v < 0) return invalid_argument(opt + ": '" + s + "' is not a non-negative integer");
  out = v;
  return Status::ok();
}

}  // namespace joule::cli
