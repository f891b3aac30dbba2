#!/usr/bin/python3
"""A wide random-weight Llama for the bandwidth-bound regime of bench/run_cpu_bench.sh.

    /usr/bin/python3 bench/make_wide_model.py OUTDIR [--scripts DIR] [--dim 768] [--layers 12]
        [--heads 12] [--kv-heads 4] [--hidden 2048] [--vocab 32000] [--seed 0]

Same architecture and exporter as pd-llama-6m (model.py / export.py from its scripts
directory, default ../shared/models/pd-llama-6m/scripts next to the repository): random
weights drawn by model.py's own initialisation, saved as a checkpoint, then exported by
export.py to OUTDIR/model.onnx (prefill) and OUTDIR/model_kv.onnx (one step with a KV
cache). Needs python3-torch (Debian's 1.13) and libopenblas0-pthread. Does nothing when
both files exist and OUTDIR/config.json matches.
"""
import argparse, json, os, subprocess, sys

p = argparse.ArgumentParser()
p.add_argument('out')
here = os.path.dirname(os.path.abspath(__file__))
p.add_argument('--scripts', default=os.path.join(here, '..', '..', 'shared', 'models', 'pd-llama-6m', 'scripts'))
p.add_argument('--dim', type=int, default=768)
p.add_argument('--layers', type=int, default=12)
p.add_argument('--heads', type=int, default=12)
p.add_argument('--kv-heads', type=int, default=4)
p.add_argument('--hidden', type=int, default=2048)
p.add_argument('--vocab', type=int, default=32000)
p.add_argument('--max-seq', type=int, default=256)
p.add_argument('--seed', type=int, default=0)
a = p.parse_args()

cfg = dict(dim=a.dim, n_layers=a.layers, n_heads=a.heads, n_kv_heads=a.kv_heads,
           hidden=a.hidden, vocab=a.vocab, max_seq=a.max_seq)
os.makedirs(a.out, exist_ok=True)
stamp = os.path.join(a.out, 'config.json')
want = dict(cfg, seed=a.seed)
if all(os.path.exists(os.path.join(a.out, f)) for f in ('model.onnx', 'model_kv.onnx')) and \
        os.path.exists(stamp) and json.load(open(stamp)) == want:
    print(f'{a.out}: up to date')
    sys.exit(0)

scripts = os.path.abspath(a.scripts)
for f in ('model.py', 'export.py'):
    if not os.path.exists(os.path.join(scripts, f)):
        sys.exit(f'make_wide_model.py: {f} not found in {scripts} (give --scripts DIR)')
sys.path.insert(0, scripts)
import torch
from model import Cfg, LM

torch.manual_seed(a.seed)
m = LM(Cfg(**cfg))  # model.py's init: N(0, 0.02), scaled for o_proj / down_proj
m.lm_head.weight = m.embed.weight  # tied, as pd-llama-6m
params = sum(p.numel() for p in m.parameters())
ck = os.path.join(a.out, 'checkpoint.pt')
torch.save({'cfg': cfg, 'model': m.state_dict()}, ck)
del m
subprocess.run([sys.executable, os.path.join(scripts, 'export.py'), ck, a.out], check=True)
os.remove(ck)
json.dump(want, open(stamp, 'w'))
print(f'{a.out}: {params:,} parameters (tied embedding once)')
