#!/usr/bin/env python3
"""smoothquant_auto_ref.py gen OUT.mlir | check REMARKS.txt

Float64 reference for --smoothquant="alpha=auto" (SmoothQuant.cpp's err(α),
diagonal form): `gen` writes a random norm group (two linears, odd sizes,
a few outlier channels) with its statistics; `check` reads the pass's
remark, recomputes err(α) on the grid and checks that the chosen α
minimizes it (within 1e-6 relative, so ties do not matter).
"""
import re
import sys

import numpy as np

K, NS = 37, (13, 5)
rng = np.random.default_rng(7)
act = np.abs(rng.normal(size=K)).astype(np.float32) + 0.1
act[[3, 20]] *= 40  # outlier channels
meansq = (act * act / 9).astype(np.float32)
ws = [rng.normal(size=(n, K)).astype(np.float32) * 0.1 for n in NS]


def err(alpha):
    wmax = np.max(np.abs(np.concatenate(ws)), axis=0)
    s = (np.power(act.astype(np.float64), alpha) / np.power(wmax.astype(np.float64), 1 - alpha))
    s = np.clip(s.astype(np.float32), 1e-5, 1e5).astype(np.float64)
    step = np.max(act / s) / 127
    ms = meansq / s**2
    v = np.minimum(step * step / 12, ms)
    total = 0.0
    for w in ws:
        w2 = (w * s.astype(np.float32)).astype(np.float64)
        sc = np.abs(w2).max(axis=1, keepdims=True) / 127
        q = np.clip(np.round(w2 / sc), -127, 127) * sc
        e = w2 - q
        total += float((v * (q * q).sum(0)).sum() + (ms * (e * e).sum(0)).sum())
    return total


def dense(a):
    return "dense<" + np.array2string(np.asarray(a, np.float64), separator=", ", threshold=10**6,
                                      max_line_width=10**9, floatmode="unique").replace("\n", "") + ">"


if sys.argv[1] == "gen":
    with open(sys.argv[2], "w") as f:
        f.write(f"func.func @g(%x: tensor<2x{K}xf32>) -> (tensor<2x{NS[0]}xf32>, tensor<2x{NS[1]}xf32>) {{\n")
        f.write(f"  %g = arith.constant dense<1.0> : tensor<{K}xf32>\n")
        f.write(f"  %n = lq.rms_norm %x, %g {{epsilon = 1.0e-5 : f32}} : tensor<2x{K}xf32>, tensor<{K}xf32>\n")
        for i, w in enumerate(ws):
            n = w.shape[0]
            f.write(f"  %w{i} = arith.constant {dense(w)} : tensor<{n}x{K}xf32>\n")
            f.write(f"  %y{i} = lq.linear %n, %w{i} {{lq.act_absmax = {dense(act)} : tensor<{K}xf32>, "
                    f"lq.act_meansq = {dense(meansq)} : tensor<{K}xf32>}} : (tensor<2x{K}xf32>, tensor<{n}x{K}xf32>) -> tensor<2x{n}xf32>\n")
        f.write(f"  return %y0, %y1 : tensor<2x{NS[0]}xf32>, tensor<2x{NS[1]}xf32>\n}}\n")
else:
    text = open(sys.argv[2]).read()
    m = re.search(r"smoothquant alpha ([0-9.e+-]+) for 2 linear\(s\): W8A8 error ([0-9.e+-]+)", text)
    if not m:
        print("FAIL: no remark")
        sys.exit(1)
    chosen, reported = float(m.group(1)), float(m.group(2))
    errs = {round(i / 20, 2): err(i / 20) for i in range(21)}
    best = min(errs.values())
    ok = errs[round(chosen, 2)] <= best * (1 + 1e-6) and abs(reported - errs[round(chosen, 2)]) <= 1e-3 * best
    worst = max(errs.values())
    print(f"{'PASS' if ok else 'FAIL'}: alpha {chosen} err {reported:.6g} ref {errs[round(chosen, 2)]:.6g} "
          f"min {best:.6g} (alpha 0: {errs[0.0]:.6g}, max {worst:.6g})")
    sys.exit(0 if ok else 1)
