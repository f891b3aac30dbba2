#!/usr/bin/env python3
"""Writes the binary ONNX models the import tests need into OUTDIR.

Binary protos are generated at test time, never committed. ONNX 1.12's helpers
predate int4/float8/block_size, so those tensors are built field by field.
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]
os.makedirs(out, exist_ok=True)


def save(model, name):
    # Raw bytes: onnx.save would resolve external data itself.
    with open(os.path.join(out, name), "wb") as f:
        f.write(model.SerializeToString())


def raw_tensor(name, dtype, dims, raw):
    t = TensorProto()
    t.name = name
    t.data_type = dtype
    t.dims.extend(dims)
    t.raw_data = raw
    return t


def model(nodes, inputs, outputs, inits=(), opset=21, domains=()):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    ops = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1) for d in domains]
    m = helper.make_model(g, opset_imports=ops)
    m.ir_version = 8
    return m


f32 = TensorProto.FLOAT
rng = np.random.default_rng(0)

# --- DequantizeLinear of an int4 weight, blocked along K (opset 21) --------
# Codes 0..15 in the low nibble first; as int4 they are -8..7.
codes = (np.arange(4 * 32) % 16).astype(np.uint8).reshape(4, 32)
packed = (codes[:, 0::2] | (codes[:, 1::2] << 4)).astype(np.uint8)
w = raw_tensor("w", 22, [4, 32], packed.tobytes())  # INT4
scale = numpy_helper.from_array(np.full((4, 2), 0.5, np.float32), "s")
m = model([helper.make_node("DequantizeLinear", ["w", "s"], ["wd"], axis=1, block_size=16),
           helper.make_node("Transpose", ["wd"], ["wdt"], perm=[1, 0]),
           helper.make_node("MatMul", ["x", "wdt"], ["y"])],
          [helper.make_tensor_value_info("x", f32, [2, 32])],
          [helper.make_tensor_value_info("y", f32, [2, 4])], [w, scale])
save(m, "dq-int4-block.onnx")

# --- DequantizeLinear uint8 asymmetric per-axis ------------------------------
wq = numpy_helper.from_array(np.array([[0, 128, 255], [10, 20, 30]], np.uint8), "wq")
sc = numpy_helper.from_array(np.array([0.1, 0.2], np.float32), "sc")
zp = numpy_helper.from_array(np.array([128, 0], np.uint8), "zp")
save(model([helper.make_node("DequantizeLinear", ["wq", "sc", "zp"], ["y"], axis=0)],
           [], [helper.make_tensor_value_info("y", f32, [2, 3])], [wq, sc, zp], opset=13),
     "dq-uint8-axis.onnx")

# --- DequantizeLinear fp8 e4m3 per tensor and MXFP4 (e8m0 scales, block 32) --
w8 = raw_tensor("w8", 17, [2, 2], bytes([0x38, 0x40, 0xB8, 0x7E]))  # 1, 2, -1, 448
s8 = numpy_helper.from_array(np.array(2.0, np.float32), "s8")
fp4 = raw_tensor("w4", 23, [1, 32], bytes([0x21] * 16))  # codes 1 (0.5), 2 (1.0)
e8 = raw_tensor("e8", 24, [1, 1], bytes([128]))  # 2^1
save(model([helper.make_node("DequantizeLinear", ["w8", "s8"], ["y8"]),
            helper.make_node("DequantizeLinear", ["w4", "e8"], ["y4"], axis=1, block_size=32,
                             output_dtype=1)],
           [], [helper.make_tensor_value_info("y8", f32, [2, 2]),
                helper.make_tensor_value_info("y4", f32, [1, 32])], [w8, s8, fp4, e8], opset=24),
     "dq-float.onnx")

# --- QuantizeLinear -> DequantizeLinear to int4 (blocked, zero zero point)
# and uint4 (per axis, zero point 8): zero points are int4/uint4 tensors ----
x_info = helper.make_tensor_value_info("x", f32, [2, 32])
zi4 = raw_tensor("zi4", 22, [2, 2], bytes([0x00, 0x00]))  # INT4 zeros
zu4 = raw_tensor("zu4", 21, [32], bytes([0x88] * 16))  # UINT4, all 8
save(model([helper.make_node("QuantizeLinear", ["x", "sb", "zi4"], ["qi"], axis=1, block_size=16),
            helper.make_node("DequantizeLinear", ["qi", "sb", "zi4"], ["yi"], axis=1, block_size=16),
            helper.make_node("QuantizeLinear", ["x", "su", "zu4"], ["qu"], axis=1),
            helper.make_node("DequantizeLinear", ["qu", "su", "zu4"], ["yu"], axis=1)],
           [x_info], [helper.make_tensor_value_info("yi", f32, [2, 32]),
                      helper.make_tensor_value_info("yu", f32, [2, 32])],
           [numpy_helper.from_array(np.array([[1, 2], [3, 4]], np.float32), "sb"), zi4,
            numpy_helper.from_array(np.full(32, 0.25, np.float32), "su"), zu4]),
     "q-int4.onnx")

# --- com.microsoft MatMulNBits: K=64, N=3, 4 bits, block 32 -----------------
K, N, blk = 64, 3, 32
q = (np.arange(N * K) % 16).astype(np.uint8).reshape(N, K)
bpack = (q[:, 0::2] | (q[:, 1::2] << 4)).astype(np.uint8).reshape(N, K // blk, blk // 2)
nb = [helper.make_node("MatMulNBits", ["a", "b", "scales", "zp"], ["y"], domain="com.microsoft",
                       K=K, N=N, bits=4, block_size=blk)]
zpb = np.array([[0x98], [0x88], [0x77]], np.uint8)  # per row: blocks (8,9), (8,8), (7,7)
save(model(nb, [helper.make_tensor_value_info("a", f32, [1, 5, K])],
           [helper.make_tensor_value_info("y", f32, [1, 5, N])],
           [numpy_helper.from_array(bpack, "b"),
            numpy_helper.from_array(np.linspace(0.5, 1.0, N * 2).astype(np.float32), "scales"),
            numpy_helper.from_array(zpb.reshape(-1), "zp")], domains=["com.microsoft"]),
     "matmul-nbits.onnx")

# --- external data -----------------------------------------------------------
with open(os.path.join(out, "weights.bin"), "wb") as f:
    f.write(b"\0" * 8 + np.array([1, 2, 3, 4], np.float32).tobytes())


def external_model(location, offset):
    ext = TensorProto()
    ext.name = "w"
    ext.data_type = f32
    ext.dims.extend([2, 2])
    ext.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", str(offset)), ("length", "16")):
        e = ext.external_data.add()
        e.key, e.value = k, v
    return model([helper.make_node("Add", ["x", "w"], ["y"])],
                 [helper.make_tensor_value_info("x", f32, [2, 2])],
                 [helper.make_tensor_value_info("y", f32, [2, 2])], [ext])


save(external_model("weights.bin", 8), "external.onnx")
save(external_model("weights.bin", 100), "external-offset.onnx")
save(external_model("missing.bin", 8), "external-missing.onnx")
save(external_model("../weights.bin", 8), "external-escape.onnx")

# --- corrupt inputs ----------------------------------------------------------
bad = model([helper.make_node("Add", ["x", "w"], ["y"])],
            [helper.make_tensor_value_info("x", f32, [4])],
            [helper.make_tensor_value_info("y", f32, [4])],
            [raw_tensor("w", f32, [4], b"\0" * 12)])  # 12 bytes for 4 floats
save(bad, "size-mismatch.onnx")
strings = model([helper.make_node("Identity", ["s"], ["y"])], [],
                [helper.make_tensor_value_info("y", TensorProto.STRING, [1])],
                [helper.make_tensor("s", TensorProto.STRING, [1], [b"a"])])
save(strings, "string-tensor.onnx")
with open(os.path.join(out, "external.onnx"), "rb") as f:
    data = f.read()
with open(os.path.join(out, "truncated.onnx"), "wb") as f:
    f.write(data[: len(data) // 2])
with open(os.path.join(out, "garbage.onnx"), "wb") as f:
    f.write(bytes(range(7, 256)) * 3)

# --- graph-level errors: named nodes, two unsupported ops -------------------
x4 = helper.make_tensor_value_info("x", f32, [1, 3, 8, 8])
save(model([helper.make_node("Conv", ["x", "w"], ["c"], name="/stem/conv"),
            helper.make_node("Relu", ["c"], ["r"], name="/stem/relu"),
            helper.make_node("FastGelu", ["r"], ["y"], name="/mlp/act", domain="com.microsoft")],
           [x4], [helper.make_tensor_value_info("y", f32, [1, 4, 6, 6])],
           [numpy_helper.from_array(np.zeros((4, 3, 3, 3), np.float32), "w")],
           opset=17, domains=["com.microsoft"]),
     "unsupported-ops.onnx")
