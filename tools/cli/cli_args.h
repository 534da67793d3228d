// Small argument parser shared by the joule subcommands: positionals, --flag, --opt VALUE, repeated options.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "joule/status.h"
#include "joule/tensor.h"

namespace joule::cli {

/// Parsed command line: positionals in order, options by name (repeatable ones keep every value).
struct ParsedArgs {
  std::vector<std::string> positional;
  std::map<std::string, std::vector<std::string>> options;
  bool has(const std::string& k) const { return options.count(k) != 0; }
  std::string get(const std::string& k, const std::string& def = "") const {
    auto it = options.find(k);
    return it == options.end() || it->second.empty() ? def : it->second.back();
  }
  const std::vector<std::string>& all(const std::string& k) const {
    static const std::vector<std::string> empty;
    auto it = options.find(k);
    return it == options.end() ? empty : it->second;
  }
};

/// `flags` take no value; `valued` take one (a value may also follow '='); `multi` valued options
/// consume following non-option words too (e.g. --keep-float A B C).
Status parse_args(int argc, char** argv, int first, const std::set<std::string>& flags,
                  const std::set<std::string>& valued, const std::set<std::string>& multi, ParsedArgs& out);

/// Parses "name=1x3x224x224" into a name and a shape.
Status parse_shape_arg(const std::string& s, std::string& name, Shape& shape);

/// Parses a non-negative integer option, naming the option on error.
Status parse_int_option(const std::string& opt, const std::string& s, int64_t& out);

}  // namespace joule::cli
