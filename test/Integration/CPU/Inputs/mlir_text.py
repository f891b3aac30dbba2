# ===- mlir_text.py - MLIR text for the CPU integration test generators ---===#
# SPDX-License-Identifier: Apache-2.0
# ===----------------------------------------------------------------------===#
#
# Shared by gen-tests.py and gen-quantized-linear.py: exact float literals,
# dense attributes, tensor types, and the @check harness that prints
# [max |got - want|, ok] for each result.
#
# ===----------------------------------------------------------------------===#

import math

import numpy as np


def lit(v):
    v = float(v)
    if math.isnan(v):
        return "0x7FC00000"
    if math.isinf(v):
        return "0x7F800000" if v > 0 else "0xFF800000"
    r = repr(v)
    mant, _, exp = r.partition("e")
    if exp and "." not in mant:  # MLIR wants 1.0e-05, not 1e-05
        r = f"{mant}.0e{exp}"
    return r


def nested(a, fmt):
    if a.ndim == 0:
        return fmt(a.item())
    return "[" + ", ".join(nested(x, fmt) for x in a) + "]"


def ttype(shape, elt, enc=None):
    dims = "x".join(str(d) for d in shape)
    body = f"{dims}x{elt}" if shape else elt
    return f"tensor<{body}, {enc}>" if enc else f"tensor<{body}>"


def fdense(a, elt="f32", enc=None):
    a = np.asarray(a)
    return f"dense<{nested(a, lit)}> : {ttype(a.shape, elt, enc)}"


def idense(a, elt, enc=None):
    a = np.asarray(a)
    return f"dense<{nested(a, lambda v: str(int(v)))}> : {ttype(a.shape, elt, enc)}"


HARNESS = """
func.func private @printMemrefF32(tensor<*xf32>)

// Prints [max |got - want|, 1 if that is <= tol else 0]; NaN gives 0.
func.func @check(%got: tensor<?xf32>, %want: tensor<?xf32>, %tol: f32) {
  %zero = arith.constant 0.0 : f32
  %init = tensor.empty() : tensor<f32>
  %acc = linalg.fill ins(%zero : f32) outs(%init : tensor<f32>) -> tensor<f32>
  %max = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> ()>],
                         iterator_types = ["reduction"]}
      ins(%got, %want : tensor<?xf32>, tensor<?xf32>) outs(%acc : tensor<f32>) {
  ^bb0(%g: f32, %w: f32, %m: f32):
    %d = arith.subf %g, %w : f32
    %a = math.absf %d : f32
    %r = arith.maximumf %m, %a : f32
    linalg.yield %r : f32
  } -> tensor<f32>
  %err = tensor.extract %max[] : tensor<f32>
  %ok = arith.cmpf ole, %err, %tol : f32
  %okf = arith.uitofp %ok : i1 to f32
  %out = tensor.from_elements %err, %okf : tensor<2xf32>
  %u = tensor.cast %out : tensor<2xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}
"""
