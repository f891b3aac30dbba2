#!/usr/bin/env bash
# objective=quality vs objective=speed for --assign-mixed-precision (metric=kl)
# on pd-llama-6m: decode tok/s through a KV cache (1 thread, best of 3, as
# bench/decode_recipes.sh) and KL vs float on eval.txt (quant-eval). The KL
# sensitivities come from bench/mixed_precision.sh's plan (sens-in=), so
# both objectives rank the same measurements; speed only drops the formats
# without a fused CPU kernel (int3-g128 here).
# Usage: bench/mixed_speed.sh [BUILD] [KL_PLAN] [MAX_WINDOWS]
set -euo pipefail
BUILD=${1:-build}
PLAN=${2:-$BUILD/bench-mixed-pd-llama-6m/kl-plan.json}
WINDOWS=${3:-50}
BIN=$BUILD/bin
OUT=$BUILD/bench-mixed-speed
mkdir -p "$OUT"
M=models/pd-llama-6m
# The KV-cache export names its linears differently ('/q_proj_1/MatMul' vs
# '/m/layers.1/q_proj/MatMul'); same order and shapes (checked here), so the
# decode build reads a copy of the plan without names.
"$BIN/quant-compile" $M/model_kv.onnx --dim batch=1 --dim seq=1 --dim past_seq=1 --list-linears 2>/dev/null |
  /usr/bin/python3 -c "
import json, sys
p = json.load(open('$PLAN'))
kv = [l.split() for l in sys.stdin if l[0].isdigit()]
assert [(int(i), s) for i, _, s in kv] == [(l['index'], '%dx%d' % tuple(l['shape'])) for l in p['layers']], 'linears differ'
for l in p['layers']: l['name'] = ''
json.dump(p, open('$OUT/kl-plan-kv.json', 'w'))"
AMP="assign-mixed-precision{candidates=int3-g128,int4-g128,int4-g64,int4-g32,int8 metric=kl"
declare -A P=([float]="" [w4a16-rtn]="func.func(quantize-weights{bits=4 group=128})"
              [int4-g32-rtn]="func.func(quantize-weights{bits=4 group=32})")
ORDER="float w4a16-rtn int4-g32-rtn"
for b in 4.5 5.0; do
  for o in quality speed; do
    P[mixed-kl-$b-$o]="func.func($AMP sens-in=$PLAN budget-bpw=$b objective=$o})"
    ORDER="$ORDER mixed-kl-$b-$o"
  done
done
CANDS=()
for r in $ORDER; do
  pipe=()
  [ -n "${P[$r]}" ] && pipe=(--pipeline "${P[$r]}")
  kvpipe=("${pipe[@]}")
  [ -n "${P[$r]}" ] && kvpipe=(--pipeline "${P[$r]//sens-in=$PLAN/sens-in=$OUT/kl-plan-kv.json}")
  "$BIN/quant-compile" -q $M/model_kv.onnx --dim batch=1 --dim seq=1 --dim past_seq=1 \
    --kv-cache 256 "${kvpipe[@]}" -o "$OUT/$r-kv.so" 2> "$OUT/$r-kv.log"
  "$BIN/quant-compile" -q $M/model.onnx --dim batch=1 --dim seq=256 "${pipe[@]}" \
    -o "$OUT/$r.so" 2> "$OUT/$r.log"
  [ "$r" = float ] || CANDS+=(--candidate "$OUT/$r.so")
done
"$BIN/quant-eval" -q --reference "$OUT/float.so" "${CANDS[@]}" --window 256 --max-windows "$WINDOWS" \
  --tokenizer $M/tokenizer.model --text $M/eval.txt --json "$OUT/eval.json" > /dev/null
# Decode: 10 interleaved rounds (the machine is shared: medians, not one run).
: > "$OUT/decode-rounds.txt"
for round in $(seq 10); do
  for r in $ORDER; do
    echo "$r $("$BIN/quant-run" "$OUT/$r-kv.so" --tokens 1,450,23 --generate 128 --threads 1 --json |
              /usr/bin/python3 -c "import json, sys; print(json.load(sys.stdin)['decode_tok_s'])")" >> "$OUT/decode-rounds.txt"
  done
done
for r in $ORDER; do grep -c -- '-> int3-g128' "$OUT/$r.log" | sed "s/^/$r /" || true; done > "$OUT/int3.txt"
/usr/bin/python3 - "$OUT" <<'PY' | tee "$OUT/table.md"
import collections, json, sys
out = sys.argv[1]
d = {x["name"][:-3]: x for x in json.load(open(out + "/eval.json"))["candidates"]}
t = collections.defaultdict(list)
for l in open(out + "/decode-rounds.txt"):
    n, v = l.split(); t[n].append(float(v))
int3 = dict(l.split() for l in open(out + "/int3.txt"))
f = sorted(t["float"])[len(t["float"]) // 2]
print("| model | decode tok/s (median of 10) | vs float | KL mean | top-1 | bpw | int3 linears |")
print("|---|---|---|---|---|---|---|")
for n, v in t.items():
    v.sort(); m = v[len(v) // 2]; c = d.get(n)
    kl, t1, bpw = ("%.3e" % c["kl_mean"], "%.4f" % c["top1"], "%.2f" % c["bpw"]) if c else ("-", "-", "32.00")
    print("| %s | %.0f | %.2fx | %s | %s | %s | %s |" % (n, m, m / f, kl, t1, bpw, int3.get(n, "0")))
PY
