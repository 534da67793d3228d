// The joule subcommands. Each returns a process exit code and prints a one-line error on failure.
#pragma once

namespace joule::cli {

int run_command(int argc, char** argv);      // joule run
int inspect_command(int argc, char** argv);  // joule inspect
int quantize_command(int argc, char** argv); // joule quantize (and the standalone quantize binary)
int prune_command(int argc, char** argv);    // joule prune
int bench_command(int argc, char** argv);    // joule bench

}  // namespace joule::cli
