#!/usr/bin/env bash
# INT8 execution benchmark (bench/RESULTS.md "INT8 execution"): joule FP32 vs joule INT8 vs ONNX Runtime on the
# same INT8 model, 1 and 2 threads, interleaved per model so machine load hits all alike; cosine of each INT8
# output against joule's FP32 output.
#   bench/quant_int8_execution.sh BUILD_DIR NAME FP32.onnx INT8.onnx INPUT_DIR [REPEAT]
# Prints one markdown table row per thread count. Needs bench/peer (ORT) and /usr/bin/python3 with onnx.
set -euo pipefail
BUILD=$1 NAME=$2 FP32=$3 INT8=$4 INPUTS=$5 REPEAT=${6:-10}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TMP=$(mktemp -d /tmp/joule_int8_bench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
median() { sed -n 's/.*run median \([0-9.]*\) ms.*/\1/p' | tail -1; }
for T in 1 2; do
  jf=$("$BUILD/bin/joule" run "$FP32" --inputs "$INPUTS" --outputs "$TMP/f32" --threads $T --repeat $REPEAT --warmup 2 2>&1 | median)
  ji=$("$BUILD/bin/joule" run "$INT8" --inputs "$INPUTS" --outputs "$TMP/i8" --threads $T --repeat $REPEAT --warmup 2 2>&1 | median)
  oi=$(node "$ROOT/bench/peer/ort_run.js" "$INT8" --inputs "$INPUTS" --outputs "$TMP/ort" --threads $T --repeat $REPEAT --warmup 2 2>&1 | median)
  of=$(node "$ROOT/bench/peer/ort_run.js" "$FP32" --inputs "$INPUTS" --outputs "$TMP/ortf" --threads $T --repeat $REPEAT --warmup 2 2>&1 | median)
  cos=$(/usr/bin/python3 - "$TMP" <<'PY'
import sys, onnx, numpy as np
from onnx import numpy_helper
d = sys.argv[1]
def load(k): return numpy_helper.to_array(onnx.load_tensor(f"{d}/{k}/output_0.pb")).astype(np.float64).ravel()
f = load("f32")
def cos(x): return float(x @ f / (np.linalg.norm(x) * np.linalg.norm(f) + 1e-300))
print(f"{cos(load('i8')):.5f} / {cos(load('ort')):.5f}")
PY
)
  echo "| $NAME | $T | $jf | $ji | $(/usr/bin/python3 -c "print(f'{$jf/$ji:.2f}x')") | $oi | $of | $(/usr/bin/python3 -c "print(f'{$ji/$oi:.2f}x')") | $cos |"
done
