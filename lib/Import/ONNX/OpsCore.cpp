//===- OpsCore.cpp - Translators for standard ONNX ops ------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Each translator folds on the host when every input is a compile-time
// constant and the result is small, and emits upstream MLIR (linalg, tensor,
// arith, math) otherwise. Elementwise ops share one table.
//
//===----------------------------------------------------------------------===//

#include "Emit.h"
#include "Ops.h"

#include "dialects/LQ/IR/LQOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace ::lq::onnx_import;

namespace {


bool allHost(ArrayRef<Val *> vals) {
  return llvm::all_of(vals, [](Val *v) { return v->host.has_value(); });
}

int64_t normAxis(int64_t axis, int64_t rank) {
  return axis < 0 ? axis + rank : axis;
}

LogicalResult checkAxis(Location loc, int64_t axis, int64_t rank,
                        StringRef what = "axis") {
  if (axis < 0 || axis >= rank)
    return emitError(loc) << "'" << what << "' " << axis
                          << " is out of range for rank " << rank;
  return success();
}

/// A host int64 vector from a constant input (shape operands, axes...).
FailureOr<SmallVector<int64_t>> hostInts(Val &v, Location loc, StringRef what) {
  if (!v.host)
    return emitError(loc) << "'" << what
                          << "' must be a compile-time constant (it is computed "
                             "from dynamic dims: pin them with --input-shape)";
  SmallVector<int64_t> out;
  for (int64_t i = 0; i < v.host->numel(); ++i)
    out.push_back(v.host->asInt(i));
  return out;
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

enum class OutType { Same, Bool, Second };

struct ElementwiseDef {
  unsigned arity;
  OutType out;
  double (*host)(ArrayRef<double>, bool isFloat);
  Value (*ir)(OpBuilder &, Location, ValueRange, bool isUnsigned);
};

bool isF(Value v) { return isa<FloatType>(v.getType()); }

const llvm::StringMap<ElementwiseDef> &elementwiseOps() {
  static const llvm::StringMap<ElementwiseDef> table = {
      {"Add", {2, OutType::Same, [](ArrayRef<double> a, bool) { return a[0] + a[1]; },
               [](OpBuilder &b, Location l, ValueRange v, bool) -> Value {
                 return isF(v[0]) ? Value(arith::AddFOp::create(b, l, v[0], v[1]))
                                  : Value(arith::AddIOp::create(b, l, v[0], v[1]));
               }}},
      {"Sub", {2, OutType::Same, [](ArrayRef<double> a, bool) { return a[0] - a[1]; },
               [](OpBuilder &b, Location l, ValueRange v, bool) -> Value {
                 return isF(v[0]) ? Value(arith::SubFOp::create(b, l, v[0], v[1]))
                                  : Value(arith::SubIOp::create(b, l, v[0], v[1]));
               }}},
      {"Mul", {2, OutType::Same, [](ArrayRef<double> a, bool) { return a[0] * a[1]; },
               [](OpBuilder &b, Location l, ValueRange v, bool) -> Value {
                 return isF(v[0]) ? Value(arith::MulFOp::create(b, l, v[0], v[1]))
                                  : Value(arith::MulIOp::create(b, l, v[0], v[1]));
               }}},
      {"Div", {2, OutType::Same,
               [](ArrayRef<double> a, bool f) {
                 if (f)
                   return a[0] / a[1];
                 return a[1] == 0 ? 0.0 : std::trunc(a[0] / a[1]);
               },
               [](OpBuilder &b, Location l, ValueRange v, bool u) -> Value {
                 if (isF(v[0]))
                   return arith::DivFOp::create(b, l, v[0], v[1]);
                 return u ? Value(arith::DivUIOp::create(b, l, v[0], v[1]))
                          : Value(arith::DivSIOp::create(b, l, v[0], v[1]));
               }}},
      {"Pow", {2, OutType::Same, [](ArrayRef<double> a, bool) { return std::pow(a[0], a[1]); },
               [](OpBuilder &b, Location l, ValueRange v, bool u) -> Value {
                 if (!isF(v[0])) {
                   // Integer base: pow in f64 (exact below 2^53), truncated
                   // back, as ONNX's integer Pow.
                   Type f64 = b.getF64Type();
                   Value x = convertScalar(b, l, v[0], f64, u);
                   Value e = convertScalar(b, l, v[1], f64, false);
                   return convertScalar(b, l, math::PowFOp::create(b, l, x, e),
                                        v[0].getType(), false);
                 }
                 Value e = v[1];
                 if (e.getType() != v[0].getType())
                   e = convertScalar(b, l, e, v[0].getType(), false);
                 return math::PowFOp::create(b, l, v[0], e);
               }}},
      {"Max", {2, OutType::Same, [](ArrayRef<double> a, bool) { return std::max(a[0], a[1]); },
               [](OpBuilder &b, Location l, ValueRange v, bool u) -> Value {
                 if (isF(v[0]))
                   return arith::MaximumFOp::create(b, l, v[0], v[1]);
                 return u ? Value(arith::MaxUIOp::create(b, l, v[0], v[1]))
                          : Value(arith::MaxSIOp::create(b, l, v[0], v[1]));
               }}},
      {"Min", {2, OutType::Same, [](ArrayRef<double> a, bool) { return std::min(a[0], a[1]); },
               [](OpBuilder &b, Location l, ValueRange v, bool u) -> Value {
                 if (isF(v[0]))
                   return arith::MinimumFOp::create(b, l, v[0], v[1]);
                 return u ? Value(arith::MinUIOp::create(b, l, v[0], v[1]))
                          : Value(arith::MinSIOp::create(b, l, v[0], v[1]));
               }}},
      {"Equal", {2, OutType::Bool, [](ArrayRef<double> a, bool) -> double { return a[0] == a[1]; },
                 [](OpBuilder &b, Location l, ValueRange v, bool) -> Value {
                   return isF(v[0]) ? Value(arith::CmpFOp::create(b, l, arith::CmpFPredicate::OEQ, v[0], v[1]))
                                    : Value(arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, v[0], v[1]));
                 }}},
      {"Less", {2, OutType::Bool, [](ArrayRef<double> a, bool) -> double { return a[0] < a[1]; },
                [](OpBuilder &b, Location l, ValueRange v, bool u) -> Value {
                  return isF(v[0]) ? Value(arith::CmpFOp::create(b, l, arith::CmpFPredicate::OLT, v[0], v[1]))
                                   : Value(arith::CmpIOp::create(b, l, u ? arith::CmpIPredicate::ult : arith::CmpIPredicate::slt, v[0], v[1]));
                }}},
      {"LessOrEqual", {2, OutType::Bool, [](ArrayRef<double> a, bool) -> double { return a[0] <= a[1]; },
                       [](OpBuilder &b, Location l, ValueRange v, bool u) -> Value {
                         return isF(v[0]) ? Value(arith::CmpFOp::create(b, l, arith::CmpFPredicate::OLE, v[0], v[1]))
                                          : Value(arith::CmpIOp::create(b, l, u ? arith::CmpIPredicate::ule : arith::CmpIPredicate::sle, v[0], v[1]));
                       }}},
      {"Greater", {2, OutType::Bool, [](ArrayRef<double> a, bool) -> double { return a[0] > a[1]; },
                   [](OpBuilder &b, Location l, ValueRange v, bool u) -> Value {
                     return isF(v[0]) ? Value(arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGT, v[0], v[1]))
                                      : Value(arith::CmpIOp::create(b, l, u ? arith::CmpIPredicate::ugt : arith::CmpIPredicate::sgt, v[0], v[1]));
                   }}},
      {"GreaterOrEqual", {2, OutType::Bool, [](ArrayRef<double> a, bool) -> double { return a[0] >= a[1]; },
                          [](OpBuilder &b, Location l, ValueRange v, bool u) -> Value {
                            return isF(v[0]) ? Value(arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGE, v[0], v[1]))
                                             : Value(arith::CmpIOp::create(b, l, u ? arith::CmpIPredicate::uge : arith::CmpIPredicate::sge, v[0], v[1]));
                          }}},
      {"And", {2, OutType::Same, [](ArrayRef<double> a, bool) -> double { return a[0] != 0 && a[1] != 0; },
               [](OpBuilder &b, Location l, ValueRange v, bool) -> Value { return arith::AndIOp::create(b, l, v[0], v[1]); }}},
      {"Or", {2, OutType::Same, [](ArrayRef<double> a, bool) -> double { return a[0] != 0 || a[1] != 0; },
              [](OpBuilder &b, Location l, ValueRange v, bool) -> Value { return arith::OrIOp::create(b, l, v[0], v[1]); }}},
      {"Xor", {2, OutType::Same, [](ArrayRef<double> a, bool) -> double { return (a[0] != 0) != (a[1] != 0); },
               [](OpBuilder &b, Location l, ValueRange v, bool) -> Value { return arith::XOrIOp::create(b, l, v[0], v[1]); }}},
      {"Where", {3, OutType::Second, [](ArrayRef<double> a, bool) { return a[0] != 0 ? a[1] : a[2]; },
                 [](OpBuilder &b, Location l, ValueRange v, bool) -> Value { return arith::SelectOp::create(b, l, v[0], v[1], v[2]); }}},
      {"Not", {1, OutType::Same, [](ArrayRef<double> a, bool) -> double { return a[0] == 0; },
               [](OpBuilder &b, Location l, ValueRange v, bool) -> Value {
                 return arith::XOrIOp::create(b, l, v[0], scalarConst(b, l, v[0].getType(), 1));
               }}},
      {"Neg", {1, OutType::Same, [](ArrayRef<double> a, bool) { return -a[0]; },
               [](OpBuilder &b, Location l, ValueRange v, bool) -> Value {
                 return isF(v[0]) ? Value(arith::NegFOp::create(b, l, v[0]))
                                  : Value(arith::SubIOp::create(b, l, scalarConst(b, l, v[0].getType(), 0), v[0]));
               }}},
      {"Abs", {1, OutType::Same, [](ArrayRef<double> a, bool) { return std::fabs(a[0]); },
               [](OpBuilder &b, Location l, ValueRange v, bool) -> Value {
                 return isF(v[0]) ? Value(math::AbsFOp::create(b, l, v[0])) : Value(math::AbsIOp::create(b, l, v[0]));
               }}},
      {"Sqrt", {1, OutType::Same, [](ArrayRef<double> a, bool) { return std::sqrt(a[0]); },
                [](OpBuilder &b, Location l, ValueRange v, bool) -> Value { return math::SqrtOp::create(b, l, v[0]); }}},
      {"Reciprocal", {1, OutType::Same, [](ArrayRef<double> a, bool) { return 1.0 / a[0]; },
                      [](OpBuilder &b, Location l, ValueRange v, bool) -> Value {
                        return arith::DivFOp::create(b, l, scalarConst(b, l, v[0].getType(), 1.0), v[0]);
                      }}},
      {"Exp", {1, OutType::Same, [](ArrayRef<double> a, bool) { return std::exp(a[0]); },
               [](OpBuilder &b, Location l, ValueRange v, bool) -> Value { return math::ExpOp::create(b, l, v[0]); }}},
      {"Log", {1, OutType::Same, [](ArrayRef<double> a, bool) { return std::log(a[0]); },
               [](OpBuilder &b, Location l, ValueRange v, bool) -> Value { return math::LogOp::create(b, l, v[0]); }}},
      {"Tanh", {1, OutType::Same, [](ArrayRef<double> a, bool) { return std::tanh(a[0]); },
                [](OpBuilder &b, Location l, ValueRange v, bool) -> Value { return math::TanhOp::create(b, l, v[0]); }}},
      {"Erf", {1, OutType::Same, [](ArrayRef<double> a, bool) { return std::erf(a[0]); },
               [](OpBuilder &b, Location l, ValueRange v, bool) -> Value { return math::ErfOp::create(b, l, v[0]); }}},
      {"Cos", {1, OutType::Same, [](ArrayRef<double> a, bool) { return std::cos(a[0]); },
               [](OpBuilder &b, Location l, ValueRange v, bool) -> Value { return math::CosOp::create(b, l, v[0]); }}},
      {"Sin", {1, OutType::Same, [](ArrayRef<double> a, bool) { return std::sin(a[0]); },
               [](OpBuilder &b, Location l, ValueRange v, bool) -> Value { return math::SinOp::create(b, l, v[0]); }}},
      {"Floor", {1, OutType::Same, [](ArrayRef<double> a, bool) { return std::floor(a[0]); },
                 [](OpBuilder &b, Location l, ValueRange v, bool) -> Value { return math::FloorOp::create(b, l, v[0]); }}},
      {"Ceil", {1, OutType::Same, [](ArrayRef<double> a, bool) { return std::ceil(a[0]); },
                [](OpBuilder &b, Location l, ValueRange v, bool) -> Value { return math::CeilOp::create(b, l, v[0]); }}},
      {"Relu", {1, OutType::Same, [](ArrayRef<double> a, bool) { return std::max(a[0], 0.0); },
                [](OpBuilder &b, Location l, ValueRange v, bool) -> Value {
                  return arith::MaximumFOp::create(b, l, v[0], scalarConst(b, l, v[0].getType(), 0.0));
                }}},
      {"Sigmoid", {1, OutType::Same, [](ArrayRef<double> a, bool) { return 1.0 / (1.0 + std::exp(-a[0])); },
                   [](OpBuilder &b, Location l, ValueRange v, bool) -> Value {
                     Type t = v[0].getType();
                     Value e = math::ExpOp::create(b, l, arith::NegFOp::create(b, l, v[0]));
                     Value one = scalarConst(b, l, t, 1.0);
                     return arith::DivFOp::create(b, l, one, arith::AddFOp::create(b, l, one, e));
                   }}},
  };
  return table;
}

