#!/usr/bin/env python3
# Independent check of quant-eval's figures with NumPy.
#
#   check_eval.py split TOKENS.npy WINDOW STRIDE N OUT_PREFIX
#       writes OUT_PREFIX<k>.npy = tokens [k*STRIDE, k*STRIDE + WINDOW) as
#       int64 [1, WINDOW] for k < N, so quant-run can dump each window's logits
#   check_eval.py check TOKENS.npy RESULT.json REF_PREFIX [CAND CAND_PREFIX]
#       recomputes from the dumped logits REF_PREFIX<k>.npy the reference
#       perplexity and, given the candidate CAND (name or path) and its logits
#       CAND_PREFIX<k>.npy, its perplexity, KL(P_ref || P_cand) mean / p99 /
#       max and top-1 agreement, and compares them with quant-eval's --json.
#       Window, stride and window count come from the JSON; the scored
#       positions are NumPy's own: 1..WINDOW-1 of the first window, and of
#       every window when STRIDE == WINDOW, else the last STRIDE of the others.
import json
import sys

import numpy as np


def log_softmax(x):
    x = x.astype(np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - (m + np.log(np.exp(x - m).sum(axis=-1, keepdims=True)))


def close(name, got, want, rtol, atol=0.0):
    ok = abs(got - want) <= atol + rtol * abs(want)
    print("%s: %s quant-eval %.10g numpy %.10g" %
          ("PASS" if ok else "FAIL", name, got, want))
    return ok


def main():
    mode, tokens = sys.argv[1], np.load(sys.argv[2]).reshape(-1)
    if mode == "split":
        window, stride, n, prefix = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
        for k in range(n):
            np.save("%s%d.npy" % (prefix, k),
                    tokens[k * stride:k * stride + window].astype(np.int64).reshape(1, window))
        return 0
    result = json.load(open(sys.argv[3]))
    ref_prefix = sys.argv[4]
    cand_name = sys.argv[5] if len(sys.argv) > 6 else None
    cand_prefix = sys.argv[6] if len(sys.argv) > 6 else None
    window = result["protocol"]["window"]
    stride = result["protocol"]["stride"]
    n = result["protocol"]["windows"]
    ref_nll, cand_nll, kl, top1 = [], [], [], []
    scored = 0
    for k in range(n):
        ids = tokens[k * stride:k * stride + window]
        first = 1 if k == 0 or stride == window else window - stride
        pos = np.arange(first, window)  # predicted positions
        scored += len(pos)
        target = ids[pos]
        ref = np.load("%s%d.npy" % (ref_prefix, k)).reshape(window, -1)[pos - 1]
        lp = log_softmax(ref)
        ref_nll.append(-lp[np.arange(len(pos)), target])
        if cand_prefix:
            cand = np.load("%s%d.npy" % (cand_prefix, k)).reshape(window, -1)[pos - 1]
            lq = log_softmax(cand)
            cand_nll.append(-lq[np.arange(len(pos)), target])
            kl.append(np.maximum((np.exp(lp) * (lp - lq)).sum(axis=-1), 0.0))
            top1.append(ref.argmax(axis=-1) == cand.argmax(axis=-1))
    ok = result["protocol"]["scored_tokens"] == scored
    print("%s: scored tokens %d" % ("PASS" if ok else "FAIL", scored))
    ok &= close("reference ppl", result["reference"]["ppl"],
                float(np.exp(np.concatenate(ref_nll).mean())), 1e-6)
    if cand_prefix:
        c = [c for c in result["candidates"] if cand_name in (c["name"], c["path"])][0]
        kl = np.concatenate(kl)
        ok &= close("candidate ppl", c["ppl"], float(np.exp(np.concatenate(cand_nll).mean())), 1e-6)
        ok &= close("kl_mean", c["kl_mean"], float(kl.mean()), 1e-5)
        ok &= close("kl_p99", c["kl_p99"], float(np.percentile(kl, 99)), 1e-5)
        ok &= close("kl_max", c["kl_max"], float(kl.max()), 1e-5)
        ok &= close("top1", c["top1"], float(np.concatenate(top1).mean()), 0, 1e-12)
    print("ALL PASS" if ok else "SOME FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
