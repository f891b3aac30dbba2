#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Learn SpinQuant rotations R1, R2 for a Llama ONNX model (pd-llama-6m layout).

SpinQuant (Liu et al., ICLR 2025, arXiv:2405.16406): with norms folded, an
orthogonal R1 [D, D] on the residual stream and one R2 [d, d] per layer on
the heads of V leave the float network unchanged (see passes/Quantize/QuaRot.cpp
for where each is fused), but change how well the weights and activations
quantize. SpinQuant minimizes the cross-entropy of the *quantized* network over
R = {R1, R2_l} on the Stiefel manifold (RᵀR = I) with Cayley SGD (Li, Li and
Todorovic, ICLR 2020, arXiv:2002.01113; the optimizer SpinQuant ships):

    G = ∂L/∂R (Euclidean, through straight-through fake quantization)
    Ŵ = -GᵀR + ½ RᵀR GᵀR,  W = Ŵ - Ŵᵀ          (skew: a tangent direction)
    α = min(lr, 1 / ‖W‖₁)
    Rᵀ ← (I - α/2 W)⁻¹ (I + α/2 W) Rᵀ            (Cayley transform: orthogonal)

solved exactly here (float64) instead of the 5-step fixed point SpinQuant
iterates, so R stays orthogonal to ~1e-13 with no QR retraction. lr follows a
cosine schedule to 0 as in SpinQuant's recipe (100 steps, lr 1.5).