/// Max, Min, Sum and Mean take 1..N inputs: fold their binary form.
LogicalResult translateVariadic(Importer &im, const onnx::NodeProto &node,
                                Location loc) {
  StringRef op = node.op_type();
  bool mean = op == "Mean";
  const ElementwiseDef &def =
      elementwiseOps().lookup(op == "Sum" || mean ? "Add" : op);
  int n = node.input_size();
  SmallVector<Val *> ins;
  for (int i = 0; i < n; ++i) {
    LQ_GET_INPUT(v, i);
    if (i && v.dtype != ins[0]->dtype)
      return emitError(loc) << "'" << op << "' input types differ ("
                            << dtypeName(ins[0]->dtype) << " vs "
                            << dtypeName(v.dtype) << ")";
    ins.push_back(&v);
  }
  if (ins.empty())
    return emitError(loc) << "'" << op << "' needs at least one input";
  if (mean && !isFloatDType(ins[0]->dtype))
    return emitError(loc) << "'Mean' of a non-float tensor";
  SmallVector<ArrayRef<int64_t>> shapes;
  for (Val *v : ins)
    shapes.push_back(v->shape());
  FailureOr<SmallVector<int64_t>> outShape = broadcastShapes(shapes, loc);
  if (failed(outShape))
    return failure();
  bool isFloat = isFloatDType(ins[0]->dtype);
  int64_t numel = 1;
  for (int64_t d : *outShape)
    numel *= ShapedType::isDynamic(d) ? std::numeric_limits<int32_t>::max() : d;
  auto hostFn = def.host;
  if (allHost(ins) && im.shouldFold(numel)) {
    SmallVector<const HostTensor *> hs;
    for (Val *v : ins)
      hs.push_back(&*v->host);
    im.setHostOutput(node, 0, hostMap(hs, *outShape, ins[0]->dtype,
                                      [&](ArrayRef<double> a) {
                                        double r = a[0];
                                        for (double x : a.drop_front())
                                          r = hostFn({r, x}, isFloat);
                                        return mean ? r / double(a.size()) : r;
                                      }));
    return success();
  }
  SmallVector<Value> vals;
  for (Val *v : ins)
    vals.push_back(im.get(*v, loc));
  Type elt = ins[0]->type.getElementType();
  bool isUnsigned = isUnsignedDType(ins[0]->dtype);
  auto irFn = def.ir;
  Value r = emitMap(im.b, loc, vals, *outShape, elt,
                    [&](OpBuilder &b, Location l, ValueRange args) {
                      Value acc = args[0];
                      for (Value x : args.drop_front())
                        acc = irFn(b, l, {acc, x}, isUnsigned);
                      if (mean)
                        acc = arith::DivFOp::create(
                            b, l, acc, scalarConst(b, l, elt, double(n)));
                      return acc;
                    });
  im.setOutput(node, 0, r, ins[0]->dtype);
  return success();
}

