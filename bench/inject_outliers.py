#!/usr/bin/env python3
"""inject_outliers.py IN.onnx OUT.onnx [--factor 50] [--channels 3,77,150]

A copy of pd-llama-6m with activation outlier channels and the same float
function: every attention/MLP norm's gamma is multiplied by FACTOR on a few
channels (so those activation channels are FACTOR times larger) and the rows
of the MatMul weights that read the norm's output are divided by FACTOR.
Large models have such channels; small ones trained briefly do not. This is
the SmoothQuant stress test of issue 6.
"""
import argparse

import numpy as np
import onnx
from onnx import numpy_helper

p = argparse.ArgumentParser()
p.add_argument("inp")
p.add_argument("out")
p.add_argument("--factor", type=float, default=50.0)
p.add_argument("--channels", default="3,77,150")
a = p.parse_args()
chans = [int(c) for c in a.channels.split(",")]
m = onnx.load(a.inp)
g = m.graph
inits = {t.name: t for t in g.initializer}
producers = {o: n for n in g.node for o in n.output}
consumers = {}
for n in g.node:
    for i in n.input:
        consumers.setdefault(i, []).append(n)


def replace(name, arr):
    t = numpy_helper.from_array(arr.astype(np.float32), name)
    inits[name].CopyFrom(t)


changed = 0
for n in list(g.node):
    # The norm's final Mul by gamma: Mul(x, gamma) with gamma a [D] initializer
    # whose output feeds MatMuls only.
    if n.op_type != "Mul":
        continue
    gname = next((i for i in n.input if i in inits and len(inits[i].dims) == 1), None)
    if gname is None or "norm" not in gname or "layers" not in gname:
        continue
    users = consumers.get(n.output[0], [])
    if not users or any(u.op_type != "MatMul" for u in users):
        continue
    gamma = numpy_helper.to_array(inits[gname]).copy()
    gamma[chans] *= a.factor
    replace(gname, gamma)
    for u in users:
        wname = u.input[1]
        w = numpy_helper.to_array(inits[wname]).copy()  # [K, N]
        w[chans, :] /= a.factor
        replace(wname, w)
    changed += 1
onnx.save(m, a.out)
print(f"scaled channels {chans} by {a.factor} after {changed} norms")
