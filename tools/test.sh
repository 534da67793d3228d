#!/usr/bin/env bash
# Runs every test: installs dependencies, builds, then ctest (unit tests, conformance, end-to-end).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
tools/build.sh
BUILD_DIR=${JOULE_BUILD_DIR:-build}
cd "$BUILD_DIR"
ctest --output-on-failure -j 2 "$@"