LogicalResult translateElementwise(Importer &im, const onnx::NodeProto &node,
                                   Location loc) {
  const ElementwiseDef &def = elementwiseOps().lookup(node.op_type());
  SmallVector<Val *> ins;
  for (unsigned i = 0; i < def.arity; ++i) {
    LQ_GET_INPUT(v, i);
    ins.push_back(&v);
  }
  // Variadic Max/Min/Sum-style forms with one input are identities.
  SmallVector<ArrayRef<int64_t>> shapes;
  for (Val *v : ins)
    shapes.push_back(v->shape());
  FailureOr<SmallVector<int64_t>> outShape = broadcastShapes(shapes, loc);
  if (failed(outShape))
    return failure();
  Val *typed = def.out == OutType::Second ? ins[1] : ins[0];
  int outDtype = def.out == OutType::Bool ? kBool : typed->dtype;
  if (def.out != OutType::Bool && def.arity == 2 &&
      ins[0]->dtype != ins[1]->dtype && node.op_type() != "Pow")
    return emitError(loc) << "'" << node.op_type() << "' input types differ ("
                          << dtypeName(ins[0]->dtype) << " vs "
                          << dtypeName(ins[1]->dtype) << ")";
  bool isFloat = isFloatDType(typed->dtype);
  int64_t numel = 1;
  for (int64_t d : *outShape)
    numel *= ShapedType::isDynamic(d) ? std::numeric_limits<int32_t>::max() : d;
  if (allHost(ins) && im.shouldFold(numel)) {
    SmallVector<const HostTensor *> hs;
    for (Val *v : ins)
      hs.push_back(&*v->host);
    auto fn = def.host;
    HostTensor out = hostMap(hs, *outShape, outDtype, [&](ArrayRef<double> a) {
      return fn(a, isFloat);
    });
    if (!isFloat && outDtype != kBool)
      for (double &d : out.data)
        d = std::trunc(d);
    im.setHostOutput(node, 0, std::move(out));
    return success();
  }
  SmallVector<Value> vals;
  for (Val *v : ins)
    vals.push_back(im.get(*v, loc));
  Type outElt = dtypeToMLIR(outDtype, im.ctx);
  bool isUnsigned = isUnsignedDType(ins[0]->dtype);
  auto irFn = def.ir;
  Value r = emitMap(im.b, loc, vals, *outShape, outElt,
                    [&](OpBuilder &b, Location l, ValueRange args) {
                      return irFn(b, l, args, isUnsigned);
                    });
  im.setOutput(node, 0, r, outDtype);
  return success();
}

LogicalResult translateCast(Importer &im, const onnx::NodeProto &node,
                            Location loc) {
  LQ_GET_INPUT(x, 0);
  int to = attrInt(node, "to", 0);
  Type toElt = dtypeToMLIR(to, im.ctx);
  if (!toElt)
    return emitError(loc) << "'Cast' to unsupported type " << to << " ("
                          << dtypeName(to) << ")";
  if (x.host) {
    HostTensor out = *x.host;
    out.dtype = to;
    bool toFloat = isFloatDType(to);
    for (double &d : out.data) {
      if (to == kBool)
        d = d != 0;
      else if (!toFloat)
        d = std::trunc(d);
      else if (to == kFloat)
        d = double(float(d));
    }
    im.setHostOutput(node, 0, std::move(out));
    return success();
  }
  bool srcUnsigned = isUnsignedDType(x.dtype);
  Value r = emitMap(im.b, loc, {im.get(x, loc)}, x.shape(), toElt,
                    [&](OpBuilder &b, Location l, ValueRange a) {
                      return convertScalar(b, l, a[0], toElt, srcUnsigned);
                    });
  im.setOutput(node, 0, r, to);
  return success();
}

//===----------------------------------------------------------------------===//
// Constants and shapes
//===----------------------------------------------------------------------===//

LogicalResult translateConstant(Importer &im, const onnx::NodeProto &node,
                                Location loc) {
  if (const auto *a = findAttr(node, "value")) {
    Val v;
    if (failed(im.readTensor(a->t(), loc, v)))
      return failure();
    if (v.host)
      ++im.numFolded;
    im.setOutput(node, 0, std::move(v));
    return success();
  }
  HostTensor t;
  if (const auto *a = findAttr(node, "value_float")) {
    t.dtype = kFloat;
    t.data = {a->f()};
  } else if (const auto *a = findAttr(node, "value_int")) {
    t.dtype = kInt64;
    t.data = {double(a->i())};
  } else if (const auto *a = findAttr(node, "value_floats")) {
    t.dtype = kFloat;
    t.shape = {a->floats_size()};
    t.data.assign(a->floats().begin(), a->floats().end());
  } else if (const auto *a = findAttr(node, "value_ints")) {
    t.dtype = kInt64;
    t.shape = {a->ints_size()};
    for (int64_t i : a->ints())
      t.data.push_back(double(i));
  } else {
    return emitError(loc) << "'Constant' has no supported value attribute";
  }
  im.setHostOutput(node, 0, std::move(t));
  return success();
}

LogicalResult translateIdentity(Importer &im, const onnx::NodeProto &node,
                                Location loc) {
  LQ_GET_INPUT(x, 0);
  im.setOutput(node, 0, x);
  return success();
}

LogicalResult translateShape(Importer &im, const onnx::NodeProto &node,
                             Location loc) {
  LQ_GET_INPUT(x, 0);
  int64_t rank = x.rank();
  int64_t start = attrInt(node, "start", 0), end = attrInt(node, "end", rank);
  start = std::clamp(normAxis(start, rank), int64_t(0), rank);
  end = std::clamp(normAxis(end, rank), int64_t(0), rank);
  HostTensor t;
  t.dtype = kInt64;
  for (int64_t i = start; i < end; ++i) {
    if (ShapedType::isDynamic(x.shape()[i]))
      return emitError(loc)
             << "'Shape' of a tensor with dynamic dimension " << i
             << ": lq folds shape computations at compile time; pin the "
                "model's input dims with --input-shape";
    t.data.push_back(double(x.shape()[i]));
  }
  t.shape = {int64_t(t.data.size())};
  im.setHostOutput(node, 0, std::move(t));
  return success();
}

LogicalResult translateSize(Importer &im, const onnx::NodeProto &node,
                            Location loc) {
  LQ_GET_INPUT(x, 0);
  if (!x.type.hasStaticShape())
    return emitError(loc) << "'Size' of a dynamically shaped tensor";
  HostTensor t;
  t.dtype = kInt64;
  t.data = {double(x.type.getNumElements())};
  im.setHostOutput(node, 0, std::move(t));
  return success();
}

LogicalResult translateConstantOfShape(Importer &im,
                                       const onnx::NodeProto &node,
                                       Location loc) {
  LQ_GET_INPUT(s, 0);
  FailureOr<SmallVector<int64_t>> shape = hostInts(s, loc, "shape");
  if (failed(shape))
    return failure();
  for (int64_t d : *shape)
    if (d < 0)
      return emitError(loc) << "'ConstantOfShape' with negative dim " << d;
  double value = 0;
  int dtype = kFloat;
  if (const auto *a = findAttr(node, "value")) {
    Val v;
    if (failed(im.readTensor(a->t(), loc, v, /*forceHost=*/true)))
      return failure();
    if (v.host->numel() != 1)
      return emitError(loc) << "'ConstantOfShape' value must have one element";
    value = v.host->data[0];
    dtype = v.dtype;
  }
  HostTensor t;
  t.dtype = dtype;
  t.shape = *shape;
  if (im.shouldFold(t.numel())) {
    t.data.assign(t.numel(), value);
    im.setHostOutput(node, 0, std::move(t));
    return success();
  }
  Type elt = dtypeToMLIR(dtype, im.ctx);
  Value empty = tensor::EmptyOp::create(im.b, loc, *shape, elt);
  Value fill = linalg::FillOp::create(im.b, loc, scalarConst(im.b, loc, elt, value),
                                      empty)
                   .getResult(0);
  im.setOutput(node, 0, fill, dtype);
  return success();
}

LogicalResult translateRange(Importer &im, const onnx::NodeProto &node,
                             Location loc) {
  LQ_GET_INPUT(start, 0);
  LQ_GET_INPUT(limit, 1);
  LQ_GET_INPUT(delta, 2);
  if (!allHost({&start, &limit, &delta}))
    return emitError(loc) << "'Range' bounds must be compile-time constants";
  double s = start.host->data[0], l = limit.host->data[0],
         d = delta.host->data[0];
  if (d == 0)
    return emitError(loc) << "'Range' with delta 0";
  int64_t n = std::max<int64_t>(0, int64_t(std::ceil((l - s) / d)));
  HostTensor t;
  t.dtype = start.dtype;
  t.shape = {n};
  for (int64_t i = 0; i < n; ++i)
    t.data.push_back(s + i * d);
  im.setHostOutput(node, 0, std::move(t));
  return success();
}

