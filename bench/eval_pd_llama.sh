#!/usr/bin/env bash
# Float32 perplexity of pd-llama-6m on its held-out text under the protocol of
# models/pd-llama-6m/README.md, compared with the PyTorch figure recorded in
# models/pd-llama-6m/reference.json (issue 5: must match within 0.5%).
#
#   bench/eval_pd_llama.sh [BUILD_DIR]          (default: build)
#   MAX_WINDOWS=100 bench/eval_pd_llama.sh      (a prefix of the text, faster)
#
# Compiles model.onnx with seq=256, runs quant-eval with the compiled model as
# reference and, as candidate, the same model compiled again by quant-eval
# from the ONNX file (so KL must be exactly 0), and writes
# bench/results/eval-pd-llama-6m.{json,md}.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
bin=$build/bin
model=$root/models/pd-llama-6m
out=$root/bench/results
window=256
max_windows=${MAX_WINDOWS:-0}
mkdir -p "$out"
for t in quant-compile quant-eval; do
  [[ -x $bin/$t ]] || { echo "eval_pd_llama.sh: no $bin/$t (build it first)" >&2; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin/quant-compile" "$model/model.onnx" --dim batch=1 --dim seq=$window -o "$tmp/pd-llama-6m.so"

cmd=("$bin/quant-eval" --reference "$tmp/pd-llama-6m.so" --candidate "$model/model.onnx"
     --tokenizer "$model/tokenizer.model" --text "$model/eval.txt" --window $window
     --json "$out/eval-pd-llama-6m.json")
[[ $max_windows -gt 0 ]] && cmd+=(--max-windows "$max_windows")
echo "+ ${cmd[*]}" >&2
"${cmd[@]}" | tee "$tmp/table.txt"

/usr/bin/python3 - "$out/eval-pd-llama-6m.json" "$model/reference.json" "$tmp/table.txt" \
  "$out/eval-pd-llama-6m.md" "${cmd[*]}" "$root" "$tmp" <<'PY'
import json, platform, sys, time
res, ref = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
table, md_path, cmd = open(sys.argv[3]).read(), sys.argv[4], sys.argv[5]
root, tmp = sys.argv[6], sys.argv[7]
cmd = cmd.replace(root + "/", "").replace(tmp, "$TMP")
table = table.replace(root + "/", "")
p = res["protocol"]
ppl, want = res["reference"]["ppl"], ref["eval_ppl"]
rel = (ppl - want) / want
full = p["windows"] == ref["windows"] and p["scored_tokens"] == ref["scored_tokens"]
cand = res["candidates"][0]
self_ok = cand["kl_max"] == 0 and cand["top1"] == 1
ok = self_ok and (abs(rel) <= 0.005 or not full)
try:
    cpu = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")][0]
except Exception:
    cpu = platform.processor()
tok_s = p["windows"] * p["window"] * 2 / res["seconds"]
verdict = ("PASS" if ok else "FAIL") if full else ("not checked" if self_ok else "FAIL")
scope = "full protocol" if full else "first %d windows only, not the full protocol" % p["windows"]
res["pytorch_ppl"] = want
res["rel_diff_vs_pytorch"] = rel
res["full_protocol"] = full
res["verdict"] = verdict
json.dump(res, open(sys.argv[1], "w"), indent=1)
open(md_path, "w").write(f"""# pd-llama-6m float32 perplexity on eval.txt (quant-eval)

{time.strftime('%Y-%m-%d %H:%M %Z')}, {cpu}, `bench/eval_pd_llama.sh`.

| | perplexity | windows | scored tokens |
|---|---|---|---|
| lq (quant-compile, float) | {ppl:.4f} | {p['windows']} | {p['scored_tokens']} |
| PyTorch (models/pd-llama-6m/reference.json) | {want:.4f} | {ref['windows']} | {ref['scored_tokens']} |

Relative difference {rel:+.2e} ({scope}; reference.json stores the PyTorch figure to 4 decimals);
the issue asks for 0.5%: **{verdict}**.
The candidate, the same ONNX model compiled again by quant-eval, has KL mean {cand['kl_mean']:.3g},
max {cand['kl_max']:.3g} and top-1 agreement {cand['top1']:.4f} against the reference.
{res['seconds']:.1f} s for {p['windows']} windows x 2 models ({tok_s:.0f} tokens/s through the compiled model).

Command: `{cmd}`

```
{table.rstrip()}
```
""")
print(f"eval_pd_llama.sh: ppl {ppl:.4f} vs PyTorch {want:.4f}: relative difference {rel:+.2e} ({scope}) {verdict}")
sys.exit(0 if ok else 1)
PY
