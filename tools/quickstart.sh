#!/usr/bin/env bash
# Quick start: installs dependencies, builds, makes the demo model and runs joule on it.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
tools/build.sh
BUILD_DIR=${JOULE_BUILD_DIR:-build}
/usr/bin/python3 tests/models/make_demo_model.py --out "$BUILD_DIR/demo"
"$BUILD_DIR/bin/joule" inspect "$BUILD_DIR/demo/digits_cnn.onnx"
"$BUILD_DIR/bin/joule" run "$BUILD_DIR/demo/digits_cnn.onnx" --inputs "$BUILD_DIR/demo/samples/sample_000" \
  --outputs "$BUILD_DIR/demo/out" --repeat 20
