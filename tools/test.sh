#!/usr/bin/env bash
# Runs every test: installs dependencies, builds, then ctest (unit tests, ONNX conformance, end-to-end,
# bad-model corpus, install and fuzz smoke tests). Extra arguments go to ctest (e.g. -R conformance).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
# ONNX Runtime (npm onnxruntime-node) is the second opinion in the end-to-end tests; without it they
# skip that comparison with a printed reason.
bench/peer/install_ort.sh >/dev/null 2>&1 || echo "test: ONNX Runtime peer not installed (npm unreachable?); ORT comparisons will be skipped"
tools/build.sh
BUILD_DIR=${JOULE_BUILD_DIR:-build}
cd "$BUILD_DIR"
status=0
ctest --output-on-failure -j 2 "$@" || status=$?
# The conformance counts, for the log.
grep -h -E "^(conformance:|known failures|ops without an implementation)" Testing/Temporary/LastTest.log 2>/dev/null | cut -c1-600 || true
exit $status
