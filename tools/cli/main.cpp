// joule: the command-line front end (run, inspect; bench, quantize and prune as they land).
#include <cstring>
#include <iostream>
#include <string>

#include "tools/cli/commands.h"

namespace {
void usage(std::ostream& os) {
  os << "joule: ONNX inference with joules per inference\n\n"
        "usage: joule <command> [options]\n\n"
        "commands:\n"
        "  run      run a model on inputs from a folder and write its outputs\n"
        "  inspect  show a model's inputs, outputs, ops, parameters, MACs and memory\n"
        "  quantize write an INT8 (QDQ) copy of a model: calibration, sensitivity, float fallback\n"
        "  prune    remove whole channels (structured pruning) and write a smaller model\n"
        "  bench    latency, joules per inference and fidelity of models side by side\n\n"
        "'joule <command> --help' shows a command's options.\n";
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage(std::cerr);
    return 2;
  }
  std::string cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    usage(std::cout);
    return 0;
  }
  try {
    if (cmd == "run") return joule::cli::run_command(argc, argv);
    if (cmd == "inspect") return joule::cli::inspect_command(argc, argv);
    if (cmd == "quantize") return joule::cli::quantize_command(argc, argv);
    if (cmd == "prune") return joule::cli::prune_command(argc, argv);
    if (cmd == "bench") return joule::cli::bench_command(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "joule " << cmd << ": error: " << e.what() << "\n";
    return 1;
  }
  std::cerr << "joule: unknown command '" << cmd << "' (see joule --help)\n";
  return 2;
}
