// The standalone `quantize` binary: the same implementation as `joule quantize`.
#include <exception>
#include <iostream>
#include <vector>

#include "tools/cli/commands.h"

int main(int argc, char** argv) {
  // Re-shape argv as "joule quantize ARGS..." so both entry points parse identically.
  std::vector<char*> args{argv[0], const_cast<char*>("quantize")};
  for (int i = 1; i < argc; ++i) args.push_back(argv[i]);
  args.push_back(nullptr);
  try {
    return joule::cli::quantize_command(static_cast<int>(args.size() - 1), args.data());
  } catch (const std::exception& e) {
    std::cerr << "quantize: error: " << e.what() << "\n";
    return 1;
  }
}