//===----------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------===//

LogicalResult setReshaped(Importer &im, const onnx::NodeProto &node,
                          Location loc, Val &x, ArrayRef<int64_t> shape) {
  if (x.host) {
    HostTensor t = *x.host;
    t.shape.assign(shape.begin(), shape.end());
    im.setHostOutput(node, 0, std::move(t));
    return success();
  }
  FailureOr<Value> r = emitReshape(im.b, loc, im.get(x, loc), shape);
  if (failed(r))
    return failure();
  im.setOutput(node, 0, *r, x.dtype);
  return success();
}

LogicalResult translateReshape(Importer &im, const onnx::NodeProto &node,
                               Location loc) {
  LQ_GET_INPUT(x, 0);
  LQ_GET_INPUT(s, 1);
  FailureOr<SmallVector<int64_t>> req = hostInts(s, loc, "shape");
  if (failed(req))
    return failure();
  if (!x.type.hasStaticShape())
    return emitError(loc) << "'Reshape' of a dynamically shaped tensor; pin "
                             "input dims with --input-shape";
  bool allowZero = attrInt(node, "allowzero", 0) != 0;
  SmallVector<int64_t> shape(*req);
  int64_t known = 1, inferAt = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 0 && !allowZero) {
      if (i >= x.shape().size())
        return emitError(loc) << "'Reshape' copies dim " << i
                              << " that the input does not have";
      shape[i] = x.shape()[i];
    }
    if (shape[i] == -1) {
      if (inferAt >= 0)
        return emitError(loc) << "'Reshape' shape has more than one -1";
      inferAt = i;
      continue;
    }
    if (shape[i] < 0)
      return emitError(loc) << "'Reshape' has invalid dim " << shape[i];
    known *= shape[i];
  }
  int64_t total = x.type.getNumElements();
  if (inferAt >= 0) {
    if (known == 0 || total % known != 0)
      return emitError(loc) << "'Reshape' cannot infer -1: " << total
                            << " elements into blocks of " << known;
    shape[inferAt] = total / known;
  } else if (known != total) {
    return emitError(loc) << "'Reshape' changes the element count from "
                          << total << " to " << known;
  }
  return setReshaped(im, node, loc, x, shape);
}

FailureOr<SmallVector<int64_t>> axesOf(Importer &im, const onnx::NodeProto &node,
                                       Location loc, int inputIdx) {
  if (im.hasInput(node, inputIdx)) {
    FailureOr<Val *> a = im.input(node, inputIdx, loc);
    if (failed(a))
      return failure();
    return hostInts(**a, loc, "axes");
  }
  if (auto attr = attrInts(node, "axes"))
    return *attr;
  return SmallVector<int64_t>{};
}

LogicalResult translateUnsqueeze(Importer &im, const onnx::NodeProto &node,
                                 Location loc) {
  LQ_GET_INPUT(x, 0);
  FailureOr<SmallVector<int64_t>> axes = axesOf(im, node, loc, 1);
  if (failed(axes))
    return failure();
  int64_t outRank = x.rank() + axes->size();
  SmallVector<bool> isNew(outRank, false);
  for (int64_t a : *axes) {
    a = normAxis(a, outRank);
    if (failed(checkAxis(loc, a, outRank)) || isNew[a])
      return emitError(loc) << "'Unsqueeze' has a bad or repeated axis";
    isNew[a] = true;
  }
  SmallVector<int64_t> shape;
  int64_t j = 0;
  for (int64_t i = 0; i < outRank; ++i)
    shape.push_back(isNew[i] ? 1 : x.shape()[j++]);
  return setReshaped(im, node, loc, x, shape);
}

LogicalResult translateSqueeze(Importer &im, const onnx::NodeProto &node,
                               Location loc) {
  LQ_GET_INPUT(x, 0);
  FailureOr<SmallVector<int64_t>> axes = axesOf(im, node, loc, 1);
  if (failed(axes))
    return failure();
  SmallVector<bool> drop(x.rank(), false);
  if (axes->empty()) {
    for (int64_t i = 0; i < x.rank(); ++i)
      drop[i] = x.shape()[i] == 1;
  }
  for (int64_t a : *axes) {
    a = normAxis(a, x.rank());
    if (failed(checkAxis(loc, a, x.rank())))
      return failure();
    if (x.shape()[a] != 1)
      return emitError(loc) << "'Squeeze' of axis " << a << " of size "
                            << x.shape()[a];
    drop[a] = true;
  }
  SmallVector<int64_t> shape;
  for (int64_t i = 0; i < x.rank(); ++i)
    if (!drop[i])
      shape.push_back(x.shape()[i]);
  return setReshaped(im, node, loc, x, shape);
}

LogicalResult translateFlatten(Importer &im, const onnx::NodeProto &node,
                               Location loc) {
  LQ_GET_INPUT(x, 0);
  int64_t axis = normAxis(attrInt(node, "axis", 1), x.rank());
  if (axis < 0 || axis > x.rank())
    return emitError(loc) << "'Flatten' axis out of range";
  int64_t a = 1, c = 1;
  for (int64_t i = 0; i < x.rank(); ++i)
    (i < axis ? a : c) *= x.shape()[i];
  return setReshaped(im, node, loc, x, {a, c});
}

LogicalResult translateTranspose(Importer &im, const onnx::NodeProto &node,
                                 Location loc) {
  LQ_GET_INPUT(x, 0);
  SmallVector<int64_t> perm;
  if (auto p = attrInts(node, "perm"))
    perm = *p;
  else
    for (int64_t i = x.rank() - 1; i >= 0; --i)
      perm.push_back(i);
  if (int64_t(perm.size()) != x.rank())
    return emitError(loc) << "'Transpose' perm has " << perm.size()
                          << " entries for rank " << x.rank();
  SmallVector<bool> seen(x.rank(), false);
  for (int64_t p : perm) {
    if (p < 0 || p >= x.rank() || seen[p])
      return emitError(loc) << "'Transpose' perm is not a permutation";
    seen[p] = true;
  }
  if (x.rank() <= 1) { // nothing to permute (linalg.transpose needs rank >= 1)
    im.setOutput(node, 0, x);
    return success();
  }
  SmallVector<int64_t> shape;
  for (int64_t p : perm)
    shape.push_back(x.shape()[p]);
  if (x.host && im.shouldFold(x.host->numel())) {
    SmallVector<int64_t> st = stridesOf(x.shape());
    im.setHostOutput(node, 0, hostGather(*x.host, shape, [&](ArrayRef<int64_t> i) {
                       int64_t off = 0;
                       for (size_t k = 0; k < perm.size(); ++k)
                         off += i[k] * st[perm[k]];
                       return off;
                     }));
    return success();
  }
  // Checked before building anything: tensor.empty needs static sizes here.
  if (!x.type.hasStaticShape())
    return emitError(loc) << "'Transpose' of a dynamically shaped tensor";
  Value in = im.get(x, loc);
  Value init = emitEmpty(im.b, loc, shape, x.type.getElementType(), {});
  Value r = linalg::TransposeOp::create(im.b, loc, in, init, perm).getResult()[0];
  im.setOutput(node, 0, r, x.dtype);
  return success();
}

