#!/usr/bin/env bash
# llama.cpp as lq's CPU benchmark peer: fetch, build, convert pd-llama-6m, quantize, check.
#
#   bench/llamacpp/build.sh            (idempotent; everything goes to build-llamacpp/, git-ignored)
#
# 1. `npm pack node-llama-cpp@3.21.1` (the npm registry is the only download): the package
#    ships llama.cpp's source as a git bundle (llama/gitRelease.bundle, release "v0.4.0" of
#    node-llama-cpp's llama.cpp, ggml 0.23.0, commit 80fb11a) and the patches it applies
#    (llama/patches/*.diff); both are used as node-llama-cpp uses them.
# 2. cmake + ninja, Release, GGML_NATIVE=ON (-march=native), CPU backend only (no CUDA, Vulkan,
#    Metal, curl, OpenSSL), OpenMP threads (ggml's default); only the targets needed:
#    llama-bench, llama-quantize, libllama. JOBS (default 2) parallel jobs at nice 10; ccache if
#    cmake finds it. Compiler: cmake's default (CC/CXX to change it).
# 3. llama_logits.cpp (the logits check's driver) against that libllama.
# 4. convert_pd_llama.py: checkpoint.pt -> gguf/pd-llama-6m-f32.gguf with llama.cpp's gguf-py.
# 5. llama-quantize -> pd-llama-6m-q8_0.gguf, pd-llama-6m-q4_0.gguf (and pd-llama-6m-bf16.gguf
#    when it supports BF16), its defaults: Q8_0 is
#    Q8_0 throughout; Q4_0 makes the tied embedding (which is also the lm_head) Q6_K, every
#    other matrix Q4_0 (lq's w4a16-rtn keeps its lm_head in int8 per channel; with
#    `--output-tensor-type q8_0` llama.cpp decoded ~10% slower here, so the default, the
#    stronger peer, is kept). Norms stay F32.
# 6. check_logits.py: llama.cpp's logits of the F32 GGUF against PyTorch's ref_logits.npy must
#    agree within 1e-5 relative (max |diff| / max |ref|) with f32 arithmetic (f32 KV cache,
#    flash attention off); llama.cpp's default settings (f16 KV cache, flash attention) and the
#    quantized GGUFs are reported.
#
# Environment: LLAMACPP_DIR (default build-llamacpp), JOBS (2), MODEL_DIR (models/pd-llama-6m;
# checkpoint.pt comes from ../shared/models/pd-llama-6m when the repo copy lacks it).
# Prints the paths of llama-bench and the three GGUFs at the end.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
here=$root/bench/llamacpp
dir=${LLAMACPP_DIR:-$root/build-llamacpp}
[[ $dir = /* ]] || dir=$PWD/$dir
jobs=${JOBS:-2}
py=/usr/bin/python3
version=3.21.1
mdir=${MODEL_DIR:-$root/models/pd-llama-6m}
for d in "$mdir" "$root/../shared/models/pd-llama-6m"; do
  [[ -f $d/checkpoint.pt ]] && { ckdir=$d; break; }
done
[[ -n ${ckdir:-} ]] || { echo "llamacpp/build.sh: no checkpoint.pt in $mdir or ../shared/models/pd-llama-6m" >&2; exit 1; }
mkdir -p "$dir" "$dir/gguf"
cd "$dir"

# --- 1. package and source ---------------------------------------------------------------
tgz=node-llama-cpp-$version.tgz
if [[ ! -f $tgz ]]; then
  echo "== npm pack node-llama-cpp@$version"
  npm pack "node-llama-cpp@$version" --silent >/dev/null
fi
if [[ ! -f package/llama/gitRelease.bundle ]]; then
  tar xzf "$tgz" package/llama
fi
if [[ ! -d llama.cpp/.git ]]; then
  echo "== llama.cpp source from package/llama/gitRelease.bundle"
  git clone -q package/llama/gitRelease.bundle llama.cpp
fi
for p in package/llama/patches/*.diff; do
  [[ -f $p ]] || continue
  git -C llama.cpp apply --reverse --check "$dir/$p" 2>/dev/null && continue # already applied
  echo "   applying $(basename "$p")"
  git -C llama.cpp apply "$dir/$p"
done

# --- 2. build ----------------------------------------------------------------------------
export CCACHE_BASEDIR=$root
if [[ ! -f build/build.ninja ]]; then
  echo "== cmake (Release, GGML_NATIVE=ON, CPU only)"
  nice -n 10 cmake -G Ninja -S llama.cpp -B build -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
    -DGGML_CUDA=OFF -DGGML_VULKAN=OFF -DGGML_METAL=OFF -DGGML_OPENMP=ON -DLLAMA_CURL=OFF \
    -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
    -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_BUILD_TOOLS=ON >cmake.log 2>&1 ||
    { tail -30 cmake.log >&2; exit 1; }
fi
echo "== ninja -j$jobs llama-bench llama-quantize llama"
nice -n 10 ninja -C build -j"$jobs" llama-bench llama-quantize llama >ninja.log 2>&1 ||
  { grep -A5 -E 'FAILED|error' ninja.log | head -40 >&2; exit 1; }
bin=$dir/build/bin

# --- 3. logits driver --------------------------------------------------------------------
if [[ ! -x $bin/llama_logits || $here/llama_logits.cpp -nt $bin/llama_logits ]]; then
  echo "== llama_logits"
  nice -n 10 "${CXX:-c++}" -O2 -std=c++17 "$here/llama_logits.cpp" -I llama.cpp/include \
    -I llama.cpp/ggml/include -L "$bin" -lllama -lggml -lggml-base -Wl,-rpath,"$bin" -o "$bin/llama_logits"
fi

# --- 4./5. GGUFs -------------------------------------------------------------------------
f32=$dir/gguf/pd-llama-6m-f32.gguf
if [[ ! -f $f32 || $here/convert_pd_llama.py -nt $f32 ]]; then
  echo "== convert pd-llama-6m -> $f32"
  $py "$here/convert_pd_llama.py" "$ckdir" llama.cpp/gguf-py "$f32"
fi
quant() { # type out extra-args (redone when the F32 GGUF or the arguments changed)
  if [[ ! -f $2 || $f32 -nt $2 || "$*" != "$(cat "$2.args" 2>/dev/null)" ]]; then
    echo "== llama-quantize $1 -> $2"
    "$bin/llama-quantize" "${@:3}" "$f32" "$2" "$1" >"$2.log" 2>&1 || { tail -20 "$2.log" >&2; exit 1; }
    echo "$*" >"$2.args"
  fi
}
quant Q8_0 "$dir/gguf/pd-llama-6m-q8_0.gguf"
quant Q4_0 "$dir/gguf/pd-llama-6m-q4_0.gguf"
# BF16 (GGML_TYPE_BF16, every matrix incl. the tied embedding/lm_head; the peer of lq's bf16
# recipe): optional, skipped with a note when this llama.cpp's llama-quantize lacks it.
bf16=$dir/gguf/pd-llama-6m-bf16.gguf
if ! (quant BF16 "$bf16"); then
  echo "   llama-quantize cannot make BF16; no BF16 peer"; rm -f "$bf16"
fi

# --- 6. same model? ----------------------------------------------------------------------
echo "== logits vs PyTorch (ref_logits.npy)"
bf16s=(); [[ -f $bf16 ]] && bf16s=("$bf16")
$py "$here/check_logits.py" "$bin/llama_logits" "$mdir" "$f32" "$dir/gguf/pd-llama-6m-q8_0.gguf" \
  "$dir/gguf/pd-llama-6m-q4_0.gguf" ${bf16s[@]+"${bf16s[@]}"} --max-rel-err 1e-5

echo "llama-bench: $bin/llama-bench"
echo "gguf: $f32 $dir/gguf/pd-llama-6m-q8_0.gguf $dir/gguf/pd-llama-6m-q4_0.gguf ${bf16s[*]:-}"
