//===- Importer.cpp - ONNX model to MLIR --------------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Reads an ONNX model (protobuf or ONNX's textual syntax), checks the graph as
// a whole (every unsupported op is reported at once, dangling names and
// cycles are caught before anything is built), then translates node by node
// into one func.func. Weights become dense_resource blobs, copied once from
// the file; small constant subgraphs are evaluated on the host.
//
//===----------------------------------------------------------------------===//

#include "Importer.h"

#include "dialects/LQ/IR/LQDialect.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/APFloat.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include "onnx/defs/parser.h"

#include <cstring>
#include <map>

using namespace mlir;
using namespace ::lq::onnx_import;

//===----------------------------------------------------------------------===//
// Attributes
//===----------------------------------------------------------------------===//

namespace lq::onnx_import {

const onnx::AttributeProto *
findAttr(const onnx::NodeProto &node, StringRef name) {
  for (const onnx::AttributeProto &a : node.attribute())
    if (a.name() == name)
      return &a;
  return nullptr;
}

int64_t attrInt(const onnx::NodeProto &node, StringRef name,
                                 int64_t dflt) {
  const onnx::AttributeProto *a = findAttr(node, name);
  return a ? a->i() : dflt;
}

float attrFloat(const onnx::NodeProto &node, StringRef name,
                                 float dflt) {
  const onnx::AttributeProto *a = findAttr(node, name);
  return a ? a->f() : dflt;
}

std::string attrString(const onnx::NodeProto &node,
                                        StringRef name, StringRef dflt) {
  const onnx::AttributeProto *a = findAttr(node, name);
  return a ? a->s() : dflt.str();
}

std::optional<SmallVector<int64_t>>
attrInts(const onnx::NodeProto &node, StringRef name) {
  const onnx::AttributeProto *a = findAttr(node, name);
  if (!a)
    return std::nullopt;
  return SmallVector<int64_t>(a->ints().begin(), a->ints().end());
}

} // namespace lq::onnx_import

//===----------------------------------------------------------------------===//
// Values
//===----------------------------------------------------------------------===//

FailureOr<Val *> Importer::input(const onnx::NodeProto &node, int i,
                                 Location loc) {
  if (!hasInput(node, i))
    return emitError(loc) << "'" << node.op_type() << "' needs input #" << i;
  auto it = values.find(node.input(i));
  if (it == values.end())
    return emitError(loc) << "input '" << node.input(i) << "' is not defined";
  return &it->second;
}

void Importer::setOutput(const onnx::NodeProto &node, int i, Val v) {
  if (hasOutput(node, i))
    values[node.output(i)] = std::move(v);
}

void Importer::setOutput(const onnx::NodeProto &node, int i, Value v,
                         int dtype) {
  Val out;
  out.value = v;
  out.type = cast<RankedTensorType>(v.getType());
  out.dtype = dtype;
  setOutput(node, i, std::move(out));
}

void Importer::setHostOutput(const onnx::NodeProto &node, int i,
                             HostTensor t) {
  Val out;
  out.type = RankedTensorType::get(t.shape, dtypeToMLIR(t.dtype, ctx));
  out.dtype = t.dtype;
  out.host = std::move(t);
  ++numFolded;
  setOutput(node, i, std::move(out));
}

Value Importer::get(Val &v, Location loc) {
  if (v.value)
    return v.value;
  // Only translateMatMul reads weights in lq.linear's layout.
  assert(!v.linearLayout && "a transposed MatMul weight escaped MatMul");
  TypedAttr attr;
  if (v.weight)
    attr = cast<TypedAttr>(v.weight);
  else
    attr = hostToAttr(*v.host, v.type);
  // Constants go to the top of the function so that they dominate every use,
  // wherever the first use happens to be.
  OpBuilder::InsertionGuard guard(b);
  Block *entry = b.getInsertionBlock();
  while (!isa<func::FuncOp>(entry->getParentOp()))
    entry = entry->getParentOp()->getBlock();
  b.setInsertionPointToStart(entry);
  v.value = arith::ConstantOp::create(b, loc, v.type, attr);
  return v.value;
}

