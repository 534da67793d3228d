#!/usr/bin/env bash
# Fuzzes the ONNX importer and session builder with libFuzzer (clang, ASan + UBSan).
#
# usage: tools/fuzz.sh [--time SECONDS] [--build-dir DIR] [--jobs N] [-- extra libFuzzer flags]
#
# Configures DIR (default build-fuzz) with clang and -DJOULE_FUZZ=ON, builds import_fuzzer, seeds a
# corpus from the bad-model generator, the round-trip models and the libonnx-testdata node models,
# then fuzzes for SECONDS (default 60). Crashing inputs are written to DIR/fuzz_artifacts/.
# Exit status: 0 no crash, 77 skipped (no clang++), anything else a crash or a build failure.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root}
time=60
bdir=$root/build-fuzz
jobs=2
extra=()
while [ $# -gt 0 ]; do
  case $1 in
    --time) time=$2; shift 2 ;;
    --build-dir) bdir=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "fuzz.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

if ! command -v clang++ >/dev/null 2>&1 || ! command -v clang >/dev/null 2>&1; then
  echo "fuzz.sh: SKIP: clang/clang++ not found (apt-get install clang libclang-rt-14-dev)"
  exit 77
fi

# One fuzz build folder may be shared by several ctest runs (build-*/ folders): take turns.
mkdir -p "$bdir"
if command -v flock >/dev/null 2>&1 && [ -z "${JOULE_FUZZ_LOCKED:-}" ]; then
  export JOULE_FUZZ_LOCKED=1
  exec flock "$bdir/.fuzz.lock" "$0" --time "$time" --build-dir "$bdir" --jobs "$jobs" -- "${extra[@]}"
fi

if [ ! -f "$bdir/build.ninja" ]; then
  # -O1 with line tables only: ASan's usual trade-off, and about half the compile time of -O2 -g on this
  # library (the fuzz build is the slowest part of CI). Stack traces still name file:line.
  CC=clang CXX=clang++ cmake -S "$root" -B "$bdir" -G Ninja -DCMAKE_BUILD_TYPE=None \
    -DCMAKE_C_FLAGS="-O1 -gline-tables-only" -DCMAKE_CXX_FLAGS="-O1 -gline-tables-only" \
    -DJOULE_FUZZ=ON -DJOULE_BUILD_TESTS=OFF -DJOULE_BUILD_BENCH=OFF -DJOULE_CUDA=OFF >/dev/null
fi
cmake --build "$bdir" --target import_fuzzer -j"$jobs"

corpus=$bdir/fuzz_corpus
seeds=$bdir/fuzz_seeds
artifacts=$bdir/fuzz_artifacts
mkdir -p "$corpus" "$seeds/node" "$artifacts"
py=/usr/bin/python3
if [ -x "$py" ] && "$py" -c 'import onnx, numpy' 2>/dev/null; then
  [ -d "$seeds/bad" ] || "$py" "$root/tests/bad_models/make_bad_models.py" "$seeds/bad" >/dev/null
  [ -d "$seeds/roundtrip" ] || "$py" "$root/tests/onnx_import/make_roundtrip_models.py" "$seeds/roundtrip" >/dev/null
else
  echo "fuzz.sh: note: /usr/bin/python3 with onnx missing; seeding from libonnx-testdata only"
fi
testdata=/usr/share/libonnx-testdata/data
if [ -d "$testdata" ] && [ -z "$(ls -A "$seeds/node")" ]; then
  for m in "$testdata"/node/*/model.onnx "$testdata"/simple/*/model.onnx; do
    [ -f "$m" ] && [ "$(stat -c %s "$m")" -le 65536 ] && cp "$m" "$seeds/node/$(basename "$(dirname "$m")").onnx"
  done
fi
seed_dirs=()
for d in "$seeds"/*/; do [ -n "$(ls -A "$d")" ] && seed_dirs+=("$d"); done

echo "fuzz.sh: fuzzing for ${time}s (corpus $corpus, artifacts $artifacts)"
exec "$bdir/bin/import_fuzzer" "$corpus" "${seed_dirs[@]}" \
  -max_total_time="$time" -rss_limit_mb=2048 -timeout=10 -max_len=65536 \
  -artifact_prefix="$artifacts/" -print_final_stats=1 "${extra[@]}"