LogicalResult translateConcat(Importer &im, const onnx::NodeProto &node,
                              Location loc) {
  SmallVector<Val *> ins;
  for (int i = 0; i < node.input_size(); ++i) {
    LQ_GET_INPUT(v, i);
    if (v.type.getNumElements() != 0 || !v.type.hasStaticShape())
      ins.push_back(&v);
  }
  if (node.input_size() == 0)
    return emitError(loc) << "'Concat' without inputs";
  if (ins.empty())
    return emitError(loc) << "'Concat' of empty tensors only (input '"
                          << node.input(0) << "' has no elements)";
  int64_t rank = ins[0]->rank();
  int64_t axis = normAxis(attrInt(node, "axis", 0), rank);
  if (failed(checkAxis(loc, axis, rank)))
    return failure();
  SmallVector<int64_t> shape(ins[0]->shape());
  shape[axis] = 0;
  for (Val *v : ins) {
    if (v->rank() != rank)
      return emitError(loc) << "'Concat' inputs have different ranks";
    for (int64_t d = 0; d < rank; ++d)
      if (d != axis && v->shape()[d] != shape[d])
        return emitError(loc) << "'Concat' inputs differ in dimension " << d;
    shape[axis] = ShapedType::isDynamic(v->shape()[axis]) || ShapedType::isDynamic(shape[axis])
                      ? ShapedType::kDynamic
                      : shape[axis] + v->shape()[axis];
  }
  if (ins.size() == 1) {
    im.setOutput(node, 0, *ins[0]);
    return success();
  }
  if (allHost(ins)) {
    HostTensor out;
    out.dtype = ins[0]->dtype;
    out.shape = shape;
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < axis; ++d)
      outer *= shape[d];
    for (int64_t d = axis + 1; d < rank; ++d)
      inner *= shape[d];
    for (int64_t o = 0; o < outer; ++o)
      for (Val *v : ins) {
        int64_t chunk = v->shape()[axis] * inner;
        auto begin = v->host->data.begin() + o * chunk;
        out.data.insert(out.data.end(), begin, begin + chunk);
      }
    im.setHostOutput(node, 0, std::move(out));
    return success();
  }
  SmallVector<Value> vals;
  for (Val *v : ins)
    vals.push_back(im.get(*v, loc));
  Value r = tensor::ConcatOp::create(im.b, loc, axis, vals);
  im.setOutput(node, 0, r, ins[0]->dtype);
  return success();
}

/// Normalized slice of one axis: start, step, count.
struct AxisSlice {
  int64_t start = 0, step = 1, count = 0;
};

LogicalResult translateSlice(Importer &im, const onnx::NodeProto &node,
                             Location loc) {
  LQ_GET_INPUT(x, 0);
  SmallVector<int64_t> starts, ends, axes, steps;
  if (im.opsetFor(node.domain()) < 10) {
    starts = attrInts(node, "starts").value_or(SmallVector<int64_t>{});
    ends = attrInts(node, "ends").value_or(SmallVector<int64_t>{});
    axes = attrInts(node, "axes").value_or(SmallVector<int64_t>{});
  } else {
    LQ_GET_INPUT(s, 1);
    LQ_GET_INPUT(e, 2);
    auto si = hostInts(s, loc, "starts"), ei = hostInts(e, loc, "ends");
    if (failed(si) || failed(ei))
      return failure();
    starts = *si;
    ends = *ei;
    if (im.hasInput(node, 3)) {
      LQ_GET_INPUT(a, 3);
      auto ai = hostInts(a, loc, "axes");
      if (failed(ai))
        return failure();
      axes = *ai;
    }
    if (im.hasInput(node, 4)) {
      LQ_GET_INPUT(st, 4);
      auto sti = hostInts(st, loc, "steps");
      if (failed(sti))
        return failure();
      steps = *sti;
    }
  }
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i)
      axes.push_back(i);
  if (steps.empty())
    steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() ||
      steps.size() != starts.size())
    return emitError(loc) << "'Slice' starts/ends/axes/steps lengths differ";
  SmallVector<AxisSlice> sl(x.rank());
  for (int64_t d = 0; d < x.rank(); ++d)
    sl[d].count = x.shape()[d];
  for (size_t i = 0; i < starts.size(); ++i) {
    int64_t a = normAxis(axes[i], x.rank());
    if (failed(checkAxis(loc, a, x.rank())))
      return failure();
    int64_t dim = x.shape()[a];
    if (ShapedType::isDynamic(dim))
      return emitError(loc) << "'Slice' of dynamic dimension " << a;
    int64_t step = steps[i];
    if (step == 0)
      return emitError(loc) << "'Slice' step 0";
    int64_t s = starts[i], e = ends[i];
    if (s < 0)
      s += dim;
    if (e < 0 && e > std::numeric_limits<int64_t>::min() / 2)
      e += dim;
    if (step > 0) {
      // Legal ONNX (an empty result), but with static shapes it is almost
      // always a table too short for the shapes asked for (rotary
      // positions past the model's context): say so where it happens.
      if (s >= dim && e > s && x.rank() >= 2) // not a shape vector's tail
        emitWarning(loc) << "'Slice' of axis " << a << " starts at " << s
                         << ", past its size " << dim
                         << ": the result is empty (are the shapes asked "
                            "for, e.g. past_seq + seq, beyond a table of the "
                            "model such as its positions?)";
      s = std::clamp<int64_t>(s, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
      sl[a] = {s, step, std::max<int64_t>(0, (e - s + step - 1) / step)};
    } else {
      s = std::clamp<int64_t>(s, 0, dim - 1);
      e = std::clamp<int64_t>(e, -1, dim - 1);
      sl[a] = {s, step, std::max<int64_t>(0, (s - e + (-step) - 1) / (-step))};
    }
  }
  SmallVector<int64_t> shape;
  for (auto &s : sl)
    shape.push_back(s.count);
  if (x.host) {
    SmallVector<int64_t> st = stridesOf(x.shape());
    im.setHostOutput(node, 0, hostGather(*x.host, shape, [&](ArrayRef<int64_t> i) {
                       int64_t off = 0;
                       for (size_t k = 0; k < i.size(); ++k)
                         off += (sl[k].start + i[k] * sl[k].step) * st[k];
                       return off;
                     }));
    return success();
  }
  if (llvm::any_of(sl, [](const AxisSlice &s) { return s.step < 0; }))
    return emitError(loc) << "'Slice' with a negative step on a non-constant "
                             "tensor is not supported";
  SmallVector<OpFoldResult> offs, sizes, strides;
  for (auto &s : sl) {
    offs.push_back(im.b.getIndexAttr(s.start));
    sizes.push_back(im.b.getIndexAttr(s.count));
    strides.push_back(im.b.getIndexAttr(s.step));
  }
  Value r = tensor::ExtractSliceOp::create(
      im.b, loc, RankedTensorType::get(shape, x.type.getElementType()),
      im.get(x, loc), offs, sizes, strides);
  im.setOutput(node, 0, r, x.dtype);
  return success();
}

LogicalResult translateSplit(Importer &im, const onnx::NodeProto &node,
                             Location loc) {
  LQ_GET_INPUT(x, 0);
  int64_t axis = normAxis(attrInt(node, "axis", 0), x.rank());
  if (failed(checkAxis(loc, axis, x.rank())))
    return failure();
  int64_t dim = x.shape()[axis];
  SmallVector<int64_t> sizes;
  if (im.hasInput(node, 1)) {
    LQ_GET_INPUT(s, 1);
    auto si = hostInts(s, loc, "split");
    if (failed(si))
      return failure();
    sizes = *si;
  } else if (auto a = attrInts(node, "split")) {
    sizes = *a;
  } else {
    int64_t n = node.output_size();
    int64_t chunk = (dim + n - 1) / n;
    for (int64_t i = 0; i < n; ++i)
      sizes.push_back(std::min(chunk, dim - i * chunk));
  }
  if (int64_t(sizes.size()) != node.output_size())
    return emitError(loc) << "'Split' has " << sizes.size() << " sizes for "
                          << node.output_size() << " outputs";
  int64_t offset = 0;
  for (auto [i, size] : llvm::enumerate(sizes)) {
    SmallVector<int64_t> shape(x.shape());
    shape[axis] = size;
    if (x.host) {
      SmallVector<int64_t> st = stridesOf(x.shape());
      im.setHostOutput(node, i, hostGather(*x.host, shape, [&](ArrayRef<int64_t> idx) {
                         int64_t off = 0;
                         for (size_t k = 0; k < idx.size(); ++k)
                           off += (idx[k] + (int64_t(k) == axis ? offset : 0)) * st[k];
                         return off;
                       }));
    } else {
      SmallVector<OpFoldResult> offs, szs, strides;
      for (int64_t d = 0; d < x.rank(); ++d) {
        offs.push_back(im.b.getIndexAttr(d == axis ? offset : 0));
        szs.push_back(im.b.getIndexAttr(shape[d]));
        strides.push_back(im.b.getIndexAttr(1));
      }
      Value r = tensor::ExtractSliceOp::create(
          im.b, loc, RankedTensorType::get(shape, x.type.getElementType()),
          im.get(x, loc), offs, szs, strides);
      im.setOutput(node, i, r, x.dtype);
    }
    offset += size;
  }
  if (offset != dim)
    return emitError(loc) << "'Split' sizes sum to " << offset
                          << ", the axis has " << dim;
  return success();
}

