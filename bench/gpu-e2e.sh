#!/usr/bin/env bash
# bench/gpu-e2e.sh: pd-llama-6m compiled with `quant-compile --target=cuda`
# (--lower-to-cuda + liblq_rt_cuda) run on a GPU with quant-run, its logits
# compared with the CPU build of the same recipe and with PyTorch's.
#
# Two steps, because the GPU machine has no MLIR:
#   1. on the build machine:  bench/gpu-e2e.sh --prepare DIR [BUILD]
#      compiles float, w4a16-rtn, w8a8-smoothquant (calibrated on the
#      reference ids) and nvfp4 (FP4 weights, lq_rt_cuda's E2M1 path)
#      for cuda (chip $LQ_CUDA_CHIP, default sm_90a) and for
#      the CPU, runs the CPU models here, and puts in DIR:
#      pd-<recipe>-cuda.so, cpu-<recipe>.npy, the token ids,
#      PyTorch's logits, quant-run, liblq_rt.so and libsentencepiece.so.0
#      (quant-run needs it); liblq_rt_cuda.so (40 MB) only with
#      GPU_E2E_CUDA_LIB=1: gpu-session.sh builds it on the GPU machine.
#      BUILD must have been configured with CUDA (liblq_rt_cuda.so in
#      BUILD/lib). What a device call carries is the repository's tracked
#      files (35 MiB) plus DIR, at most 64 MiB: DIR gets ~28 MiB, e.g. two
#      w4a16 decode models (~9 MB each) and the tools (5 MB), so choose the
#      cases per call (GPU_E2E_PART, GPU_E2E_RECIPES, GPU_E2E_DECODE); the
#      float models alone are 28 MB. The end of --prepare prints the total.
#   2. on the GPU machine:    bench/gpu-e2e.sh DIR
#      runs each cuda model (LD_LIBRARY_PATH=DIR; cudart and cuBLASLt come
#      from the machine's CUDA 13 toolkit), prints per model the relative
#      error ||gpu - cpu|| / ||cpu|| over all logits, the max abs error, the
#      top-1 agreement with the CPU and the rel. error vs PyTorch, and a
#      PASS/FAIL line (rel err vs CPU: float <= 1e-4, w4a16 and nvfp4
#      <= 1e-3, w8a8
#      <= 1e-2: an activation rounding to the other int8 code moves a logit
#      by a quantization step).
#      Then decode speed: model_kv.onnx with a runtime-managed cache
#      (--kv-cache 256), greedy --generate 128 after the reference prompt,
#      prefill/decode tok/s on the GPU, and the generated tokens against the
#      CPU build's; w4a16-rtn also with --cuda-resident-weights=false (every
#      weight copied to the device at each call: the old behaviour), with
#      --cuda-stream-ordered ("stream": resident weights, a call's device
#      steps enqueued in order on one stream, one wait for the results),
#      with that and --cuda-device-kv-cache ("device": the caches updated in
#      place on the device, never copied back), and
#      with an int8 KV cache (--kv-format int8: attention decodes the cache
#      in lq_cuda_attention_at_q) against the CPU build of the same.
#      Also writes $OUT/gpu-e2e.md when OUT is set.
# env:  GPU_E2E_PART=logits|decode|all (default all) for half the cases;
#       GPU_E2E_RECIPES, GPU_E2E_DECODE: other case lists (space-separated).
# Exit status: 0 all passed, 1 a comparison failed, 2 no GPU, 3 setup error.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# nvfp4: FP4 weights through lq_rt_cuda's E2M1 path (mxfp4 takes the same
# kernels with groups of 32: left out for the prepared dir's size, +9 MB).
recipes=(float w4a16-rtn w8a8-smoothquant nvfp4)
# Decode-speed cases: recipe:weights (resident, per-call, stream: resident
# and --cuda-stream-ordered, device: stream and --cuda-device-kv-cache);
# recipe+kvFMT
# also stores the KV cache quantized (--kv-format FMT: lq_rt_cuda's
# lq_cuda_attention_at_q on the GPU, lq_rt_attention_at_q on the CPU).
decode_cases=(float:resident w4a16-rtn:resident w4a16-rtn:stream w4a16-rtn:device
  w4a16-rtn:per-call w4a16-rtn+kvint8:resident w4a16-rtn+kvint8:device)
