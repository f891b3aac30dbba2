#!/usr/bin/env bash
# f32 vs int8 vs int4 (and NF4) GEMV of lq_rt against a STREAM-like read
# bandwidth measured in the same run (the roofline), with 1 and 2 threads.
#
#   bench/run_gemv_bench.sh [BUILD_DIR]        (default: build)
#   QUICK=1 bench/run_gemv_bench.sh            (shorter timings)
#   THREADS="1 2 4" bench/run_gemv_bench.sh    (default: "1 2")
#   REPS=5 bench/run_gemv_bench.sh              (whole runs, default 3; medians)
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
# REPS whole runs, interleaved over thread counts: on a shared machine one
# run's rows can all land in a noisy minute, so each row reports the median
# over the runs (and the range of its roofline).
reps=${REPS:-3}
[[ $reps =~ ^[1-9][0-9]*$ ]] || { echo "run_gemv_bench: REPS must be a positive integer, got '$reps'" >&2; exit 2; }
for ((rep = 1; rep <= reps; ++rep)); do
  for t in $threads; do
    echo "== run $rep/$reps, LQ_NUM_THREADS=$t"
    LQ_NUM_THREADS=$t "$build/bin/gemv_bench" --json "$tmp/t$t.r$rep.json" "${quick[@]}"
  done
done

/usr/bin/python3 - "$out" "$tmp" "$reps" $threads <<'PY'
import json, os, statistics, sys
out, tmp, reps, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
def merge(t):
    rs = [json.load(open(os.path.join(tmp, f"t{t}.r{k}.json"))) for k in range(1, reps + 1)]
    med = statistics.median
    run = dict(rs[0])
    run["reps"] = reps
    run["read_bandwidth_gbps"] = med(r["read_bandwidth_gbps"] for r in rs)
    run["read_bandwidth_gbps_all"] = [r["read_bandwidth_gbps"] for r in rs]
    rows = []
    for i, x in enumerate(rs[0]["rows"]):
        xs = [r["rows"][i] for r in rs]
        assert all(y["variant"] == x["variant"] and (y["M"], y["N"], y["K"]) == (x["M"], x["N"], x["K"]) for y in xs)
        y = dict(x)
        y["seconds"] = med(z["seconds"] for z in xs)
        y["gbps"] = y["weight_bytes"] / y["seconds"] / 1e9
        y["gflops"] = 2.0 * x["M"] * x["N"] * x["K"] / y["seconds"] / 1e9
        # Each run's time against the bandwidth measured in that run.
        fr = [z["roofline_fraction"] for z in xs]
        y["roofline_fraction"] = med(fr)
        y["roofline_min"], y["roofline_max"] = min(fr), max(fr)
        rows.append(y)
    run["rows"] = rows
    return run
runs = [merge(t) for t in threads]
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
     f"(int8 x int8: {runs[0].get('w8a8_isa', '?')}; int4 / int8 weight-only decode GEMV: "
     f"{runs[0].get('qgemv_int', 'f32')} activations; other 4-bit formats' decode GEMV: "
     f"{runs[0].get('qgemv4', 'f32')}).",
     "Command: `bench/run_gemv_bench.sh` (LQ_NUM_THREADS = " + ", ".join(threads) + ").",
     f"{reps} runs, interleaved over the thread counts; every figure is the median over the runs. "
     "GB/s = weight bytes (codes + scales + biases) / time per call (each run: the median of >= 20 calls, >= 0.5 s); "
     "roofline = a run's GB/s / the STREAM-like read bandwidth measured in that run (median, and the runs' range). "
     "Weights rotate through copies >= 4x L3, so every call reads DRAM. "
     "M = 64 rows: prefill (weight tiles decoded once per block, then dotted with the activation rows; GFLOP/s is the figure of merit). "
     "`int8 x int8 (w8a8)`: lq_rt_gemm_w8a8 on int8 activation codes (already quantized) and the "
     "compile-time packed int8 weight, int32 sums (GFLOP/s counts its multiply-adds the same way).", ""]
for r in runs:
    bws = ", ".join(f"{b:.2f}" for b in r["read_bandwidth_gbps_all"])
    L.append(f"## {r['threads']} thread(s): read bandwidth {r['read_bandwidth_gbps']:.2f} GB/s (runs: {bws})")
    L.append("")
    L.append("| M | N x K | weight | bytes (MB) | time (us) | GB/s | roofline | roofline range | GFLOP/s |")
    L.append("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for x in r["rows"]:
        L.append(f"| {x['M']} | {x['N']}x{x['K']} | {x['variant']} | {x['weight_bytes']/1e6:.2f} | "
                 f"{x['seconds']*1e6:.1f} | {x['gbps']:.2f} | {100*x['roofline_fraction']:.0f}% | "
                 f"{100*x['roofline_min']:.0f}-{100*x['roofline_max']:.0f}% | {x['gflops']:.1f} |")
    L.append("")
open(os.path.join(out, "gemv.md"), "w").write("\n".join(L))
print(os.path.join(out, "gemv.md"))
PY
