#!/usr/bin/env python3
"""Writes a one-linear ONNX model for timing --calibrate="hessian=true"
(bench/gptq_speed.sh): input_ids int64 [1, T] -> Gather from a random
[V, K] table -> MatMul by a random [K, N] weight (one lq.linear after import)
-> output [1, T, N]; and token ids [samples, T] for it.
Usage: hessian_model.py OUT.onnx OUT_ids.npy [K] [T] [SAMPLES]"""
import sys
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto

out, ids_out = sys.argv[1], sys.argv[2]
K = int(sys.argv[3]) if len(sys.argv) > 3 else 4096
T = int(sys.argv[4]) if len(sys.argv) > 4 else 512
S = int(sys.argv[5]) if len(sys.argv) > 5 else 128
V = 64
rng = np.random.default_rng(0)
emb = rng.standard_normal((V, K)).astype(np.float32)
w = (rng.standard_normal((K, K)) * 0.02).astype(np.float32)
g = helper.make_graph(
    [helper.make_node("Gather", ["emb", "input_ids"], ["x"], axis=0),
     helper.make_node("MatMul", ["x", "w"], ["y"])],
    "one_linear",
    [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, T])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, T, K])],
    [numpy_helper.from_array(emb, "emb"), numpy_helper.from_array(w, "w")])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
onnx.save(m, out)
np.save(ids_out, rng.integers(0, V, size=(S, T)).astype(np.int64))
