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
# Variants: INT8 (static QDQ) and 30%-channel-pruned with reconstruction. The demo calibrates on its
# 40 evaluation samples, so its accuracy figures are in-sample; use a separate folder for real work.
"$BUILD_DIR/bin/joule" quantize "$DEMO/digits_cnn.onnx" -o "$DEMO/digits_cnn_int8.onnx" --calib "$DEMO/samples" \
  --report "$DEMO/quantize_report.txt" >/dev/null
"$BUILD_DIR/bin/joule" prune "$DEMO/digits_cnn.onnx" -o "$DEMO/digits_cnn_pruned30.onnx" --ratio 0.3 \
  --calib "$DEMO/samples" --reconstruct --report "$DEMO/prune_report.txt" >/dev/null
# INT4 weights (the classifier Gemm as com.microsoft MatMulNBits, GPTQ rounding on the same samples).
"$BUILD_DIR/bin/joule" quantize "$DEMO/digits_cnn.onnx" -o "$DEMO/digits_cnn_int4.onnx" --int4 --method gptq \
  --calib "$DEMO/samples" --report "$DEMO/quantize_int4_report.txt" >/dev/null
# Prune, then quantize: the pruned model with INT8 weights and activations (the passes compose).
"$BUILD_DIR/bin/joule" quantize "$DEMO/digits_cnn_pruned30.onnx" -o "$DEMO/digits_cnn_pruned30_int8.onnx" \
  --calib "$DEMO/samples" >/dev/null
# The variants compared with the FP32 reference (the first): one line each.
VARIANTS=(
  "$DEMO/digits_cnn.onnx"
  "$DEMO/digits_cnn_int8.onnx"
  "$DEMO/digits_cnn_int4.onnx"
  "$DEMO/digits_cnn_pruned30.onnx"
  "$DEMO/digits_cnn_pruned30_int8.onnx"
)
"$BUILD_DIR/bin/joule" bench "${VARIANTS[@]}" --eval "$DEMO/samples" --labels "$DEMO/labels.txt" \
  --csv "$DEMO/emissions.csv" --plot "$DEMO/bench.svg"
echo "quickstart: wrote $DEMO/emissions.csv (CodeCarbon columns) and $DEMO/bench.svg"
