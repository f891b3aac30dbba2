#!/usr/bin/env bash
# Wall time of quant-compile for every recipe of `quant-compile --list-recipes`
# on pd-llama-6m (batch 1, seq 128; the calibration flags of README's example
# for every recipe: a recipe that does not calibrate ignores them), with the
# stage times quant-compile prints (graph ready / lowered = import + recipe +
# lowering / LLVM IR optimized / object written) and the 1-minute load
# average before and after each compile (the machine is shared: read the
# seconds next to the load).
# Usage: bench/recipe_times.sh [BUILD] [RECIPES...]
#   (default: every listed recipe) -> bench/results/recipe-times-pd-llama-6m.md
set -euo pipefail
BUILD=${1:-build}
shift || true
BIN=$BUILD/bin
OUT=$BUILD/bench-recipe-times
MODEL=models/pd-llama-6m/model.onnx
mkdir -p "$OUT" bench/results
if [ $# -gt 0 ]; then RECIPES=("$@"); else
  mapfile -t RECIPES < <("$BIN/quant-compile" --list-recipes | cut -f1)
fi
load() { cut -d' ' -f1 /proc/loadavg; }
footer() {  # $1: the results file; recipes over 30 s, from its table
  local md=$1
  echo
  echo "Over 30 s wall (the issue's budget for the whole model through a recipe, on this 2-core"
  echo "machine; read it next to the load: CPU s counts both cores):"
  awk -F'|' '/^\| [a-z0-9]/ && $3+0 > 30 {printf "%s%s (%.1f s wall, %.1f CPU s)", sep, $2, $3, $4; sep=","} END {if (!sep) printf " none"; print ""}' "$md" | sed 's/  */ /g'
  echo
  echo "mixed-<bpw> (metric=kl) measures the KL of the model's output with each (linear, format)"
  echo "pair quantized alone: 211 pairs x kl-samples windows (min(4, --calibration-samples)) of model"
  echo "runs, by design; --calibration-samples 2 halves the windows."
  echo "w4a4kv4-spinquant without --rotations learns R1/R2 in the pass (100 Cayley SGD steps of"
  echo "4 calibration windows through libtorch); with --rotations DIR it only fuses them."
}
ROWS=()
for r in "${RECIPES[@]}"; do
  l0=$(load)
  status=ok
  start=$(date +%s.%N)
  /usr/bin/time -f '%U %S' -o "$OUT/$r.cpu" "$BIN/quant-compile" "$MODEL" --dim batch=1 --dim seq=128 --recipe "$r" \
    --calibration-text data/calibration.txt --tokenizer models/pd-llama-6m/tokenizer.model \
    -o "$OUT/$r.so" 2> "$OUT/$r.log" > /dev/null || status="FAILED (see $OUT/$r.log)"
  secs=$(echo "$(date +%s.%N) - $start" | bc)
  l1=$(load)
  cpu=$(awk '{printf "%.1f", $1 + $2}' "$OUT/$r.cpu")
  # stage timestamps (seconds since start) from quant-compile's progress lines
  st() { grep -o "$1 ([0-9.]* s)" "$OUT/$r.log" | grep -o '[0-9.]*' | head -1 || true; }
  [ "$status" = ok ] || { ROWS+=("| $r | $status | | | | | | |"); echo "$r: $status" >&2; continue; }
  row=$(printf '| %s | %.1f | %s | %s | %s | %s | %s | %s / %s |' "$r" "$secs" "$cpu" \
    "$(st 'graph ready')" "$(st lowered)" "$(st 'LLVM IR optimized')" "$(st 'object written')" "$l0" "$l1")
  echo "$row" >&2
  ROWS+=("$row")
done
{
  echo "# quant-compile time per recipe, pd-llama-6m (batch 1, seq 128)"
  echo
  echo "\`bench/recipe_times.sh $BUILD\` on $(nproc) cores shared with other jobs, $(date -u '+%Y-%m-%d %H:%M UTC')."
  echo "Stage columns are quant-compile's own progress stamps (seconds since start): graph ready ="
  echo "import + raise; lowered = + calibration + recipe passes + lowering to LLVM dialect;"
  echo "then LLVM -O optimization and object emission. Load = 1-minute load average before / after.
CPU s is the process's user + system time (all its threads): on a loaded machine it is the
better guide to the compile's own cost than the wall time."
  echo
  echo "| recipe | seconds (wall) | CPU s (user+sys) | graph ready | lowered | LLVM IR optimized | object written | load |"
  echo "|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
} > bench/results/recipe-times-pd-llama-6m.md
footer bench/results/recipe-times-pd-llama-6m.md >> bench/results/recipe-times-pd-llama-6m.md
cat bench/results/recipe-times-pd-llama-6m.md
