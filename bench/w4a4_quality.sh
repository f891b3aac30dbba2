#!/usr/bin/env bash
# W4A4 / W4A4KV4 / W4A16 / W8A8 with and without QuaRot (issue #7, part 5):
# quant-eval against float32 on pd-llama-6m and on stories260K.
#
#   bench/w4a4_quality.sh [BUILD] [PD_WINDOWS] [STORIES_EVAL_SEQS] [STORIES_CAL_SEQS]
#
# pd-llama-6m: PD_WINDOWS windows of 256 tokens of models/pd-llama-6m/eval.txt
# (held out); calibration (GPTQ Hessians, static W8A8 ranges) on 32 samples of
# data/calibration.txt. The named recipes of quant-compile are compiled with
# --recipe; the extra rows (QuaRot with RTN weights, W8A8 variants) with
# --pipeline. stories260K has no tokenizer: as in bench/stories_quality.sh,
# the text is sequences sampled from the float model (reused from
# $BUILD/bench-stories when that script ran before), and since its MLP width
# 172 = 4·43 admits no group of 128, its weights are quantized per output
# channel (group=-1); otherwise the pipelines are the recipes'.
#
# w8a4 rows (int8 weights, int4 activations) separate the activations' share
# of the W4A4 error from the weights'.
#
# Writes bench/results/w4a4-pd-llama-6m.{md,json} and
# bench/results/w4a4-stories260K.{md,json}: the tables, then the reading
# written by hand under "## Reading", which a rerun keeps.
set -euo pipefail
BUILD=${1:-build}
PD_WINDOWS=${2:-40}
NEVAL=${3:-24}
NCAL=${4:-8}
BIN=$BUILD/bin
WINDOW=256
mkdir -p bench/results

ROT='func.func(fold-norms,quarot{seed=0}),canonicalize,cse'
A4='quantize-activations{format=int4}'
KV4='quantize-kv-cache{format=int4}'
A8D='quantize-activations{granularity=per-token}' # int8, dynamic
A8S='quantize-activations'
W8='quantize-weights{bits=8 group=-1}'

# pipelines G CAL CALH: the rows, as "name|pipeline" lines (G: weight group).
pipelines() {
  local G=$1 CAL=$2 CALH=$3
  local W4="quantize-weights{bits=4 group=$G}"
  local GPTQ="gptq{bits=4 group=$G},quantize-weights"
  cat <<EOF
w4a4-rtn|func.func($W4,$A4)
w4a4kv4-rtn|func.func($W4,$A4,$KV4)
quarot-w4a4-rtn|$ROT,func.func($W4,$A4)
quarot-w4a4kv4-rtn|$ROT,func.func($W4,$A4,$KV4)
quarot-w4a4-gptq|$ROT,$CALH,func.func($GPTQ,$A4)
w4a4kv4-quarot|$ROT,$CALH,func.func($GPTQ,$A4,$KV4)
w8a4-rtn|func.func($W8,$A4)
quarot-w8a4-rtn|$ROT,func.func($W8,$A4)
w4a16-rtn|func.func($W4)
w4a16-gptq|$CALH,func.func($GPTQ)
w4a16-quarot-gptq|$ROT,$CALH,func.func($GPTQ)
w8a8-dynamic|func.func($W8,$A8D)
quarot-w8a8-dynamic|$ROT,func.func($W8,$A8D)
w8a8-static|$CAL,func.func($W8,$A8S)
quarot-w8a8-static|$ROT,$CAL,func.func($W8,$A8S)
EOF
}

# The hand-written "## Reading" section of a results file, if any.
reading() { [ -f "$1" ] && sed -n '/^## Reading/,$p' "$1" || true; }

# run MODEL_LABEL OUT COMPILE_ARGS... -- EVAL_ARGS...: compile every row and
# evaluate all of them against float.
run() {
  local label=$1 out=$2
  shift 2
  local cargs=() eargs=()
  while [ "$1" != "--" ]; do cargs+=("$1"); shift; done
  shift
  eargs=("$@")
  local cands=()
  : > "$out/pipelines.txt"
  while IFS='|' read -r name pipe; do
    echo "== $label $name" >&2
    echo "$name: $pipe" >> "$out/pipelines.txt"
    "$BIN/quant-compile" -q "${cargs[@]}" --pipeline "$pipe" -o "$out/$name.so" \
      < /dev/null 2> "$out/$name.log" || { cat "$out/$name.log" >&2; exit 1; }
    cands+=(--candidate "$out/$name.so")
  done
  "$BIN/quant-eval" -q --reference "$out/float.so" "${cands[@]}" "${eargs[@]}" \
    --json "bench/results/w4a4-$label.json" > "$out/table.txt"
}

