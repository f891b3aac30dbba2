#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""ONNX Runtime's 4-bit weight-only peer of an lq int4 recipe.

Rewrites every MatMul whose B input is a float initializer [K, N] into
com.microsoft's MatMulNBits (bits=4, block_size=G along K): symmetric
round-to-nearest, s = max|w| / 7 per (column, block of G), q = clamp(round(w
/ s), -8, 7) stored unsigned with MatMulNBits' default zero point 8 (no
zero_points input), two codes per byte, low nibble first; B [N, K/G, G/2]
uint8, scales [N * K/G] float32. That is lq's `quantize-weights{bits=4 group=G
lm-head=same}` grid (the same codes, up to rounding ties), so the two models
compute the same function and only the engines differ. The embedding Gather
stays float in both. accuracy_level (0: dequantize to f32, as lq's
weight-only kernels; 4: int8 activations, W4A8) is an attribute of the node.

usage: matmulnbits.py IN.onnx OUT.onnx [--block G] [--accuracy-level L]
"""
import argparse
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper


def quantize(w, g):
    """w [K, N] float32 -> (packed uint8 [N, K/g, g/2], scales [N * K/g])."""
    k, n = w.shape
    blocks = w.T.reshape(n, k // g, g).astype(np.float64)
    amax = np.abs(blocks).max(axis=2, keepdims=True)
    scale = np.where(amax > 0, amax / 7.0, 1.0)
    q = np.clip(np.rint(blocks / scale), -8, 7).astype(np.int64) + 8
    packed = (q[:, :, 0::2] | (q[:, :, 1::2] << 4)).astype(np.uint8)
    return packed, scale.reshape(-1).astype(np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--block", type=int, default=32)
    ap.add_argument("--accuracy-level", type=int, default=0)
    a = ap.parse_args()
    g = a.block
    if g < 16 or g & (g - 1):
        sys.exit(f"matmulnbits.py: --block must be a power of two >= 16, got {g}")
    model = onnx.load(a.input)
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    nodes, replaced, dropped, done = [], 0, set(), set()
    for node in graph.node:
        b = inits.get(node.input[1]) if node.op_type == "MatMul" else None
        w = numpy_helper.to_array(b) if b is not None else None
        if w is None or w.ndim != 2 or w.dtype != np.float32 or w.shape[0] % g:
            nodes.append(node)
            continue
        k, n = w.shape
        qname, sname = node.input[1] + ".q4", node.input[1] + ".scales"
        if node.input[1] not in done:  # a weight shared by MatMuls: once
            packed, scales = quantize(w, g)
            graph.initializer.extend([numpy_helper.from_array(packed, qname),
                                      numpy_helper.from_array(scales, sname)])
            done.add(node.input[1])
        nodes.append(helper.make_node(
            "MatMulNBits", [node.input[0], qname, sname], list(node.output),
            name=(node.name or node.output[0]) + ".nbits", domain="com.microsoft",
            K=k, N=n, bits=4, block_size=g, accuracy_level=a.accuracy_level))
        dropped.add(node.input[1])
        replaced += 1
    if replaced == 0:
        sys.exit("matmulnbits.py: no MatMul with a float [K, N] initializer (K a multiple "
                 f"of {g}) in {a.input}")
    del graph.node[:]
    graph.node.extend(nodes)
    used = {i for nd in graph.node for i in nd.input}
    keep = [t for t in graph.initializer if t.name not in dropped or t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    onnx.save(model, a.output)
    print(f"matmulnbits.py: {replaced} MatMul -> MatMulNBits (4 bits, block {g}, "
          f"accuracy_level {a.accuracy_level}) in {a.output}")


if __name__ == "__main__":
    main()
