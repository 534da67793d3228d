#!/usr/bin/env bash
# Quick start: installs dependencies, builds, makes the demo model and runs `joule bench` on it.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
tools/build.sh
BUILD_DIR=${JOULE_BUILD_DIR:-build}
DEMO="$BUILD_DIR/demo"
/usr/bin/python3 tests/models/make_demo_model.py --out "$DEMO"
"$BUILD_DIR/bin/joule" inspect "$DEMO/digits_cnn.onnx"
# The variants compared with the FP32 reference: one line each (the quantization and pruning
# issues add theirs here, e.g. "$DEMO/digits_cnn_int8.onnx").
VARIANTS=(
  "$DEMO/digits_cnn.onnx"
)
"$BUILD_DIR/bin/joule" bench "${VARIANTS[@]}" --eval "$DEMO/samples" --labels "$DEMO/labels.txt" \
  --csv "$DEMO/emissions.csv" --plot "$DEMO/bench.svg"
echo "quickstart: wrote $DEMO/emissions.csv (CodeCarbon columns) and $DEMO/bench.svg"
