#!/usr/bin/env bash
# W8A8 on pd-llama-6m: int8 x int8 GEMMs (lq_rt_linear_w8a8, the default
# lowering) vs the fake-quantized f32 path (convert-lq-to-runtime{int8-gemm=
# false}: dequantized activations through lq_rt_linear_q_f32), same model,
# same threads, runs interleaved (int, fake, int, fake, ...), medians.
#
#   bench/w8a8_speed.sh [BUILD] [ROUNDS]      (default: build, 5)
#   THREADS=2 bench/w8a8_speed.sh             (default: 1)
#
# Prefill: model.onnx at seq=128 with w8a8-smoothquant's pipeline (static
# per-tensor activation scales), calibrated on 128 random ids, 128-token
# prefill (quant-run --repeat 5). Decode: model_kv.onnx with a 256-token
# runtime-managed cache and w8a8-dynamic's pipeline (per-token scales; a
# KV-cache step cannot calibrate), 3-token prompt + 128 generated tokens.
# Also prints how far the two prefills' logits are apart. Writes
# bench/results/w8a8-pd-llama-6m.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
rounds=${2:-5}
threads=${THREADS:-1}
B=$build/bin
M=$root/models/pd-llama-6m
O=$build/bench-w8a8
mkdir -p "$O" "$root/bench/results"
/usr/bin/python3 -c "
import numpy as np
np.save('$O/ids128.npy', np.random.default_rng(0).integers(1, 4000, size=(1, 128)).astype(np.int64))"
sq="calibrate{tokens=$O/ids128.npy samples=1},func.func(smoothquant{alpha=0.5},quantize-weights{bits=8 group=-1},quantize-activations)"
dyn="func.func(quantize-weights{bits=8 group=-1},quantize-activations{granularity=per-token})"
fake=",convert-lq-to-runtime{int8-gemm=false}"
load0=$(cut -d' ' -f1-3 /proc/loadavg)
for v in int fake; do
  extra=""
  [ $v = fake ] && extra=$fake
  "$B/quant-compile" -q "$M/model.onnx" --dim batch=1 --dim seq=128 \
    --pipeline "$sq$extra" -o "$O/prefill-$v.so"
  "$B/quant-compile" -q "$M/model_kv.onnx" --dim batch=1 --dim seq=1 \
    --dim past_seq=1 --kv-cache 256 --pipeline "$dyn$extra" -o "$O/decode-$v.so"
done
"$B/quant-run" "$O/prefill-int.so" --tokens-file "$O/ids128.npy" --dump-logits "$O/int.npy" >/dev/null
"$B/quant-run" "$O/prefill-fake.so" --tokens-file "$O/ids128.npy" --dump-logits "$O/fake.npy" >/dev/null
: > "$O/runs.jsonl"
for ((i = 0; i < rounds; ++i)); do
  for v in int fake; do
    "$B/quant-run" "$O/prefill-$v.so" --tokens-file "$O/ids128.npy" --repeat 5 \
      --threads "$threads" --json | sed "s/^{/{\"variant\": \"$v\", \"kind\": \"prefill\", /" >> "$O/runs.jsonl"
    "$B/quant-run" "$O/decode-$v.so" --tokens 1,450,23 --generate 128 \
      --threads "$threads" --json | sed "s/^{/{\"variant\": \"$v\", \"kind\": \"decode\", /" >> "$O/runs.jsonl"
  done
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)
/usr/bin/python3 - "$O" "$threads" "$rounds" "$load0" "$load1" "$root/bench/results/w8a8-pd-llama-6m.md" <<'PY'
import json, statistics, sys
import numpy as np
O, threads, rounds, load0, load1, out = sys.argv[1:]
runs = [json.loads(l) for l in open(f"{O}/runs.jsonl")]
def med(kind, v):
    key = "prefill_tok_s" if kind == "prefill" else "decode_tok_s"
    return statistics.median(r[key] for r in runs if r["kind"] == kind and r["variant"] == v)
a, b = np.load(f"{O}/int.npy")[0], np.load(f"{O}/fake.npy")[0]
e = np.abs(a - b).max(-1) / np.abs(b).max()
same = [r["tokens"] for r in runs if r["kind"] == "decode"]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
L = ["# W8A8 on pd-llama-6m: int8 x int8 GEMMs vs the fake-quantized f32 path", "",
     f"`bench/w8a8_speed.sh` ({rounds} interleaved rounds, {threads} thread(s), medians) on {cpu}; "
     f"load average {load0} at the start, {load1} at the end (shared machine: compare the ratios).", "",
     "| | int8 x int8 (lq_rt_linear_w8a8) tok/s | fake-quant f32 tok/s | ratio |", "|---|---:|---:|---:|"]
for kind, what in (("prefill", "prefill, 128 tokens, w8a8-smoothquant (static per-tensor)"),
                   ("decode", "decode, 128 tokens after a 3-token prompt, w8a8-dynamic (per-token)")):
    i, f = med(kind, "int"), med(kind, "fake")
    L.append(f"| {what} | {i:.0f} | {f:.0f} | {i / f:.2f}x |")
L += ["", f"Prefill logits, int vs fake: median relative difference per position {np.median(e):.1e}, "
      f"max {e.max():.1e} (first position above 1e-5: "
      f"{int(np.argmax(e > 1e-5)) if (e > 1e-5).any() else 'none'}; consistent with an activation landing on "
      f"the other side of an int8 rounding boundary: the paths differ by ~1e-7 in f32, which moves about one "
      f"code in 1e5-1e6 by a whole step, and later positions attend to it), top-1 agreement "
      f"{float(np.mean(a.argmax(-1) == b.argmax(-1))):.3f}. Decode: the 128 generated tokens are "
      f"{'identical' if all(t == same[0] for t in same) else 'NOT identical'} in every run of both builds."]
open(out, "w").write("\n".join(L) + "\n")
print("\n".join(L))
PY
