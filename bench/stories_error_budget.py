#!/usr/bin/env python3
"""Where stories260K's W8A16 / FP8 losses come from (issue 6).

A float64 NumPy forward of the llama2.c checkpoint (checked against
ref_logits.npy), fake-quantized weights/activations, and the same evaluation
protocol as bench/stories_quality.sh / quant-eval (KL(P_ref || P_cand) in nats
and perplexity over positions 1..255 of each 256-token window sampled from the
float model). Sections:
  1. RTN int8 per output channel (the w8a16 recipe) here vs lq (quant-eval);
     lq's codes vs a NumPy RTN of the very weights lq quantized (--lq-ir).
  2. the per-linear error budget: one linear quantized at a time.
  3. is it the weights' outliers or the model's sensitivity: Gaussian noise of
     the same per-row MSE, bf16 / fp16 weights; attention-score spread.
  4. other int8 schemes (groups, asymmetric, GPTQ, early layers finer).
  5. FP8 E4M3: weights, activations (static per tensor / dynamic per token).
  6. the evaluation itself: on text sampled from the reference at T = 1,
     E[NLL_cand - NLL_ref] = KL(P_ref || P_cand) exactly, so +1% perplexity
     means KL <= 0.00995; bootstrap over sequences; text sampled at T = 0.7.
Usage: stories_error_budget.py EVAL.npy CAL.npy [--lq-ir FLOAT.mlir W8.mlir]
       [--quick]  (prints a markdown report on stdout)"""
import re
import sys
import numpy as np

import os
# The llama2.c checkpoint ships in the shared model store (models/stories260K
# holds the ONNX export); STORIES_BIN overrides.
BIN = os.environ.get("STORIES_BIN") or next(
    (p for p in ("models/stories260K/stories260K.bin", "../shared/models/stories260K/stories260K.bin")
     if os.path.exists(p)), "stories260K.bin")
REF = "models/stories260K/ref_logits.npy"
REF_IDS = "models/stories260K/ref_input_ids.npy"


