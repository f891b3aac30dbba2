#!/usr/bin/env bash
# bench/kv_cache.sh: what a quantized KV cache (--quantize-kv-cache, via
# quant-compile --kv-format) costs and buys on pd-llama-6m.
#
#  1. Quality: quant-eval on model.onnx with keys/values quantized in place
#     (exactly what a cache of that format hands attention, see
#     test/Integration/CPU/quantized-kv-cache.mlir), float weights, against
#     float: int8, FP8 E4M3/E5M2, int4, and int4 after QuaRot (R3 only: the
#     Hadamard on K after RoPE; and all of R1-R4). 1b: the same on a copy
#     whose keys have outlier channels (bench/inject_kv_outliers.py, float
#     function unchanged), as large LLMs' keys do.
#  2. A long decode through the runtime-managed cache: the float-cache model
#     generates N tokens greedily; each quantized-cache model is teacher-forced
#     on the same tokens (quant-run --force-tokens); KL and top-1 agreement of
#     the per-step logits, overall and past token 512.
#  3. Memory: cache bytes per token and the context a 1 GiB budget holds
#     (quant-run --kv-budget).
#  4. Decode speed (1 thread) at contexts 256, 1024 and 3968 with w4a16-rtn
#     weights: float vs int8 vs int4 cache (in-place caches, capacity 4096).
#  5. One layer's decode attention alone (bench/kv_attention_bench.cpp) at
#     contexts 1k-64k, pd-llama-6m's heads and Llama-3-8B's (32/8 x 128).
#  6. Static per-channel key scales (scales=static key-granularity=per-channel,
#     calibrated on data/calibration.txt) vs dynamic per-token ones, int8 and
#     int4, on the original model and the outlier copy; cache bytes per token.
#     KV_SECTION=static bench/kv_cache.sh [build-dir] [eval-windows] runs only
#     this section and appends it to the results (sections 1-5 untouched).
#  7. NVFP4 cache (format=nvfp4: E2M1, E4M3 scale per 16 channels, tensor
#     scale 1) vs int4 at the same and at more bytes per token (per head /
#     per 16 channels, f32 / f16 scales), on the original model, after R3
#     and on the outlier copy; cache bytes per token measured on step
#     models. KV_SECTION=nvfp4 runs only this section (appended).
#  8. KIVI's float window (residual=R). KV_SECTION=residual (appended).
#  9. KIVI's per-channel keys (key-granularity=per-channel scales=dynamic
#     residual=R) vs per-token keys with the same window, in the long
#     teacher-forced decode, also on the outlier copy; bytes per token.
#     KV_SECTION=kivi runs only this section (appended); KV_SECTION=kivi-speed
#     times decode with those caches at contexts 256, 1024 and 3968 (appended).
#
# usage: bench/kv_cache.sh [build-dir] [eval-windows] [decode-tokens]
# Writes bench/results/kv-cache-pd-llama-6m.md (and .json for quant-eval).
set -euo pipefail
BUILD=${1:-build}
WINDOWS=${2:-40}
NGEN=${3:-600}
BIN=$BUILD/bin
MODEL=models/pd-llama-6m
OUT=$BUILD/bench-kv
WINDOW=256
PY=/usr/bin/python3

# Table of a teacher-forced decode: KL and top-1 of each cache's logits
# (OUT/gen-FMT.npy) against the float cache's (OUT/gen-float.npy).
decode_table() { # OUT FMT...
  $PY - "$@" <<'EOF'
import sys, numpy as np
out, fmts = sys.argv[1], sys.argv[2:]
def logsoftmax(x):
    x = x.astype(np.float64); x -= x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))
ref = np.load(f"{out}/gen-float.npy"); lr = logsoftmax(ref); pr = np.exp(lr)
print("| cache | steps | KL mean | KL p99 | top-1 agreement | KL mean, steps > 512 | top-1, steps > 512 |")
print("|---|---|---|---|---|---|---|")
for f in fmts:
    q = np.load(f"{out}/gen-{f}.npy"); lq = logsoftmax(q)
    kl = (pr * (lr - lq)).sum(-1); top = ref.argmax(-1) == q.argmax(-1)
    late = slice(512, None)
    print(f"| {f} | {len(kl)} | {kl.mean():.3e} | {np.percentile(kl, 99):.3e} | {top.mean():.3f} | "
          f"{kl[late].mean() if len(kl) > 512 else float('nan'):.3e} | {top[late].mean() if len(kl) > 512 else float('nan'):.3f} |")
