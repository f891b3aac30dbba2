#!/usr/bin/env bash
# lq vs onnxruntime-node 1.30 (CPU EP) on the same machine in the same run,
# reported as ratios, and lq's decode against the read-bandwidth roofline.
#
#   bench/run_cpu_bench.sh [BUILD_DIR]     (default: build; uses BUILD_DIR/bin/quant-{compile,run})
#
# Environment:
#   THREADS="1 2"  thread counts (LQ_NUM_THREADS for lq, intraOpNumThreads for ORT)
#   REPS=3         every measurement is taken REPS times (interleaved); the median is reported
#   WIDE=1         also the wide random-weight model (dim 768, 12 layers, vocab 32000), decode
#                  only (its bandwidth-bound regime); WIDE=0 skips it
#   WORK=build-bench  scratch directory for .so files, inputs, the wide model (git-ignored)
#   LLAMACPP=1     also llama.cpp (llama-bench, from node-llama-cpp 3.21.1's source) on GGUFs of
#                  pd-llama-6m: F32, Q8_0, Q4_0, BF16, paired with lq's float, w8a8-dynamic, w4a16-rtn
#                  and w4a8-rtn, bf16 (Q4_0 is measured once and reported beside both int4 recipes;
#                  BF16 only when that llama.cpp's llama-quantize makes it).
#                  Built by bench/llamacpp/build.sh (idempotent; build-llamacpp/, or
#                  LLAMACPP_DIR). Default: on when that build succeeds, skipped (with a note)
#                  when it fails; LLAMACPP=1 makes a failed build an error, LLAMACPP=0 skips it.
#   LLAMACPP_ARGS=  extra llama-bench arguments (e.g. "-fa 0": flash attention off; default auto)
#   RECIPES="..."  the lq recipes to run (default: float w8a16 w8a8-dynamic w4a16-rtn w4a8-rtn bf16;
#                  a subset runs only those rows and the llama.cpp types paired with them)
#   OUT_NAME=cpu   writes bench/results/OUT_NAME.{md,json} (a partial run: another name, so cpu.md
#                  keeps the full table)
#
# Models and shapes (static, as quant-compile needs them):
#   prefill: models/pd-llama-6m/model.onnx, --dim batch=1 --dim seq=128 (128 tokens)
#   decode:  model_kv.onnx, --dim batch=1 --dim seq=1 --dim past_seq=127 (one token after a
#            random KV cache of 127)
# lq recipes: float, w8a16, w8a8-dynamic (int8 activations per token, computed at run time,
# x int8 weights: the integer GEMM), w4a16-rtn, w4a8-rtn (int4 RTN weights x dynamic per-token
# int8 activations: lq_rt_linear_w4a8's integer GEMM; w4a8's format with RTN instead of GPTQ
# weights, so no calibration, the same kernel and speed) (none needs calibration). ORT always runs the
# float32 ONNX with graphOptimizationLevel 'all' (bench/ort/run.js), so the quantized rows'
# ratios compare lq's quantized model with ORT's float32 one.
# llama.cpp (LLAMACPP): `llama-bench -t THREADS -o json`, prefill `-p 128 -n 0 -r 30`, decode
# `-p 0 -n 1 -d 127 -r 300` (one token after a 127-token context, the context restored before
# each untimed), the median of its samples: the same measurement as lq's `--repeat` (median of
# single steps over a 127-token cache). Interleaved with lq and ORT at the same thread counts;
# pd-llama-6m only (the wide model has no checkpoint to convert).
#
# Roofline: decode step time / (bytes / read bandwidth), with the bandwidth of bench/read_bw.cpp
# (a STREAM-like sum over 256 MiB) at the same thread count in the same run. Two byte counts:
# the .so's weight_bytes (its signature), and the bytes one step reads: weight_bytes less an
# untied f32 embedding table that decode only gathers one row from (weight-only recipes keep
# the Gather table in f32 and quantize the lm_head copy).
#
# Writes bench/results/cpu.{md,json}. Installs what it needs (npm package in bench/ort, and
# python3-torch + libopenblas0-pthread through apt for the wide model). Not a test: timings
# on a shared machine are noisy.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
[[ $build = /* ]] || build=$PWD/$build
bin=$build/bin
work=${WORK:-$root/build-bench}
[[ $work = /* ]] || work=$PWD/$work
out=$root/bench/results
threads=${THREADS:-1 2}
reps=${REPS:-3}
wide=${WIDE:-1}
recipes=${RECIPES:-float w8a16 w8a8-dynamic w4a16-rtn w4a8-rtn bf16}
outname=${OUT_NAME:-cpu}
T=128
PAST=127
pd=$root/models/pd-llama-6m
py=/usr/bin/python3

t_start=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
for t in "$bin/quant-compile" "$bin/quant-run"; do
  [[ -x $t ]] || { echo "run_cpu_bench: $t not found (build it: ninja -C $build quant-compile quant-run)" >&2; exit 1; }
done
mkdir -p "$work/so" "$work/in" "$out"
raw=$work/raw.jsonl
: >"$raw"

# --- Dependencies --------------------------------------------------------------------------
sudo_=""
[[ $(id -u) -eq 0 ]] || sudo_=sudo
apt_need() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    echo "== installing ${missing[*]}"
    $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}
apt_need python3-numpy
{ command -v node && command -v npm; } >/dev/null || apt_need nodejs npm
if [[ ! -f $root/bench/ort/node_modules/onnxruntime-node/package.json ]]; then
  echo "== npm ci in bench/ort (onnxruntime-node 1.30.0, CPU binaries only)"
  (cd "$root/bench/ort" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund >/dev/null)
fi
ort="node $root/bench/ort/run.js"

llamacpp=${LLAMACPP:-auto}
lcdir=${LLAMACPP_DIR:-$root/build-llamacpp}
[[ $lcdir = /* ]] || lcdir=$PWD/$lcdir
# GGUF type : lq recipe. Q8_0 pairs with w8a8-dynamic: both quantize the
# activations per row at run time and multiply int8 by int8; Q4_0 pairs with
# w4a16-rtn (the same int4 weights, f32 activations) and w4a8-rtn (int8 x int4,
# Q4_0's arithmetic). Types none of whose recipes run are skipped.
# BF16 pairs with lq's bf16 recipe (bfloat16 weights, f32 activations), when
# bench/llamacpp/build.sh could make its GGUF.
lc_pairs="f32:float q8_0:w8a8-dynamic q4_0:w4a16-rtn,w4a8-rtn bf16:bf16"
read -r -a lcextra <<<"${LLAMACPP_ARGS:-}"
lc_check=$work/llamacpp-check.txt
: >"$lc_check"
if [[ $llamacpp != 0 ]]; then
  echo "== llama.cpp peer: bench/llamacpp/build.sh (log: $work/llamacpp-build.log)"
  if LLAMACPP_DIR=$lcdir "$root/bench/llamacpp/build.sh" >"$work/llamacpp-build.log" 2>&1; then
    llamacpp=1
    grep 'rel_err' "$work/llamacpp-build.log" >"$lc_check" || true
  elif [[ $llamacpp == 1 ]]; then
    tail -20 "$work/llamacpp-build.log" >&2; exit 1
  else
    echo "   llama.cpp build failed; skipping it (LLAMACPP=1 to make this an error)"; llamacpp=0
  fi
fi

cxx=${CXX:-clang++-22}
command -v "$cxx" >/dev/null || cxx=c++
"$cxx" -O3 -march=native -std=c++17 "$root/bench/read_bw.cpp" -lpthread -o "$work/read_bw"

# --- Models --------------------------------------------------------------------------------
# name:dir:kv_heads:head_dim:layers:vocab:dim:modes
models=("pd-llama-6m:$pd:4:32:6:4096:256:prefill decode")
if [[ $wide == 1 ]]; then
  apt_need python3-torch libopenblas0-pthread
  echo "== wide model (export once, cached in $work/wide)"
  $py "$root/bench/make_wide_model.py" "$work/wide" 2>&1 | grep -v Warning | grep -v 'mask=torch' || true
  [[ -f $work/wide/model_kv.onnx ]] || { echo "run_cpu_bench: wide model export failed" >&2; exit 1; }
  models+=("wide-768x12:$work/wide:4:64:12:32000:768:decode")
fi

# --- Inputs --------------------------------------------------------------------------------
for m in "${models[@]}"; do
  IFS=: read -r name dir kvh hd layers vocab dim modes <<<"$m"
  $py - "$work/in/$name" "$kvh" "$hd" "$layers" "$T" "$PAST" <<'PY'
import numpy as np, os, sys
d, kvh, hd, L, T, P = sys.argv[1], *map(int, sys.argv[2:])
os.makedirs(d, exist_ok=True)
r = np.random.default_rng(0)
np.save(f'{d}/ids.npy', r.integers(1, 64, (1, T)).astype(np.int64))
for i in range(L):
    for k in ('key', 'value'):
        np.save(f'{d}/past_{k}.{i}.npy', r.uniform(-1, 1, (1, kvh, P, hd)).astype(np.float32))
PY
done
past_args() { # name layers
  local a=() i
  for ((i = 0; i < $2; ++i)); do
    a+=(--input "past_key.$i=$work/in/$1/past_key.$i.npy" --input "past_value.$i=$work/in/$1/past_value.$i.npy")
  done
  echo "${a[@]}"
}

# --- Compile (timed) -----------------------------------------------------------------------
now() { date +%s.%N; }
compile() { # name onnx mode recipe rep
  local so=$work/so/$1-$3-$4.so dims
  if [[ $3 == prefill ]]; then dims=(--dim batch=1 --dim seq=$T); else dims=(--dim batch=1 --dim seq=1 --dim past_seq=$PAST); fi
  local t0 t1
  t0=$(now)
  "$bin/quant-compile" "$2" "${dims[@]}" --recipe "$4" -o "$so" 2>"$work/compile.log" ||
    { cat "$work/compile.log" >&2; exit 1; }
  t1=$(now)
  local wb params
  wb=$(sed -n 's/^ \*   weight_bytes \([0-9]*\)$/\1/p' "${so%.so}.h")
  params=$(sed -n 's/^ \*   params \([0-9]*\)$/\1/p' "${so%.so}.h")
  echo "{\"kind\": \"compile\", \"model\": \"$1\", \"mode\": \"$3\", \"recipe\": \"$4\", \"rep\": $5, \"seconds\": $(awk "BEGIN{print $t1 - $t0}"), \"weight_bytes\": ${wb:-0}, \"params\": ${params:-0}, \"so_bytes\": $(stat -c %s "$so")}" >>"$raw"
}
for m in "${models[@]}"; do
  IFS=: read -r name dir kvh hd layers vocab dim modes <<<"$m"
  for mode in $modes; do
    onnx=$dir/model.onnx
    [[ $mode == decode ]] && onnx=$dir/model_kv.onnx
    for r in $recipes; do
      echo "== quant-compile $name $mode $r"
      compile "$name" "$onnx" "$mode" "$r" 1
    done
  done
done
# End-to-end compile time of pd-llama-6m (float prefill), REPS times in all.
[[ " $recipes " == *" float "* ]] && for ((k = 2; k <= reps; ++k)); do compile pd-llama-6m "$pd/model.onnx" prefill float "$k"; done

# --- Timings (interleaved: rep -> threads -> model -> mode -> ORT, lq recipes) ----------------
for ((rep = 1; rep <= reps; ++rep)); do
  for t in $threads; do
    echo "== rep $rep/$reps, $t thread(s)"
    bw=$("$work/read_bw" "$t" 0.5)
    echo "{\"kind\": \"bandwidth\", \"threads\": $t, \"rep\": $rep, \"gbps\": $(echo "$bw" | sed 's/.*"read_bandwidth_gbps": \([0-9.]*\).*/\1/')}" >>"$raw"
    for m in "${models[@]}"; do
      IFS=: read -r name dir kvh hd layers vocab dim modes <<<"$m"
      for mode in $modes; do
        if [[ $mode == prefill ]]; then
          oargs=("$dir/model.onnx" --prefill $T); lqin=(--tokens-file "$work/in/$name/ids.npy")
          n_ort=20; n_lq=30
        else
          oargs=("$dir/model_kv.onnx" --decode $PAST); lqin=(--tokens 5 $(past_args "$name" "$layers"))
          n_ort=100; n_lq=300
        fi
        [[ $name == wide* ]] && { n_ort=15; n_lq=30; }
        j=$($ort "${oargs[@]}" --threads "$t" --runs $n_ort --warmup 3)
        s=$(echo "$j" | sed 's/.*"median_s":\([0-9.e-]*\).*/\1/')
        echo "{\"kind\": \"ort\", \"model\": \"$name\", \"mode\": \"$mode\", \"recipe\": \"float\", \"threads\": $t, \"rep\": $rep, \"seconds\": $s}" >>"$raw"
        for r in $recipes; do
          j=$(LQ_NUM_THREADS=$t "$bin/quant-run" "$work/so/$name-$mode-$r.so" "${lqin[@]}" --json --repeat $n_lq)
          s=$(echo "$j" | sed 's/.*"prefill_s": \([0-9.e-]*\).*/\1/')
          echo "{\"kind\": \"lq\", \"model\": \"$name\", \"mode\": \"$mode\", \"recipe\": \"$r\", \"threads\": $t, \"rep\": $rep, \"seconds\": $s}" >>"$raw"
        done
        if [[ $llamacpp == 1 && $name == pd-llama-6m ]]; then
          # seconds: median llama-bench sample (one prefill of T tokens, or one decoded token)
          if [[ $mode == prefill ]]; then lcargs=(-p $T -n 0 -r $n_lq); else lcargs=(-p 0 -n 1 -d $PAST -r $n_lq); fi
          for pq in $lc_pairs; do
            IFS=: read -r qt rs <<<"$pq"
            paired=()
            for r in ${rs//,/ }; do [[ " $recipes " == *" $r "* ]] && paired+=("$r"); done
            [[ ${#paired[@]} -gt 0 ]] || continue
            [[ -f $lcdir/gguf/pd-llama-6m-$qt.gguf ]] || continue # e.g. no BF16 in this llama.cpp
            j=$("$lcdir/build/bin/llama-bench" -m "$lcdir/gguf/pd-llama-6m-$qt.gguf" -t "$t" "${lcargs[@]}" ${lcextra[@]+"${lcextra[@]}"} -o json 2>/dev/null)
            s=$(echo "$j" | $py -c 'import json, statistics, sys
r = json.load(sys.stdin)[0]
print(statistics.median(r["samples_ns"]) / 1e9 / (1 if r["n_prompt"] else r["n_gen"]))')
            for r in "${paired[@]}"; do
              echo "{\"kind\": \"llamacpp\", \"model\": \"$name\", \"mode\": \"$mode\", \"recipe\": \"$r\", \"gguf\": \"${qt^^}\", \"threads\": $t, \"rep\": $rep, \"seconds\": $s}" >>"$raw"
            done
          done
        fi
      done
    done
  done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
t_end=$(date +%s)

# --- Report --------------------------------------------------------------------------------
lscpu >"$work/lscpu.txt"
$py - "$raw" "$out" "$work/lscpu.txt" "$load_start" "$load_end" "$((t_end - t_start))" "$reps" \
    "$T" "$PAST" "$recipes" "$lc_check" "${LLAMACPP_ARGS:-}" "$outname" "${models[@]}" <<'PY'
import json, os, statistics, sys
raw, out, lscpu, load0, load1, wall, reps, T, P, recipes, lc_check, lc_args, outname = sys.argv[1:14]
models = [m.split(':') for m in sys.argv[14:]]
lc_check = [l.strip() for l in open(lc_check) if l.strip()]
rows = [json.loads(l) for l in open(raw)]
info = dict(l.split(':', 1) for l in open(lscpu) if ':' in l)
info = {k.strip(): v.strip() for k, v in info.items()}
med = statistics.median
def sel(**kw): return [r for r in rows if all(r.get(k) == v for k, v in kw.items())]
threads = sorted({r['threads'] for r in rows if 'threads' in r})
bw = {t: med([r['gbps'] for r in sel(kind='bandwidth', threads=t)]) for t in threads}
compile_s, wbytes, params = {}, {}, {}
for r in sel(kind='compile'):
    compile_s.setdefault((r['model'], r['mode'], r['recipe']), []).append(r['seconds'])
    wbytes[(r['model'], r['mode'], r['recipe'])] = r['weight_bytes']
    params[(r['model'], r['mode'], r['recipe'])] = r['params']
vocab_dim = {m[0]: int(m[5]) * int(m[6]) for m in models}
def read_bytes(model, mode, recipe):
    # weight_bytes less an untied f32 Gather table (decode reads one row of it)
    extra = params[(model, mode, recipe)] - params.get((model, mode, 'float'), params[(model, mode, recipe)])
    wb = wbytes[(model, mode, recipe)]
    return wb - 4 * vocab_dim[model] if extra == vocab_dim[model] else wb
res = []
for name, _, _, _, _, _, _, modes in models:
    for mode in modes.split():
        for t in threads:
            o = sel(kind='ort', model=name, mode=mode, threads=t)
            ort_s = med([r['seconds'] for r in o])
            ntok = int(T) if mode == 'prefill' else 1
            for rc in recipes.split():
                l = sel(kind='lq', model=name, mode=mode, recipe=rc, threads=t)
                s = med([r['seconds'] for r in l])
                wb, rb = wbytes[(name, mode, rc)], read_bytes(name, mode, rc)
                x = dict(model=name, mode=mode, threads=t, recipe=rc, tokens=ntok,
                         lq_s=s, lq_tok_s=ntok / s, lq_s_reps=[r['seconds'] for r in l],
                         ort_s=ort_s, ort_tok_s=ntok / ort_s, ort_s_reps=[r['seconds'] for r in o],
                         ratio=ort_s / s, weight_bytes=wb, read_bytes=rb,
                         compile_s=med(compile_s[(name, mode, rc)]),
                         read_bandwidth_gbps=bw[t])
                if mode == 'decode':
                    x['roofline_weight_bytes'] = wb / (bw[t] * 1e9) / s
                    x['roofline_read_bytes'] = rb / (bw[t] * 1e9) / s
                    if (name, mode, 'float') in wbytes:
                        x['ort_roofline'] = wbytes[(name, mode, 'float')] / (bw[t] * 1e9) / ort_s
                c = sel(kind='llamacpp', model=name, mode=mode, recipe=rc, threads=t)
                if c:
                    lc_s = med([r['seconds'] for r in c])
                    x.update(llamacpp_gguf=c[0]['gguf'], llamacpp_s=lc_s, llamacpp_tok_s=ntok / lc_s,
                             llamacpp_s_reps=[r['seconds'] for r in c], ratio_llamacpp=lc_s / s)
                res.append(x)
doc = dict(command='bench/run_cpu_bench.sh', peer='onnxruntime-node 1.30.0 (CPU EP, graphOptimizationLevel all)',
           cpu=info.get('Model name'), cpus=info.get('CPU(s)'), l3=info.get('L3 cache'),
           peer_llamacpp=('llama.cpp from node-llama-cpp 3.21.1 (ggml 0.23.0, 80fb11a), llama-bench, GGUF F32/Q8_0/Q4_0/BF16 '
                          '(bench/llamacpp/build.sh)') if any(r['kind'] == 'llamacpp' for r in rows) else None,
           llamacpp_logits_check=lc_check, llamacpp_args=lc_args,
           hypervisor=info.get('Hypervisor vendor'), flags_avx512='avx512f' in info.get('Flags', ''),
           load_average_start=load0, load_average_end=load1, wall_s=int(wall), reps=int(reps),
           read_bandwidth_gbps=bw, prefill_tokens=int(T), decode_past=int(P), rows=res, raw=rows)
json.dump(doc, open(os.path.join(out, outname + '.json'), 'w'), indent=1)

L = ['# lq vs onnxruntime-node on CPU (same machine, same run)', '',
     f"Machine: {info.get('Model name')} ({info.get('Vendor ID')}, family {info.get('CPU family')} model {info.get('Model')}), "
     f"{info.get('CPU(s)')} vCPUs under {info.get('Hypervisor vendor', 'no')} hypervisor, L2 {info.get('L2 cache')}, "
     f"L3 {info.get('L3 cache')}, AVX-512. A **shared 2-core VM**: other jobs run beside the benchmark, so figures are noisy; "
     f"every measurement was taken {reps} times, interleaved, and the median is reported. "
     f"Load average (1/5/15 min) at start: {load0}; at end: {load1}. Wall time {int(wall)} s.", '',
     'Command: `bench/run_cpu_bench.sh` (lq: `quant-compile` + `quant-run --json --repeat N`, `LQ_NUM_THREADS`; '
     'ORT: `bench/ort/run.js`, onnxruntime-node 1.30.0, CPU EP, intraOpNumThreads = threads, '
     "graphOptimizationLevel 'all', median of N runs after 3 warm-up runs). "
     f'Prefill: {T} tokens of `model.onnx`; decode: one token of `model_kv.onnx` after a random KV cache of {P}. '
     'ORT always runs the float32 ONNX: the ratio of a quantized row is lq quantized vs ORT float32.', '',
     'Roofline (decode): step time vs bytes / read bandwidth, bandwidth from `bench/read_bw.cpp` '
     '(STREAM-like sum over 256 MiB) at the same thread count: ' +
     ', '.join(f'{t} thread(s) {bw[t]:.2f} GB/s' for t in threads) + '. '
     '"% roofline (.so)" uses the model\'s `weight_bytes`; "% roofline (read)" the bytes a step reads '
     '(less the f32 Gather table the weight-only recipes keep beside a quantized lm_head; decode reads one row of it). '
     'pd-llama-6m\'s weights (23 MB f32) fit in the 32 MB L3, so its roofline can exceed 100%: '
     'only the wide model is bandwidth-bound.', '']
has_lc = any('llamacpp_s' in x for x in res)
if has_lc:
    L[0] = '# lq vs onnxruntime-node and llama.cpp on CPU (same machine, same run)'
    L += ['llama.cpp (the stronger CPU peer): its source as shipped in node-llama-cpp 3.21.1 (ggml 0.23.0, commit 80fb11a, '
          'with the package\'s patch), built by `bench/llamacpp/build.sh` (Release, `GGML_NATIVE=ON`, CPU backend, OpenMP), '
          f'`llama-bench -t THREADS{(" " + lc_args) if lc_args else ""} -o json`, default settings otherwise (f16 KV cache, flash attention auto, '
          'warm-up run), the median of its samples, as lq: prefill `-p 128 -n 0 -r 30` (from an empty cache, as lq and ORT); '
          f'decode `-p 0 -n 1 -d {P} -r 300`: one token after a {P}-token context (restored, untimed, before each sample), '
          f'as lq times one step over a {P}-token cache (llama-bench\'s usual `-n 64` would time 64 growing-context tokens '
          'per sample, and a mean per sample lets a loaded machine\'s preemptions in). GGUFs converted from `checkpoint.pt` by '
          '`bench/llamacpp/convert_pd_llama.py` and quantized with `llama-quantize`. '
          'Pairs: lq float ↔ F32; lq w8a8-dynamic (weights int8 symmetric per output channel, f32 scales; activations '
          'int8 per token, scales computed at run time; int8 x int8 GEMM with int32 sums; lm_head int8 weight-only) '
          '↔ Q8_0 (int8 symmetric, blocks of 32 along K, f16 scales; everything incl. the tied embedding/lm_head); '
          'lq w8a16 (the same int8 weights, f32 activations) has no llama.cpp pair; '
          'lq w4a16-rtn (int4 symmetric, groups of 128 along K, f32 scales; lm_head int8 per channel) and '
          'lq w4a8-rtn (the same int4 weights x int8 activations per token, scales computed at run time: int32 sums '
          'per group of 128, f32 over groups; lm_head int8 weight-only with f32 activations, as in w4a16-rtn: quantize-activations leaves the head\'s input float) ↔ Q4_0 '
          '(int4 symmetric, blocks of 32, f16 scales; tied embedding/lm_head Q6_K, llama-quantize\'s default, which decoded '
          '~10% faster than a Q8_0 lm_head). '
          'llama.cpp\'s Q8_0/Q4_0 matmuls quantize the activations to Q8_0 on the fly (integer dot products: '
          'W8A8/W4A8 arithmetic); lq\'s a16 recipes keep f32 activations in the graph and in prefill, and their decode GEMVs on integer weights quantize them to int16 per segment of up to 256 codes (16 bits of its range, lq_rt_qgemv_i16, where the CPU has AVX-512 VNNI). '
          'lq bf16 (bfloat16 weights for every linear incl. lm_head, f32 activations: decode widens the weights to f32 '
          'exactly, prefill runs AVX-512 BF16 vdpbf16ps on activations rounded to bf16 where the CPU has it) ↔ BF16 '
          '(every matrix incl. the tied embedding/lm_head; ggml\'s BF16 dot rounds the activations to bf16). '
          '"lq / llama.cpp" > 1: lq is faster.', '']
    if lc_check:
        L += ['Same model: llama.cpp\'s logits vs PyTorch\'s `ref_logits.npy` (8 tokens; rel_err = max|diff| / max|ref|; '
              'batch = prefill, step = one token at a time over the KV cache):', '']
        L += [f'    {l}' for l in lc_check] + ['']
lc_head = ' llama.cpp type | llama.cpp tok/s | lq / llama.cpp |' if has_lc else ''
L += ['| model | phase | threads | recipe | lq tok/s | ORT f32 tok/s | lq / ORT |' + lc_head +
      ' weights MB (.so / read) | % roofline (.so) | % roofline (read) | ORT % roofline | compile s |',
      '|---|---|---:|---|---:|---:|---:|' + ('---|---:|---:|' if has_lc else '') + '---:|---:|---:|---:|---:|']
for x in res:
    dec = x['mode'] == 'decode'
    pct = lambda k: f"{100 * x[k]:.0f}%" if dec and k in x else '–'
    L.append(f"| {x['model']} | {x['mode']} | {x['threads']} | {x['recipe']} | {x['lq_tok_s']:,.1f} | "
             f"{x['ort_tok_s']:,.1f} | {x['ratio']:.2f}x | " +
             ((f"{x['llamacpp_gguf']} | {x['llamacpp_tok_s']:,.1f} | {x['ratio_llamacpp']:.2f}x | " if 'llamacpp_s' in x
               else '– | – | – | ') if has_lc else '') +
             f"{x['weight_bytes']/1e6:.1f} / {x['read_bytes']/1e6:.1f} | "
             f"{pct('roofline_weight_bytes')} | {pct('roofline_read_bytes')} | {pct('ort_roofline')} | {x['compile_s']:.1f} |")
pc = compile_s.get(('pd-llama-6m', 'prefill', 'float'), [])
if pc: L += ['', f"Compile time of pd-llama-6m end to end (ONNX -> .so, float, seq 128): median {med(pc):.1f} s of "
      f"{len(pc)} ({', '.join(f'{v:.1f}' for v in pc)}); other compile times measured once.", '']
open(os.path.join(out, outname + '.md'), 'w').write('\n'.join(L))
print('\n'.join(L))
PY
