#!/usr/bin/env python3
"""Rotation files for --spinquant="rotations=...": write and convert.

--spinquant reads R1 [D, D] and R2 [layers, d, d] (or one [d, d]), f32 or
f64, from a directory (R1.npy, R2.npy), a NumPy .npz (np.savez, uncompressed:
lq does not inflate np.savez_compressed) or a safetensors file, the tensors
named "R1" and "R2".

    rotations_io.py SRC OUT       # SRC: DIR, .npz or .safetensors;
                                  # OUT: DIR, .npz or .safetensors

safetensors is written without the safetensors package: an 8-byte
little-endian header length N, N bytes of JSON {"NAME": {"dtype": "F64",
"shape": [...], "data_offsets": [begin, end]}, ...}, then the raw
little-endian C-ordered data (the format's specification,
https://github.com/huggingface/safetensors#format).
"""
import json
import os
import struct
import sys

import numpy as np

_DTYPES = {np.dtype("<f8"): "F64", np.dtype("<f4"): "F32"}
_FROM = {v: k for k, v in _DTYPES.items()}


def save_safetensors(path, tensors):
    """tensors: {name: float32/float64 array}."""
    header, blobs, offset = {}, [], 0
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        if a.dtype not in _DTYPES:
            raise ValueError(f"{name}: dtype {a.dtype} (write f32 or f64)")
        b = a.tobytes()
        header[name] = {"dtype": _DTYPES[a.dtype], "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)  # data starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + b:8 + n + e],
                                  dtype=_FROM[t["dtype"]]).reshape(t["shape"])
    return out


def load(src):
    if src.endswith(".safetensors"):
        return load_safetensors(src)
    if src.endswith(".npz"):
        with np.load(src) as z:
            return {k: z[k] for k in z.files}
    out = {"R1": np.load(os.path.join(src, "R1.npy"))}
    if os.path.exists(os.path.join(src, "R2.npy")):
        out["R2"] = np.load(os.path.join(src, "R2.npy"))
    return out


def save(out, tensors):
    if out.endswith(".safetensors"):
        save_safetensors(out, tensors)
    elif out.endswith(".npz"):
        np.savez(out, **tensors)
    else:
        os.makedirs(out, exist_ok=True)
        for k, v in tensors.items():
            np.save(os.path.join(out, k + ".npy"), v)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    save(sys.argv[2], load(sys.argv[1]))