def load(path):
    raw = open(path, "rb").read()
    dim, hid, L, H, KV, V, _ = [int(v) for v in np.frombuffer(raw[:28], dtype=np.int32)]
    f = np.frombuffer(raw[28:], dtype=np.float32)
    off = 0

    def take(*shape):
        nonlocal off
        n = int(np.prod(shape))
        a = f[off:off + n].reshape(shape).astype(np.float64)
        off += n
        return a
    V = abs(V)
    W = {"emb": take(V, dim), "att_norm": take(L, dim), "wq": take(L, dim, dim),
         "wk": take(L, KV * dim // H, dim), "wv": take(L, KV * dim // H, dim),
         "wo": take(L, dim, dim), "ffn_norm": take(L, dim), "w1": take(L, hid, dim),
         "w2": take(L, dim, hid), "w3": take(L, hid, dim), "final_norm": take(dim)}
    return dict(dim=dim, hid=hid, L=L, H=H, KV=KV, V=V, hs=dim // H), W


NAMES = ["wq", "wk", "wv", "wo", "w1", "w2", "w3"]
INPUT = {"wq": "qkv", "wk": "qkv", "wv": "qkv", "wo": "o", "w1": "up", "w3": "up", "w2": "down"}


def rms(x, g):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-5) * g


def rope(x, pos, hs):  # interleaved pairs (llama2.c)
    freq = 1.0 / (10000.0 ** (np.arange(0, hs, 2) / hs))
    ang = pos[:, None] * freq[None, :]
    c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    a, b = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = a * c - b * s
    out[..., 1::2] = a * s + b * c
    return out


def forward(cfg, W, toks, lm=None, aq=None, stats=None):
    """Logits [T, V]; aq(kind, layer, x) fake-quantizes each linear's input;
    stats collects the attention-score spread per layer."""
    T, hs, H, KV = len(toks), cfg["hs"], cfg["H"], cfg["KV"]
    aq = aq or (lambda n, l, x: x)
    x = W["emb"][toks]
    pos = np.arange(T, dtype=np.float64)
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for l in range(cfg["L"]):
        xb = aq("qkv", l, rms(x, W["att_norm"][l]))
        q = rope((xb @ W["wq"][l].T).reshape(T, H, hs), pos, hs)
        k = rope((xb @ W["wk"][l].T).reshape(T, KV, hs), pos, hs)
        v = (xb @ W["wv"][l].T).reshape(T, KV, hs)
        k, v = np.repeat(k, H // KV, axis=1), np.repeat(v, H // KV, axis=1)
        s = np.einsum("thd,shd->hts", q, k) / np.sqrt(hs)
        if stats is not None:
            vis = s[:, np.tril(np.ones((T, T), bool))]
            stats.setdefault(l, []).append((vis.std(), np.abs(vis).max()))
        s = s + mask
        s -= s.max(-1, keepdims=True)
        p = np.exp(s)
        p /= p.sum(-1, keepdims=True)
        x = x + aq("o", l, np.einsum("hts,shd->thd", p, v).reshape(T, H * hs)) @ W["wo"][l].T
        xb = aq("up", l, rms(x, W["ffn_norm"][l]))
        h1 = xb @ W["w1"][l].T
        x = x + aq("down", l, h1 / (1 + np.exp(-h1)) * (xb @ W["w3"][l].T)) @ W["w2"][l].T
    x = rms(x, W["final_norm"])
    return x @ (W["emb"] if lm is None else lm).T


def logsm(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


class Evaluator:
    def __init__(self, cfg, W, seqs):
        self.cfg, self.W, self.seqs = cfg, W, seqs
        self.ref = [logsm(forward(cfg, W, s))[:-1] for s in seqs]

    def run(self, Wc=None, lm=None, aq=None, per_seq=False):
        nll_r, nll_c, kl, top = [], [], [], []
        for s, lr in zip(self.seqs, self.ref):
            lc = logsm(forward(self.cfg, Wc or self.W, s, lm, aq))[:-1]
            t = s[1:]
            nll_r.append(-lr[np.arange(len(t)), t])
            nll_c.append(-lc[np.arange(len(t)), t])
            kl.append((np.exp(lr) * (lr - lc)).sum(-1))
            top.append(lr.argmax(-1) == lc.argmax(-1))
        if per_seq:
            return nll_r, nll_c, kl
        nr, nc = np.concatenate(nll_r), np.concatenate(nll_c)
        return dict(ppl_ref=np.exp(nr.mean()), ppl=np.exp(nc.mean()),
                    kl=np.concatenate(kl).mean(), top1=np.concatenate(top).mean())


def rtn(w, bits=8, group=-1):
    qm = 2 ** (bits - 1) - 1
    O, K = w.shape
    g = K if group < 0 else group
    wg = w.reshape(O, K // g, g)
    s = np.abs(wg).max(-1, keepdims=True) / qm
    s[s == 0] = 1
    return (np.clip(np.round(wg / s), -qm - 1, qm) * s).reshape(O, K)


def e4m3(x):  # round to nearest FP8 E4M3FN (subnormals below 2^-6, max 448)
    a = np.abs(x)
    e = np.maximum(np.floor(np.log2(np.maximum(a, 1e-30))), -6)
    step = 2.0 ** (e - 3)
    return np.sign(x) * np.minimum(np.round(a / step) * step, 448.0)


def fp8w(w):
    s = np.abs(w).max(1, keepdims=True) / 448
    return e4m3(w / s) * s


def bf16(w):
    b = w.astype(np.float32).view(np.uint32)
    b = ((b + 0x7FFF + ((b >> 16) & 1)) & 0xFFFF0000).astype(np.uint32)
    return b.view(np.float32).astype(np.float64)


def gptq(w, h, bits=8, damp=0.01):
    """GPTQ (arXiv:2210.17323) per output channel, no groups, natural order."""
    w, K = w.copy(), w.shape[1]
    h = h + np.eye(K) * np.diag(h).mean() * damp
    u = np.linalg.cholesky(np.linalg.inv(h)).T
    qm = 2 ** (bits - 1) - 1
    s = np.abs(w).max(1) / qm
    q = np.zeros_like(w)
    for j in range(K):
        q[:, j] = np.clip(np.round(w[:, j] / s), -qm - 1, qm) * s
        e = (w[:, j] - q[:, j]) / u[j, j]
        w[:, j + 1:] -= np.outer(e, u[j, j + 1:])
    return q


def main():
    args = sys.argv[1:]
    quick = "--quick" in args
    lq_ir = None
    if "--lq-ir" in args:
        i = args.index("--lq-ir")
        lq_ir = args[i + 1:i + 3]
    eval_path, cal_path = [a for a in args if a.endswith(".npy")][:2]
    cfg, W = load(BIN)
    ref = np.load(REF)
    err = np.abs(forward(cfg, W, np.load(REF_IDS)) - ref).max() / np.abs(ref).max()
    seqs = np.load(eval_path).reshape(-1, 256)
    cal = np.load(cal_path).reshape(-1, 256)
    if quick:
        seqs = seqs[:6]
    ev = Evaluator(cfg, W, seqs)
    out = print

    def allw(f):
        Wc = dict(W)
        for n in NAMES:
            Wc[n] = np.stack([f(W[n][l], n, l) for l in range(cfg["L"])])
        return Wc

    R = {}

    def row(tag, r, extra=""):
        R[tag] = r
        out(f"| {tag} | {r['ppl']:.4f} | {100 * (r['ppl'] / r['ppl_ref'] - 1):+.2f}% | "
            f"{r['kl']:.3e} | {r['top1']:.4f} |{extra}")

    head = "| scheme | ppl | vs float | KL mean | top-1 |\n|---|---|---|---|---|"
    out("# stories260K: where W8A16's and FP8's loss comes from\n")
    out(f"`bench/stories_error_budget.py {' '.join(args)}`: a float64 NumPy forward of "
        f"stories260K.bin (max relative error vs ref_logits.npy {err:.1e}), {len(seqs)} "
        f"evaluation sequences of 256 tokens sampled from the float model (the ones "
        f"bench/stories_quality.sh scores), {len(cal)} calibration sequences (GPTQ Hessians, "
        f"static activation ranges); float perplexity {ev.run(W)['ppl_ref']:.4f}.\n")

    out("## 1. int8 per output channel (RTN): NumPy vs lq\n")
    out(head)
    r8 = ev.run(allw(lambda w, n, l: rtn(w)), lm=rtn(W["emb"]))
    row("NumPy: linears + tied lm_head int8 per channel", r8)
    out("\nlq's w8a16 on the same sequences (bench/results/recipes-stories260K.md): "
        "ppl 16.8806, KL 3.6305e-02, top-1 0.8458.")
    if lq_ir:
        res = codes_vs_numpy(*lq_ir)
        out(f"lq's codes and scales (quant-compile --emit=quantized) vs a NumPy RTN of the "
            f"weights lq quantized (--emit=graph): {res}.")
    out("")

    out("## 2. Error budget: one linear in int8 per channel at a time\n")
    seq_sub = Evaluator(cfg, W, seqs[:12]) if not quick else ev
    budget = []
    for l in range(cfg["L"]):
        for n in NAMES:
            Wc = dict(W)
            a = W[n].copy()
            a[l] = rtn(W[n][l])
            Wc[n] = a
            e = rtn(W[n][l]) - W[n][l]
            budget.append((n, l, seq_sub.run(Wc)["kl"],
                           np.sqrt((e ** 2).sum() / (W[n][l] ** 2).sum())))
    rl = seq_sub.run(W, lm=rtn(W["emb"]))
    total = sum(b[2] for b in budget) + rl["kl"]
    out(f"KL on the first {len(seq_sub.seqs)} sequences; sum of the parts {total:.3e} "
        f"(all together: {seq_sub.run(allw(lambda w, n, l: rtn(w)), lm=rtn(W['emb']))['kl']:.3e}).\n")
    out("| layer | " + " | ".join(NAMES) + " | layer sum |\n|---|" + "---|" * (len(NAMES) + 1))
    for l in range(cfg["L"]):
        ks = [b[2] for b in budget if b[1] == l]
        out(f"| {l} | " + " | ".join(f"{k:.1e}" for k in ks) + f" | {sum(ks):.1e} ({100 * sum(ks) / total:.0f}%) |")
    out(f"| lm_head (tied embedding, int8 per vocab row) | {rl['kl']:.1e} |" + " |" * len(NAMES))
    rel = np.array([b[3] for b in budget])
    out(f"\nRelative weight error ||ΔW||/||W|| per linear: {rel.min():.2%}–{rel.max():.2%} "
        f"(a Gaussian row of 64 would give ~0.6%).\n")

    out("## 3. Outliers or sensitivity?\n")
    out(head)
    rng = np.random.default_rng(0)

    def noise(w, n, l):
        sd = np.sqrt(((rtn(w) - w) ** 2).mean(1, keepdims=True))
        return w + rng.standard_normal(w.shape) * sd
    row("int8 per channel (linears only)", ev.run(allw(lambda w, n, l: rtn(w))))
    row("Gaussian noise of the same per-row MSE", ev.run(allw(noise)))
    row("bf16 weights (8-bit mantissa)", ev.run(allw(lambda w, n, l: bf16(w))))
    row("fp16 weights", ev.run(allw(lambda w, n, l: w.astype(np.float16).astype(np.float64))))
    st = {}
    for s in seqs[:2]:
        forward(cfg, W, s, stats=st)
    out("\nAttention scores q·k/√d (visible entries): " + ", ".join(
        f"layer {l}: std {np.mean([a for a, _ in v]):.1f}, max {np.max([b for _, b in v]):.0f}"
        for l, v in st.items()) + ".")
    kurt = {n: float(np.mean([((W[n][l] - W[n][l].mean()) ** 4).mean() / W[n][l].var() ** 2
                              for l in range(cfg["L"])])) for n in NAMES}
    out("Weight kurtosis (Gaussian 3): " + ", ".join(f"{n} {k:.1f}" for n, k in kurt.items()) + ".\n")

    out("## 4. Other int8 schemes\n")
    out(head)
    H = {}

    def hook(kind, l, x):
        H[(kind, l)] = H.get((kind, l), 0) + x.T @ x
        return x
    for s in cal:
        forward(cfg, W, s, aq=hook)

    def gk(w, g64, g172):
        return rtn(w, 8, g64 if w.shape[1] == 64 else g172)
    row("int8 groups of 4 (f32 scale: 16 bpw)", ev.run(allw(lambda w, n, l: rtn(w, 8, 4))))
    row("int8 groups of 16 (K=64) / 43 (K=172)", ev.run(allw(lambda w, n, l: gk(w, 16, 43))))
    row("int8 groups of 32 / 43", ev.run(allw(lambda w, n, l: gk(w, 32, 43))))
    row("int8 asymmetric per channel", ev.run(allw(
        lambda w, n, l: (lambda mn, mx: np.round((w - mn) / ((mx - mn) / 255)) * ((mx - mn) / 255) + mn)(
            w.min(1, keepdims=True), w.max(1, keepdims=True)))))
    row("int8 GPTQ per channel", ev.run(allw(lambda w, n, l: gptq(w, H[(INPUT[n], l)]))))
    row("int8 per channel, layers 0-1 in groups of 4", ev.run(allw(
        lambda w, n, l: rtn(w, 8, 4) if l < 2 else rtn(w))))
    row("int8 per channel, layer 0 float", ev.run(allw(lambda w, n, l: w if l == 0 else rtn(w))))
    out("")

    out("## 5. FP8 E4M3\n")
    out(head)
    amax = {}

    def obs(kind, l, x):
        amax[(kind, l)] = max(amax.get((kind, l), 0), np.abs(x).max())
        return x
    for s in cal:
        forward(cfg, W, s, aq=obs)

    def dyn(kind, l, x):
        s = np.abs(x).max(-1, keepdims=True) / 448
        s[s == 0] = 1
        return e4m3(x / s) * s

    def stat(kind, l, x):
        s = amax[(kind, l)] / 448
        return e4m3(np.clip(x / s, -448, 448)) * s
    fw = allw(lambda w, n, l: fp8w(w))
    row("FP8 weights per channel (linears + lm_head)", ev.run(fw, lm=fp8w(W["emb"])))
    row("FP8 activations only, static per tensor", ev.run(W, aq=stat))
    row("FP8 activations only, dynamic per token", ev.run(W, aq=dyn))
    row("FP8 W + A static per tensor (the fp8 recipe)", ev.run(fw, lm=fp8w(W["emb"]), aq=stat))
    row("FP8 W + A dynamic per token (fp8-dynamic)", ev.run(fw, lm=rtn(W["emb"]), aq=dyn))
    out("")

    out("## 6. The evaluation\n")
    nr, nc, kl = ev.run(allw(lambda w, n, l: rtn(w)), lm=rtn(W["emb"]), per_seq=True)
    d = np.array([(c - r).mean() for r, c in zip(nr, nc)])
    k = np.array([x.mean() for x in kl])
    boot = np.random.default_rng(1).integers(0, len(d), (2000, len(d)))
    out(f"int8 per channel: mean ΔNLL = {d.mean():.4f} nats (perplexity ×{np.exp(d.mean()):.4f}) vs "
        f"mean KL {k.mean():.4f}: on text sampled from the reference at T = 1 the two are equal "
        f"in expectation (E_y~p[log p(y) − log q(y)] = KL(p‖q)), so '+1% perplexity' is "
        f"'KL ≤ 0.00995'. Bootstrap over the {len(d)} sequences (95%): ΔNLL "
        f"[{np.percentile(d[boot].mean(1), 2.5):.4f}, {np.percentile(d[boot].mean(1), 97.5):.4f}], "
        f"KL [{np.percentile(k[boot].mean(1), 2.5):.4f}, {np.percentile(k[boot].mean(1), 97.5):.4f}]; "
        f"per-sequence KL ranges {k.min():.4f}–{k.max():.4f}.\n")
    # Sequences sampled at T = 0.7: more confident contexts.
    rng = np.random.default_rng(7)
    n07 = 6 if quick else 12
    s07 = []
    for _ in range(n07):
        t = [1]
        for _ in range(255):
            z = forward(cfg, W, np.array(t))[-1] / 0.7
            p = np.exp(z - z.max())
            t.append(int(rng.choice(len(p), p=p / p.sum())))
        s07.append(np.array(t))
    ev07 = Evaluator(cfg, W, np.array(s07))
    out(f"On {n07} sequences sampled at T = 0.7 (float perplexity {ev07.run(W)['ppl_ref']:.3f}):\n")
    out(head)
    row("int8 per channel", ev07.run(allw(lambda w, n, l: rtn(w)), lm=rtn(W["emb"])))
    row("FP8 W + A dynamic per token", ev07.run(fw, lm=rtn(W["emb"]), aq=dyn))

    def pc(tag):
        return f"{100 * (R[tag]['ppl'] / R[tag]['ppl_ref'] - 1):+.2f}%"
    l0 = sum(b[2] for b in budget if b[1] == 0) / total
    out("\n## Reading\n")
    out(f"- Not a bug: lq's w8a16 codes equal NumPy's RTN and its perplexity/KL equal a float64 "
        f"forward of the same fake-quantized weights (section 1).")
    out(f"- Not outliers: Gaussian noise of the same per-row MSE costs as much "
        f"(KL {R['Gaussian noise of the same per-row MSE']['kl']:.1e} vs "
        f"{R['int8 per channel (linears only)']['kl']:.1e}); even bf16 weights cost "
        f"{pc('bf16 weights (8-bit mantissa)')}. The model is that sensitive to relative weight "
        f"error: {100 * l0:.0f}% of the KL comes from layer 0, its q and k first: attention scores "
        f"reach ~50 (section 3), and a relative error e in q and k moves a score s by about "
        f"sqrt(2)·e·|s|, ~0.5 at s = 50 for e = 0.7%.")
    out(f"- The evaluation: on text sampled from the float model, perplexity rises by exp(KL) in "
        f"expectation, so the 1% target asks KL < 0.01; sampling at T = 0.7 does not change "
        f"the picture.")
    out(f"- int8 meets 1% only by spending scale bits: groups of 4 everywhere "
        f"({pc('int8 groups of 4 (f32 scale: 16 bpw)')}, 16 bpw with f32 scales: no better than "
        f"bf16 weights), or layers 0-1 in groups of 4 "
        f"({pc('int8 per channel, layers 0-1 in groups of 4')}, ~11.4 bpw over the linears); no "
        f"layout at ~8-9 bpw does (groups of 16/43: {pc('int8 groups of 16 (K=64) / 43 (K=172)')}, "
        f"GPTQ per channel: {pc('int8 GPTQ per channel')}).")
    out(f"- FP8 E4M3's 3-bit mantissa alone costs {pc('FP8 weights per channel (linears + lm_head)')} "
        f"on the weights and {pc('FP8 activations only, dynamic per token')} on the activations "
        f"(per-token scales), whatever the scale granularity: FP8 within 1% is out of reach for "
        f"this model (per-token dynamic scales, the fp8-dynamic recipe, are the better of the two: "
        f"{pc('FP8 W + A dynamic per token (fp8-dynamic)')} vs "
        f"{pc('FP8 W + A static per tensor (the fp8 recipe)')}).")


def codes_vs_numpy(float_ir, q_ir):
    def parse(path, pat):
        txt = open(path).read()
        res = {m.group(1): m.group(2) for m in re.finditer(r'^\s*(\w+): "0x([0-9A-F]+)"', txt, re.M)}
        uses = re.findall(pat, txt)
        need = {c for u in uses for c in (u if isinstance(u, tuple) else (u,))}
        consts = {}
        for m in re.finditer(r'(%cst_\d+) = arith.constant (dense_resource<(\w+)>|dense<(.*?)>) : '
                             r'tensor<([0-9x]+)x(\w+)', txt):
            if m.group(1) not in need:
                continue
            shape = [int(v) for v in m.group(5).split("x")]
            dt = {"i8": np.int8, "f32": np.float32}[m.group(6)]
            if m.group(3):
                a = np.frombuffer(bytes.fromhex(res[m.group(3)])[4:], dtype=dt)
            elif m.group(4).startswith('"0x'):
                a = np.frombuffer(bytes.fromhex(m.group(4)[3:-1]), dtype=dt)
            else:
                a = np.array(eval(m.group(4)), dtype=dt)
            consts[m.group(1)] = a.reshape(shape) if a.size == np.prod(shape) else np.broadcast_to(a, shape)
        return [tuple(consts[c] for c in (u if isinstance(u, tuple) else (u,))) for u in uses]
    ws = parse(float_ir, r"lq.linear %\w+, (%cst_\d+)")
    qs = parse(q_ir, r"lq.dequantize (%cst_\d+), (%cst_\d+)")
    tot = same = 0
    worst_s = 0.0
    for (w,), (q, s) in zip(ws, qs):
        sref = np.abs(w).max(1, keepdims=True) / np.float32(127)
        qref = np.clip(np.round(w / sref), -127, 127)
        tot += q.size
        same += int((qref == q).sum())
        worst_s = max(worst_s, float((np.abs(s - sref) / sref).max()))
    return f"{len(ws)} linears, {same}/{tot} codes equal, scales within {worst_s:.1e} relative"


if __name__ == "__main__":
    main()
