#!/usr/bin/env python3
"""compare_kl.py CANDIDATE.npy REFERENCE.npy [--max-kl K] [--min-top1 T] [--slice EXPR]

Logits [..., vocab] of a quantized model against the float model's: prints
the mean KL(reference || candidate) of the softmaxes over all positions (in
float64), its max, and the top-1 agreement, then PASS when the mean KL is at
most --max-kl and the agreement at least --min-top1 (FAIL and exit 1
otherwise). --slice applies a numpy index to REFERENCE (e.g. "[:, :4]": the
first positions of a longer causal run).
"""
import argparse
import sys

import numpy as np

p = argparse.ArgumentParser()
p.add_argument("candidate")
p.add_argument("reference")
p.add_argument("--max-kl", type=float, default=1e-4)
p.add_argument("--min-top1", type=float, default=1.0)
p.add_argument("--slice", default="")
a = p.parse_args()
q = np.load(a.candidate).astype(np.float64)
r = np.load(a.reference).astype(np.float64)
if a.slice:
    r = eval("r" + a.slice)
if q.size == r.size:
    q = q.reshape(r.shape)
if q.shape != r.shape or not np.all(np.isfinite(q)):
    print(f"FAIL: shapes {q.shape} vs {r.shape} or non-finite values")
    sys.exit(1)
q = q.reshape(-1, q.shape[-1])
r = r.reshape(-1, r.shape[-1])


def log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


lr, lq = log_softmax(r), log_softmax(q)
kl = (np.exp(lr) * (lr - lq)).sum(-1)
top1 = float(np.mean(q.argmax(-1) == r.argmax(-1)))
ok = kl.mean() <= a.max_kl and top1 >= a.min_top1
print(f"{'PASS' if ok else 'FAIL'}: KL mean {kl.mean():.3e} max {kl.max():.3e} "
      f"(max allowed {a.max_kl:g}), top-1 agreement {top1:.3f} over {len(kl)} positions")
sys.exit(0 if ok else 1)