# --- pd-llama-6m -------------------------------------------------------------
MODEL=models/pd-llama-6m
OUT=$BUILD/bench-w4a4-pd
mkdir -p "$OUT"
TOK="$MODEL/tokenizer.model"
CARGS=("$MODEL/model.onnx" --dim batch=1 --dim seq=$WINDOW
       --calibration-text data/calibration.txt --tokenizer "$TOK" --calibration-samples 32)
"$BIN/quant-compile" -q "${CARGS[@]}" -o "$OUT/float.so"
# The recipes' own pipelines must be the rows' (checked, so the table is the
# recipes' quality).
for r in w4a4-rtn w4a4kv4-rtn w4a4kv4-quarot w4a16-gptq w4a16-quarot-gptq w8a8-dynamic; do
  want=$(pipelines 128 '{cal}' '{cal-h}' | grep "^$r|" | cut -d'|' -f2)
  got=$("$BIN/quant-compile" "${CARGS[@]}" --recipe $r --print-pipeline)
  exp=$("$BIN/quant-compile" "${CARGS[@]}" --pipeline "$want" --print-pipeline)
  [ "$got" = "$exp" ] || { echo "recipe $r differs from its row:"; echo "$got"; echo "$exp"; exit 1; } >&2
done
PD_READING=$(reading bench/results/w4a4-pd-llama-6m.md)
pipelines 128 '{cal}' '{cal-h}' | run pd-llama-6m "$OUT" "${CARGS[@]}" -- \
  --window $WINDOW --max-windows "$PD_WINDOWS" --tokenizer "$TOK" --text "$MODEL/eval.txt"
{
  echo "# W4A4 / W4A4KV4 / W4A16 / W8A8, with and without QuaRot, on pd-llama-6m (quant-eval vs float32)"
  echo
  echo "\`bench/w4a4_quality.sh $BUILD $PD_WINDOWS $NEVAL $NCAL\`: $PD_WINDOWS windows of $WINDOW tokens of"
  echo "\`$MODEL/eval.txt\`; calibration 32 samples of data/calibration.txt."
  echo
  cat "$OUT/table.txt"
  echo
  echo "Pipelines (\`{cal}\`/\`{cal-h}\`: --calibrate without/with Hessians):"
  echo
  sed 's/^/    /' "$OUT/pipelines.txt"
  [ -z "$PD_READING" ] || printf '\n%s\n' "$PD_READING"
} > bench/results/w4a4-pd-llama-6m.md

# --- stories260K -------------------------------------------------------------
SMODEL=models/stories260K/stories260K.onnx
SOUT=$BUILD/bench-stories
OUT=$BUILD/bench-w4a4-stories
mkdir -p "$SOUT" "$OUT"
"$BIN/quant-compile" -q "$SMODEL" --input-shape input_ids=1x$WINDOW -o "$OUT/float.so"
. bench/stories_sample.sh
sample() { stories_sample "$OUT/float.so" "$WINDOW" "$@"; }
# Same seeds as bench/stories_quality.sh (1000.., 2000..).
[ -f "$SOUT/eval.npy" ] || sample 1000 "$NEVAL" "$SOUT/eval.npy"
[ -f "$SOUT/cal.npy" ] || sample 2000 "$NCAL" "$SOUT/cal.npy"
SCAL="tokens=$SOUT/cal.npy samples=$NCAL seq-len=$WINDOW"
ST_READING=$(reading bench/results/w4a4-stories260K.md)
pipelines -1 "calibrate{$SCAL}" "calibrate{$SCAL hessian=true}" |
  run stories260K "$OUT" "$SMODEL" --input-shape input_ids=1x$WINDOW -- \
    --tokens-file "$SOUT/eval.npy" --window $WINDOW
{
  echo "# W4A4 / W4A4KV4 / W4A16 / W8A8, with and without QuaRot, on stories260K (quant-eval vs float32)"
  echo
  echo "\`bench/w4a4_quality.sh $BUILD $PD_WINDOWS $NEVAL $NCAL\`: $NEVAL sequences of $WINDOW tokens sampled"
  echo "from the float model (seeds 1000..), calibration $NCAL other sampled sequences (seeds 2000..);"
  echo "weights per output channel (172 = 4·43 admits no group of 128)."
  echo
  cat "$OUT/table.txt"
  echo
  echo "Pipelines:"
  echo
  sed 's/^/    /' "$OUT/pipelines.txt"
  [ -z "$ST_READING" ] || printf '\n%s\n' "$ST_READING"
} > bench/results/w4a4-stories260K.md
cat bench/results/w4a4-pd-llama-6m.md bench/results/w4a4-stories260K.md
