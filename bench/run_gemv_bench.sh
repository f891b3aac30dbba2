#!/usr/bin/env bash
# f32 vs int8 vs int4 (and NF4) GEMV of lq_rt against a STREAM-like read
# bandwidth measured in the same run (the roofline), with 1 and 2 threads.
#
#   bench/run_gemv_bench.sh [BUILD_DIR]        (default: build)
#   QUICK=1 bench/run_gemv_bench.sh            (shorter timings)
#   THREADS="1 2 4" bench/run_gemv_bench.sh    (default: "1 2")
#
# Builds lq_rt in BUILD_DIR, compiles bench/gemv_bench.cpp against it and
# writes bench/results/gemv.{json,md}. GB/s is weight bytes (codes + scales
# + biases) / time; "roofline" is that over the measured read bandwidth.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
out=$root/bench/results
threads=${THREADS:-1 2}
mkdir -p "$out"
ninja -C "$build" lq_rt >/dev/null
cxx=${CXX:-clang++-22}
command -v "$cxx" >/dev/null || cxx=c++
"$cxx" -O3 -march=native -std=c++17 -I"$root/runtime/include" \
  "$root/bench/gemv_bench.cpp" -L"$build/lib" -llq_rt -Wl,-rpath,"$build/lib" \
  -lpthread -o "$build/bin/gemv_bench"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
quick=()
[[ -n ${QUICK:-} ]] && quick=(--quick)
for t in $threads; do
  echo "== LQ_NUM_THREADS=$t"
  LQ_NUM_THREADS=$t "$build/bin/gemv_bench" --json "$tmp/t$t.json" "${quick[@]}"
done

/usr/bin/python3 - "$out" "$tmp" $threads <<'PY'
import json, os, platform, subprocess, sys
out, tmp, threads = sys.argv[1], sys.argv[2], sys.argv[3:]
runs = [json.load(open(os.path.join(tmp, f"t{t}.json"))) for t in threads]
cpu = "unknown"
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
except OSError:
    pass
doc = {"cpu": cpu, "cores": os.cpu_count(), "command": "bench/run_gemv_bench.sh",
       "runs": runs}
json.dump(doc, open(os.path.join(out, "gemv.json"), "w"), indent=2)
L = ["# lq_rt GEMV vs read bandwidth", "",
     f"CPU: {cpu}, {os.cpu_count()} cores (shared machine), ISA {runs[0]['isa']} "
     f"(int8 x int8: {runs[0].get('w8a8_isa', '?')}).",
     "Command: `bench/run_gemv_bench.sh` (LQ_NUM_THREADS = " + ", ".join(threads) + ").",
     "GB/s = weight bytes (codes + scales + biases) / median time per call (>= 20 calls, >= 0.5 s); "
     "roofline = GB/s / the STREAM-like read bandwidth measured in the same run. "
     "Weights rotate through copies >= 4x L3, so every call reads DRAM. "
     "M = 64 rows: prefill (weight tiles decoded once per block, then dotted with the activation rows; GFLOP/s is the figure of merit). "
     "`int8 x int8 (w8a8)`: lq_rt_gemm_w8a8 on int8 activation codes (already quantized) and the "
     "compile-time packed int8 weight, int32 sums (GFLOP/s counts its multiply-adds the same way).", ""]
for r in runs:
    L.append(f"## {r['threads']} thread(s): read bandwidth {r['read_bandwidth_gbps']:.2f} GB/s")
    L.append("")
    L.append("| M | N x K | weight | bytes (MB) | time (us) | GB/s | roofline | GFLOP/s |")
    L.append("|---|---|---|---:|---:|---:|---:|---:|")
    for x in r["rows"]:
        L.append(f"| {x['M']} | {x['N']}x{x['K']} | {x['variant']} | {x['weight_bytes']/1e6:.2f} | "
                 f"{x['seconds']*1e6:.1f} | {x['gbps']:.2f} | {100*x['roofline_fraction']:.0f}% | {x['gflops']:.1f} |")
    L.append("")
open(os.path.join(out, "gemv.md"), "w").write("\n".join(L))
print(os.path.join(out, "gemv.md"))
PY
