#!/usr/bin/python3
"""Store the initializers of several ONNX models once, in one external-data file.

    share_weights.py OUT_DIR DATA_NAME MODEL.onnx [MODEL.onnx ...]

pd-llama-6m ships a prefill graph and a KV-cache step graph that hold the
same 27 MB of weights under different initializer names. Each distinct
tensor (by bytes, shape and type) is written once to OUT_DIR/DATA_NAME,
64-byte aligned, and every model is rewritten to OUT_DIR/<its name> with its
initializers pointing there (ONNX external data: location, offset, length).
ONNX Runtime, onnx.load and quant-import read such models unchanged; the
repository is half the size, which keeps it under the 64 MiB that the GPU
machine's working-tree copy allows.

The models are checked after writing: every initializer read back through
onnx.load equals the original.
"""
import hashlib
import os
import sys

import onnx
from onnx import numpy_helper

ALIGN = 64


def main(argv):
    if len(argv) < 4:
        sys.exit(__doc__)
    out_dir, data_name, paths = argv[1], argv[2], argv[3:]
    os.makedirs(out_dir, exist_ok=True)
    models = [onnx.load(p) for p in paths]
    # The original bytes, for the check at the end (OUT_DIR may be the
    # models' own directory).
    original = [[(t.name, numpy_helper.to_array(t).tobytes())
                 for t in m.graph.initializer] for m in models]
    offsets = {}  # key -> (offset, length)
    blob = bytearray()
    for m in models:
        for t in m.graph.initializer:
            if t.data_location == onnx.TensorProto.EXTERNAL:
                sys.exit(f"{t.name}: already external")
            raw = numpy_helper.to_array(t).tobytes()
            key = (hashlib.sha256(raw).hexdigest(), tuple(t.dims), t.data_type)
            if key not in offsets:
                blob.extend(b"\0" * (-len(blob) % ALIGN))
                offsets[key] = (len(blob), len(raw))
                blob.extend(raw)
            off, length = offsets[key]
            for field in ("raw_data", "float_data", "int32_data", "int64_data",
                          "double_data", "uint64_data", "string_data"):
                t.ClearField(field)
            t.data_location = onnx.TensorProto.EXTERNAL
            del t.external_data[:]
            for k, v in (("location", data_name), ("offset", str(off)),
                         ("length", str(length))):
                e = t.external_data.add()
                e.key, e.value = k, v
    with open(os.path.join(out_dir, data_name), "wb") as f:
        f.write(blob)
    for p, m in zip(paths, models):
        out = os.path.join(out_dir, os.path.basename(p))
        with open(out, "wb") as f:
            f.write(m.SerializeToString())
    # Read back through onnx's own external-data loader and compare.
    for p, orig in zip(paths, original):
        b = onnx.load(os.path.join(out_dir, os.path.basename(p)))
        got = [(t.name, numpy_helper.to_array(t).tobytes())
               for t in b.graph.initializer]
        if got != orig:
            sys.exit(f"{p}: the initializers differ after rewriting")
    total = sum(len(raw) for orig in original for _, raw in orig)
    print(f"{len(offsets)} distinct tensors, {len(blob)} bytes in {data_name} "
          f"(the models held {total})")


if __name__ == "__main__":
    main(sys.argv)
