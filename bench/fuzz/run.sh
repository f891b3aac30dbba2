#!/usr/bin/env bash
# Build the importer's libFuzzer target in its own build dir and run it for a
# bounded time.   usage: bench/fuzz/run.sh SECONDS [extra libFuzzer flags]
#
#   build:  build-fuzz/ (clang-22, -fsanitize=fuzzer-no-link,address, Release)
#   seeds:  every bundled .onnx (models/, test inputs written by
#           test/Import/ONNX/Inputs/make_models.py) and the .onnxtext tests
#           converted to binary, in build-fuzz/fuzz/seeds
#   corpus: build-fuzz/fuzz/corpus (grows across runs)
#   crashes: build-fuzz/fuzz/artifacts/crash-* (each becomes a regression test)
# One fuzzing process (the machine is shared); -j1 build.
set -euo pipefail
secs=${1:?usage: run.sh SECONDS [libFuzzer flags]}
shift
root=$(cd "$(dirname "$0")/../.." && pwd)
bdir=${LQ_FUZZ_BUILD_DIR:-$root/build-fuzz}
py=/usr/bin/python3

if [ ! -f "$bdir/build.ninja" ]; then
  cmake -G Ninja -S "$root" -B "$bdir" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
    -DLLVM_USE_LINKER=lld -DLQ_BUILD_FUZZERS=ON \
    -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link,address -g" \
    -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address -g" \
    -DLLVM_EXTERNAL_LIT=/usr/lib/llvm-22/bin/lit >/dev/null
fi
ninja -C "$bdir" -j1 import_fuzzer

work=$bdir/fuzz
mkdir -p "$work/seeds" "$work/corpus" "$work/artifacts"
# Seeds: the bundled models are large; libFuzzer caps inputs at -max_len, so
# also give the small generated test models and the text tests as binary.
$py "$root/test/Import/ONNX/Inputs/make_models.py" "$work/gen" >/dev/null
cp "$work"/gen/*.onnx "$work/seeds/"
$py - "$root" "$work/seeds" <<'PY'
import glob, os, sys
import onnx
from onnx import parser
root, out = sys.argv[1], sys.argv[2]
n = 0
for f in glob.glob(os.path.join(root, "test/Import/ONNX/**/*.onnxtext"), recursive=True) + \
         glob.glob(os.path.join(root, "test/Import/ONNX/*.test")):
    text = open(f).read()
    # .test files hold split-file sections; take each //--- *.onnxtext part.
    parts = text.split("//--- ")[1:] if f.endswith(".test") else [text]
    for i, p in enumerate(parts):
        body = p.split("\n", 1)[1] if f.endswith(".test") else p
        body = "\n".join(l for l in body.splitlines() if not l.startswith("#"))
        try:
            m = parser.parse_model(body)
        except Exception:
            continue
        name = "%s-%d.onnx" % (os.path.basename(f).rsplit(".", 1)[0], i)
        open(os.path.join(out, name), "wb").write(m.SerializeToString())
        n += 1
print("text seeds:", n)
PY
for m in "$root"/models/*/*.onnx; do
  cp "$m" "$work/seeds/$(basename "$(dirname "$m")")-$(basename "$m")"
done

cd "$work"
# -rss_limit_mb: an input that makes the importer allocate gigabytes is a bug.
ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
"$bdir/bin/import_fuzzer" corpus seeds -max_total_time="$secs" \
  -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=20 -max_len=65536 \
  -artifact_prefix=artifacts/ -print_final_stats=1 "$@" 2>&1 | tee last-run.log | \
  grep -E "^#|ERROR|SUMMARY|stat::|Done|crash|leak|oom|timeout" | tail -40
echo "artifacts: $(ls artifacts | wc -l) in $work/artifacts"