//===----------------------------------------------------------------------===//
// Tensor data
//===----------------------------------------------------------------------===//

/// Decodes little-endian element bytes into doubles: float types (float8 and
/// float4 included) become their values; int4/uint4 stay raw nibble codes
/// (low nibble first), which every user masks to 4 bits.
static void decodeHost(int dtype, const char *p, int64_t n,
                       std::vector<double> &out) {
  out.resize(n);
  auto rd = [&](auto tag, int64_t i) {
    using T = decltype(tag);
    T v;
    std::memcpy(&v, p + i * sizeof(T), sizeof(T));
    return v;
  };
  for (int64_t i = 0; i < n; ++i) {
    switch (dtype) {
    case kFloat: out[i] = rd(float{}, i); break;
    case kDouble: out[i] = rd(double{}, i); break;
    case kInt64: out[i] = double(rd(int64_t{}, i)); break;
    case kUInt64: out[i] = double(rd(uint64_t{}, i)); break;
    case kInt32: out[i] = rd(int32_t{}, i); break;
    case kUInt32: out[i] = rd(uint32_t{}, i); break;
    case kInt16: out[i] = rd(int16_t{}, i); break;
    case kUInt16: out[i] = rd(uint16_t{}, i); break;
    case kInt8: out[i] = rd(int8_t{}, i); break;
    case kUInt8: out[i] = rd(uint8_t{}, i); break;
    case kBool: out[i] = rd(uint8_t{}, i) != 0; break;
    case kFloat16:
    case kBFloat16: {
      APFloat f(dtype == kFloat16 ? APFloat::IEEEhalf() : APFloat::BFloat(),
                APInt(16, rd(uint16_t{}, i)));
      out[i] = f.convertToDouble();
      break;
    }
    case kUInt4:
    case kInt4: {
      uint8_t byte = static_cast<uint8_t>(p[i / 2]);
      out[i] = (i % 2 == 0) ? (byte & 0xF) : (byte >> 4);
      break;
    }
    case kFloat4E2M1: {
      uint8_t byte = static_cast<uint8_t>(p[i / 2]);
      uint8_t c = (i % 2 == 0) ? (byte & 0xF) : (byte >> 4);
      out[i] = APFloat(*smallFloatSemantics(dtype), APInt(4, c))
                   .convertToDouble();
      break;
    }
    default: // 8-bit floats: decode, so that host values are values
      out[i] = APFloat(*smallFloatSemantics(dtype), APInt(8, rd(uint8_t{}, i)))
                   .convertToDouble();
      break;
    }
  }
}

/// Element types whose blobs MLIR reads as plain arrays.
static bool isBlobFriendly(int dtype) {
  switch (dtype) {
  case kFloat: case kDouble: case kFloat16: case kBFloat16: case kInt64:
  case kInt32: case kInt16: case kInt8: case kUInt8: case kUInt16:
  case kUInt32: case kUInt64:
    return true;
  default:
    return false;
  }
}

