#!/usr/bin/python3
# ===- gen-quantized-kv-cache.py - Generate quantized-kv-cache-*.mlir -----===#
# SPDX-License-Identifier: Apache-2.0
# ===----------------------------------------------------------------------===#
#
# Writes test/Integration/CPU/quantized-kv-cache-nvfp4.mlir and
# quantized-kv-cache-f16-scales.mlir: a float prefill and a float decode
# step (capacity 4) through --quantize-kv-cache (applied here by the given
# quant-opt, so the functions in the test are the pass's output), then a
# prefill and three decode steps, each checked against a float64 NumPy
# reference of attention over the same fake-quantized K/V:
#
#   nvfp4:  s = E4M3(amax_16 / 6) (tensor scale 1), q = E2M1(x / s)
#           (round to nearest even, saturating at 6), x^ = q * s
#   f16:    int4 keys per 16 channels, values per head (group = D), scales
#           f16(amax / 7), q = clip(rint(x / s), -8, 7)
#
# 4 query heads, 2 KV heads, head dim 32, an outlier key channel (x10).
#
#   /usr/bin/python3 test/Integration/CPU/Inputs/gen-quantized-kv-cache.py \
#       build/bin/quant-opt
#
# ===----------------------------------------------------------------------===#

import os
import re
import subprocess
import sys

import numpy as np

from mlir_text import HARNESS, fdense

OUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
f32 = np.float32
B, HQ, HKV, D, T, C = 1, 4, 2, 32, 3, 4


def e4m3(x):
    """Round positive f32 values to E4M3FN (nearest even, saturating)."""
    x = np.asarray(x, np.float64)
    e = np.floor(np.log2(np.maximum(x, 2.0**-9)))
    step = 2.0 ** (np.maximum(e, -6) - 3)
    return np.minimum(np.round(x / step) * step, 448.0)


def e2m1(v):
    """Round to FP4 E2M1 values (nearest even, saturating at 6)."""
    a = np.abs(v)
    step = np.where(a < 2, 0.5, np.where(a < 4, 1.0, 2.0))
    return np.sign(v) * np.minimum(np.round(a / step) * step, 6.0)


def fq_nvfp4(x):
    g = x.reshape(*x.shape[:-1], -1, 16).astype(f32)
    amax = np.abs(g).max(-1, keepdims=True)
    s = e4m3(f32(amax) / f32(6)).astype(f32)
    q = e2m1(np.where(s > 0, g / np.where(s > 0, s, 1), 0).astype(f32))
    return (q * s).reshape(x.shape).astype(np.float64)


def fq_int4_f16(x, group):
    g = x.reshape(*x.shape[:-1], -1, group).astype(f32)
    amax = np.abs(g).max(-1, keepdims=True)
    s = (f32(amax) / f32(7)).astype(np.float16).astype(f32)
    q = np.clip(np.rint(g / s), -8, 7)
    return (q * s).reshape(x.shape).astype(np.float64)


def attention(q, k, v):
    """Causal attention in float64, GQA, over all T rows."""
    q, k, v = (a.astype(np.float64) for a in (q, k, v))
    rep = HQ // HKV
    k = np.repeat(k, rep, axis=1)
    v = np.repeat(v, rep, axis=1)
    s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(D)
    s = s + np.triu(np.full((T, T), -np.inf), 1)
    p = np.exp(s - s.max(-1, keepdims=True))
    return (p / p.sum(-1, keepdims=True)) @ v


FLOAT_FUNCS = f"""
func.func @step(%q: tensor<1x4x1x32xf32>, %k: tensor<1x2x1x32xf32>, %v: tensor<1x2x1x32xf32>,
                %pk: tensor<1x2x{C}x32xf32> {{lq.kv_cache = 1 : i64}},
                %pv: tensor<1x2x{C}x32xf32> {{lq.kv_cache = 2 : i64}}, %pos: tensor<i64>)
    -> (tensor<1x4x1x32xf32>, tensor<1x2x{C}x32xf32>, tensor<1x2x{C}x32xf32>) {{
  %p = tensor.extract %pos[] : tensor<i64>
  %i = arith.index_cast %p : i64 to index
  %kc = tensor.insert_slice %k into %pk[0, 0, %i, 0] [1, 2, 1, 32] [1, 1, 1, 1] : tensor<1x2x1x32xf32> into tensor<1x2x{C}x32xf32>
  %vc = tensor.insert_slice %v into %pv[0, 0, %i, 0] [1, 2, 1, 32] [1, 1, 1, 1] : tensor<1x2x1x32xf32> into tensor<1x2x{C}x32xf32>
  %o = lq.attention %q, %kc, %vc position %pos {{causal}} : (tensor<1x4x1x32xf32>, tensor<1x2x{C}x32xf32>, tensor<1x2x{C}x32xf32>, tensor<i64>) -> tensor<1x4x1x32xf32>
  return %o, %kc, %vc : tensor<1x4x1x32xf32>, tensor<1x2x{C}x32xf32>, tensor<1x2x{C}x32xf32>
}}
func.func @prefill(%q: tensor<1x4x{T}x32xf32>, %k: tensor<1x2x{T}x32xf32>, %v: tensor<1x2x{T}x32xf32>) -> tensor<1x4x{T}x32xf32> {{
  %o = lq.attention %q, %k, %v {{causal}} : (tensor<1x4x{T}x32xf32>, tensor<1x2x{T}x32xf32>, tensor<1x2x{T}x32xf32>) -> tensor<1x4x{T}x32xf32>
  return %o : tensor<1x4x{T}x32xf32>
}}
"""


