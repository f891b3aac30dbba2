#!/usr/bin/python3
# ===- gen-quantized-linear.py - Generate quantized-linear.mlir ------------===#
# SPDX-License-Identifier: Apache-2.0
# ===----------------------------------------------------------------------===#
#
# Writes test/Integration/CPU/quantized-linear.mlir in the style of
# gen-tests.py: lq.linear(x, lq.dequantize(codes, scales [, zero_point]))
# for the schemes lq_rt's fused quantized kernel takes (int4/int8, sym and
# asym, groups along K and per channel, NF4), run both through the kernel
# (--lower-to-cpu) and through the generic dequantize lowering
# (runtime-kernels=false). Expected values: numpy dequantizes in float32
# exactly as <lq_rt/formats.h> does, then multiplies in float64.
#
#   /usr/bin/python3 test/Integration/CPU/Inputs/gen-quantized-linear.py
#
# ===----------------------------------------------------------------------===#

import math
import os

import numpy as np

OUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
rng = np.random.default_rng(20240612)
f32 = np.float32
# f32 accumulation over K <= 256 of values of order 1.
TOL = 1e-4

NF4 = np.array([-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
                -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
                0.07958029955625534, 0.16093020141124725, 0.24611230194568634,
                0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
                0.7229568362236023, 1.0], dtype=f32)


from mlir_text import HARNESS, fdense, idense, lit, nested, ttype  # noqa: E402

body, checks, blobs = [], [], {}
counter = [0]


def value(text):
    counter[0] += 1
    name = f"%v{counter[0]}"
    body.append(f"  {name} = {text}")
    return name


def check(label, got, got_shape, want):
    want = np.asarray(want, dtype=f32).reshape(-1)
    n = int(np.prod(got_shape))
    flat = got
    if len(got_shape) != 1:
        reassoc = "[[" + ", ".join(str(i) for i in range(len(got_shape))) + "]]"
        flat = value(f"tensor.collapse_shape {got} {reassoc} : {ttype(got_shape, 'f32')} into {ttype([n], 'f32')}")
    dyn = value(f"tensor.cast {flat} : {ttype([n], 'f32')} to tensor<?xf32>")
    w = value(f"arith.constant {fdense(want)}")
    wdyn = value(f"tensor.cast {w} : {ttype([n], 'f32')} to tensor<?xf32>")
    t = value(f"arith.constant {lit(TOL)} : f32")
    body.append(f"  // {label}")
    body.append(f"  call @check({dyn}, {wdyn}, {t}) : (tensor<?xf32>, tensor<?xf32>, f32) -> ()")
    checks.append("// CHECK: sizes = [2] strides = [1] data =")
    checks.append("// CHECK-NEXT: [{{[^,]+}}, 1]")


def packed_blob(codes, bits):
    """formats.h's lq_pack_bits as a dense_resource hex string."""
    flat = codes.reshape(-1).astype(np.uint8) & ((1 << bits) - 1)
    if bits == 4:
        if flat.size % 2:
            flat = np.append(flat, 0)
        data = (flat[0::2] | (flat[1::2] << 4)).astype(np.uint8)
    else:
        data = flat
    return "0x08000000" + data.tobytes().hex().upper()