LogicalResult Importer::readTensor(const onnx::TensorProto &proto,
                                   Location loc, Val &out, bool forceHost,
                                   bool linearLayout) {
  int dtype = proto.data_type();
  Type elt = dtypeToMLIR(dtype, ctx);
  if (!elt)
    return emitError(loc) << "tensor '" << proto.name()
                          << "' has unsupported data type " << dtype << " ("
                          << dtypeName(dtype) << ")";
  SmallVector<int64_t> shape;
  int64_t numel = 1;
  for (int64_t d : proto.dims()) {
    if (d < 0)
      return emitError(loc) << "tensor '" << proto.name()
                            << "' has a negative dimension " << d;
    if (d > 0 && numel > (int64_t(1) << 50) / d)
      return emitError(loc) << "tensor '" << proto.name() << "' is too large";
    shape.push_back(d);
    numel *= d;
  }
  unsigned bits = dtypeBits(dtype);
  uint64_t expectedBytes = (uint64_t(numel) * bits + 7) / 8;

  // Where the bytes live: external file slice, raw_data, or typed fields.
  std::unique_ptr<llvm::MemoryBuffer> external;
  std::string converted;
  const char *data = nullptr;
  uint64_t size = 0;
  if (proto.data_location() == onnx::TensorProto::EXTERNAL) {
    std::string location;
    int64_t offset = 0, length = -1;
    for (const auto &kv : proto.external_data()) {
      if (kv.key() == "location")
        location = kv.value();
      else if (kv.key() == "offset" || kv.key() == "length") {
        int64_t v = 0;
        if (StringRef(kv.value()).getAsInteger(10, v) || v < 0)
          return emitError(loc) << "tensor '" << proto.name() << "' has a bad '"
                                << kv.key() << "': '" << kv.value() << "'";
        (kv.key() == "offset" ? offset : length) = v;
      }
    }
    if (location.empty())
      return emitError(loc) << "tensor '" << proto.name()
                            << "' is external but names no 'location'";
    if (llvm::sys::path::is_absolute(location) ||
        StringRef(location).contains(".."))
      return emitError(loc) << "tensor '" << proto.name()
                            << "': external data location '" << location
                            << "' must be relative to the model, without '..'";
    SmallString<256> file(llvm::sys::path::parent_path(modelPath));
    llvm::sys::path::append(file, location);
    uint64_t fileSize = 0;
    if (llvm::sys::fs::file_size(file, fileSize))
      return emitError(loc) << "tensor '" << proto.name()
                            << "': cannot open external data file '" << file
                            << "'";
    if (uint64_t(offset) > fileSize ||
        (length >= 0 && uint64_t(offset + length) > fileSize))
      return emitError(loc) << "tensor '" << proto.name() << "': offset "
                            << offset << " + length " << length
                            << " is past the end of '" << file << "' ("
                            << fileSize << " bytes)";
    if (length < 0)
      length = fileSize - offset;
    // mmap-backed when large: the bytes are copied once, into the blob.
    auto buf = llvm::MemoryBuffer::getFileSlice(file, length, offset);
    if (!buf)
      return emitError(loc) << "tensor '" << proto.name()
                            << "': cannot read '" << file
                            << "': " << buf.getError().message();
    external = std::move(*buf);
    data = external->getBufferStart();
    size = external->getBufferSize();
  } else if (proto.has_raw_data()) {
    data = proto.raw_data().data();
    size = proto.raw_data().size();
  } else {
    // Typed fields: convert to the little-endian storage layout.
    auto append = [&](const void *p, size_t n) {
      converted.append(static_cast<const char *>(p), n);
    };
    switch (dtype) {
    case kFloat:
      for (float v : proto.float_data())
        append(&v, 4);
      break;
    case kDouble:
      for (double v : proto.double_data())
        append(&v, 8);
      break;
    case kInt64:
      for (int64_t v : proto.int64_data())
        append(&v, 8);
      break;
    case kUInt64: case kUInt32:
      for (uint64_t v : proto.uint64_data()) {
        if (dtype == kUInt32) {
          uint32_t w = uint32_t(v);
          append(&w, 4);
        } else {
          append(&v, 8);
        }
      }
      break;
    default: // int32_data carries every narrower type, one value per entry
      for (int32_t v : proto.int32_data()) {
        if (bits == 32)
          append(&v, 4);
        else if (bits == 16) {
          uint16_t w = uint16_t(v);
          append(&w, 2);
        } else {
          uint8_t w = uint8_t(v);
          append(&w, 1);
        }
      }
    }
    data = converted.data();
    size = converted.size();
  }
  if (size != expectedBytes)
    return emitError(loc) << "tensor '" << proto.name() << "' has " << size
                          << " bytes of data, but its shape and type ("
                          << dtypeName(dtype) << ") need " << expectedBytes;

  out.type = RankedTensorType::get(shape, elt);
  out.dtype = dtype;
  if (linearLayout && !forceHost && dtype == kFloat && shape.size() == 2) {
    // The only copy of the weight: straight from the file (or the proto)
    // into the blob, transposed to lq.linear's [N, K].
    int64_t K = shape[0], N = shape[1];
    AsmResourceBlob blob =
        HeapAsmResourceBlob::allocate(size, alignof(uint64_t), true);
    float *dst = reinterpret_cast<float *>(blob.getMutableData().data());
    const char *src = data;
    constexpr int64_t tile = 64; // cache-friendly blocked transpose
    for (int64_t k0 = 0; k0 < K; k0 += tile)
      for (int64_t n0 = 0; n0 < N; n0 += tile)
        for (int64_t k = k0; k < std::min(K, k0 + tile); ++k)
          for (int64_t n = n0; n < std::min(N, n0 + tile); ++n)
            std::memcpy(&dst[n * K + k], src + (k * N + n) * 4, 4);
    std::string name = proto.name().empty() ? "weight" : proto.name();
    out.weight = DenseResourceElementsAttr::get(
        RankedTensorType::get({N, K}, elt), name, std::move(blob));
    out.linearLayout = true;
    return success();
  }
  if (forceHost || shouldFold(numel) || !isBlobFriendly(dtype)) {
    HostTensor host;
    host.dtype = dtype;
    host.shape = shape;
    decodeHost(dtype, data, numel, host.data);
    out.host = std::move(host);
    return success();
  }
  AsmResourceBlob blob = HeapAsmResourceBlob::allocateAndCopyWithAlign(
      ArrayRef<char>(data, size), alignof(uint64_t));
  std::string name = proto.name().empty() ? "weight" : proto.name();
  out.weight =
      DenseResourceElementsAttr::get(out.type, name, std::move(blob));
  return success();
}

