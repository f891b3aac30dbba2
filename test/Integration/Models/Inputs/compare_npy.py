#!/usr/bin/env python3
"""compare_npy.py GOT.npy WANT.npy [--rtol R] [--slice EXPR]

Prints the relative error max|got - want| / max|want| and PASS when it is
below --rtol, FAIL otherwise (exit 1). --slice applies a numpy index to WANT
(e.g. "[:, 7:8]") so a decode step can be compared with one prefill position.
"""
import argparse
import sys

import numpy as np

p = argparse.ArgumentParser()
p.add_argument("got")
p.add_argument("want")
p.add_argument("--rtol", type=float, default=1e-4)
p.add_argument("--slice", default="")
a = p.parse_args()
got = np.load(a.got)
want = np.load(a.want)
if a.slice:
    want = eval("want" + a.slice)
got = got.reshape(want.shape) if got.size == want.size else got
if got.shape != want.shape:
    print(f"FAIL: shapes differ {got.shape} vs {want.shape}")
    sys.exit(1)
if not np.all(np.isfinite(got)):
    print("FAIL: non-finite values")
    sys.exit(1)
rel = float(np.abs(got - want).max() / np.abs(want).max())
top1 = float(np.mean(got.argmax(-1) == want.argmax(-1)))
ok = rel <= a.rtol
print(f"{'PASS' if ok else 'FAIL'}: rel err {rel:.3e} (tolerance {a.rtol:g}), top-1 agreement {top1:.3f}")
sys.exit(0 if ok else 1)
