#!/usr/bin/python3
"""Large-model import benchmark: quant-import's wall time and peak RSS.

Generates a synthetic Llama-shaped ONNX model with external data (the graph
of pd-llama-6m: decomposed RMSNorm, RoPE as Slice/Neg/Concat/Mul/Add, causal
mask sliced from a constant, softmax attention, SwiGLU MLP; only wider, with
random weights), built with onnx.helper directly (no torch). Then runs
quant-import under /usr/bin/time -v in several configurations and writes a
Markdown table and JSON to bench/results/import_large.{md,json}.

usage: bench/import_large.py --bin BUILD/bin [--dim 2048] [--layers 8]
           [--vocab 32000] [--hidden 5632] [--work DIR] [--keep]
Run with /usr/bin/python3 (Debian's onnx + numpy).
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
from onnx import TensorProto, helper

F32 = TensorProto.FLOAT
I64 = TensorProto.INT64


class Writer:
    """Appends initializers to one external data file."""

    def __init__(self, path, location):
        self.f = open(path, "wb")
        self.location = location
        self.offset = 0
        self.inits = []
        self.rng = np.random.default_rng(0)

    def add(self, name, arr):
        arr = np.ascontiguousarray(arr)
        t = TensorProto()
        t.name = name
        t.data_type = helper.np_dtype_to_tensor_dtype(arr.dtype) \
            if hasattr(helper, "np_dtype_to_tensor_dtype") else \
            onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[arr.dtype]
        t.dims.extend(arr.shape)
        if arr.nbytes < 4096:  # small tensors inline, like exporters do
            t.raw_data = arr.tobytes()
        else:
            pad = (-self.offset) % 64
            self.f.write(b"\0" * pad)
            self.offset += pad
            arr.tofile(self.f)
            t.data_location = TensorProto.EXTERNAL
            for k, v in (("location", self.location), ("offset", str(self.offset)),
                         ("length", str(arr.nbytes))):
                e = t.external_data.add()
                e.key, e.value = k, v
            self.offset += arr.nbytes
        self.inits.append(t)
        return name

    def random(self, name, shape, scale=0.02):
        a = self.rng.standard_normal(shape, dtype=np.float32)
        a *= scale
        return self.add(name, a)


def build(path, dim, layers, vocab, hidden, heads, ctx=256):
    data_name = os.path.basename(path) + ".data"
    w = Writer(os.path.join(os.path.dirname(path), data_name), data_name)
    hd = dim // heads
    nodes = []
    n = [0]

    def node(op, ins, outs=1, **attrs):
        n[0] += 1
        names = ["t%d_%d" % (n[0], i) for i in range(outs)]
        nodes.append(helper.make_node(op, ins, names, name="/%s_%d" % (op, n[0]), **attrs))
        return names[0] if outs == 1 else names

    def const(arr):
        n[0] += 1
        return w.add("c%d" % n[0], np.asarray(arr))

    # Shape plumbing, as exporters write it: seq = Shape(input_ids)[1].
    shp = node("Shape", ["input_ids"])
    seq = node("Gather", [shp, const(np.array([1], np.int64))], axis=0)
    zero2 = const(np.array([0, 0], np.int64))
    seq2 = node("Concat", [seq, seq], axis=0)
    # Causal mask and RoPE tables: constants of the max context, sliced.
    mask_full = np.triu(np.full((ctx, ctx), -np.inf, np.float32), 1)
    mask = node("Slice", [const(mask_full), zero2, seq2])
    inv = 1.0 / (10000 ** (np.arange(0, hd, 2, dtype=np.float64) / hd))
    ang = np.outer(np.arange(ctx), inv)
    ang = np.concatenate([ang, ang], 1)
    z1 = const(np.array([0], np.int64))
    cos = node("Slice", [const(np.cos(ang).astype(np.float32)), z1, seq])
    sin = node("Slice", [const(np.sin(ang).astype(np.float32)), z1, seq])

    def rmsnorm(x, gname):
        g = w.add(gname, np.ones(dim, np.float32))
        p = node("Pow", [x, const(np.array(2.0, np.float32))])
        m = node("ReduceMean", [p], axes=[-1])
        a = node("Add", [m, const(np.array(1e-5, np.float32))])
        s = node("Sqrt", [a])
        d = node("Div", [const(np.array(1.0, np.float32)), s])
        y = node("Mul", [x, d])
        return node("Mul", [y, g])

    def heads_of(x):  # [B, S, dim] -> [B, H, S, hd]
        r = node("Reshape", [x, const(np.array([0, 0, heads, hd], np.int64))])
        return node("Transpose", [r], perm=[0, 2, 1, 3])

    def rope(x):
        half = hd // 2
        x1 = node("Slice", [x, const(np.array([0], np.int64)), const(np.array([half], np.int64)),
                            const(np.array([3], np.int64))])
        x2 = node("Slice", [x, const(np.array([half], np.int64)),
                            const(np.array([hd], np.int64)), const(np.array([3], np.int64))])
        rot = node("Concat", [node("Neg", [x2]), x1], axis=-1)
        return node("Add", [node("Mul", [x, cos]), node("Mul", [rot, sin])])

    h = node("Gather", [w.random("embed.weight", (vocab, dim)), "input_ids"], axis=0)
    for l in range(layers):
        p = "layers.%d." % l
        x = rmsnorm(h, p + "attn_norm.weight")
        q = rope(heads_of(node("MatMul", [x, w.random(p + "wq", (dim, dim))])))
        k = rope(heads_of(node("MatMul", [x, w.random(p + "wk", (dim, dim))])))
        v = heads_of(node("MatMul", [x, w.random(p + "wv", (dim, dim))]))
        kt = node("Transpose", [k], perm=[0, 1, 3, 2])
        s = node("Div", [node("MatMul", [q, kt]), const(np.array(np.sqrt(hd), np.float32))])
        a = node("Softmax", [node("Add", [s, mask])], axis=-1)
        o = node("Transpose", [node("MatMul", [a, v])], perm=[0, 2, 1, 3])
        o = node("Reshape", [o, const(np.array([0, 0, dim], np.int64))])
        h = node("Add", [h, node("MatMul", [o, w.random(p + "wo", (dim, dim))])])
        x = rmsnorm(h, p + "ffn_norm.weight")
        g = node("MatMul", [x, w.random(p + "w1", (dim, hidden))])
        u = node("MatMul", [x, w.random(p + "w3", (dim, hidden))])
        act = node("Mul", [node("Mul", [g, node("Sigmoid", [g])]), u])
        h = node("Add", [h, node("MatMul", [act, w.random(p + "w2", (hidden, dim))])])
    x = rmsnorm(h, "norm.weight")
    logits = node("MatMul", [x, w.random("lm_head", (dim, vocab))])
    nodes[-1].output[0] = "logits"
    w.f.close()
    graph = helper.make_graph(
        nodes, "llama", [helper.make_tensor_value_info("input_ids", I64, ["batch", "seq"])],
        [helper.make_tensor_value_info("logits", F32, ["batch", "seq", vocab])], w.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    params = sum(int(np.prod(t.dims)) for t in w.inits)
    return {"nodes": len(nodes), "parameters": params,
            "weights_bytes": w.offset, "onnx_bytes": os.path.getsize(path)}


def timed(cmd):
    p = subprocess.run(["/usr/bin/time", "-v"] + cmd, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, errors="replace")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1))
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", p.stderr).group(1)
    secs = sum(float(x) * 60 ** i for i, x in enumerate(reversed(wall.split(":"))))
    user = float(re.search(r"User time \(seconds\): (\S+)", p.stderr).group(1))
    sys_ = float(re.search(r"System time \(seconds\): (\S+)", p.stderr).group(1))
    return {"rc": p.returncode, "wall_s": secs, "user_s": user, "sys_s": sys_,
            "peak_rss_mib": rss / 1024.0,
            "stderr_tail": "\n".join(l for l in p.stderr.splitlines()
                                     if not l.startswith("\t"))[-800:]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--hidden", type=int, default=5632)
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--seq", type=int, default=8)
    ap.add_argument("--work", help="where the model goes (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the generated model")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                  "results"))
    args = ap.parse_args()

    work = args.work or tempfile.mkdtemp(prefix="lq-import-large-")
    os.makedirs(work, exist_ok=True)
    model = os.path.join(work, "model.onnx")
    t0 = time.time()
    info = build(model, args.dim, args.layers, args.vocab, args.hidden, args.heads)
    info["generate_s"] = round(time.time() - t0, 1)
    wb = info["weights_bytes"]
    print("model: %d nodes, %.1fM parameters, %.2f GiB external data, generated in %.0f s"
          % (info["nodes"], info["parameters"] / 1e6, wb / 2 ** 30, info["generate_s"]))

    imp = os.path.join(args.bin, "quant-import")
    pins = ["--dim", "batch=1", "--dim", "seq=%d" % args.seq]
    runs = [
        ("read the data file (cat, page cache warm)",
         ["sh", "-c", "cat %s.data > /dev/null" % model]),
        ("import only (--no-raise --no-print)",
         [imp, model] + pins + ["--no-raise", "--no-print"]),
        ("import + --lq-raise (--no-print)",
         [imp, model] + pins + ["--stats", "--no-print"]),
        ("import + raise + print (--elide-weights -o /dev/null)",
         [imp, model] + pins + ["--elide-weights", "-o", "/dev/null"]),
        ("import + raise + print weights (-o file)",
         [imp, model] + pins + ["-o", os.path.join(work, "model.mlir")]),
    ]
    results = []
    for label, cmd in runs:
        r = timed(cmd)
        r["label"] = label
        r["rss_over_weights"] = r["peak_rss_mib"] * 2 ** 20 / wb
        results.append(r)
        print("%-45s rc %d  wall %7.2f s  peak RSS %8.0f MiB  (%.2fx weights)" % (
            label, r["rc"], r["wall_s"], r["peak_rss_mib"], r["rss_over_weights"]))
        if r["rc"] != 0:
            print(r["stderr_tail"])
        if os.path.exists(os.path.join(work, "model.mlir")):
            info["mlir_bytes"] = os.path.getsize(os.path.join(work, "model.mlir"))
            os.remove(os.path.join(work, "model.mlir"))

    os.makedirs(args.out, exist_ok=True)
    cfg = "dim %d, %d layers, vocab %d, MLP hidden %d, %d heads, seq %d" % (
        args.dim, args.layers, args.vocab, args.hidden, args.heads, args.seq)
    with open(os.path.join(args.out, "import_large.json"), "w") as f:
        json.dump({"config": cfg, "model": info, "runs": results}, f, indent=1)
    with open(os.path.join(args.out, "import_large.md"), "w") as f:
        f.write("# quant-import on a large synthetic Llama (bench/import_large.py)\n\n")
        f.write("%s: %d nodes, %.1fM parameters, %.2f GiB of external data (%d bytes), "
                "model.onnx %d bytes.\n\n" % (cfg, info["nodes"], info["parameters"] / 1e6,
                                               wb / 2 ** 30, wb, info["onnx_bytes"]))
        f.write("| run | wall s | user s | sys s | peak RSS MiB | RSS / weights |\n")
        f.write("|---|---:|---:|---:|---:|---:|\n")
        for r in results:
            f.write("| %s | %.2f | %.2f | %.2f | %.0f | %.2f |\n" % (
                r["label"], r["wall_s"], r["user_s"], r["sys_s"], r["peak_rss_mib"],
                r["rss_over_weights"]))
        if "mlir_bytes" in info:
            f.write("\nPrinted .mlir: %d bytes.\n" % info["mlir_bytes"])
        f.write("\nRSS / weights is peak RSS over the external data size; ~100 MiB of it is "
                "the tool's shared libraries (libMLIR, libLLVM). The importer copies each "
                "weight once, from an mmapped slice of the data file into its blob (MatMul "
                "weights transposed to lq.linear's [N, K] on the way), so import alone "
                "stays near 1x. Printing adds MLIR's AsmPrinter cost: it hex-encodes each "
                "blob into a temporary string (2x the largest blob; with --elide-weights it "
                "formats the hex first and elides afterwards, 4x), which dominates the "
                "printing runs' time and extra RSS.\n")
    print("wrote", os.path.join(args.out, "import_large.md"))
    if not args.keep and not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if all(r["rc"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