LogicalResult translateExpand(Importer &im, const onnx::NodeProto &node,
                              Location loc) {
  LQ_GET_INPUT(x, 0);
  LQ_GET_INPUT(s, 1);
  auto req = hostInts(s, loc, "shape");
  if (failed(req))
    return failure();
  FailureOr<SmallVector<int64_t>> shape =
      broadcastShapes({x.shape(), ArrayRef<int64_t>(*req)}, loc);
  if (failed(shape))
    return failure();
  int64_t numel = 1;
  for (int64_t d : *shape)
    numel *= d;
  if (x.host && im.shouldFold(numel)) {
    im.setHostOutput(node, 0, hostMap({&*x.host}, *shape, x.dtype,
                                      [](ArrayRef<double> a) { return a[0]; }));
    return success();
  }
  Value r = emitMap(im.b, loc, {im.get(x, loc)}, *shape,
                    x.type.getElementType(),
                    [](OpBuilder &, Location, ValueRange a) { return a[0]; });
  im.setOutput(node, 0, r, x.dtype);
  return success();
}

LogicalResult translateTile(Importer &im, const onnx::NodeProto &node,
                            Location loc) {
  LQ_GET_INPUT(x, 0);
  LQ_GET_INPUT(r, 1);
  auto reps = hostInts(r, loc, "repeats");
  if (failed(reps))
    return failure();
  if (int64_t(reps->size()) != x.rank())
    return emitError(loc) << "'Tile' repeats has " << reps->size()
                          << " entries for rank " << x.rank();
  SmallVector<int64_t> shape;
  for (int64_t d = 0; d < x.rank(); ++d)
    shape.push_back(x.shape()[d] * (*reps)[d]);
  if (x.host) {
    SmallVector<int64_t> st = stridesOf(x.shape());
    im.setHostOutput(node, 0, hostGather(*x.host, shape, [&](ArrayRef<int64_t> i) {
                       int64_t off = 0;
                       for (size_t k = 0; k < i.size(); ++k)
                         off += (i[k] % x.shape()[k]) * st[k];
                       return off;
                     }));
    return success();
  }
  Value v = im.get(x, loc);
  for (int64_t d = 0; d < x.rank(); ++d) {
    if ((*reps)[d] == 1)
      continue;
    SmallVector<Value> copies((*reps)[d], v);
    v = tensor::ConcatOp::create(im.b, loc, d, copies);
  }
  im.setOutput(node, 0, v, x.dtype);
  return success();
}

LogicalResult translateTrilu(Importer &im, const onnx::NodeProto &node,
                             Location loc) {
  LQ_GET_INPUT(x, 0);
  int64_t k = 0;
  if (im.hasInput(node, 1)) {
    LQ_GET_INPUT(kv, 1);
    auto ki = hostInts(kv, loc, "k");
    if (failed(ki))
      return failure();
    k = (*ki)[0];
  }
  bool upper = attrInt(node, "upper", 1) != 0;
  if (x.rank() < 2)
    return emitError(loc) << "'Trilu' needs rank >= 2";
  auto keep = [&](int64_t i, int64_t j) {
    return upper ? (j - i >= k) : (j - i <= k);
  };
  if (x.host) {
    HostTensor out = *x.host;
    int64_t rows = x.shape()[x.rank() - 2], cols = x.shape()[x.rank() - 1];
    for (int64_t n = 0; n < out.numel(); ++n) {
      int64_t j = n % cols, i = (n / cols) % rows;
      if (!keep(i, j))
        out.data[n] = 0;
    }
    im.setHostOutput(node, 0, std::move(out));
    return success();
  }
  int64_t r = x.rank();
  Type elt = x.type.getElementType();
  Value res = emitMap(im.b, loc, {im.get(x, loc)}, x.shape(), elt,
                      [&](OpBuilder &b, Location l, ValueRange a) -> Value {
                        Value i = linalg::IndexOp::create(b, l, r - 2);
                        Value j = linalg::IndexOp::create(b, l, r - 1);
                        Value diff = arith::SubIOp::create(b, l, j, i);
                        Value kc = arith::ConstantIndexOp::create(b, l, k);
                        Value cond = arith::CmpIOp::create(
                            b, l, upper ? arith::CmpIPredicate::sge : arith::CmpIPredicate::sle, diff, kc);
                        return arith::SelectOp::create(b, l, cond, a[0], scalarConst(b, l, elt, 0));
                      });
  im.setOutput(node, 0, res, x.dtype);
  return success();
}

LogicalResult translateGather(Importer &im, const onnx::NodeProto &node,
                              Location loc) {
  LQ_GET_INPUT(data, 0);
  LQ_GET_INPUT(idx, 1);
  int64_t axis = normAxis(attrInt(node, "axis", 0), data.rank());
  if (failed(checkAxis(loc, axis, data.rank())))
    return failure();
  int64_t dim = data.shape()[axis];
  SmallVector<int64_t> shape(data.shape().take_front(axis));
  shape.append(idx.shape().begin(), idx.shape().end());
  shape.append(data.shape().begin() + axis + 1, data.shape().end());
  if (data.host && idx.host) {
    for (double v : idx.host->data)
      if (v < -dim || v >= dim)
        return emitError(loc) << "'Gather' index " << v
                              << " is out of range for a dimension of " << dim;
    SmallVector<int64_t> st = stridesOf(data.shape());
    int64_t ir = idx.rank();
    SmallVector<int64_t> ist = stridesOf(idx.shape());
    im.setHostOutput(node, 0, hostGather(*data.host, shape, [&](ArrayRef<int64_t> i) {
                       int64_t ioff = 0;
                       for (int64_t k = 0; k < ir; ++k)
                         ioff += i[axis + k] * ist[k];
                       int64_t g = idx.host->asInt(ioff);
                       if (g < 0)
                         g += dim;
                       int64_t off = g * st[axis];
                       for (int64_t k = 0; k < axis; ++k)
                         off += i[k] * st[k];
                       for (int64_t k = axis + 1; k < data.rank(); ++k)
                         off += i[k - 1 + ir] * st[k];
                       return off;
                     }));
    return success();
  }
  // An embedding lookup: the building block quantization passes know.
  if (axis == 0 && data.rank() == 2 && isFloatDType(data.dtype)) {
    auto resTy = RankedTensorType::get(shape, data.type.getElementType());
    Value r = mlir::lq::EmbeddingOp::create(im.b, loc, resTy, im.get(data, loc),
                                            im.get(idx, loc));
    im.setOutput(node, 0, r, data.dtype);
    return success();
  }
  // General gather: one tensor.extract per output element.
  if (ShapedType::isDynamicShape(shape))
    return emitError(loc) << "'Gather' with a dynamically shaped result; pin "
                             "input dims with --input-shape";
  Value dataV = im.get(data, loc), idxV = im.get(idx, loc);
  int64_t ir = idx.rank(), rank = shape.size();
  MLIRContext *ctx = im.ctx;
  SmallVector<AffineExpr> idxExprs;
  for (int64_t k = 0; k < ir; ++k)
    idxExprs.push_back(getAffineDimExpr(axis + k, ctx));
  SmallVector<AffineMap> maps = {AffineMap::get(rank, 0, idxExprs, ctx),
                                 AffineMap::getMultiDimIdentityMap(rank, ctx)};
  Value init = emitEmpty(im.b, loc, shape, data.type.getElementType());
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
  auto g = linalg::GenericOp::create(
      im.b, loc, TypeRange{init.getType()}, ValueRange{idxV}, ValueRange{init},
      maps, iters, [&](OpBuilder &b, Location l, ValueRange args) {
        Value gi = arith::IndexCastOp::create(b, l, b.getIndexType(), args[0]);
        Value dimC = arith::ConstantIndexOp::create(b, l, dim);
        Value zero = arith::ConstantIndexOp::create(b, l, 0);
        Value neg = arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt, gi, zero);
        gi = arith::SelectOp::create(b, l, neg, arith::AddIOp::create(b, l, gi, dimC), gi);
        SmallVector<Value> coords;
        for (int64_t k = 0; k < axis; ++k)
          coords.push_back(linalg::IndexOp::create(b, l, k));
        coords.push_back(gi);
        for (int64_t k = axis + 1; k < data.rank(); ++k)
          coords.push_back(linalg::IndexOp::create(b, l, k - 1 + ir));
        Value v = tensor::ExtractOp::create(b, l, dataV, coords);
        linalg::YieldOp::create(b, l, v);
      });
  im.setOutput(node, 0, g.getResult(0), data.dtype);
  return success();
}

