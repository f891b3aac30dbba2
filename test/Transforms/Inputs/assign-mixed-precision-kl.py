"""Reference for test/Transforms/assign-mixed-precision-kl.mlir.

gen OUT.npy           writes the two [1, 6] id windows the test measures on.
check PLAN.json BYTES recomputes, in float64 numpy, every (linear, format)
                      sensitivity KL(P_float || P_c) (mean over the 12 rows)
                      of the test's model, with RTN exactly as lq_rt does it
                      (symmetric: s = max|w|/qmax per group in f32, codes
                      round-half-even(w / s) clamped to [-qmax, qmax]),
                      compares them with the plan's, and checks that the
                      plan's choice is the exact optimum (brute force) within
                      BYTES.
The weights are the test file's (regenerate: `weights` prints them).
"""
import itertools, json, sys
import numpy as np

V, D, T = 16, 16, 6
rng = np.random.RandomState(7)
TABLE = np.round(rng.randn(V, D), 3).astype(np.float32)
W1 = np.round(rng.randn(D, D) * 0.4, 3).astype(np.float32)
W2 = np.round(rng.randn(V, D) * 0.6, 3).astype(np.float32)
W1[3, :] *= 4.0  # one loud output channel: int2 hurts it most
IDS = np.array([[1, 5, 9, 2, 14, 7], [3, 3, 11, 0, 8, 15]], dtype=np.int64)
# format -> (qmax, group, bytes of a [16, 16] weight)
FORMATS = {"int2-g8": (1, 8, 16 * 16 // 4 + 16 * 2 * 4),
           "int4-g8": (7, 8, 16 * 16 // 2 + 16 * 2 * 4),
           "int8": (127, 16, 16 * 16 + 16 * 4)}


def rtn(w, qmax, group):
    w = w.astype(np.float32)
    out = np.empty_like(w)
    for r in range(w.shape[0]):
        for g in range(0, w.shape[1], group):
            x = w[r, g:g + group]
            s = np.float32(np.abs(x).max()) / np.float32(qmax)
            if not s > 0:
                s = np.float32(1)
            q = np.clip(np.round(x / s), -qmax, qmax)
            out[r, g:g + group] = (q.astype(np.float32) * s).astype(np.float32)
    return out


def logp(w1, w2):
    x = TABLE.astype(np.float64)[IDS.reshape(-1)]
    z = (x @ w1.astype(np.float64).T) @ w2.astype(np.float64).T
    z -= z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def weights():
    def dense(a):
        return "dense<[" + ", ".join("[" + ", ".join("%.3f" % v for v in row) + "]" for row in a) + "]>"
    print("TABLE", dense(TABLE))
    print("W1", dense(W1))
    print("W2", dense(W2))


def check(plan_path, budget):
    plan = json.load(open(plan_path))
    ref = logp(W1, W2)
    p = np.exp(ref)
    layers = sorted(plan["layers"], key=lambda l: l["index"])
    sens = {}
    for l, (name, W) in zip(layers, [("w1", W1), ("w2", W2)]):
        for fmt, (qmax, group, nbytes) in FORMATS.items():
            Wq = rtn(W, qmax, group)
            lq = logp(Wq, W2) if name == "w1" else logp(W1, Wq)
            kl = (p * (ref - lq)).sum(axis=1).mean()
            got = l["candidates"][fmt]["sensitivity"]
            assert abs(got - kl) <= 1e-4 * kl + 1e-9, (name, fmt, got, kl)
            assert l["candidates"][fmt]["bytes"] == nbytes, (fmt, l["candidates"][fmt]["bytes"])
            sens[(l["index"], fmt)] = kl
            print("%s %s KL %.6g (lq %.6g)" % (name, fmt, kl, got))
    best = min((sum(sens[(l["index"], f)] for l, f in zip(layers, c)), c)
               for c in itertools.product(FORMATS, repeat=2)
               if sum(FORMATS[f][2] for f in c) <= budget)
    chosen = tuple(l["format"] for l in layers)
    assert chosen == best[1], (chosen, best)
    print("optimum", best[1], "%.6g" % best[0])


if __name__ == "__main__":
    if sys.argv[1] == "gen":
        np.save(sys.argv[2], IDS)
    elif sys.argv[1] == "weights":
        weights()
    else:
        check(sys.argv[2], int(sys.argv[3]))
