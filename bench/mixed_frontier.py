"""Mixed-precision models against the uniform frontier (bench/mixed_precision.sh).

Usage: mixed_frontier.py QUANT_EVAL.json KINDS.txt
KINDS.txt: '<name>.so <kind>' lines, kind 'uniform' or the mixed metric.
The uniform frontier at a size is the piecewise-linear interpolation, in
bytes, of the uniform models' KL means (what mixing two uniform formats
layer by layer would give if KL were additive); a mixed model is on or above
it when its KL mean is not larger. Prints a markdown table.
"""
import json, sys

data = json.load(open(sys.argv[1]))
kinds = dict(l.split() for l in open(sys.argv[2]) if l.strip())
rows = {c["name"]: c for c in data["candidates"]}
uni = sorted((rows[n]["bytes"], rows[n]["kl_mean"], n) for n, k in kinds.items() if k == "uniform")


def frontier(b):
    for (b0, k0, n0), (b1, k1, n1) in zip(uni, uni[1:]):
        if b == b0:
            return k0, n0
        if b0 < b <= b1:
            if b == b1:
                return k1, n1
            t = (b - b0) / (b1 - b0)
            return k0 + t * (k1 - k0), "%s..%s interpolated" % (n0[:-3], n1[:-3])
    if uni and b == uni[-1][0]:
        return uni[-1][1], uni[-1][2]
    return None, "outside the uniform sizes"


print("| model | metric | bytes | bpw (model) | top-1 | KL mean | uniform frontier at that size | mixed / frontier | verdict |")
print("|---|---|---|---|---|---|---|---|---|")
for n, k in kinds.items():
    if k == "uniform":
        continue
    c = rows[n]
    f, how = frontier(c["bytes"])
    if f is None:
        print("| %s | %s | %d | %.2f | %.4f | %.3e | %s | - | - |" % (n[:-3], k, c["bytes"], c["bpw"], c["top1"], c["kl_mean"], how))
        continue
    r = c["kl_mean"] / f
    verdict = "on/above" if r <= 1.0 else "**below**"
    print("| %s | %s | %d | %.2f | %.4f | %.3e | %.3e (%s) | %.3f | %s |" % (n[:-3], k, c["bytes"], c["bpw"], c["top1"], c["kl_mean"], f, how, r, verdict))
