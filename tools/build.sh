#!/usr/bin/env bash
# Configures and builds joule into build/ (Release, ccache, -j2 by default).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${JOULE_BUILD_DIR:-build}
# Relative paths in ccache keys, so clones in other folders (CI) reuse the cache.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
JOBS=${JOULE_JOBS:-2}
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release ${JOULE_CMAKE_ARGS:-} >/dev/null
fi
cmake --build "$BUILD_DIR" -j "$JOBS"
