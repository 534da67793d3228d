#!/usr/bin/env bash
# One call on a GPU machine (the device tool): build with the CUDA backend, run the CUDA unit tests,
# compute-sanitizer memcheck and racecheck on them, the kernel benchmark (with --check), and NVML joules.
# Everything it prints also lands in $OUT (or ./gpu_results) as log files, for bench/RESULTS.md.
#
#   bench/gpu/run_on_device.sh [--quick]     # --quick: smaller benchmark shape, skip racecheck
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-$PWD/gpu_results}
mkdir -p "$OUT"
BUILD=${JOULE_BUILD_DIR:-build-gpu}
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
export PATH=/usr/local/cuda/bin:$PATH
log() { echo "== $*" | tee -a "$OUT/summary.txt"; }

log "date $(date -u +%Y-%m-%dT%H:%M:%SZ)  host $(hostname)"
nvidia-smi --query-gpu=name,driver_version,memory.total,power.limit --format=csv 2>&1 | tee -a "$OUT/summary.txt"

# Build only what the GPU checks need (the ONNX model tests are the CPU CI's job).
if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DJOULE_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
    > "$OUT/configure.log" 2>&1 || { log "configure FAILED (see configure.log)"; tail -30 "$OUT/configure.log"; exit 1; }
fi
start=$(date +%s)
cmake --build "$BUILD" -j "$(nproc)" --target joule_tests joule_cuda_bench joule_cli > "$OUT/build.log" 2>&1 \
  || { log "build FAILED (see build.log)"; grep -E "error" "$OUT/build.log" | head -30; exit 1; }
log "build: $(( $(date +%s) - start )) s"

FILTER='Cuda*'
log "unit tests ($FILTER)"
"$BUILD/bin/joule_tests" --gtest_filter="$FILTER" 2>&1 | tee "$OUT/tests.log" | grep -E "^\[  (PASSED|FAILED|SKIPPED) |FAILED|Failure" | head -60
tests_rc=${PIPESTATUS[0]}
log "unit tests exit code $tests_rc"
if grep -q "no CUDA device" "$OUT/tests.log" && nvidia-smi -L >/dev/null 2>&1; then
  log "ERROR: nvidia-smi sees a GPU but the CUDA tests skipped (no CUDA device): driver/runtime mismatch?"
  grep -m1 "no CUDA device" "$OUT/tests.log"
  tests_rc=3
fi

if command -v compute-sanitizer >/dev/null; then
  log "compute-sanitizer memcheck"
  compute-sanitizer --tool memcheck --error-exitcode 9 "$BUILD/bin/joule_tests" --gtest_filter="$FILTER" > "$OUT/memcheck.log" 2>&1
  log "memcheck exit code $? (0 = clean; see memcheck.log)"
  tail -5 "$OUT/memcheck.log"
  if [ $QUICK = 0 ]; then
    log "compute-sanitizer racecheck (kernel tests with shared memory)"
    compute-sanitizer --tool racecheck --error-exitcode 9 "$BUILD/bin/joule_tests" \
      --gtest_filter='CudaQuantKernels.*:CudaKernels.Softmax*:CudaKernels.LayerNorm*:CudaKernels.Pooling*' > "$OUT/racecheck.log" 2>&1
    log "racecheck exit code $? (0 = clean; see racecheck.log)"
    tail -5 "$OUT/racecheck.log"
  fi
else
  log "compute-sanitizer not found"
fi

log "benchmarks"
if [ $QUICK = 1 ]; then
  "$BUILD/bin/joule_cuda_bench" --m 1024 --n 1024 --k 1024 --iters 20 --check 2>&1 | tee "$OUT/bench.log"
else
  "$BUILD/bin/joule_cuda_bench" --check 2>&1 | tee "$OUT/bench.log"
  "$BUILD/bin/joule_cuda_bench" --m 4096 --n 4096 --k 1023 --iters 20 --check 2>&1 | tee -a "$OUT/bench.log"
fi
log "done; logs in $OUT"
exit $tests_rc