def split_top(s):
    """Splits at commas outside <>, (), {}, []."""
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch in "<({[":
            depth += 1
        elif ch in ">)}]":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def arg_types(text, name):
    """The argument types of func.func @name in `text`."""
    start = text.index(f"func.func @{name}(") + len(f"func.func @{name}(")
    depth, i = 1, start
    while depth:
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        i += 1
    types = []
    for a in split_top(text[start:i - 1]):
        t = a.split(":", 1)[1].strip()
        # Drop the argument's attribute dictionary.
        depth = 0
        for j, ch in enumerate(t):
            depth += {"<": 1, ">": -1}.get(ch, 0)
            if ch == "{" and depth == 0:
                t = t[:j].strip()
                break
        types.append(t)
    return types


def zero(ty):
    elt = re.match(r"tensor<[0-9x]*x([a-zA-Z0-9]+)", ty).group(1)
    return f"dense<0> : {ty}" if elt.startswith("i") else f"dense<0.0> : {ty}"


def write(name, options, fq_k, fq_v, fused_call, comment):
    rng = np.random.default_rng(8)
    q = rng.standard_normal((B, HQ, T, D)).astype(f32)
    k = rng.standard_normal((B, HKV, T, D)).astype(f32)
    v = rng.standard_normal((B, HKV, T, D)).astype(f32)
    k[..., 3] *= 10  # an outlier key channel
    ref = attention(q, fq_k(k), fq_v(v)).astype(f32)
    flo = attention(q, k, v).astype(f32)
    funcs = subprocess.run(
        [sys.argv[1], "-", f"--quantize-kv-cache={options}"],
        input=FLOAT_FUNCS, capture_output=True, text=True, check=True).stdout
    # The functions without their module.
    funcs = re.sub(r"^module \{\n|\n\}\s*$", "", funcs.strip())
    types = arg_types(funcs, "step")
    caches = types[3:-1]
    otype = "tensor<1x4x1x32xf32>"
    sig = f"({', '.join(types)}) -> ({', '.join([otype] + caches)})"
    n = len(caches)
    main = ["func.func @main() {",
            f"  %q = arith.constant {fdense(q)}",
            f"  %k = arith.constant {fdense(k)}",
            f"  %v = arith.constant {fdense(v)}",
            f"  %ref = arith.constant {fdense(ref)}",
            f"  %flo = arith.constant {fdense(flo)}",
            "  %tol = arith.constant 1.0e-5 : f32",
            f"  %o = call @prefill(%q, %k, %v) : (tensor<1x4x{T}x32xf32>, tensor<1x2x{T}x32xf32>, tensor<1x2x{T}x32xf32>) -> tensor<1x4x{T}x32xf32>",
            "  %gf = call @flat(%o) : (tensor<1x4x3x32xf32>) -> tensor<?xf32>",
            "  %wf = call @flat(%ref) : (tensor<1x4x3x32xf32>) -> tensor<?xf32>",
            "  call @check(%gf, %wf, %tol) : (tensor<?xf32>, tensor<?xf32>, f32) -> ()",
            "  %ff = call @flat(%flo) : (tensor<1x4x3x32xf32>) -> tensor<?xf32>",
            "  call @check(%gf, %ff, %tol) : (tensor<?xf32>, tensor<?xf32>, f32) -> ()"]
    prev = []
    for j, ty in enumerate(caches):
        main.append(f"  %c{j} = arith.constant {zero(ty)}")
        prev.append(f"%c{j}")
    for t in range(T):
        main += [
            f"  %q{t} = tensor.extract_slice %q[0, 0, {t}, 0] [1, 4, 1, 32] [1, 1, 1, 1] : tensor<1x4x{T}x32xf32> to tensor<1x4x1x32xf32>",
            f"  %k{t} = tensor.extract_slice %k[0, 0, {t}, 0] [1, 2, 1, 32] [1, 1, 1, 1] : tensor<1x2x{T}x32xf32> to tensor<1x2x1x32xf32>",
            f"  %v{t} = tensor.extract_slice %v[0, 0, {t}, 0] [1, 2, 1, 32] [1, 1, 1, 1] : tensor<1x2x{T}x32xf32> to tensor<1x2x1x32xf32>",
            f"  %r{t} = tensor.extract_slice %ref[0, 0, {t}, 0] [1, 4, 1, 32] [1, 1, 1, 1] : tensor<1x4x{T}x32xf32> to tensor<1x4x1x32xf32>",
            f"  %p{t} = arith.constant dense<{t}> : tensor<i64>",
            f"  %s{t}:{n + 1} = call @step(%q{t}, %k{t}, %v{t}, {', '.join(prev)}, %p{t}) : {sig}",
            f"  %gs{t} = call @flat1(%s{t}#0) : (tensor<1x4x1x32xf32>) -> tensor<?xf32>",
            f"  %ws{t} = call @flat1(%r{t}) : (tensor<1x4x1x32xf32>) -> tensor<?xf32>",
            f"  call @check(%gs{t}, %ws{t}, %tol) : (tensor<?xf32>, tensor<?xf32>, f32) -> ()"]
        prev = [f"%s{t}#{j + 1}" for j in range(n)]
    main += ["  return", "}"]
    flat = """
func.func @flat(%x: tensor<1x4x3x32xf32>) -> tensor<?xf32> {
  %c = tensor.collapse_shape %x [[0, 1, 2, 3]] : tensor<1x4x3x32xf32> into tensor<384xf32>
  %d = tensor.cast %c : tensor<384xf32> to tensor<?xf32>
  return %d : tensor<?xf32>
}
func.func @flat1(%x: tensor<1x4x1x32xf32>) -> tensor<?xf32> {
  %c = tensor.collapse_shape %x [[0, 1, 2, 3]] : tensor<1x4x1x32xf32> into tensor<128xf32>
  %d = tensor.cast %c : tensor<128xf32> to tensor<?xf32>
  return %d : tensor<?xf32>
}
"""
    checks = "\n".join([
        "// Prefill vs the reference:",
        "// CHECK: sizes = [2] strides = [1] data =",
        "// CHECK-NEXT: [{{[^,]+}}, 1]",
        "// Prefill vs float attention: the cache format moves the output (> 1e-5):",
        "// CHECK: sizes = [2] strides = [1] data =",
        "// CHECK-NEXT: [{{[^,]+}}, 0]",
        "// Steps 0, 1, 2 vs the reference's rows:"] +
        ["// CHECK: sizes = [2] strides = [1] data =\n// CHECK-NEXT: [{{[^,]+}}, 1]"] * T)
    header = f"""// Generated by Inputs/gen-quantized-kv-cache.py; do not edit.
//
{comment}
// A prefill and three decode steps through the cache must match a float64
// NumPy reference of attention over the same fake-quantized K/V, with the
// fused kernel (lq_rt_attention_at_q) and with the generic lowering. 4
// query heads, 2 KV heads, head dim 32, an outlier key channel (x10).
// The functions are --quantize-kv-cache="{options}" of a float prefill and
// a float step with capacity {C}.

// RUN: quant-opt %s --lower-to-cpu | %mlir_runner -e main -entry-point-result=void %lq_runner_libs | FileCheck %s
// RUN: quant-opt %s --lower-to-cpu="runtime-kernels=false" | %mlir_runner -e main -entry-point-result=void %runner_libs | FileCheck %s
// RUN: quant-opt %s --lower-to-cpu | FileCheck %s --check-prefix=FUSED
// FUSED-COUNT-2: llvm.call @{fused_call}(

{checks}
"""
    with open(os.path.join(OUT, name), "w") as f:
        f.write(header + HARNESS + flat + funcs + "\n" + "\n".join(main) + "\n")


write("quantized-kv-cache-nvfp4.mlir", "format=nvfp4", fq_nvfp4, fq_nvfp4,
      "lq_rt_attention_at_q_i8_f8E4M3FN",
      "// format=nvfp4: E2M1 codes packed two per byte, an E4M3 scale per 16\n"
      "// channels (cache arguments of f8E4M3FN), tensor scale 1.")
write("quantized-kv-cache-f16-scales.mlir",
      "format=int4 group=16 value-granularity=per-head scale-type=f16",
      lambda x: fq_int4_f16(x, 16), lambda x: fq_int4_f16(x, D),
      "lq_rt_attention_at_q_i8_f16",
      "// scale-type=f16: int4 keys with a scale per 16 channels, values per\n"
      "// head (one scale per token and head), all scales stored as f16.")