//===----------------------------------------------------------------------===//
// Graph
//===----------------------------------------------------------------------===//

std::string Importer::nodeName(const onnx::NodeProto &node, int index) {
  return node.name().empty() ? (node.op_type() + "_" + std::to_string(index))
                             : node.name();
}

Location Importer::nodeLocation(const onnx::NodeProto &node, int index) {
  std::string name = nodeName(node, index);
  // The line number is the node's position in the graph (1-based).
  return NameLoc::get(StringAttr::get(ctx, name),
                      FileLineColLoc::get(ctx, modelPath, index + 1, 1));
}

LogicalResult Importer::checkGraph(const onnx::GraphProto &graph) {
  Location fileLoc = FileLineColLoc::get(ctx, modelPath, 0, 0);
  bool ok = true;

  // 1. Every unsupported op, all at once.
  std::map<std::string, int> unsupported;
  for (int i = 0; i < graph.node_size(); ++i) {
    const onnx::NodeProto &node = graph.node(i);
    if (lookupTranslator(node.domain(), node.op_type()))
      continue;
    std::string domain = node.domain().empty() ? "ai.onnx" : node.domain();
    emitError(nodeLocation(node, i))
        << "unsupported op '" << node.op_type() << "' (domain '" << domain
        << "', opset " << opsetFor(node.domain()) << ") in node '"
        << nodeName(node, i) << "'";
    ++unsupported[node.op_type() + "' (domain '" + domain + "')"];
    ok = false;
  }
  if (!unsupported.empty()) {
    auto diag = emitError(fileLoc) << unsupported.size()
                                   << " unsupported op type(s): ";
    llvm::interleaveComma(unsupported, diag, [&](const auto &kv) {
      diag << "'" << kv.first << " x" << kv.second;
    });
  }

  // 2. Names: defined before use, defined once.
  llvm::StringSet<> defined, producedLater;
  for (const auto &in : graph.input())
    defined.insert(in.name());
  for (const auto &init : graph.initializer())
    defined.insert(init.name());
  for (const auto &node : graph.node())
    for (const auto &o : node.output())
      if (!o.empty())
        producedLater.insert(o);
  for (int i = 0; i < graph.node_size(); ++i) {
    const onnx::NodeProto &node = graph.node(i);
    for (const std::string &in : node.input()) {
      if (in.empty() || defined.contains(in))
        continue;
      ok = false;
      if (producedLater.contains(in))
        emitError(nodeLocation(node, i))
            << "input '" << in << "' of '" << node.op_type()
            << "' is used before it is produced: the graph has a cycle or is "
               "not topologically sorted";
      else
        emitError(nodeLocation(node, i))
            << "input '" << in << "' of '" << node.op_type()
            << "' is not produced by any node, initializer or graph input";
    }
    for (const std::string &o : node.output()) {
      if (o.empty())
        continue;
      if (!defined.insert(o).second) {
        emitError(nodeLocation(node, i))
            << "value '" << o << "' is defined more than once";
        ok = false;
      }
    }
  }
  for (const auto &o : graph.output())
    if (!defined.contains(o.name())) {
      emitError(fileLoc) << "graph output '" << o.name()
                         << "' is not produced by any node";
      ok = false;
    }
  return success(ok);
}

