#!/usr/bin/env bash
# joule vs ONNX Runtime on the standard models of bench/models/export_models.py, measured interleaved.
#
#   bench/compare_ort.sh [--joule BIN] [--models DIR] [--runs N] [--warmup N] [--threads "1 2"] [--only "m1 m2"]
#                        [--runs-for NAME=N ...]
#
# For each model and thread count it runs, one after the other (joule, ORT, joule, ORT):
#   a one-inference process   (load time, and the CPU time of loading: the baseline subtracted below)
#   a timed process           (--warmup untimed + --runs timed inferences; the median latency; peak RSS)
# both under /usr/bin/time. CPU-seconds per inference = (user+sys of the timed process - user+sys of the
# one-inference process) / (warmup + runs - 1): the CPU the inferences burned, spinning workers included.
# The last table gives that figure at 2 threads over 1 thread (energy-aware threading target: <= 1.1).
# joule: `joule run MODEL --inputs DIR --threads N --warmup W --repeat R`;
# ORT:   `node bench/peer/ort_run.js MODEL --inputs DIR --threads N --warmup W --repeat R` (graph optimization
#        level 'all', inter-op threads 1).
# Models are exported first when missing (python3 with torch + onnx; large files, kept in the build folder).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
JOULE="${JOULE:-$ROOT/build/bin/joule}"
MODELS="$ROOT/build/bench_models"
RUNS=50
WARMUP=5
THREADS="1 2"
ONLY="resnet50 mobilenetv2 bert_base minilm_l6"
declare -A RUNS_FOR=()
while [ $# -gt 0 ]; do
  case "$1" in
    --joule) JOULE="$2"; shift 2 ;;
    --models) MODELS="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --only) ONLY="$2"; shift 2 ;;
    --runs-for) RUNS_FOR["${2%%=*}"]="${2#*=}"; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "compare_ort.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
[ -x "$JOULE" ] || { echo "compare_ort.sh: no joule binary at $JOULE (build it, or pass --joule BIN)" >&2; exit 2; }
[ -d "$ROOT/bench/peer/node_modules/onnxruntime-node" ] ||
  { echo "compare_ort.sh: ONNX Runtime peer missing: run bench/peer/install_ort.sh" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "compare_ort.sh: /usr/bin/time is needed (apt-get install time)" >&2; exit 2; }
"$PY" "$ROOT/bench/models/export_models.py" --out "$MODELS" --only $ONLY >&2

LOG="$(mktemp -d)"
trap 'rm -rf "$LOG"' EXIT

# measure ENGINE MODEL THREADS WARMUP REPEAT -> "median_ms load_ms cpu_s max_rss_kb"
measure() {
  local engine="$1" model="$MODELS/$2/model.onnx" inputs="$MODELS/$2/sample" t="$3" w="$4" r="$5" out="$LOG/out"
  local cmd
  if [ "$engine" = joule ]; then
    cmd=("$JOULE" run "$model" --inputs "$inputs" --threads "$t" --warmup "$w" --repeat "$r")
  else
    cmd=(node "$ROOT/bench/peer/ort_run.js" "$model" --inputs "$inputs" --threads "$t" --warmup "$w" --repeat "$r")
  fi
  /usr/bin/time -f "TIME %U %S %M" -o "$LOG/time" "${cmd[@]}" >"$out" 2>&1 || { cat "$out" >&2; return 1; }
  # joule: "load 12.3 ms, run median 4.5 ms (...)"; ORT: "load 12.3 ms" and "run median 4.5 ms (...)"
  local load run
  load=$(grep -o 'load [0-9.]* ms' "$out" | head -1 | awk '{print $2}')
  run=$(grep -o 'run \(median \)\?[0-9.]* ms' "$out" | head -1 | awk '{print $(NF-1)}')
  awk -v run="$run" -v load="$load" '/^TIME/ {printf "%s %s %.4f %s\n", run, load, $2 + $3, $4}' "$LOG/time"
}

echo "# joule vs ONNX Runtime: $(date -u '+%Y-%m-%d %H:%M UTC'), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg); joule $JOULE; warm-up $WARMUP; $(node "$ROOT/bench/peer/ort_run.js" --version | head -1)"
printf '| %-11s | %3s | %4s | %9s | %9s | %8s | %12s | %12s | %9s | %9s | %10s | %10s |\n' model thr runs "joule ms" "ORT ms" joule/ORT \
  "joule CPU-s" "ORT CPU-s" "joule MiB" "ORT MiB" "joule load" "ORT load"
echo "|-------------|-----|------|-----------|-----------|----------|--------------|--------------|-----------|-----------|------------|------------|"
declare -A CPU=()
for m in $ONLY; do
  runs="${RUNS_FOR[$m]:-$RUNS}"
  for t in $THREADS; do
    read -r _ j_load j_cpu1 _ < <(measure joule "$m" "$t" 0 1)
    read -r _ o_load o_cpu1 _ < <(measure ort "$m" "$t" 0 1)
    read -r j_ms _ j_cpu j_rss < <(measure joule "$m" "$t" "$WARMUP" "$runs")
    read -r o_ms _ o_cpu o_rss < <(measure ort "$m" "$t" "$WARMUP" "$runs")
    n=$((WARMUP + runs - 1))
    row=$(awk -v jm="$j_ms" -v om="$o_ms" -v jc="$j_cpu" -v jc1="$j_cpu1" -v oc="$o_cpu" -v oc1="$o_cpu1" -v n="$n" \
      -v jr="$j_rss" -v orr="$o_rss" -v jl="$j_load" -v ol="$o_load" -v m="$m" -v t="$t" -v r="$runs" 'BEGIN {
        jcs = (jc - jc1) / n; ocs = (oc - oc1) / n
        printf "| %-11s | %3d | %4d | %9.2f | %9.2f | %8.3f | %12.4f | %12.4f | %9.0f | %9.0f | %7.0f ms | %7.0f ms |\n",
               m, t, r, jm, om, jm / om, jcs, ocs, jr / 1024, orr / 1024, jl, ol
        printf "CPU %.6f %.6f\n", jcs, ocs }')
    echo "$row" | grep -v '^CPU'
    CPU["$m/$t"]=$(echo "$row" | awk '/^CPU/ {print $2, $3}')
  done
done
echo
echo "# CPU-seconds per inference at 2 threads / at 1 thread (target <= 1.1); load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| model       | joule 2T/1T | ORT 2T/1T |"
echo "|-------------|-------------|-----------|"
for m in $ONLY; do
  [ -n "${CPU[$m/1]:-}" ] && [ -n "${CPU[$m/2]:-}" ] || continue
  read -r j1 o1 <<<"${CPU[$m/1]}"
  read -r j2 o2 <<<"${CPU[$m/2]}"
  awk -v m="$m" -v j1="$j1" -v j2="$j2" -v o1="$o1" -v o2="$o2" \
    'BEGIN {printf "| %-11s | %11.2f | %9.2f |\n", m, (j1 > 0 ? j2 / j1 : 0), (o1 > 0 ? o2 / o1 : 0)}'
done
