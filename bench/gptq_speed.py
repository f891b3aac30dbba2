#!/usr/bin/env python3
"""Writes an MLIR module with one random N x K linear and a random SPD
Hessian H = XᵀX / m (X: m calibration rows with log-normal column scales, so
H is ill-conditioned like a real one), for timing --gptq (bench/gptq_speed.sh).
Usage: gptq_speed.py OUT.mlir [K] [N] [M]"""
import sys
import numpy as np

out = sys.argv[1]
K = int(sys.argv[2]) if len(sys.argv) > 2 else 4096
N = int(sys.argv[3]) if len(sys.argv) > 3 else K
M = int(sys.argv[4]) if len(sys.argv) > 4 else K
rng = np.random.default_rng(0)
w = (rng.standard_normal((N, K)) * 0.02).astype(np.float32)
x = rng.standard_normal((M, K)).astype(np.float32)
x *= np.exp(rng.standard_normal(K) * 0.5).astype(np.float32)
h = (x.T @ x / M).astype(np.float32)
h = (h + h.T) * 0.5


def hexdense(a):
    return 'dense<"0x' + np.ascontiguousarray(a, dtype='<f4').tobytes().hex().upper() + '">'


with open(out, "w") as f:
    f.write(f"func.func @layer(%x: tensor<1x{K}xf32>) -> tensor<1x{N}xf32> {{\n")
    f.write(f"  %w = arith.constant {hexdense(w)} : tensor<{N}x{K}xf32>\n")
    f.write(f"  %y = lq.linear %x, %w {{lq.hessian = {hexdense(h)} : tensor<{K}x{K}xf32>}}"
            f" : (tensor<1x{K}xf32>, tensor<{N}x{K}xf32>) -> tensor<1x{N}xf32>\n")
    f.write(f"  %z = arith.addf %y, %y : tensor<1x{N}xf32>\n")
    f.write(f"  return %z : tensor<1x{N}xf32>\n}}\n")