FailureOr<RankedTensorType>
Importer::valueInfoType(const onnx::ValueInfoProto &info, Location loc,
                        int &dtype) {
  if (!info.type().has_tensor_type())
    return emitError(loc) << "graph input '" << info.name()
                          << "' is not a tensor";
  const auto &tt = info.type().tensor_type();
  dtype = tt.elem_type();
  Type elt = dtypeToMLIR(dtype, ctx);
  if (!elt)
    return emitError(loc) << "graph input '" << info.name()
                          << "' has unsupported element type " << dtype << " ("
                          << dtypeName(dtype) << ")";
  SmallVector<int64_t> shape;
  SmallVector<std::string> pinnedBy; // why a dim is static: "" = the model
  auto pin = options.inputShapes.find(info.name());
  if (!tt.has_shape()) {
    // No shape at all is an unknown rank (a scalar has an empty shape).
    if (pin == options.inputShapes.end())
      return emitError(loc) << "graph input '" << info.name()
                            << "' has no shape (unknown rank): give it one "
                               "with --input-shape";
    for (int64_t d : pin->second)
      shape.push_back(d < 0 ? ShapedType::kDynamic : d);
    return RankedTensorType::get(shape, elt);
  }
  for (const auto &d : tt.shape().dim()) {
    int64_t dim = ShapedType::kDynamic;
    std::string why;
    if (d.has_dim_value() && d.dim_value() >= 0) {
      dim = d.dim_value();
    } else if (d.has_dim_param() && options.dimParams.count(d.dim_param())) {
      dim = options.dimParams.lookup(d.dim_param());
      why = "--dim " + d.dim_param() + "=" + std::to_string(dim);
    }
    shape.push_back(dim);
    pinnedBy.push_back(why);
  }
  if (pin != options.inputShapes.end()) {
    if (pin->second.size() != shape.size())
      return emitError(loc) << "--input-shape for '" << info.name() << "' has "
                            << pin->second.size()
                            << " dims, the model's input has rank "
                            << shape.size();
    for (size_t i = 0; i < shape.size(); ++i) {
      int64_t want = pin->second[i] < 0 ? ShapedType::kDynamic : pin->second[i];
      if (!ShapedType::isDynamic(shape[i]) && shape[i] != want)
        return emitError(loc)
               << "--input-shape pins dimension " << i << " of '"
               << info.name() << "' to " << pin->second[i] << ", but "
               << (pinnedBy[i].empty() ? std::string("the model")
                                       : "'" + pinnedBy[i] + "'")
               << " fixes it to " << shape[i];
      shape[i] = want;
    }
  }
  return RankedTensorType::get(shape, elt);
}