//===----------------------------------------------------------------------===//
// Reductions, softmax, matmul
//===----------------------------------------------------------------------===//

LogicalResult translateReduce(Importer &im, const onnx::NodeProto &node,
                              Location loc) {
  LQ_GET_INPUT(x, 0);
  StringRef op = node.op_type();
  // Opset 18 moved `axes` from an attribute to an input (ReduceSum: 13).
  int axesInput = (op == "ReduceSum" && im.opsetFor(node.domain()) >= 13) ||
                          im.opsetFor(node.domain()) >= 18
                      ? 1
                      : -1;
  FailureOr<SmallVector<int64_t>> axes =
      axesInput > 0 ? axesOf(im, node, loc, 1)
                    : FailureOr<SmallVector<int64_t>>(
                          attrInts(node, "axes").value_or(SmallVector<int64_t>{}));
  if (failed(axes))
    return failure();
  bool keep = attrInt(node, "keepdims", 1) != 0;
  bool noopEmpty = attrInt(node, "noop_with_empty_axes", 0) != 0;
  if (axes->empty() && noopEmpty) {
    im.setOutput(node, 0, x);
    return success();
  }
  int64_t rank = x.rank();
  SmallVector<bool> red(rank, axes->empty());
  for (int64_t a : *axes) {
    a = normAxis(a, rank);
    if (failed(checkAxis(loc, a, rank)))
      return failure();
    red[a] = true;
  }
  if (!x.type.hasStaticShape())
    return emitError(loc) << "'" << op << "' of a dynamically shaped tensor; "
                             "pin input dims with --input-shape";
  SmallVector<int64_t> shape;
  int64_t count = 1;
  for (int64_t d = 0; d < rank; ++d) {
    if (red[d]) {
      count *= x.shape()[d];
      if (keep)
        shape.push_back(1);
    } else {
      shape.push_back(x.shape()[d]);
    }
  }
  if (ShapedType::isDynamic(count) || count < 0 ||
      ShapedType::isDynamicShape(shape))
    return emitError(loc) << "'" << op << "' of a dynamically shaped tensor; "
                             "pin input dims with --input-shape";
  bool isMax = op == "ReduceMax", isMean = op == "ReduceMean";
  Type elt = x.type.getElementType();
  if (!isa<FloatType>(elt))
    return emitError(loc) << "'" << op << "' of a non-float tensor";
  MLIRContext *ctx = im.ctx;
  SmallVector<AffineExpr> outExprs;
  SmallVector<utils::IteratorType> iters;
  for (int64_t d = 0; d < rank; ++d) {
    iters.push_back(red[d] ? utils::IteratorType::reduction
                           : utils::IteratorType::parallel);
    if (!red[d])
      outExprs.push_back(getAffineDimExpr(d, ctx));
    else if (keep)
      outExprs.push_back(getAffineConstantExpr(0, ctx));
  }
  SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(rank, ctx),
                                 AffineMap::get(rank, 0, outExprs, ctx)};
  double initV = isMax ? -std::numeric_limits<double>::infinity() : 0.0;
  Value init = emitEmpty(im.b, loc, shape, elt);
  init = linalg::FillOp::create(im.b, loc, scalarConst(im.b, loc, elt, initV), init)
             .getResult(0);
  auto g = linalg::GenericOp::create(
      im.b, loc, TypeRange{init.getType()}, ValueRange{im.get(x, loc)},
      ValueRange{init}, maps, iters,
      [&](OpBuilder &b, Location l, ValueRange a) {
        Value r = isMax ? Value(arith::MaximumFOp::create(b, l, a[0], a[1]))
                        : Value(arith::AddFOp::create(b, l, a[0], a[1]));
        linalg::YieldOp::create(b, l, r);
      });
  Value r = g.getResult(0);
  if (isMean) {
    r = emitMap(im.b, loc, {r}, shape, elt,
                [&](OpBuilder &b, Location l, ValueRange a) -> Value {
                  return arith::DivFOp::create(b, l, a[0],
                                               scalarConst(b, l, elt, double(count)));
                });
  }
  im.setOutput(node, 0, r, x.dtype);
  return success();
}

LogicalResult translateSoftmax(Importer &im, const onnx::NodeProto &node,
                               Location loc) {
  LQ_GET_INPUT(x, 0);
  int64_t opset = im.opsetFor(node.domain());
  int64_t axis = normAxis(attrInt(node, "axis", opset >= 13 ? -1 : 1), x.rank());
  if (failed(checkAxis(loc, axis, x.rank())))
    return failure();
  // Before opset 13, Softmax flattened [axis, rank) into one dimension.
  if (opset < 13 && axis != x.rank() - 1)
    return emitError(loc) << "'Softmax' (opset " << opset
                          << ") over flattened trailing axes is not supported";
  Value in = im.get(x, loc);
  Value init = emitEmpty(im.b, loc, x.shape(), x.type.getElementType(), in);
  Value r = linalg::SoftmaxOp::create(im.b, loc, TypeRange{x.type}, in, init,
                                      axis)
                .getResult()[0];
  im.setOutput(node, 0, r, x.dtype);
  return success();
}

} // namespace

/// MatMul with numpy semantics: `[..., M, K] x [..., K, N]`, batch dims
/// broadcast. A 2-D right operand becomes one linalg.matmul over the
/// flattened rows (what --lq-raise turns into lq.linear); anything else is a
/// batched contraction.
FailureOr<Value> (::lq::onnx_import::emitMatMul)(Importer &im, Location loc,
                                             Value a, Value bm) {
  OpBuilder &b = im.b;
  auto aTy = cast<RankedTensorType>(a.getType());
  auto bTy = cast<RankedTensorType>(bm.getType());
  Type elt = aTy.getElementType();
  if (aTy.getRank() == 0 || bTy.getRank() == 0)
    return emitError(loc) << "'MatMul' of a scalar (rank-0) operand";
  bool squeezeM = false, squeezeN = false;
  if (aTy.getRank() == 1) {
    auto r = emitReshape(b, loc, a, {1, aTy.getDimSize(0)});
    if (failed(r))
      return failure();
    a = *r;
    aTy = cast<RankedTensorType>(a.getType());
    squeezeM = true;
  }
  if (bTy.getRank() == 1) {
    auto r = emitReshape(b, loc, bm, {bTy.getDimSize(0), 1});
    if (failed(r))
      return failure();
    bm = *r;
    bTy = cast<RankedTensorType>(bm.getType());
    squeezeN = true;
  }
  int64_t K = aTy.getShape().back();
  if (K != bTy.getDimSize(bTy.getRank() - 2))
    return emitError(loc) << "'MatMul' inner dimensions differ (" << K
                          << " vs " << bTy.getDimSize(bTy.getRank() - 2) << ")";
  int64_t N = bTy.getShape().back(), M = aTy.getDimSize(aTy.getRank() - 2);
  FailureOr<SmallVector<int64_t>> batch = broadcastShapes(
      {aTy.getShape().drop_back(2), bTy.getShape().drop_back(2)}, loc);
  if (failed(batch))
    return failure();
  SmallVector<int64_t> outShape(*batch);
  outShape.push_back(M);
  outShape.push_back(N);
  Value zero = scalarConst(b, loc, elt, 0.0);
  Value result;
  if (bTy.getRank() == 2 && aTy.hasStaticShape()) {
    int64_t rows = aTy.getNumElements() / K;
    auto a2 = emitReshape(b, loc, a, {rows, K});
    if (failed(a2))
      return failure();
    Value init = tensor::EmptyOp::create(b, loc, ArrayRef<int64_t>{rows, N}, elt);
    init = linalg::FillOp::create(b, loc, zero, init).getResult(0);
    Value mm = linalg::MatmulOp::create(b, loc, TypeRange{init.getType()},
                                        ValueRange{*a2, bm}, ValueRange{init})
                   .getResult(0);
    auto r = emitReshape(b, loc, mm, outShape);
    if (failed(r))
      return failure();
    result = *r;
  } else {
    MLIRContext *ctx = im.ctx;
    int64_t nb = batch->size(), rank = nb + 3; // batch..., m, n, k
    auto operandMap = [&](RankedTensorType ty, unsigned r0, unsigned r1) {
      SmallVector<AffineExpr> e;
      int64_t tb = ty.getRank() - 2;
      for (int64_t j = 0; j < tb; ++j) {
        int64_t k = nb - tb + j;
        e.push_back(ty.getDimSize(j) == 1 && (*batch)[k] != 1
                        ? getAffineConstantExpr(0, ctx)
                        : getAffineDimExpr(k, ctx));
      }
      e.push_back(getAffineDimExpr(r0, ctx));
      e.push_back(getAffineDimExpr(r1, ctx));
      return AffineMap::get(rank, 0, e, ctx);
    };
    SmallVector<AffineExpr> outE;
    for (int64_t k = 0; k < nb + 2; ++k)
      outE.push_back(getAffineDimExpr(k, ctx));
    SmallVector<AffineMap> maps = {operandMap(aTy, nb, nb + 2),
                                   operandMap(bTy, nb + 2, nb + 1),
                                   AffineMap::get(rank, 0, outE, ctx)};
    SmallVector<utils::IteratorType> iters(rank - 1, utils::IteratorType::parallel);
    iters.push_back(utils::IteratorType::reduction);
    if (ShapedType::isDynamicShape(outShape))
      return emitError(loc) << "batched 'MatMul' with dynamic dims";
    Value init = tensor::EmptyOp::create(b, loc, outShape, elt);
    init = linalg::FillOp::create(b, loc, zero, init).getResult(0);
    bool isFloat = isa<FloatType>(elt);
    result = linalg::GenericOp::create(
                 b, loc, TypeRange{init.getType()}, ValueRange{a, bm},
                 ValueRange{init}, maps, iters,
                 [&](OpBuilder &nb2, Location l, ValueRange v) {
                   Value p = isFloat ? Value(arith::MulFOp::create(nb2, l, v[0], v[1]))
                                     : Value(arith::MulIOp::create(nb2, l, v[0], v[1]));
                   Value s = isFloat ? Value(arith::AddFOp::create(nb2, l, v[2], p))
                                     : Value(arith::AddIOp::create(nb2, l, v[2], p));
                   linalg::YieldOp::create(nb2, l, s);
                 })
                 .getResult(0);
  }
  if (squeezeM || squeezeN) {
    SmallVector<int64_t> shape(*batch);
    if (!squeezeM)
      shape.push_back(M);
    if (!squeezeN)
      shape.push_back(N);
    auto r = emitReshape(b, loc, result, shape);
    if (failed(r))
      return failure();
    result = *r;
  }
  return result;
}