The network is the one --fold-norms --spinquant builds and the recipe then
quantizes, in the row-vector convention of the passes (y = x W, W [in, out]):
  E' = E R1; q/k/v/gate/up/lm_head W' = R1ᵀ diag(γ) W; o_proj W' = R2ᵀ W R1
  (R2 block-diagonal per head); v_proj W' = R1ᵀ diag(γ) W R2;
  down_proj: online Hadamard R4 on its input (x -> x T, T = the matrix of
  lq_rt's lq.hadamard, read from liblq_rt.so), W' = Tᵀ W R1.
R3 (Hadamard on Q/K) is left out: with A4 on linear inputs only (no KV-cache
quantization) it changes nothing the loss sees.
Fake quantization (--wbits/--abits, default the w4a4 target of issue #7):
weights symmetric RTN, one scale per output channel and group of 128 inputs
(absmax / 7 for 4 bits, as --quantize-weights{bits=4 group=128}); activations
symmetric per token at run time (absmax / 7, as --quantize-activations{format=int4};
8 bits: absmax / 127), every linear including lm_head; straight-through
gradients (round has derivative 1).

  /usr/bin/python3 tools/spinquant/learn.py --model models/pd-llama-6m/model.onnx \
      --tokens ids.npy --out DIR [--steps 100 --lr 1.5 --abits 4]
writes DIR/R1.npy [D, D], DIR/R2.npy [layers, d, d] (float64), DIR/loss.csv;
--format safetensors (or npz) writes DIR/rotations.safetensors (.npz) with
tensors R1 and R2 instead (rotations_io.py next to this file converts).
--check compares the float forward (no rotation, no quantization) with
ref_logits.npy next to the model and exits.
--match-pass does what `--spinquant="rotations=learn"` does (its C++ port,
passes/Quantize/SpinQuantLearn), for checking one against the other: the
held-out sequences are the last --heldout ones and batches are taken in order
(cycling) instead of at random, R1 starts from --quarot's signs for --seed
(std::mt19937_64), and the norm scales are folded in float32 with a float32
epsilon, as --fold-norms and the IR have them.
"""
import argparse, csv, ctypes, math, os, re, sys, time

import numpy as np
import onnx
from onnx import numpy_helper
import torch
import torch.nn.functional as F


# ---------------------------------------------------------------- weights

def load_llama(path):
    """Initializers of a pd-llama-style export, by layer and role (y = x W)."""
    m = onnx.load(path)
    init = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    layers = {}
    emb = head = final_norm = None
    for n in m.graph.node:
        if n.op_type == "Gather" and n.input[0] in init and init[n.input[0]].ndim == 2:
            emb = init[n.input[0]]
        if n.op_type != "MatMul" or n.input[1] not in init:
            continue
        mm = re.search(r"layers\.(\d+)/(\w+_proj)/MatMul", n.name)
        if mm:
            layers.setdefault(int(mm.group(1)), {})[mm.group(2)] = init[n.input[1]]
        elif "lm_head" in n.name:
            head = init[n.input[1]]
    for name, a in init.items():
        mm = re.search(r"layers\.(\d+)\.(attn_norm|ffn_norm)\.weight$", name)
        if mm:
            layers.setdefault(int(mm.group(1)), {})[mm.group(2)] = a
        elif re.search(r"(^|\.)norm\.weight$", name) and "layers" not in name:
            final_norm = a
    if emb is None or head is None or final_norm is None or not layers:
        sys.exit(f"{path}: not the expected Llama layout (embedding Gather, "
                 ".../layers.N/q_proj/MatMul ..., lm_head, norm.weight)")
    L = len(layers)
    need = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
            "down_proj", "attn_norm", "ffn_norm")
    for l in range(L):
        missing = [k for k in need if k not in layers.get(l, {})]
        if missing:
            sys.exit(f"{path}: layer {l} lacks {missing}")
    return emb, [layers[l] for l in range(L)], final_norm, head


class Model:
    """The norm-folded network (fp64 master copies, float32 compute)."""

    def __init__(self, path, n_heads, n_kv_heads, theta, eps, f32_fold=False):
        emb, layers, gfinal, head = load_llama(path)
        t = lambda a: torch.tensor(a, dtype=torch.float64)
        if f32_fold:  # as --fold-norms: W' = float32(γ W)
            t = lambda a: torch.tensor(a, dtype=torch.float32)
            eps = float(np.float32(eps))
        self.E = t(emb)
        self.D = self.E.shape[1]
        self.layers = []
        for p in layers:
            ga, gf = t(p["attn_norm"])[:, None], t(p["ffn_norm"])[:, None]
            self.layers.append(dict(
                q=ga * t(p["q_proj"]), k=ga * t(p["k_proj"]), v=ga * t(p["v_proj"]),
                o=t(p["o_proj"]), gate=gf * t(p["gate_proj"]), up=gf * t(p["up_proj"]),
                down=t(p["down_proj"])))
        self.head = t(gfinal)[:, None] * t(head)
        if f32_fold:
            self.E, self.head = self.E.double(), self.head.double()
            for p in self.layers:
                for k in p:
                    p[k] = p[k].double()
        self.H, self.KV = n_heads, n_kv_heads
        self.hd = self.layers[0]["q"].shape[1] // n_heads
        self.hidden = self.layers[0]["gate"].shape[1]
        self.theta, self.eps = theta, eps


# ---------------------------------------------------------------- Hadamard

def lq_hadamard_matrix(lib, n):
    """T with lq.hadamard(x) = x T for row vectors (T = Hᵀ of hadamard.h)."""
    rt = ctypes.CDLL(lib)
    rt.lq_rt_hadamard_f32.argtypes = [ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
                                      ctypes.c_void_p, ctypes.c_int64]
    x = np.eye(n, dtype=np.float32)
    if rt.lq_rt_hadamard_f32(n, n, 0, x.ctypes.data, n) != 0:
        sys.exit(f"lq_rt has no Hadamard matrix of size {n}")
    return torch.tensor(x, dtype=torch.float64)  # row i = H e_i


def mt19937_64(seed):
    """std::mt19937_64's outputs (for --match-pass's R1 signs)."""
    M = (1 << 64) - 1
    mt = [seed & M]
    for i in range(1, 312):
        mt.append((6364136223846793005 * (mt[-1] ^ (mt[-1] >> 62)) + i) & M)
    idx = 312
    while True:
        if idx >= 312:
            for i in range(312):
                x = (mt[i] & ~0x7FFFFFFF & M) | (mt[(i + 1) % 312] & 0x7FFFFFFF)
                mt[i] = mt[(i + 156) % 312] ^ (x >> 1) ^ (0xB5026F5AA96619E9 if x & 1 else 0)
            idx = 0
        y = mt[idx]
        idx += 1
        y ^= (y >> 29) & 0x5555555555555555
        y ^= (y << 17) & 0x71D67FFFEDA60000
        y ^= (y << 37) & 0xFFF7EEE000000000
        y ^= y >> 43
        yield y & M


def quarot_hadamard(lib, n, seed):
    """--quarot{seed}'s R1 = D Hᵀ (D from std::mt19937_64(seed))."""
    g = mt19937_64(seed)
    s = torch.tensor([-1.0 if next(g) >> 63 else 1.0 for _ in range(n)], dtype=torch.float64)
    return s[:, None] * lq_hadamard_matrix(lib, n)


def random_hadamard(lib, n, gen):
    """QuaRot's R1 = D Hᵀ (D random ±1): x -> x D Hᵀ."""
    s = torch.randint(0, 2, (n,), generator=gen).double() * 2 - 1
    return s[:, None] * lq_hadamard_matrix(lib, n)


# ---------------------------------------------------------------- forward

class RoundSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return torch.round(x)

    @staticmethod
    def backward(ctx, g):
        return g


def fq_weight(w, bits, group):
    """w [K, N] (y = x w): symmetric RTN per output column and group of K."""
    if bits >= 16:
        return w
    K, N = w.shape
    g = group if group > 0 and K % group == 0 else K
    qmax = 2 ** (bits - 1) - 1
    wg = w.reshape(K // g, g, N)
    s = wg.abs().amax(dim=1, keepdim=True).clamp_min(1e-12) / qmax
    q = torch.clamp(RoundSTE.apply(wg / s), -qmax, qmax)
    return (q * s).reshape(K, N)


def fq_act(x, bits):
    """Symmetric per-token (last dim) dynamic quantization."""
    if bits >= 16:
        return x
    qmax = 2 ** (bits - 1) - 1
    s = x.abs().amax(dim=-1, keepdim=True).clamp_min(1e-12) / qmax
    return torch.clamp(RoundSTE.apply(x / s), -qmax, qmax) * s


def rope(x, cos, sin):
    h = x.shape[-1] // 2
    return x * torch.cat([cos, cos], -1) + torch.cat([-x[..., h:], x[..., :h]], -1) * torch.cat([sin, sin], -1)


def blockdiag(R, n):
    return torch.block_diag(*([R] * n))


def forward(m, ids, R1, R2s, T4, wbits, abits, group):
    """Logits [B, T, V] of the rotated, fake-quantized network (float32)."""
    f32 = torch.float32
    lin = lambda x, w: fq_act(x, abits) @ fq_weight(w.to(f32), wbits, group)
    B, T = ids.shape
    hd = m.hd
    inv = 1.0 / (m.theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    fr = torch.outer(torch.arange(T, dtype=torch.float64), inv)
    cos, sin = torch.cos(fr).to(f32), torch.sin(fr).to(f32)
    mask = torch.full((T, T), float("-inf")).triu(1)
    x = (m.E @ R1).to(f32)[ids] if R1 is not None else m.E.to(f32)[ids]
    rms = lambda x: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + m.eps)
    for l, p in enumerate(m.layers):
        R2 = R2s[l] if R2s is not None else None
        rin = (lambda w: R1.T @ w) if R1 is not None else (lambda w: w)
        rout = (lambda w: w @ R1) if R1 is not None else (lambda w: w)
        wv, wo = rin(p["v"]), rout(p["o"])
        if R2 is not None:
            wv = wv @ blockdiag(R2, m.KV)
            wo = blockdiag(R2, m.H).T @ wo
        wdown = rout(p["down"])
        if T4 is not None:
            wdown = T4.T @ wdown
        h = rms(x)
        q = lin(h, rin(p["q"])).view(B, T, m.H, hd).transpose(1, 2)
        k = lin(h, rin(p["k"])).view(B, T, m.KV, hd).transpose(1, 2)
        v = lin(h, wv).view(B, T, m.KV, hd).transpose(1, 2)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        rep = m.H // m.KV
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        a = F.softmax((q @ k.transpose(-1, -2)) / math.sqrt(hd) + mask, dim=-1)
        o = (a @ v).transpose(1, 2).reshape(B, T, m.H * hd)
        x = x + lin(o, wo)
        h = rms(x)
        g = lin(h, rin(p["gate"]))
        u = lin(h, rin(p["up"]))
        z = F.silu(g) * u
        if T4 is not None:
            z = z @ T4.to(f32)
        x = x + lin(z, wdown)
    head = (R1.T @ m.head) if R1 is not None else m.head
    return lin(rms(x), head)


# ---------------------------------------------------------------- Cayley SGD

@torch.no_grad()
def cayley_step(R, G, lr):
    """One step of Li et al.'s Cayley SGD (no momentum, as SpinQuant) on an
    orthogonal R [n, n] with Euclidean gradient G; returns the new R."""
    n = R.shape[0]
    MX = -G.T @ R
    W_hat = MX - 0.5 * (R.T @ (R @ MX))
    W = W_hat - W_hat.T
    alpha = min(lr, 1.0 / (W.abs().sum(dim=0).max().item() + 1e-8))
    I = torch.eye(n, dtype=R.dtype)
    Y = torch.linalg.solve(I - 0.5 * alpha * W, (I + 0.5 * alpha * W) @ R.T)
    return Y.T


# ---------------------------------------------------------------- main

def find_lq_rt(given):
    if given:
        return given
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for b in ("build", "build-h4"):
        cand = os.path.join(root, b, "lib", "liblq_rt.so")
        if os.path.exists(cand):
            return cand
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="models/pd-llama-6m/model.onnx")
    ap.add_argument("--tokens", help=".npy of token ids (quant-tokenize output)")
    ap.add_argument("--out", help="output directory (R1.npy, R2.npy, loss.csv)")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--lr", type=float, default=1.5)
    ap.add_argument("--batch", type=int, default=4, help="sequences per step")
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--wbits", type=int, default=4)
    ap.add_argument("--abits", type=int, default=4)
    ap.add_argument("--group", type=int, default=128)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--kv-heads", type=int, default=4)
    ap.add_argument("--theta", type=float, default=10000.0)
    ap.add_argument("--eps", type=float, default=1e-5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--loss", choices=("ce", "kl"), default="ce",
                    help="ce: cross-entropy on the next token (SpinQuant); kl: "
                         "KL(float || quantized) of the output distribution")
    ap.add_argument("--eval-every", type=int, default=10)
    ap.add_argument("--heldout", type=int, default=8,
                    help="calibration sequences kept out of learning for the loss curve")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lq-rt", default=None, help="liblq_rt.so (default: build*/lib next to this tree)")
    ap.add_argument("--format", choices=("npy", "safetensors", "npz"), default="npy",
                    help="R1.npy + R2.npy, or one rotations.safetensors / rotations.npz")
    ap.add_argument("--match-pass", action="store_true",
                    help="deterministic batches and start, f32 norm folding: what "
                         "--spinquant rotations=learn does (for the cross-check)")
    ap.add_argument("--check", action="store_true",
                    help="float forward vs ref_logits.npy next to the model, then exit")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    m = Model(a.model, a.heads, a.kv_heads, a.theta, a.eps, f32_fold=a.match_pass)
    mdir = os.path.dirname(a.model)

    if a.check:
        ids = torch.tensor(np.load(os.path.join(mdir, "ref_input_ids.npy")))
        ref = np.load(os.path.join(mdir, "ref_logits.npy"))
        with torch.no_grad():
            out = forward(m, ids, None, None, None, 16, 16, a.group).numpy()
        err = np.abs(out - ref).max() / np.abs(ref).max()
        print(f"float forward vs ref_logits: rel err {err:.3e} (max |diff| / max |ref|)")
        # The same with random orthogonal R1/R2 and R4 fused: unchanged.
        gen = torch.Generator().manual_seed(a.seed)
        orth = lambda n: torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))[0]
        T4 = lq_hadamard_matrix(find_lq_rt(a.lq_rt), m.hidden) if a.lq_rt or find_lq_rt(None) else None
        with torch.no_grad():
            rot = forward(m, ids, orth(m.D), [orth(m.hd) for _ in m.layers], T4,
                          16, 16, a.group).numpy()
        err2 = np.abs(rot - ref).max() / np.abs(ref).max()
        print(f"rotated float forward (random orthogonal R1, R2{', R4' if T4 is not None else ''}) "
              f"vs ref_logits: rel err {err2:.3e}")
        sys.exit(0 if max(err, err2) < 1e-4 else 1)

    if not a.tokens or not a.out:
        ap.error("--tokens and --out are required (unless --check)")
    lib = find_lq_rt(a.lq_rt)
    if lib is None:
        ap.error("give --lq-rt path/to/liblq_rt.so (for the Hadamard matrices)")

    toks = np.load(a.tokens).reshape(-1).astype(np.int64)
    nseq = len(toks) // a.seq
    seqs = torch.tensor(toks[: nseq * a.seq].reshape(nseq, a.seq))
    gen = torch.Generator().manual_seed(a.seed)
    if a.match_pass:
        held, train = seqs[nseq - a.heldout:], seqs[: nseq - a.heldout]
    else:
        perm = torch.randperm(nseq, generator=gen)
        held = seqs[perm[: a.heldout]]        # fixed, for the loss curve
        train = seqs[perm[a.heldout:]]
    print(f"{nseq} sequences of {a.seq} tokens: {len(train)} to learn on, "
          f"{len(held)} held out for the curve; W{a.wbits}A{a.abits}, "
          f"{a.steps} steps, lr {a.lr}, batch {a.batch}", flush=True)

    R1 = quarot_hadamard(lib, m.D, a.seed) if a.match_pass else random_hadamard(lib, m.D, gen)
    R2 = [lq_hadamard_matrix(lib, m.hd) for _ in m.layers]
    T4 = lq_hadamard_matrix(lib, m.hidden)

    def ce(ids, R1, R2, kind="ce"):
        logits = forward(m, ids, R1, R2, T4, a.wbits, a.abits, a.group)
        if kind == "kl":
            with torch.no_grad():
                ref = F.log_softmax(forward(m, ids, None, None, None, 16, 16, a.group), -1)
            return F.kl_div(F.log_softmax(logits, -1).reshape(-1, logits.shape[-1]),
                            ref.reshape(-1, logits.shape[-1]), log_target=True,
                            reduction="batchmean")
        return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]),
                               ids[:, 1:].reshape(-1))

    def held_loss(R1, R2):
        with torch.no_grad():
            return ce(held, R1, R2).item()

    with torch.no_grad():
        float_loss = F.cross_entropy(
            forward(m, held, None, None, None, 16, 16, a.group)[:, :-1].reshape(-1, m.E.shape[0]),
            held[:, 1:].reshape(-1)).item()
        norot_loss = F.cross_entropy(
            forward(m, held, None, None, None, a.wbits, a.abits, a.group)[:, :-1].reshape(-1, m.E.shape[0]),
            held[:, 1:].reshape(-1)).item()
    print(f"held-out CE: float {float_loss:.4f}, W{a.wbits}A{a.abits} no rotation "
          f"{norot_loss:.4f}", flush=True)

    rows = []
    os.makedirs(a.out, exist_ok=True)
    t0 = time.time()
    hl0 = held_loss(R1, R2)
    print(f"step 0  held-out CE {hl0:.4f} (start: random-sign Hadamard R1, Hadamard R2, as QuaRot)", flush=True)
    for step in range(1, a.steps + 1):
        lr = 0.5 * a.lr * (1 + math.cos(math.pi * (step - 1) / a.steps))
        if a.match_pass:
            idx = torch.tensor([((step - 1) * a.batch + i) % len(train) for i in range(a.batch)])
        else:
            idx = torch.randint(0, len(train), (a.batch,), generator=gen)
        P1 = R1.clone().requires_grad_(True)
        P2 = [r.clone().requires_grad_(True) for r in R2]
        loss = ce(train[idx], P1, P2, a.loss)
        loss.backward()
        R1 = cayley_step(R1, P1.grad, lr)
        R2 = [cayley_step(r, p.grad, lr) for r, p in zip(R2, P2)]
        hl = held_loss(R1, R2) if step % a.eval_every == 0 or step == a.steps else ""
        rows.append((step, lr, loss.item(), hl, time.time() - t0))
        print(f"step {step:3d}  lr {lr:.3f}  train {a.loss.upper()} {loss.item():.4f}"
              + (f"  held-out CE {hl:.4f}" if hl != "" else "")
              + f"  ({time.time() - t0:.0f} s)", flush=True)
    orth = max([(R1.T @ R1 - torch.eye(m.D, dtype=R1.dtype)).abs().max().item()]
               + [(r.T @ r - torch.eye(m.hd, dtype=r.dtype)).abs().max().item() for r in R2])
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import rotations_io
    tensors = {"R1": R1.numpy(), "R2": torch.stack(R2).numpy()}
    if a.format == "npy":
        rotations_io.save(a.out, tensors)
        written = f"{a.out}/R1.npy, R2.npy"
    else:
        written = os.path.join(a.out, "rotations." + a.format)
        rotations_io.save(written, tensors)
    with open(os.path.join(a.out, "loss.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "lr", "train_" + a.loss, "heldout_ce", "seconds"])
        w.writerow([0, "", "", f"{hl0:.6f}", 0])
        for r in rows:
            w.writerow([r[0], f"{r[1]:.6f}", f"{r[2]:.6f}",
                        f"{r[3]:.6f}" if r[3] != "" else "", f"{r[4]:.2f}"])
    print(f"done in {time.time() - t0:.1f} s; max |RᵀR - I| = {orth:.2e}; "
          f"wrote {written}, loss.csv", flush=True)


if __name__ == "__main__":
    main()
