#!/usr/bin/env bash
# Share of decode time spent in QuaRot's online Hadamards (R3 on Q and K, R4
# on the down_proj input) on pd-llama-6m w4a4kv4-quarot (RTN weights),
# decoding through the runtime-managed KV cache (quant-compile --kv-cache,
# lq_generate), 1 thread.
# Issue #7's goal: under 10%.
#
# Two measures:
#  1. perf: user-time samples (cpu-clock) of one long generation (3-token
#     prompt, GEN new tokens, so decode dominates), the share whose symbol is
#     lq_rt's Hadamard kernel (lq_rt_hadamard_f32, its ISA bodies
#     lq_rt::*::hadamard, the MLIR C wrapper). Does not count the copies the
#     model may make around the call.
#  2. A/B: decode tok/s of the same model with r3=false r4=false (R1/R2 are
#     fused offline and cost nothing at run time): 1 - tok/s(R1-R4) /
#     tok/s(R1,R2) counts everything the online transforms add, but on a
#     loaded machine its run-to-run noise (+-20%) is far above a ~1% cost;
#     this VM has no hardware counters (perf stat instructions: not
#     supported) to count work instead of time.
# The recipe's weights are GPTQ, which needs calibration, and a decode step
# with a runtime-managed cache cannot calibrate (its `position` input); the
# model here is the recipe with RTN weights instead: the same int4 weight
# format, so the same kernels at run time. The A/B variant is that pipeline
# with quarot{r3=false r4=false}: identical kernels apart from the Hadamards.
#
# Usage: bench/hadamard_decode_share.sh [BUILD] [CAPACITY] [GEN]
set -euo pipefail
BUILD=${1:-build}
CAP=${2:-640}
GEN=${3:-600}
BIN=$BUILD/bin
OUT=$BUILD/bench-hadamard-share
mkdir -p "$OUT" bench/results
M=models/pd-llama-6m
COMMON="--dim batch=1 --dim seq=1 --dim past_seq=1 --kv-cache $CAP"
load0=$(cut -d' ' -f1 /proc/loadavg)

QUANT="quantize-weights{bits=4 group=128},quantize-activations{format=int4},quantize-kv-cache{format=int4}"
"$BIN/quant-compile" -q $M/model_kv.onnx $COMMON -o "$OUT/quarot.so" \
  --pipeline "func.func(fold-norms,quarot{seed=0}),canonicalize,cse,func.func($QUANT)"
"$BIN/quant-compile" -q $M/model_kv.onnx $COMMON -o "$OUT/nohad.so" \
  --pipeline "func.func(fold-norms,quarot{seed=0 r3=false r4=false}),canonicalize,cse,func.func($QUANT)"

run() { "$BIN/quant-run" "$1" --tokens 1,450,23 --generate "$GEN" --threads 1 --json; }
toks() { /usr/bin/python3 -c "import json, sys; print(json.load(sys.stdin)['decode_tok_s'])"; }

# 1. perf samples.
perf record -q -e cpu-clock:u -F 4999 -o "$OUT/perf.data" -- \
  "$BIN/quant-run" "$OUT/quarot.so" --tokens 1,450,23 --generate "$GEN" --threads 1 > /dev/null 2>&1
perf report -i "$OUT/perf.data" --stdio --no-children --sort symbol 2>/dev/null > "$OUT/perf.txt"
share=$(/usr/bin/python3 - "$OUT/perf.txt" <<'EOF'
import re, sys
total = had = 0.0
top = []
for line in open(sys.argv[1]):
    m = re.match(r"\s*([0-9.]+)%\s+\[\.\]\s+(.*)", line)
    if not m:
        continue
    pct, sym = float(m.group(1)), re.sub(r"(\s+-)+\s*$", "", m.group(2)).strip()
    sym = sym.replace("(anonymous namespace)", "{anon}")
    sym = re.sub(r"\(.*", "", sym)  # the name, without the argument list
    total += pct
    if "hadamard" in sym.lower():
        had += pct
    if len(top) < 8:
        top.append(f"{pct:.1f}% {sym}")
print(f"{had:.1f}|{total:.1f}|" + "; ".join(top))
EOF
)
had=${share%%|*}; rest=${share#*|}; tot=${rest%%|*}; top=${rest#*|}

# 2. A/B, RUNS runs each, interleaved; best and median tok/s.
RUNS=${RUNS:-7}
vq=""; vn=""
for i in $(seq "$RUNS"); do
  vq="$vq $(run "$OUT/quarot.so" | toks)"
  vn="$vn $(run "$OUT/nohad.so" | toks)"
done
stats() { /usr/bin/python3 -c "import statistics as s, sys; v = [float(x) for x in sys.argv[1:]]; print(f'{max(v):.1f}|{s.median(v):.1f}')" $1; }
sq=$(stats "$vq"); sn=$(stats "$vn")
bq=${sq%|*}; mq=${sq#*|}; bn=${sn%|*}; mn=${sn#*|}
ab=$(/usr/bin/python3 -c "print(f'{100 * (1 - $bq / $bn):.1f}% (best), {100 * (1 - $mq / $mn):.1f}% (median)')")
load1=$(cut -d' ' -f1 /proc/loadavg)

{
  echo "# Online Hadamard (R3/R4) share of decode time, pd-llama-6m w4a4kv4-quarot (RTN weights)"
  echo
  echo "\`bench/hadamard_decode_share.sh $BUILD $CAP $GEN\` on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), 1 thread, 3-token prompt + $GEN decoded tokens through a $CAP-token KV cache; load average $load0 at the start, $load1 at the end (a shared machine: tok/s are noisy, the perf share less so)."
  echo
  echo "| measure | value |"
  echo "|---|---|"
  echo "| perf: user-time samples in lq_rt's Hadamard kernel | $had% (of $tot% attributed) |"
  echo "| decode tok/s, R1-R4, best / median of $RUNS | $bq / $mq |"
  echo "| decode tok/s, R1/R2 only (r3=false r4=false), best / median of $RUNS | $bn / $mn |"
  echo "| A/B: 1 - tok/s(R1-R4) / tok/s(R1,R2) | $ab |"
  echo
  echo "Top symbols (perf): $top"
  echo
  echo "The perf share is the figure to quote (issue #7's goal: under 10%); on this model it was 1.0-1.7% over four runs of this script on 2026-11-27 (load 6-10). The A/B tok/s difference is within the machine's noise. pd-llama-6m's transforms are small (R3: head 32, a power of two; R4: down_proj input 768 = 12·64); a model with an 11008-wide MLP (172·64) pays more per R4 call, as the dense 172-order step is compute-bound (bench/results/hadamard-cpu.md: 0.4-0.5 GB/s vs 3-6 GB/s for powers of two)."
} > "$OUT/table.md"
cp "$OUT/table.md" bench/results/hadamard-decode-share-pd-llama-6m.md
cat bench/results/hadamard-decode-share-pd-llama-6m.md