FailureOr<OwningOpRef<ModuleOp>>
Importer::run(const onnx::ModelProto &model, ONNXImportStats *stats) {
  Location fileLoc = FileLineColLoc::get(ctx, modelPath, 0, 0);
  if (model.ir_version() < 3 || model.ir_version() > 11)
    return emitError(fileLoc) << "unsupported ONNX IR version "
                              << model.ir_version() << " (lq reads 3 to 11)";
  for (const auto &op : model.opset_import()) {
    StringRef domain = op.domain();
    if (domain.empty() || domain == "ai.onnx") {
      opset = op.version();
      if (opset > 24)
        return emitError(fileLoc) << "opset " << opset
                                  << " of domain 'ai.onnx' is newer than lq "
                                     "supports (24)";
    } else if (domain == "com.microsoft") {
      msOpset = op.version();
    }
  }
  if (!model.has_graph())
    return emitError(fileLoc) << "the model has no graph";
  const onnx::GraphProto &graph = model.graph();
  // Unsupported ops first: a model of another domain (say
  // ai.onnx.preview.training) is reported op by op.
  if (failed(checkGraph(graph)))
    return failure();
  if (opset == 0 && llvm::any_of(graph.node(), [](const auto &n) {
        return n.domain().empty() || n.domain() == "ai.onnx";
      }))
    return emitError(fileLoc) << "the model imports no 'ai.onnx' opset";

  ctx->loadDialect<arith::ArithDialect, func::FuncDialect,
                   linalg::LinalgDialect, math::MathDialect,
                   tensor::TensorDialect, mlir::lq::LQDialect>();
  OwningOpRef<ModuleOp> module = ModuleOp::create(fileLoc);
  b.setInsertionPointToEnd(module->getBody());

  // Initializers first: old IR versions also list them as graph inputs.
  // Initializers read only as MatMul's right operand are weights: they are
  // stored transposed for lq.linear as they are read (one copy, no host
  // evaluation), and MatMul emits lq.linear directly.
  llvm::StringMap<bool> onlyMatMulWeight;
  for (const auto &node : graph.node())
    for (int i = 0; i < node.input_size(); ++i) {
      if (node.input(i).empty())
        continue;
      bool isWeight = i == 1 && node.op_type() == "MatMul" &&
                      (node.domain().empty() || node.domain() == "ai.onnx");
      auto [it, inserted] = onlyMatMulWeight.try_emplace(node.input(i), isWeight);
      if (!inserted)
        it->second = it->second && isWeight;
    }
  for (const auto &o : graph.output())
    onlyMatMulWeight[o.name()] = false;

  llvm::StringSet<> initNames;
  int64_t params = 0;
  for (const auto &init : graph.initializer()) {
    Val v;
    bool linear = onlyMatMulWeight.lookup(init.name()) &&
                  init.dims_size() == 2 && init.dims(1) > 0;
    if (failed(readTensor(init, NameLoc::get(StringAttr::get(ctx, init.name()),
                                             fileLoc),
                          v, /*forceHost=*/false, linear)))
      return failure();
    params += v.type.getNumElements();
    initNames.insert(init.name());
    values[init.name()] = std::move(v);
  }

  SmallVector<Type> argTypes;
  SmallVector<std::pair<std::string, int>> args;
  for (const auto &in : graph.input()) {
    if (initNames.contains(in.name()))
      continue;
    int dtype = 0;
    FailureOr<RankedTensorType> ty = valueInfoType(in, fileLoc, dtype);
    if (failed(ty))
      return failure();
    argTypes.push_back(*ty);
    args.push_back({in.name(), dtype});
  }
  // A pin for an input the model does not have is a typo, not a no-op.
  for (const auto &pin : options.inputShapes) {
    bool found = llvm::any_of(graph.input(), [&](const auto &in) {
      return in.name() == pin.getKey() && !initNames.contains(in.name());
    });
    if (!found) {
      auto diag = emitError(fileLoc)
                  << "--input-shape names '" << pin.getKey()
                  << "', which is not an input of the model (inputs: ";
      llvm::interleaveComma(args, diag,
                            [&](const auto &a) { diag << "'" << a.first << "'"; });
      diag << ")";
      return failure();
    }
  }
  auto func = func::FuncOp::create(b, fileLoc, "main",
                                   b.getFunctionType(argTypes, {}));
  Block *entry = func.addEntryBlock();
  for (auto [i, arg] : llvm::enumerate(args)) {
    Val v;
    v.value = entry->getArgument(i);
    v.type = cast<RankedTensorType>(argTypes[i]);
    v.dtype = arg.second;
    values[arg.first] = std::move(v);
    func.setArgAttr(i, "onnx.name", b.getStringAttr(arg.first));
  }
  b.setInsertionPointToEnd(entry);

  // Every error raised while translating a node says which node it was:
  // the location carries only its position.
  const onnx::NodeProto *current = nullptr;
  int currentIndex = 0;
  ScopedDiagnosticHandler nodeNote(ctx, [&](Diagnostic &diag) {
    if (current && diag.getSeverity() == DiagnosticSeverity::Error)
      diag.attachNote() << "in node '" << nodeName(*current, currentIndex)
                        << "' (op '" << current->op_type() << "', domain '"
                        << (current->domain().empty() ? "ai.onnx"
                                                      : current->domain())
                        << "', opset " << opsetFor(current->domain()) << ")";
    return failure(); // let the tool's handler print it
  });
  llvm::StringMap<int64_t> opCounts;
  for (int i = 0; i < graph.node_size(); ++i) {
    const onnx::NodeProto &node = graph.node(i);
    current = &node;
    currentIndex = i;
    ++opCounts[node.op_type()];
    Translator translate = lookupTranslator(node.domain(), node.op_type());
    if (failed(translate(*this, node, nodeLocation(node, i))))
      return failure();
  }

  current = nullptr;

  SmallVector<Value> results;
  SmallVector<Type> resultTypes;
  for (const auto &o : graph.output()) {
    Val &v = values[o.name()];
    results.push_back(get(v, fileLoc));
    resultTypes.push_back(results.back().getType());
  }
  func::ReturnOp::create(b, fileLoc, results);
  func.setType(b.getFunctionType(argTypes, resultTypes));
  for (auto [i, o] : llvm::enumerate(graph.output()))
    func.setResultAttr(i, "onnx.name", b.getStringAttr(o.name()));

  if (failed(verify(*module)))
    return emitError(fileLoc) << "internal error: the imported module does "
                                 "not verify";
  if (stats) {
    stats->irVersion = model.ir_version();
    for (const auto &op : model.opset_import())
      stats->opsets.push_back(
          {op.domain().empty() ? "ai.onnx" : op.domain(), op.version()});
    stats->opCounts = std::move(opCounts);
    stats->numNodes = graph.node_size();
    stats->numParameters = params;
    stats->numFoldedNodes = numFolded;
  }
  return module;
}