EOF
}
mkdir -p "$OUT" bench/results
RES=bench/results/kv-cache-pd-llama-6m.md

# 6. Static per-channel key scales (defined first so KV_SECTION=static can run
# it alone; the full run calls it last).
static_section() {
  local out=$BUILD/bench-kv-static
  mkdir -p "$out"
  "$BIN/quant-tokenize" "$MODEL/tokenizer.model" data/calibration.txt -o "$out/calibration.npy" >&2
  local cal="calibrate{tokens=$out/calibration.npy samples=32}"
  [ -f "$out/outliers.onnx" ] || $PY bench/inject_kv_outliers.py "$MODEL/model.onnx" "$out/outliers.onnx" >&2
  scomp() { # onnx name [quant-compile args...]
    local onnx=$1 name=$2; shift 2
    echo "== static section: $name" >&2
    "$BIN/quant-compile" -q "$onnx" --dim batch=1 --dim seq=$WINDOW "$@" -o "$out/$name.so"
  }
  local kc="scales=static key-granularity=per-channel" cands=()
  scomp "$MODEL/model.onnx" float
  for src in orig outliers; do
    local onnx=$MODEL/model.onnx pre=""
    [ $src = outliers ] && onnx=$out/outliers.onnx pre=o-
    for f in int8 int4; do
      scomp "$onnx" "${pre}tok-$f" --kv-format $f
      scomp "$onnx" "${pre}chk-$f" --pipeline "$cal,func.func(quantize-kv-cache{format=$f $kc})"
      cands+=(--candidate "$out/${pre}tok-$f.so" --candidate "$out/${pre}chk-$f.so")
    done
    scomp "$onnx" "${pre}chkv-int4" \
      --pipeline "$cal,func.func(quantize-kv-cache{format=int4 $kc value-granularity=per-channel})"
    cands+=(--candidate "$out/${pre}chkv-int4.so")
  done
  "$BIN/quant-eval" -q --reference "$out/float.so" "${cands[@]}" "${EVAL[@]}" | tee "$out/quality.txt"
  # Bytes per token of a runtime-managed cache (capacity 1024): measured
  # (quant-run --kv-budget) for per-token scales; the static rows count the
  # layout test/Transforms/quantize-kv-cache-static.mlir checks (key codes
  # only, plus value codes and, per-token values, their scales), which
  # pd-llama-6m-kv-quant.test also measures on a calibrated step model (a
  # step model with a chunk of T tokens calibrates as a T-token prefill).
  local f
  for f in int8 int4; do
    "$BIN/quant-compile" -q "$MODEL/model_kv.onnx" "${STEP[@]}" --kv-cache 1024 --kv-format $f \
      -o "$out/step-tok-$f.so"
  done
  {
    echo "## 6. Static per-channel key scales vs per-token (scales=static key-granularity=per-channel)"
    echo
    echo "\`KV_SECTION=static bench/kv_cache.sh $BUILD $WINDOWS\`, $(date -u '+%Y-%m-%d %H:%M UTC'). tok-*: keys and values"
    echo "per token, dynamic (as above); chk-*: keys with constant per-(KV head, channel) scales"
    echo "max|K| / qmax from \`--calibrate\` (32 windows of 256 tokens of data/calibration.txt), values"
    echo "per token; chkv-*: values per channel too. o-*: the outlier copy of 1b. Reference: the"
    echo "original float model. Run-time values beyond the calibrated range saturate."
    echo
    echo '```'
    cat "$out/quality.txt"
    echo '```'
    echo
    echo "Cache bytes per token (all layers, K and V, codes + scales):"
    echo
    echo "| cache | bytes / token | float32 bytes / these |"
    echo "|---|---|---|"
    local measured
    measured=$(for f in int8 int4; do
      "$BIN/quant-run" "$out/step-tok-$f.so" --kv-budget 1GiB --json | $PY -c "import json,sys; print(json.load(sys.stdin)['kv_bytes_per_token'])"
    done)
    # shellcheck disable=SC2086
    $PY - $measured <<'EOF'
import sys
tok8, tok4 = (float(x) for x in sys.argv[1:3])
L, H, D = 6, 4, 32  # pd-llama-6m: layers, KV heads, head dimension
fp32 = 2 * L * H * D * 4
def layout(bits, k_scales, v_scales):  # codes + f32 scales per token
    return L * H * (2 * D * bits / 8 + 4 * (k_scales + v_scales))
rows = [("tok-int8 (measured)", tok8), ("tok-int8 (layout)", layout(8, 1, 1)),
        ("chk-int8 (layout)", layout(8, 0, 1)), ("chkv-int8 (layout)", layout(8, 0, 0)),
        ("tok-int4 (measured)", tok4), ("tok-int4 (layout)", layout(4, 1, 1)),
        ("chk-int4 (layout)", layout(4, 0, 1)), ("chkv-int4 (layout)", layout(4, 0, 0))]
for name, b in rows:
    print(f"| {name} | {b:.0f} | {fp32 / b:.2f} |")
print()
print(f"The static scales are constants of the model, not of the cache: f32 [H, D] per layer, {L * H * D * 4} bytes for the keys ({2 * L * H * D * 4} with the values), the bytes column above.")
EOF
    echo
  } >> "$RES"
}
# 7. NVFP4 vs int4 (defined here so KV_SECTION=nvfp4 can run it alone).
nvfp4_section() {
  local out=$BUILD/bench-kv-nvfp4
  mkdir -p "$out"
  [ -f "$out/outliers.onnx" ] || $PY bench/inject_kv_outliers.py "$MODEL/model.onnx" "$out/outliers.onnx" >&2
  ncomp() { # onnx name [quant-compile args...]
    local onnx=$1 name=$2; shift 2
    echo "== nvfp4 section: $name" >&2
    "$BIN/quant-compile" -q "$onnx" --dim batch=1 --dim seq=$WINDOW "$@" -o "$out/$name.so"
  }
  local kv='func.func(quantize-kv-cache{' cands=() ocands=()
  # name | pass options (the step models use the same)
  local -a names=(int4 int4-f16 int4-g16 int4-g16-f16 nvfp4)
  local -A opts=([int4]="format=int4" [int4-f16]="format=int4 scale-type=f16"
    [int4-g16]="format=int4 group=16" [int4-g16-f16]="format=int4 group=16 scale-type=f16"
    [nvfp4]="format=nvfp4")
  ncomp "$MODEL/model.onnx" float
  local n
  for n in "${names[@]}"; do
    ncomp "$MODEL/model.onnx" "kv-$n" --pipeline "$kv${opts[$n]}})"
    ncomp "$MODEL/model.onnx" "r3-kv-$n" --pipeline "$R3,$kv${opts[$n]}})"
    ncomp "$out/outliers.onnx" "o-kv-$n" --pipeline "$kv${opts[$n]}})"
    cands+=(--candidate "$out/kv-$n.so" --candidate "$out/r3-kv-$n.so")
    ocands+=(--candidate "$out/o-kv-$n.so")
    "$BIN/quant-compile" -q "$MODEL/model_kv.onnx" "${STEP[@]}" --kv-cache 1024 \
      --pipeline "$kv${opts[$n]}})" -o "$out/step-$n.so"
  done
  "$BIN/quant-eval" -q --reference "$out/float.so" "${cands[@]}" "${EVAL[@]}" | tee "$out/quality.txt"
  "$BIN/quant-eval" -q --reference "$out/float.so" "${ocands[@]}" "${EVAL[@]}" | tee "$out/outliers.txt"
  {
    echo "## 7. NVFP4 cache vs int4 (format=nvfp4)"
    echo
    echo "\`KV_SECTION=nvfp4 bench/kv_cache.sh $BUILD $WINDOWS\`, $(date -u '+%Y-%m-%d %H:%M UTC'), quant-eval on"
    echo "$WINDOWS windows of $WINDOW tokens. nvfp4: E2M1 codes, E4M3 scale per 16 channels (amax / 6),"
    echo "tensor scale 1. int4: per head (group = head dim 32) or per 16 channels (g16), f32 or f16"
    echo "scales. r3-*: after QuaRot's R3 only (as in 1). Reference: the float model."
    echo
    echo '```'
    cat "$out/quality.txt"
    echo '```'
    echo
    echo "On the outlier copy of 1b (reference: the original float model):"
    echo
    echo '```'
    cat "$out/outliers.txt"
    echo '```'
    echo
    echo "Cache bytes per token (all 6 layers, K and V, codes + scales; quant-run --kv-budget on step"
    echo "models of capacity 1024; float32: 6144):"
    echo
    echo "| cache | bytes / token | bits / value | float32 bytes / these |"
    echo "|---|---|---|---|"
    for n in "${names[@]}"; do
      "$BIN/quant-run" "$out/step-$n.so" --kv-budget 1GiB --json |
        $PY -c "import json,sys; b = json.load(sys.stdin)['kv_bytes_per_token']; print(f'| $n | {b:.0f} | {b * 8 / 1536:.2f} | {6144 / b:.2f} |')"
    done
    echo
  } >> "$RES"
}
# 7b. The long teacher-forced decode of 2 with the NVFP4 / int4 step models
# of 7 (KV_SECTION=nvfp4-decode runs only this, after 7 built them).
# A NGEN-token greedy decode of the float cache (OUT/step-float.so, compiled
# here, capacity 1024) and the same tokens forced through OUT/step-NAME.so
# for each NAME: logits in OUT/gen-*.npy, for decode_table.
teacher_forced() { # OUT NAME...
  local out=$1 n; shift
  "$BIN/quant-compile" -q "$MODEL/model_kv.onnx" "${STEP[@]}" --kv-cache 1024 -o "$out/step-float.so"
  local prompt=(--prompt "It was a bright cold day in April, and" --tokenizer "$MODEL/tokenizer.model")
  "$BIN/quant-run" "$out/step-float.so" "${prompt[@]}" --generate "$NGEN" \
    --dump-logits "$out/gen-float.npy" --json > "$out/gen-float.json"
  $PY -c "import json, numpy as np; np.save('$out/forced.npy', np.array(json.load(open('$out/gen-float.json'))['tokens'], dtype=np.int64))"
  for n in "$@"; do
    "$BIN/quant-run" "$out/step-$n.so" "${prompt[@]}" --generate "$NGEN" \
      --force-tokens "$out/forced.npy" --dump-logits "$out/gen-$n.npy" --json > /dev/null
  done
}
nvfp4_decode() {
  local out=$BUILD/bench-kv-nvfp4 n
  local -a names=(int4 int4-f16 nvfp4)
  teacher_forced "$out" "${names[@]}"
  {
    echo "### 7b. A $NGEN-token teacher-forced decode through the NVFP4 / int4 caches (as in 2)"
    echo
    echo "\`KV_SECTION=nvfp4-decode bench/kv_cache.sh $BUILD $WINDOWS $NGEN\`, $(date -u '+%Y-%m-%d %H:%M UTC')."
    echo
    decode_table "$out" "${names[@]}"
    echo
  } >> "$RES"
}
# 8. KIVI's float window (--quantize-kv-cache residual=R): the last R
# positions read in float beside the int4 / int8 cache, in a teacher-forced
# decode (as in 2: the window moves with the decode, which a full-prefill
# quant-eval would not show), plus what the window costs in memory.
residual_section() {
  local out=$BUILD/bench-kv-residual n
  mkdir -p "$out"
  local -a names=()
  for f in int4 int8; do
    for r in 0 16 32 64 128; do
      n=$f-r$r
      echo "== residual section: $n" >&2
      "$BIN/quant-compile" -q "$MODEL/model_kv.onnx" "${STEP[@]}" --kv-cache 1024 \
        --kv-format "$f residual=$r" -o "$out/step-$n.so"
      names+=("$n")
    done
  done
  teacher_forced "$out" "${names[@]}"
  {
    echo "## 8. KIVI's float window: int4 / int8 cache with the last R positions in float ($NGEN-token teacher-forced decode, as in 2)"
    echo
    echo "\`KV_SECTION=residual bench/kv_cache.sh $BUILD $WINDOWS $NGEN\`, $(date -u '+%Y-%m-%d %H:%M UTC')."
    echo "\`--kv-format \"int4 residual=R\"\`: rows are quantized on append as before; a float ring of the"
    echo "last R positions per layer and head is read instead of their codes (fused in lq_rt_attention_at_q)."
    echo
    decode_table "$out" "${names[@]}"
    echo
    echo "| cache | bytes / token | fixed window bytes (all layers) |"
    echo "|---|---|---|"
    for n in "${names[@]}"; do
      "$BIN/quant-run" "$out/step-$n.so" --kv-budget 1GiB --json | $PY -c "
import json, sys; d = json.load(sys.stdin)
print(f\"| $n | {d['kv_bytes_per_token']:.0f} | {d['window_bytes']:.0f} |\")"
    done
    echo
  } >> "$RES"
}
# 9. KIVI's per-channel keys (--quantize-kv-cache key-granularity=per-channel
# scales=dynamic residual=R): keys quantized per channel with a scale per
# group of R positions once the group is complete, values per token, the
# last R positions in float; vs per-token keys with the same window, in the
# teacher-forced decode of 2 (and on the outlier copy of 1b, whose float
# function and hence float-cache logits are the original's).
kivi_section() {
  local out=$BUILD/bench-kv-kivi
  mkdir -p "$out"
  [ -f "$out/outliers_kv.onnx" ] ||
    $PY bench/inject_kv_outliers.py "$MODEL/model_kv.onnx" "$out/outliers_kv.onnx" >&2
  local -a names=()
  kcomp() { # name onnx kv-format
    echo "== kivi section: $1" >&2
    "$BIN/quant-compile" -q "$2" "${STEP[@]}" --kv-cache 1024 --kv-format "$3" \
      -o "$out/step-$1.so"
    names+=("$1")
  }
  local kv=$MODEL/model_kv.onnx ol=$out/outliers_kv.onnx
  kcomp int4-r0 "$kv" "int4"
  kcomp int4-r32 "$kv" "int4 residual=32"
  kcomp int4-kivi-r32 "$kv" "int4 key-granularity=per-channel residual=32"
  kcomp int4-kivi-r32-f16 "$kv" "int4 key-granularity=per-channel residual=32 scale-type=f16"
  kcomp int4-r128 "$kv" "int4 residual=128"
  kcomp int4-kivi-r128 "$kv" "int4 key-granularity=per-channel residual=128"
  kcomp int8-r32 "$kv" "int8 residual=32"
  kcomp int8-kivi-r32 "$kv" "int8 key-granularity=per-channel residual=32"
  kcomp outliers-int4-r32 "$ol" "int4 residual=32"
  kcomp outliers-int4-kivi-r32 "$ol" "int4 key-granularity=per-channel residual=32"
  teacher_forced "$out" "${names[@]}"
  {
    echo "## 9. KIVI's per-channel keys: int4 / int8 keys per channel over groups of R tokens vs per token ($NGEN-token teacher-forced decode, as in 2)"
    echo
    echo "\`KV_SECTION=kivi bench/kv_cache.sh $BUILD $WINDOWS $NGEN\`, $(date -u '+%Y-%m-%d %H:%M UTC')."
    echo "\`--kv-format \"int4 key-granularity=per-channel residual=R\"\` (kivi): a key position stays in the float"
    echo "ring until its group of R positions is complete, then the group is quantized with one scale per"
    echo "(layer, head, group of R positions, channel) (KIVI, arXiv:2402.02750, §3.2-3.3; symmetric amax / qmax where KIVI uses"
    echo "asymmetric min/max); values per token. rR: per-token keys and values with the same window."
    echo "outliers-*: the copy of 1b whose keys have 4 channels x10 (queries / 10, same float function)."
    echo "Reference: the float cache's logits on the original model."
    echo
    decode_table "$out" "${names[@]}"
    echo
    echo "| cache | bytes / token | fixed window bytes (all layers) |"
    echo "|---|---|---|"
    for n in "${names[@]}"; do
      "$BIN/quant-run" "$out/step-$n.so" --kv-budget 1GiB --json | $PY -c "
import json, sys; d = json.load(sys.stdin)
print(f\"| $n | {d['kv_bytes_per_token']:.0f} | {d['window_bytes']:.0f} |\")"
    done
    echo
  } >> "$RES"
}
# 9b. Decode speed with KIVI's caches vs context (KV_SECTION=kivi-speed): as
# 4 (1 thread, w4a16-rtn weights, capacity 4096, in-place), float cache vs
# int8 and int4 per token (no window) vs int4 per token + window 32 vs int4
# KIVI keys (window 32).
kivi_speed_section() {
  local out=$BUILD/bench-kv-kivi-speed ctx r n
  mkdir -p "$out"
  local -a names=(float int8-r0 int4-r0 int4-r32 int4-kivi-r32)
  local -A fmt=([int8-r0]="int8" [int4-r0]="int4" [int4-r32]="int4 residual=32"
                [int4-kivi-r32]="int4 key-granularity=per-channel residual=32")
  for n in "${names[@]}"; do
    echo "== kivi-speed: $n" >&2
    local args=(--recipe w4a16-rtn)
    [ "$n" != float ] && args+=(--kv-format "${fmt[$n]}")
    "$BIN/quant-compile" -q "$MODEL/model_kv.onnx" "${STEP[@]}" --kv-cache 4096 "${args[@]}" -o "$out/$n.so"
  done
  {
    echo "### 9b. Decode tokens/s: float vs int8 vs int4 caches, with KIVI's, vs context (1 thread, w4a16-rtn weights, capacity 4096)"
    echo
    echo "\`KV_SECTION=kivi-speed bench/kv_cache.sh $BUILD\`, $(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)."
    echo "Median of 5 rounds of 128 new tokens after a prompt of the given length (random ids); the"
    echo "models run in turn within each round."
    echo
    echo "| context | float | int8 | int4 | int4 + window 32 | int4 KIVI keys, window 32 | int8 / float | int4 / float | int4 + window / float | KIVI / float |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
  } >> "$RES"
  for ctx in 256 1024 3968; do
    $PY -c "import numpy as np; np.save('$out/prompt.npy', np.random.default_rng(0).integers(3, 4000, $ctx).astype(np.int64))"
    local -A runs=()
    for r in 1 2 3 4 5; do
      for n in "${names[@]}"; do
        runs[$n]+=" $("$BIN/quant-run" "$out/$n.so" --tokens-file "$out/prompt.npy" --generate 128 --threads 1 --json |
          $PY -c "import json,sys; print(json.load(sys.stdin)['decode_tok_s'])")"
      done
    done
    local row=()
    for n in "${names[@]}"; do
      row+=("$(printf '%s\n' ${runs[$n]} | sort -g | sed -n 3p)")
    done
    $PY -c "
f, e, a, b, k = [float(x) for x in '${row[*]}'.split()]
print(f'| {$ctx} | {f:.0f} | {e:.0f} | {a:.0f} | {b:.0f} | {k:.0f} | {e / f:.2f}x | {a / f:.2f}x | {b / f:.2f}x | {k / f:.2f}x |')" >> "$RES"
  done
  echo >> "$RES"
}
EVAL=(--window $WINDOW --max-windows "$WINDOWS" --tokenizer "$MODEL/tokenizer.model" --text "$MODEL/eval.txt")
R3='func.func(fold-norms,quarot{seed=0 r1=false r2=false r4=false}),canonicalize,cse'
ROT='func.func(fold-norms,quarot{seed=0}),canonicalize,cse'
STEP=(--dim batch=1 --dim seq=1 --dim past_seq=1)

if [ "${KV_SECTION:-all}" = static ]; then
  static_section
  exit 0
fi
if [ "${KV_SECTION:-all}" = nvfp4 ]; then
  nvfp4_section
  nvfp4_decode
  exit 0
fi
if [ "${KV_SECTION:-all}" = residual ]; then
  residual_section
  exit 0
fi
if [ "${KV_SECTION:-all}" = kivi-speed ]; then
  kivi_speed_section
  exit 0
fi
if [ "${KV_SECTION:-all}" = kivi ]; then
  kivi_section
  exit 0
fi
if [ "${KV_SECTION:-all}" = nvfp4-decode ]; then
  nvfp4_decode
  exit 0
fi

prefill() { # name [quant-compile args...]
  local name=$1; shift
  echo "== prefill $name" >&2
  "$BIN/quant-compile" -q "$MODEL/model.onnx" --dim batch=1 --dim seq=$WINDOW "$@" -o "$OUT/$name.so"
}
step() { # name capacity [quant-compile args...]
  local name=$1 cap=$2; shift 2
  echo "== step $name (capacity $cap)" >&2
  "$BIN/quant-compile" -q "$MODEL/model_kv.onnx" "${STEP[@]}" --kv-cache "$cap" "$@" -o "$OUT/$name.so"
}

FORMATS=(int8 fp8-e4m3 fp8-e5m2 int4)
{
  echo "# Quantized KV cache on pd-llama-6m (bench/kv_cache.sh)"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'),"
  echo "\`bench/kv_cache.sh $BUILD $WINDOWS $NGEN\`. Per-token scales (one per head and token, group = head"
  echo "dimension 32), symmetric, computed when a token is appended. Weights stay float32 in 1-3."
  echo
} > "$RES"

# 1. Quality.
prefill float
for f in "${FORMATS[@]}"; do prefill "kv-$f" --kv-format "$f"; done
prefill r3-kv-int4 --pipeline "$R3" --kv-format int4
prefill quarot-kv-int4 --pipeline "$ROT" --kv-format int4
prefill quarot-float --pipeline "$ROT"
CANDS=()
for c in "${FORMATS[@]/#/kv-}" r3-kv-int4 quarot-kv-int4 quarot-float; do
  CANDS+=(--candidate "$OUT/$c.so")
done
"$BIN/quant-eval" -q --reference "$OUT/float.so" "${CANDS[@]}" "${EVAL[@]}" \
  --json bench/results/kv-cache-pd-llama-6m.json | tee "$OUT/quality.txt"
{
  echo "## 1. Quality: quant-eval, $WINDOWS windows of $WINDOW tokens of eval.txt (held out)"
  echo
  echo "r3-*: \`quarot{r1=false r2=false r4=false}\` (only the online Hadamard on Q and K after RoPE);"
  echo "quarot-*: all of R1-R4. quarot-float checks that the rotation alone changes nothing."
  echo
  echo '```'
  cat "$OUT/quality.txt"
  echo '```'
  echo
} >> "$RES"

# 1b. Key outlier channels.
$PY bench/inject_kv_outliers.py "$MODEL/model.onnx" "$OUT/outliers.onnx" >&2
oprefill() { # name [quant-compile args...]
  local name=$1; shift
  echo "== outliers $name" >&2
  "$BIN/quant-compile" -q "$OUT/outliers.onnx" --dim batch=1 --dim seq=$WINDOW "$@" -o "$OUT/o-$name.so"
}
oprefill float
oprefill kv-int8 --kv-format int8
oprefill kv-int4 --kv-format int4
oprefill r3-kv-int4 --pipeline "$R3" --kv-format int4
"$BIN/quant-eval" -q --reference "$OUT/float.so" --candidate "$OUT/o-float.so" \
  --candidate "$OUT/o-kv-int8.so" --candidate "$OUT/o-kv-int4.so" --candidate "$OUT/o-r3-kv-int4.so" \
  "${EVAL[@]}" | tee "$OUT/outliers.txt"
{
  echo "## 1b. The same with key outlier channels"
  echo
  echo "\`bench/inject_kv_outliers.py\`: in every layer, channels 4, 5, 20, 21 (RoPE pairs) of every KV head"
  echo "scaled x10 in k_proj and /10 in q_proj, so q.k and the float model are unchanged (o-float) while"
  echo "the keys get the outlier channels large LLMs have. Reference: the original float model."
  echo
  echo '```'
  cat "$OUT/outliers.txt"
  echo '```'
  echo
} >> "$RES"

# 2. Long decode, teacher-forced.
step kv-float 1024
for f in "${FORMATS[@]}"; do step "kv-$f" 1024 --kv-format "$f"; done
step kv-r3-int4 1024 --pipeline "$R3" --kv-format int4
PROMPT=(--prompt "It was a bright cold day in April, and" --tokenizer "$MODEL/tokenizer.model")
"$BIN/quant-run" "$OUT/kv-float.so" "${PROMPT[@]}" --generate "$NGEN" \
  --dump-logits "$OUT/gen-float.npy" --json > "$OUT/gen-float.json"
$PY -c "import json, numpy as np; np.save('$OUT/forced.npy', np.array(json.load(open('$OUT/gen-float.json'))['tokens'], dtype=np.int64))"
for f in "${FORMATS[@]}" r3-int4; do
  "$BIN/quant-run" "$OUT/kv-$f.so" "${PROMPT[@]}" --generate "$NGEN" \
    --force-tokens "$OUT/forced.npy" --dump-logits "$OUT/gen-$f.npy" --json > /dev/null
done
{
  echo "## 2. A $NGEN-token greedy decode through the cache (capacity 1024), teacher-forced"
  echo
  echo "The float-cache model generates; each quantized-cache model decodes the same tokens one at a"
  echo "time and its logits at every step are compared with the float cache's."
  echo
  decode_table "$OUT" "${FORMATS[@]}" r3-int4
  echo
} >> "$RES"

# 3. Memory.
{
  echo "## 3. Memory: cache bytes per token (all layers, K and V, codes + scales)"
  echo
  echo "| cache | bytes / token | float32 bytes / these | float16 bytes (half of float32) / these | context in 1 GiB |"
  echo "|---|---|---|---|---|"
} >> "$RES"
fbytes=$("$BIN/quant-run" "$OUT/kv-float.so" --kv-budget 1GiB --json | $PY -c "import json,sys; print(json.load(sys.stdin)['kv_bytes_per_token'])")
for f in float "${FORMATS[@]}"; do
  "$BIN/quant-run" "$OUT/kv-$f.so" --kv-budget 1GiB --json | $PY -c "
import json, sys; d = json.load(sys.stdin); b = d['kv_bytes_per_token']; f = $fbytes
print(f\"| $f | {b:.0f} | {f / b:.2f} | {f / 2 / b:.2f} | {d['max_context']:.0f} tokens |\")" >> "$RES"
done
echo >> "$RES"

# 4. Decode speed vs context.
for f in float int8 int4; do
  args=(--recipe w4a16-rtn)
  [ "$f" != float ] && args+=(--kv-format "$f")
  step "speed-$f" 4096 "${args[@]}"
done
{
  echo "## 4. Decode tokens/s vs context (1 thread, w4a16-rtn weights, capacity 4096, in-place cache)"
  echo
  echo "Median of 5 rounds of 128 new tokens after a prompt of the given length (random ids); the"
  echo "three models run in turn within each round, so load from other processes hits them alike."
  echo
  echo "| context | float cache | int8 cache | int4 cache | int8 / float | int4 / float |"
  echo "|---|---|---|---|---|---|"
} >> "$RES"
for ctx in 256 1024 3968; do
  $PY -c "import numpy as np; np.save('$OUT/prompt.npy', np.random.default_rng(0).integers(3, 4000, $ctx).astype(np.int64))"
  declare -A runs=([float]="" [int8]="" [int4]="")
  for r in 1 2 3 4 5; do
    for f in float int8 int4; do
      runs[$f]+=" $("$BIN/quant-run" "$OUT/speed-$f.so" --tokens-file "$OUT/prompt.npy" --generate 128 --threads 1 --json |
        $PY -c "import json,sys; print(json.load(sys.stdin)['decode_tok_s'])")"
    done
  done
  row=()
  for f in float int8 int4; do
    row+=("$(printf '%s\n' ${runs[$f]} | sort -g | sed -n 3p)")
  done
  $PY -c "
f, i8, i4 = [float(x) for x in '${row[*]}'.split()]
print(f'| {$ctx} | {f:.0f} | {i8:.0f} | {i4:.0f} | {i8 / f:.2f}x | {i4 / f:.2f}x |')" >> "$RES"
done
echo >> "$RES"

# 5. Attention alone.
ninja -C "$BUILD" lq_rt >/dev/null
${CXX:-clang++-22} -O3 -march=native -std=c++17 -Iruntime/include bench/kv_attention_bench.cpp \
  -L"$BUILD/lib" -llq_rt -Wl,-rpath,"$PWD/$BUILD/lib" -lpthread -o "$BUILD/bin/kv_attention_bench"
{
  echo "## 5. One layer's decode attention (1 thread, T = 1, per-token scales; bench/kv_attention_bench.cpp)"
  echo
  echo "Caches rotated over copies totalling > 64 MiB, so long contexts come from DRAM. pd-llama-6m's"
  echo "heads (8 query, 4 KV, head dim 32):"
  echo
  "$BUILD/bin/kv_attention_bench" 8 4 32
  echo
  echo "Llama-3-8B's heads (32 query, 8 KV, head dim 128):"
  echo
  "$BUILD/bin/kv_attention_bench" 32 8 128
  echo
} >> "$RES"

# 6. Static per-channel key scales.
static_section
# 7. NVFP4.
nvfp4_section
nvfp4_decode
cat "$RES"