gen=128
# GPU_E2E_PART=logits or decode prepares / runs only that half; default:
# both. GPU_E2E_RECIPES / GPU_E2E_DECODE (space-separated) replace the lists.
[ -n "${GPU_E2E_RECIPES:-}" ] && read -r -a recipes <<<"$GPU_E2E_RECIPES"
[ -n "${GPU_E2E_DECODE:-}" ] && read -r -a decode_cases <<<"$GPU_E2E_DECODE"
case "${GPU_E2E_PART:-all}" in
  logits) decode_cases=() ;;
  decode) recipes=() ;;
  all) ;;
  *) echo "gpu-e2e: GPU_E2E_PART must be logits, decode or all" >&2; exit 3 ;;
esac

if [ "${1:-}" = "--prepare" ]; then
  dir=${2:?usage: bench/gpu-e2e.sh --prepare DIR [BUILD]}
  build=${3:-$root/build}
  chip=${LQ_CUDA_CHIP:-sm_90a}
  model=$root/models/pd-llama-6m
  [ -f "$build/lib/liblq_rt_cuda.so" ] || {
    echo "gpu-e2e: $build/lib/liblq_rt_cuda.so missing (configure with -DLQ_RT_ENABLE_CUDA=ON)" >&2
    exit 3
  }
  mkdir -p "$dir" || exit 3
  seq=$(/usr/bin/python3 -c "import numpy as np; print(np.load('$model/ref_input_ids.npy').shape[1])") || exit 3
  for r in "${recipes[@]}"; do
    echo "== compile $r (cuda $chip, cpu), seq=$seq"
    cal=(--calibration-tokens "$model/ref_input_ids.npy" --calibration-samples 1)
    "$build/bin/quant-compile" -q "$model/model.onnx" --dim batch=1 --dim seq="$seq" \
      --recipe "$r" "${cal[@]}" --target=cuda --cuda-chip="$chip" -o "$dir/pd-$r-cuda.so" || exit 3
    "$build/bin/quant-compile" -q "$model/model.onnx" --dim batch=1 --dim seq="$seq" \
      --recipe "$r" "${cal[@]}" -o "$dir/pd-$r-cpu.so" || exit 3
    "$build/bin/quant-run" "$dir/pd-$r-cpu.so" --tokens-file "$model/ref_input_ids.npy" \
      --dump-logits "$dir/cpu-$r.npy" >/dev/null || exit 3
    rm -f "$dir/pd-$r-cpu.so" "$dir/pd-$r-cpu.h" "$dir/pd-$r-cuda.h"
  done
  for c in "${decode_cases[@]}"; do
    r=${c%%:*} w=${c#*:}
    echo "== compile $r KV-cache step ($w weights, cuda $chip)"
    kv=(--dim batch=1 --dim seq=1 --dim past_seq=1 --kv-cache 256)
    base=${r%%+kv*}
    rec=(); [ "$base" = float ] || rec=(--recipe "$base")
    [ "$base" = "$r" ] || rec+=(--kv-format "${r##*+kv}")
    res=()
    [ "$w" = per-call ] && res=(--cuda-resident-weights=false)
    [ "$w" = stream ] && res=(--cuda-stream-ordered)
    [ "$w" = device ] && res=(--cuda-stream-ordered --cuda-device-kv-cache)
    "$build/bin/quant-compile" -q "$model/model_kv.onnx" "${kv[@]}" "${rec[@]}" \
      --target=cuda --cuda-chip="$chip" "${res[@]}" -o "$dir/pd-kv-$r-$w-cuda.so" || exit 3
    if [ ! -f "$dir/cpu-kv-$r.json" ]; then
      "$build/bin/quant-compile" -q "$model/model_kv.onnx" "${kv[@]}" "${rec[@]}" \
        -o "$dir/pd-kv-$r-cpu.so" || exit 3
      "$build/bin/quant-run" "$dir/pd-kv-$r-cpu.so" --tokens-file "$model/ref_input_ids.npy" \
        --generate $gen --json >"$dir/cpu-kv-$r.json" || exit 3
      rm -f "$dir/pd-kv-$r-cpu.so" "$dir/pd-kv-$r-cpu.h"
    fi
    rm -f "$dir/pd-kv-$r-$w-cuda.h"
  done
  cp "$model/ref_input_ids.npy" "$dir/ids.npy"
  cp "$model/ref_logits.npy" "$dir/torch.npy"
  cp "$build/bin/quant-run" "$build/lib/liblq_rt.so" "$dir/"
  [ "${GPU_E2E_CUDA_LIB:-0}" = 1 ] && cp "$build/lib/liblq_rt_cuda.so" "$dir/"
  sp=$(ldd "$build/bin/quant-run" | awk '/libsentencepiece/ {print $3}')
  [ -n "$sp" ] && cp -L "$sp" "$dir/"
  du -sh "$dir"
  tracked=$(cd "$root" && git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
  total=$(( tracked + $(du -sb "$dir" | cut -f1) ))
  echo "gpu-e2e: repository $((tracked >> 20)) MiB + $dir = $((total >> 20)) MiB of the 64 MiB a device call carries"
  [ "$total" -le $((64 << 20)) ] || echo "gpu-e2e: too large for one device call: prepare fewer cases" >&2
  echo "gpu-e2e: prepared $dir; on the GPU machine: bench/gpu-e2e.sh $dir"
  exit 0
fi

dir=${1:?usage: bench/gpu-e2e.sh DIR  (or --prepare DIR [BUILD])}
dir=$(cd "$dir" && pwd) || exit 3
export LD_LIBRARY_PATH="$dir:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu-e2e: no GPU (nvidia-smi)" >&2
  exit 2
fi
nvidia-smi --query-gpu=name,driver_version,compute_cap --format=csv,noheader
# liblq_rt_cuda.so: the prepared one, else the one gpu-check.sh just built
# from the same sources on this machine (LQ_RT_CUDA_LIB_DIR; leaving it out
# of DIR saves 12 MB of what a device call carries).
cudalib=$dir/liblq_rt_cuda.so
if [ ! -f "$cudalib" ] && [ -n "${LQ_RT_CUDA_LIB_DIR:-}" ]; then
  cudalib=$LQ_RT_CUDA_LIB_DIR/liblq_rt_cuda.so
  export LD_LIBRARY_PATH="$dir:$LQ_RT_CUDA_LIB_DIR:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
fi
[ -f "$cudalib" ] || { echo "gpu-e2e: no liblq_rt_cuda.so in $dir (or LQ_RT_CUDA_LIB_DIR)" >&2; exit 3; }
if ldd "$cudalib" | grep -q 'not found'; then
  ldd "$cudalib" | grep 'not found' >&2
  echo "gpu-e2e: $cudalib cannot load here" >&2
  exit 3
fi
py=/usr/bin/python3
$py -c "import numpy" 2>/dev/null || py=python3

rc=0
report="| model | rel err vs CPU | max abs err | top-1 vs CPU | rel err vs PyTorch | GPU run (s) | result |
|---|---|---|---|---|---|---|"
for r in "${recipes[@]}"; do
  so=$dir/pd-$r-cuda.so
  [ -f "$so" ] || { echo "gpu-e2e: $so missing" >&2; rc=3; continue; }
  echo "== $r"
  t0=$(date +%s.%N)
  if ! "$dir/quant-run" "$so" --tokens-file "$dir/ids.npy" --dump-logits "$dir/gpu-$r.npy" --json \
      >"$dir/run-$r.json" 2>"$dir/run-$r.err"; then
    cat "$dir/run-$r.err" >&2
    report+="
| pd-$r-cuda | - | - | - | - | - | FAIL (run) |"
    rc=1
    continue
  fi
  t1=$(date +%s.%N)
  cat "$dir/run-$r.err" >&2
  line=$($py - "$dir" "$r" "$t0" "$t1" <<'EOF'
import sys
import numpy as np
d, r = sys.argv[1], sys.argv[2]
secs = float(sys.argv[4]) - float(sys.argv[3])
gpu = np.load(f"{d}/gpu-{r}.npy").astype(np.float64)
cpu = np.load(f"{d}/cpu-{r}.npy").astype(np.float64)
torch = np.load(f"{d}/torch.npy").astype(np.float64)
rel = np.linalg.norm(gpu - cpu) / np.linalg.norm(cpu)
mx = np.abs(gpu - cpu).max()
top1 = (gpu.argmax(-1) == cpu.argmax(-1)).mean()
relt = np.linalg.norm(gpu - torch) / np.linalg.norm(torch)
limit = {"float": 1e-4, "w4a16-rtn": 1e-3, "nvfp4": 1e-3,
         "mxfp4": 1e-3}.get(r, 1e-2)
ok = np.isfinite(gpu).all() and rel <= limit
print(f"| pd-{r}-cuda | {rel:.3g} | {mx:.3g} | {top1:.4f} | {relt:.3g} | {secs:.2f} | "
      f"{'PASS' if ok else 'FAIL'} (limit {limit:g}) |")
EOF
)
  echo "$line"
  report+="
$line"
  case "$line" in *FAIL*) rc=1 ;; esac
done

# Decode speed through the runtime-managed KV cache.
speed="| model | weights | prefill tok/s | decode tok/s | generated tokens equal to the CPU's | result |
|---|---|---|---|---|---|"
for c in "${decode_cases[@]}"; do
  r=${c%%:*} w=${c#*:}
  so=$dir/pd-kv-$r-$w-cuda.so
  [ -f "$so" ] || { echo "gpu-e2e: $so missing" >&2; rc=3; continue; }
  echo "== decode $r ($w weights)"
  if ! "$dir/quant-run" "$so" --tokens-file "$dir/ids.npy" --generate $gen --json \
      >"$dir/gen-$r-$w.json" 2>"$dir/gen-$r-$w.err"; then
    cat "$dir/gen-$r-$w.err" >&2
    speed+="
| pd-kv-$r | $w | - | - | - | FAIL (run) |"
    rc=1
    continue
  fi
  line=$($py - "$dir" "$r" "$w" <<'EOF'
import json, sys
d, r, w = sys.argv[1:4]
g = json.load(open(f"{d}/gen-{r}-{w}.json"))
c = json.load(open(f"{d}/cpu-kv-{r}.json"))
gt, ct = g["tokens"], c["tokens"]
same = 0
while same < min(len(gt), len(ct)) and gt[same] == ct[same]:
    same += 1
# Greedy decoding: the first differing token (a near tie rounded the other
# way) changes everything after it, so count the common prefix.
ok = len(gt) == len(ct) and same >= len(ct) // 2
print(f"| pd-kv-{r} | {w} | {g['prefill_tok_s']:.0f} | {g['decode_tok_s']:.1f} | "
      f"{same}/{len(ct)} (common prefix) | {'PASS' if ok else 'FAIL'} |")
EOF
)
  echo "$line"
  speed+="
$line"
  case "$line" in *FAIL*) rc=1 ;; esac
done

echo
echo "$report"
echo
echo "$speed"
if [ -n "${OUT:-}" ]; then
  {
    echo "# pd-llama-6m on the GPU (quant-compile --target=cuda) vs the CPU build"
    echo
    nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
    echo
    echo "$report"
    echo
    echo "Decode through the runtime-managed KV cache (capacity 256), greedy, $gen tokens after the prompt:"
    echo
    echo "$speed"
  } >"$OUT/gpu-e2e.md"
fi
exit $rc