namespace {

LogicalResult translateMatMul(Importer &im, const onnx::NodeProto &node,
                              Location loc) {
  LQ_GET_INPUT(a, 0);
  LQ_GET_INPUT(bv, 1);
  if (a.dtype != bv.dtype)
    return emitError(loc) << "'MatMul' input types differ";
  if (bv.linearLayout) {
    // A weight initializer, already [N, K]: lq.linear, as --lq-raise would
    // make of linalg.matmul, without a second copy of the weight.
    int64_t K = bv.shape()[0], N = bv.shape()[1];
    if (a.rank() < 1 || a.shape().back() != K)
      return emitError(loc) << "'MatMul' inner dimensions differ ("
                            << (a.rank() ? a.shape().back() : 0) << " vs " << K
                            << ")";
    auto wTy = RankedTensorType::get({N, K}, bv.type.getElementType());
    if (!bv.value) {
      OpBuilder::InsertionGuard guard(im.b);
      Block *entry = im.b.getInsertionBlock();
      while (!isa<func::FuncOp>(entry->getParentOp()))
        entry = entry->getParentOp()->getBlock();
      im.b.setInsertionPointToStart(entry);
      bv.value = arith::ConstantOp::create(im.b, loc, wTy,
                                           cast<TypedAttr>(bv.weight));
    }
    SmallVector<int64_t> outShape(a.shape().drop_back());
    outShape.push_back(N);
    Value x = im.get(a, loc);
    if (a.rank() == 1) { // [K] x [K, N] -> [N]
      auto r = emitReshape(im.b, loc, x, {1, K});
      if (failed(r))
        return failure();
      x = *r;
    }
    SmallVector<int64_t> linShape(cast<RankedTensorType>(x.getType()).getShape().drop_back());
    linShape.push_back(N);
    Value y = mlir::lq::LinearOp::create(
        im.b, loc, RankedTensorType::get(linShape, wTy.getElementType()), x,
        bv.value, Value());
    if (a.rank() == 1) {
      auto r = emitReshape(im.b, loc, y, {N});
      if (failed(r))
        return failure();
      y = *r;
    }
    im.setOutput(node, 0, y, a.dtype);
    return success();
  }
  FailureOr<Value> r = emitMatMul(im, loc, im.get(a, loc), im.get(bv, loc));
  if (failed(r))
    return failure();
  im.setOutput(node, 0, *r, a.dtype);
  return success();
}

LogicalResult translateGemm(Importer &im, const onnx::NodeProto &node,
                            Location loc) {
  LQ_GET_INPUT(a, 0);
  LQ_GET_INPUT(bv, 1);
  if (a.rank() != 2 || bv.rank() != 2)
    return emitError(loc) << "'Gemm' needs 2-D inputs";
  float alpha = attrFloat(node, "alpha", 1.0f), beta = attrFloat(node, "beta", 1.0f);
  Value av = im.get(a, loc), bm = im.get(bv, loc);
  auto transpose = [&](Value v) {
    auto ty = cast<RankedTensorType>(v.getType());
    Value init = tensor::EmptyOp::create(
        im.b, loc, ArrayRef<int64_t>{ty.getDimSize(1), ty.getDimSize(0)},
        ty.getElementType());
    return linalg::TransposeOp::create(im.b, loc, v, init,
                                       ArrayRef<int64_t>{1, 0})
        .getResult()[0];
  };
  if (attrInt(node, "transA", 0))
    av = transpose(av);
  if (attrInt(node, "transB", 0))
    bm = transpose(bm);
  FailureOr<Value> r = emitMatMul(im, loc, av, bm);
  if (failed(r))
    return failure();
  Value y = *r;
  auto yTy = cast<RankedTensorType>(y.getType());
  Type elt = yTy.getElementType();
  if (alpha != 1.0f)
    y = emitMap(im.b, loc, {y}, yTy.getShape(), elt,
                [&](OpBuilder &b, Location l, ValueRange v) -> Value {
                  return arith::MulFOp::create(b, l, v[0], scalarConst(b, l, elt, alpha));
                });
  if (im.hasInput(node, 2)) {
    LQ_GET_INPUT(c, 2);
    FailureOr<SmallVector<int64_t>> s = broadcastShapes({yTy.getShape(), c.shape()}, loc);
    if (failed(s) || ArrayRef<int64_t>(*s) != yTy.getShape())
      return emitError(loc) << "'Gemm' C does not broadcast to the result";
    y = emitMap(im.b, loc, {y, im.get(c, loc)}, yTy.getShape(), elt,
                [&](OpBuilder &b, Location l, ValueRange v) -> Value {
                  Value cv = v[1];
                  if (beta != 1.0f)
                    cv = arith::MulFOp::create(b, l, cv, scalarConst(b, l, elt, beta));
                  return arith::AddFOp::create(b, l, v[0], cv);
                });
  }
  im.setOutput(node, 0, y, a.dtype);
  return success();
}

} // namespace

void ::lq::onnx_import::registerCoreOps(llvm::StringMap<Translator> &table) {
  for (const auto &kv : elementwiseOps())
    table[kv.getKey()] = translateElementwise;
  for (StringRef op : {"Max", "Min", "Sum", "Mean"})
    table[op] = translateVariadic;
  table["Cast"] = translateCast;
  table["Constant"] = translateConstant;
  table["Identity"] = translateIdentity;
  table["Shape"] = translateShape;
  table["Size"] = translateSize;
  table["ConstantOfShape"] = translateConstantOfShape;
  table["Range"] = translateRange;
  table["Reshape"] = translateReshape;
  table["Unsqueeze"] = translateUnsqueeze;
  table["Squeeze"] = translateSqueeze;
  table["Flatten"] = translateFlatten;
  table["Transpose"] = translateTranspose;
  table["Concat"] = translateConcat;
  table["Slice"] = translateSlice;
  table["Split"] = translateSplit;
  table["Expand"] = translateExpand;
  table["Tile"] = translateTile;
  table["Trilu"] = translateTrilu;
  table["Gather"] = translateGather;
  table["ReduceMean"] = translateReduce;
  table["ReduceSum"] = translateReduce;
  table["ReduceMax"] = translateReduce;
  table["Softmax"] = translateSoftmax;
  table["MatMul"] = translateMatMul;
  table["Gemm"] = translateGemm;
}
