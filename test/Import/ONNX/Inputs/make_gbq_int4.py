# Writes a model with com.microsoft.GatherBlockQuantized over int4 and uint4
# tables. ONNX 1.12's text parser and helpers predate int4 (data types 21 and
# 22), so the tensors are built by hand. Usage: make_gbq_int4.py out.onnx
import sys

from onnx import TensorProto, helper


def nibbles(values):
    """Packs 4-bit values two per byte, low nibble first."""
    out = bytearray()
    for i in range(0, len(values), 2):
        out.append((values[i] & 0xF) | ((values[i + 1] & 0xF) << 4))
    return bytes(out)


def tensor(name, dtype, dims, raw):
    t = TensorProto()
    t.name, t.data_type, t.raw_data = name, dtype, raw
    t.dims.extend(dims)
    return t


INT4, UINT4 = 22, 21
row0 = list(range(-8, 8))      # int4 codes -8..7
row1 = [1] * 16
data_i4 = tensor("d_i4", INT4, [2, 16], nibbles(row0 + row1))
zp_i4 = tensor("z_i4", INT4, [2, 1], nibbles([-2, 3]))
data_u4 = tensor("d_u4", UINT4, [2, 16], nibbles(list(range(16)) + [15] * 16))
scales = helper.make_tensor("s", TensorProto.FLOAT, [2, 1], [0.5, 0.25])
nodes = [
    helper.make_node("GatherBlockQuantized", ["d_i4", "ids", "s"], ["y_sym"],
                     domain="com.microsoft", block_size=16),
    helper.make_node("GatherBlockQuantized", ["d_i4", "ids", "s", "z_i4"],
                     ["y_zp"], domain="com.microsoft", block_size=16),
    helper.make_node("GatherBlockQuantized", ["d_u4", "ids", "s"], ["y_u4"],
                     domain="com.microsoft", block_size=16),
]
graph = helper.make_graph(
    nodes, "gbq_int4",
    [helper.make_tensor_value_info("ids", TensorProto.INT64, [3])],
    [helper.make_tensor_value_info(n, TensorProto.FLOAT, [3, 16])
     for n in ("y_sym", "y_zp", "y_u4")],
    initializer=[data_i4, zp_i4, data_u4, scales])
model = helper.make_model(graph, opset_imports=[
    helper.make_opsetid("", 21), helper.make_opsetid("com.microsoft", 1)])
model.ir_version = 10
with open(sys.argv[1], "wb") as f:
    f.write(model.SerializeToString())
