#!/usr/bin/env python3
"""inject_kv_outliers.py IN.onnx OUT.onnx [--factor 10] [--channels 4,5,20,21]

A copy of pd-llama-6m whose keys have outlier channels and whose float
function is unchanged: in every layer, the k_proj output columns of the given
channels of every KV head are multiplied by FACTOR and the matching q_proj
columns of the query heads that read that KV head are divided by it, so
q.k is the same. The channels come in RoPE pairs under both layouts (i and
i + D/2 for rotate-half, 2j and 2j + 1 for interleaved: 4, 5, 20, 21 with
D = 32), and RoPE rotates each pair by one angle, so scaling both members
commutes with it. Large LLMs have such key channels (KIVI, KVQuant); this
small model does not (max/median channel |K| ~ 2), which is why
bench/kv_cache.sh also measures the int4 cache with and without QuaRot's R3 on
this copy.
"""
import argparse
import re

import numpy as np
import onnx
from onnx import numpy_helper

p = argparse.ArgumentParser()
p.add_argument("inp")
p.add_argument("out")
p.add_argument("--factor", type=float, default=10.0)
p.add_argument("--channels", default="4,5,20,21")
p.add_argument("--head-dim", type=int, default=32)
a = p.parse_args()
chans = [int(c) for c in a.channels.split(",")]
m = onnx.load(a.inp)
inits = {t.name: t for t in m.graph.initializer}
weights = {}
for n in m.graph.node:
    if n.op_type != "MatMul":
        continue
    for proj in ("q_proj", "k_proj"):
        # model.onnx: /model/layers.N/self_attn/q_proj/MatMul; model_kv.onnx:
        # /q_proj/MatMul, /q_proj_1/MatMul, ... (the suffix numbers layers).
        hit = re.search(rf"/{proj}(_\d+)?/", n.name)
        if hit:
            parts = n.name.split("/")
            layer = parts[2] if len(parts) > 3 else (hit.group(1) or "_0")
            weights[(layer, proj)] = n.input[1]
layers = sorted({l for l, _ in weights})
if not layers:
    raise SystemExit("no q_proj/k_proj MatMuls found")
D = a.head_dim
for layer in layers:
    wq = numpy_helper.to_array(inits[weights[(layer, "q_proj")]]).copy()  # [in, Hq*D]
    wk = numpy_helper.to_array(inits[weights[(layer, "k_proj")]]).copy()  # [in, Hkv*D]
    hq, hkv = wq.shape[1] // D, wk.shape[1] // D
    group = hq // hkv
    for kh in range(hkv):
        for c in chans:
            wk[:, kh * D + c] *= a.factor
            for h in range(kh * group, (kh + 1) * group):
                wq[:, h * D + c] /= a.factor
    for name, arr in ((weights[(layer, "q_proj")], wq), (weights[(layer, "k_proj")], wk)):
        inits[name].CopyFrom(numpy_helper.from_array(arr.astype(np.float32), name))
onnx.save(m, a.out)
print(f"{len(layers)} layers: key channels {chans} x{a.factor}, queries / {a.factor}")