def qlinear(label, xshape, N, K, fmt, bits, group, symmetric, bias, blob=False):
    """Random quantized weight [N, K]; group 0 means per channel (axis 0)."""
    g = group if group else K
    G = K // g
    if fmt == "nf4":
        codes = rng.integers(0, 16, size=(N, K))
        q = NF4[codes]
        stype = "f16"
    elif symmetric:
        lim = 2 ** (bits - 1) - 1
        codes = rng.integers(-lim, lim + 1, size=(N, K))
        q = codes.astype(f32)
        stype = "f32"
    else:
        codes = rng.integers(0, 2 ** bits, size=(N, K))
        q = codes.astype(f32)
        stype = "f16"
    # Weights of order 1 whatever the width.
    sc = (rng.uniform(0.02, 0.2, size=(N, G)) * 8 / 2 ** (bits - 1)).astype(f32)
    if stype == "f16":
        sc = sc.astype(np.float16).astype(f32)
    zp = None
    if fmt == "int" and not symmetric:
        zp = rng.integers(0, 2 ** bits, size=(N, G))
    # Dequantize as formats.h: (float)(q - zp) * scale, NF4: codebook * scale.
    qz = q if zp is None else (codes - np.repeat(zp, g, axis=1)).astype(f32)
    w = (qz * np.repeat(sc, g, axis=1)).astype(f32)
    x = rng.standard_normal(xshape).astype(f32)
    b = rng.standard_normal(N).astype(f32) if bias else None
    want = x.astype(np.float64) @ w.astype(np.float64).T
    if b is not None:
        want = want + b

    if group:
        enc = f"#lq.scheme<format = {fmt}{'' if fmt == 'nf4' else f', bits = {bits}'}, axis = 1, group = {group}"
    else:
        enc = f"#lq.scheme<format = {fmt}{'' if fmt == 'nf4' else f', bits = {bits}'}, axis = 0"
    if fmt == "int" and not symmetric:
        enc += ", symmetric = false"
    enc += ">"
    storage = f"i{bits}"
    qty = ttype([N, K], storage, enc)
    if blob:
        name = f"codes_{len(blobs)}"
        blobs[name] = packed_blob(codes, bits)
        qv = value(f"arith.constant dense_resource<{name}> : {qty}")
    else:
        # dense of the storage type holds the raw bits (unsigned codes for
        # asymmetric schemes and NF4 print as their unsigned values).
        qv = value(f"arith.constant {idense(codes, storage, enc)}")
    sv = value(f"arith.constant {fdense(sc, stype)}")
    operands, types = f"{qv}, {sv}", f"{qty}, {ttype([N, G], stype)}"
    if zp is not None:
        zv = value(f"arith.constant {idense(zp, 'i8')}")
        operands += f" zero_point {zv}"
        types += f", {ttype([N, G], 'i8')}"
    wv = value(f"lq.dequantize {operands} : ({types}) -> {ttype([N, K], 'f32')}")
    xv = value(f"arith.constant {fdense(x)}")
    yshape = list(xshape[:-1]) + [N]
    if b is not None:
        bv = value(f"arith.constant {fdense(b)}")
        y = value(f"lq.linear {xv}, {wv} bias {bv} : ({ttype(list(xshape), 'f32')}, {ttype([N, K], 'f32')}, {ttype([N], 'f32')}) -> {ttype(yshape, 'f32')}")
    else:
        y = value(f"lq.linear {xv}, {wv} : ({ttype(list(xshape), 'f32')}, {ttype([N, K], 'f32')}) -> {ttype(yshape, 'f32')}")
    check(label, y, yshape, want)


qlinear("int4 asym group 32, 3-D input, bias", (1, 3, 64), 5, 64, "int", 4, 32, False, True)
qlinear("int8 sym per channel, rank-1 input (decode GEMV)", (40,), 6, 40, "int", 8, 0, True, False)
qlinear("int4 sym group 128, M = 2, packed blob", (2, 256), 40, 256, "int", 4, 128, True, False, blob=True)
qlinear("int8 asym group 32, M = 17 (prefill tiles), bias", (17, 96), 9, 96, "int", 8, 32, False, True)
qlinear("nf4 group 64, M = 17, packed blob", (17, 128), 33, 128, "nf4", 4, 64, True, True, blob=True)
qlinear("int4 asym per channel, odd K = 37", (3, 37), 7, 37, "int", 4, 0, False, False)

lines = [
    "// lq.linear of lq.dequantize (int4/int8 sym+asym, NF4; groups and per channel),",
    "// through lq_rt's fused quantized kernel and through the generic lowering.",
    "// Generated by Inputs/gen-quantized-linear.py: the expected values come from",
    f"// its independent numpy reference; tolerance {TOL} (absolute, values of order 1-10).",
    "",
    "// RUN: quant-opt %s --lower-to-cpu | %mlir_runner -e main -entry-point-result=void %lq_runner_libs | FileCheck %s",
    "// RUN: quant-opt %s --lower-to-cpu=\"runtime-kernels=false\" | %mlir_runner -e main -entry-point-result=void %runner_libs | FileCheck %s",
    "// The kernel path really calls the kernel (and the generic one does not):",
    "// RUN: quant-opt %s --convert-lq-to-runtime | FileCheck %s --check-prefix=CALLS",
    "",
    "// CALLS-NOT: lq.dequantize",
    "// CALLS-COUNT-6: call @lq_rt_linear_q_f32(",
    "// CALLS-NOT: lq.dequantize",
    "// CALLS-NOT: @lq_rt_linear_f32",
    "",
]
lines += checks
lines.append(HARNESS)
lines.append("func.func @main() {")
lines += body
lines.append("  return")
lines.append("}")
res = ",\n".join(f"      {k}: \"{v}\"" for k, v in blobs.items())
lines.append("\n{-#\n  dialect_resources: {\n    builtin: {\n" + res + "\n    }\n  }\n#-}")
with open(os.path.join(OUT, "quantized-linear.mlir"), "w") as f:
    f.write("\n".join(lines) + "\n")