//===----------------------------------------------------------------------===//
// Entry point
//===----------------------------------------------------------------------===//

namespace lq {
FailureOr<OwningOpRef<ModuleOp>>
importONNXBuffer(StringRef bytes, StringRef path, MLIRContext *context,
                 const ONNXImportOptions &options, ONNXImportStats *stats) {
  Location fileLoc = FileLineColLoc::get(context, path, 0, 0);
  onnx::ModelProto model;
  if (path.ends_with(".onnxtext")) {
    std::string text = bytes.str();
    onnx::OnnxParser parser(text.c_str());
    auto status = parser.Parse(model);
    if (!status.IsOK())
      return emitError(fileLoc) << "cannot parse ONNX text: "
                                << status.ErrorMessage();
  } else {
    if (bytes.size() > size_t(INT32_MAX))
      return emitError(fileLoc)
             << "'" << path << "' is larger than 2 GiB: protobuf cannot "
             << "parse it; store the weights as external data";
    if (!model.ParseFromArray(bytes.data(), int(bytes.size())))
      return emitError(fileLoc)
             << "'" << path
             << "' is not a valid ONNX model (protobuf parse failed: "
                "truncated or corrupt file)";
  }
  Importer importer(context, options, path);
  return importer.run(model, stats);
}

FailureOr<OwningOpRef<ModuleOp>>
importONNXFile(StringRef path, MLIRContext *context,
               const ONNXImportOptions &options, ONNXImportStats *stats) {
  Location fileLoc = FileLineColLoc::get(context, path, 0, 0);
  auto buffer = llvm::MemoryBuffer::getFileOrSTDIN(path);
  if (!buffer)
    return emitError(fileLoc) << "cannot read '" << path
                              << "': " << buffer.getError().message();
  return importONNXBuffer((*buffer)->getBuffer(), path, context, options,
                          stats);
}
} // namespace lq
