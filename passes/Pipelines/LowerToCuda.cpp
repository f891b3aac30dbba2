//===- LowerToCuda.cpp - --lower-to-cuda and its GPU passes -------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// `--lower-to-cuda="chip=sm_90a"` takes lq IR on tensors to host LLVM dialect
// plus `gpu.binary` ops holding the device code (a fatbin from ptxas by
// default). Linears and attention call the CUDA runtime's kernels
// (`lq_rt_cuda_*`, convert-lq-to-runtime with prefix=lq_rt_cuda_); everything
// else goes convert-lq-to-linalg -> bufferization -> parallel loops, which
// lq-gpu-parallelize-loops shapes into a blocks x threads nest:
//
//   for all i in [0, n0) x ... x [0, nk):  body(i)
//   ==>  for all b in [0, ceil(N / B)):  for all t in [0, B):
//          l = b * B + t;  if (l < N) body(delinearize(l))   (N = n0 * ... * nk)
//
// so that upstream gpu-map-parallel-loops / convert-parallel-loops-to-gpu give
// one thread per output element (B threads per block). Reductions stay
// sequential inside each thread (the scf.for that linalg-to-parallel-loops
// emits for reduction dimensions).
//
// Memory (lq-gpu-device-buffers): the compiled model keeps its C ABI (host
// memref descriptors in, host buffers out). Every intermediate buffer is
// device memory; the entry copies the inputs to the device and the results
// back. Constants (weights) are copied once, on the first call, and stay on
// the device for the life of the process (lq_rt_cuda_resident). Each device
// step (copy, launch, runtime kernel) completes before the next starts;
// with `stream-ordered`, the steps are enqueued in order on one stream and
// the host waits only for what it reads (chainSteps).
//
//===----------------------------------------------------------------------===//

#include "passes/Pipelines/Pipelines.h"

#include "passes/Conversion/Passes.h"
#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/MemRef/Utils/MemRefUtils.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

#include "llvm/ADT/SetVector.h"

#include <cstdlib>

namespace mlir::lq {
#define GEN_PASS_DEF_CHECKCUDATARGETPASS
#define GEN_PASS_DEF_GPUPARALLELIZELOOPSPASS
#define GEN_PASS_DEF_GPUDEVICEBUFFERSPASS
#include "passes/Pipelines/Passes.h.inc"
} // namespace mlir::lq

using namespace mlir;

namespace {

//===----------------------------------------------------------------------===//
// Target check
//===----------------------------------------------------------------------===//

struct Chip {
  StringRef name;
  int minPtx; // the oldest PTX ISA LLVM's NVPTX backend accepts for it
};
// CUDA 13's ptxas supports sm_75 and newer; lq targets Ampere and newer.
constexpr Chip kChips[] = {{"sm_80", 70},  {"sm_86", 71},   {"sm_89", 78},
                           {"sm_90", 78},  {"sm_90a", 80},  {"sm_100", 86},
                           {"sm_100a", 86}, {"sm_120", 87}, {"sm_120a", 87}};
constexpr int kMaxPtx = 90; // newest PTX ISA of LLVM 22's NVPTX backend

const Chip *findChip(StringRef name) {
  for (const Chip &c : kChips)
    if (c.name == name)
      return &c;
  return nullptr;
}

std::string chipList() {
  std::string s;
  for (const Chip &c : kChips)
    s += (s.empty() ? "" : ", ") + c.name.str();
  return s;
}

/// "+ptxNN" -> NN, or -1.
int parsePtx(StringRef features) {
  int v;
  if (!features.consume_front("+ptx") || features.getAsInteger(10, v))
    return -1;
  return v;
}

struct CheckCudaTargetPass
    : lq::impl::CheckCudaTargetPassBase<CheckCudaTargetPass> {
  using Base::Base;
  void runOnOperation() override {
    const Chip *c = findChip(chip);
    if (!c) {
      getOperation().emitError()
          << "--lower-to-cuda: unknown chip '" << chip
          << "' (supported: " << chipList() << ")";
      return signalPassFailure();
    }
    if (features.empty())
      return;
    int ptx = parsePtx(features);
    if (ptx < 0) {
      getOperation().emitError()
          << "--lower-to-cuda: cubin-features must be '+ptxNN', got '"
          << features << "'";
      return signalPassFailure();
    }
    if (ptx < c->minPtx || ptx > kMaxPtx) {
      getOperation().emitError()
          << "--lower-to-cuda: " << features << " cannot target " << chip
          << " (PTX ISA " << c->minPtx / 10 << "." << c->minPtx % 10
          << " to " << kMaxPtx / 10 << "." << kMaxPtx % 10
          << ": use +ptx" << c->minPtx << " or newer)";
      return signalPassFailure();
    }
  }
};

//===----------------------------------------------------------------------===//
// Loop shaping
//===----------------------------------------------------------------------===//

bool touchesMemory(Operation *op) {
  bool found = false;
  op->walk([&](Operation *inner) {
    if (isa<memref::LoadOp, memref::StoreOp, affine::AffineLoadOp,
            affine::AffineStoreOp>(inner)) {
      found = true;
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  return found;
}

/// A reduction as convert-linalg-to-parallel-loops writes it, the
/// accumulator in memory at indices invariant in the loop:
///   [scf.parallel (ivs) {]  scf.for %k = lb to ub step s {
///       ... %v = f(%k, ivs) ...
///       %a = memref.load %out[I]   %r = combine(%a, %v)   memref.store %r, %out[I]
///   [}]                     }
struct ReductionLoop {
  scf::ParallelOp outer; // null: no parallel dimension
  scf::ForOp loop;
  memref::LoadOp accLoad;
  Operation *combine;
  memref::StoreOp accStore;
  gpu::AllReduceOperation kind;
  TypedAttr identity; // of `kind`: each thread's partial starts there
  Value value() {
    return combine->getOperand(0) == accLoad.getResult()
               ? combine->getOperand(1)
               : combine->getOperand(0);
  }
};

/// gpu.all_reduce's operation for `combine`, and its identity element.
std::optional<std::pair<gpu::AllReduceOperation, TypedAttr>>
reductionKind(Operation *combine) {
  // 32-bit values: what gpu.all_reduce's shuffles carry in one step.
  Type t = combine->getResult(0).getType();
  if (!t.isF32() && !t.isInteger(32))
    return std::nullopt;
  auto ft = dyn_cast<FloatType>(t);
  auto inf = [&](bool negative) {
    return FloatAttr::get(ft, APFloat::getInf(ft.getFloatSemantics(), negative));
  };
  using K = gpu::AllReduceOperation;
  if (ft) {
    if (isa<arith::AddFOp>(combine)) // -0 + x == x for every x, +0 too
      return std::pair{K::ADD, TypedAttr(FloatAttr::get(
                                   ft, APFloat::getZero(ft.getFloatSemantics(),
                                                        /*Negative=*/true)))};
    if (isa<arith::MulFOp>(combine))
      return std::pair{K::MUL, TypedAttr(FloatAttr::get(ft, 1.0))};
    if (isa<arith::MaximumFOp>(combine))
      return std::pair{K::MAXIMUMF, TypedAttr(inf(true))};
    if (isa<arith::MinimumFOp>(combine))
      return std::pair{K::MINIMUMF, TypedAttr(inf(false))};
    if (isa<arith::MaxNumFOp>(combine))
      return std::pair{K::MAXNUMF, TypedAttr(inf(true))};
    if (isa<arith::MinNumFOp>(combine))
      return std::pair{K::MINNUMF, TypedAttr(inf(false))};
    return std::nullopt;
  }
  if (isa<IntegerType>(t) && isa<arith::AddIOp>(combine))
    return std::pair{K::ADD, TypedAttr(IntegerAttr::get(t, 0))};
  return std::nullopt;
}

/// Matches `root` (an scf.parallel whose body is one scf.for, or an
/// scf.for) against ReductionLoop; the loop body must be straight-line and
/// touch the accumulator's buffer only through the one load and store.
std::optional<ReductionLoop> matchReduction(Operation *root) {
  ReductionLoop r;
  r.outer = dyn_cast<scf::ParallelOp>(root);
  if (r.outer) {
    if (!r.outer.getInitVals().empty())
      return std::nullopt;
    Block *body = r.outer.getBody();
    if (!llvm::hasSingleElement(body->without_terminator()))
      return std::nullopt;
    r.loop = dyn_cast<scf::ForOp>(body->front());
  } else {
    r.loop = dyn_cast<scf::ForOp>(root);
  }
  if (!r.loop || !r.loop.getInitArgs().empty())
    return std::nullopt;
  Block *body = r.loop.getBody();
  // Straight-line, side-effect free but for loads and the one store: the
  // body is cloned into many threads' strided loops.
  for (Operation &op : body->without_terminator()) {
    if (op.getNumRegions())
      return std::nullopt;
    if (auto st = dyn_cast<memref::StoreOp>(op)) {
      if (r.accStore)
        return std::nullopt;
      r.accStore = st;
    } else if (!isa<memref::LoadOp>(op) && !isMemoryEffectFree(&op)) {
      return std::nullopt;
    }
  }
  if (!r.accStore)
    return std::nullopt;
  Value out = r.accStore.getMemRef();
  auto definedInLoop = [&](Value v) {
    return r.loop->isAncestor(v.getParentBlock()->getParentOp());
  };
  if (definedInLoop(out)) // the accumulator stays put
    return std::nullopt;
  for (Value i : r.accStore.getIndices())
    if (definedInLoop(i))
      return std::nullopt;
  r.combine = r.accStore.getValue().getDefiningOp();
  if (!r.combine || r.combine->getBlock() != body ||
      r.combine->getNumOperands() != 2 || !r.combine->hasOneUse())
    return std::nullopt;
  for (Value v : r.combine->getOperands())
    if (auto l = v.getDefiningOp<memref::LoadOp>())
      if (l->getBlock() == body && l.getMemRef() == out &&
          l.getIndices() == r.accStore.getIndices())
        r.accLoad = l;
  if (!r.accLoad || !r.accLoad->hasOneUse() ||
      r.combine->getOperand(0) == r.combine->getOperand(1))
    return std::nullopt;
  // No other access to the accumulator's buffer in the loop, through any
  // view of it.
  auto base = [](Value m) {
    while (auto view = m.getDefiningOp<ViewLikeOpInterface>())
      m = view.getViewSource();
    return m;
  };
  for (Operation &op : body->without_terminator())
    if (&op != r.accLoad && &op != r.accStore.getOperation())
      for (Value v : op.getOperands())
        if (isa<MemRefType>(v.getType()) && base(v) == base(out))
          return std::nullopt;
  auto kind = reductionKind(r.combine);
  if (!kind)
    return std::nullopt;
  r.kind = kind->first;
  r.identity = kind->second;
  return r;
}

struct GpuParallelizeLoopsPass
    : lq::impl::GpuParallelizeLoopsPassBase<GpuParallelizeLoopsPass> {
  using Base::Base;

  /// One block per output element of `red`, its threads splitting the
  /// reduced dimension:
  ///   gpu.launch blocks (nOut) threads (T) {
  ///     p = scf.for %k = lb + t * s to ub step T * s iter_args(identity)
  ///     total = gpu.all_reduce <op> p            (shuffles + shared memory)
  ///     if (t == 0) out[I] = combine(out[I], total)
  ///   }
  /// instead of one thread per output element looping over the whole
  /// reduction with the accumulator in memory (an RMS norm of a decode step
  /// was one thread reading and writing memory 256 / 4096 times in a row).
  void buildBlockReduction(ReductionLoop red, Value init = nullptr) {
    Operation *root = red.outer ? red.outer.getOperation()
                                : red.loop.getOperation();
    OpBuilder b(root);
    Location loc = root->getLoc();
    auto idx = [&](int64_t v) -> Value {
      return arith::ConstantIndexOp::create(b, loc, v);
    };
    Value c1 = idx(1);
    // Output elements: the parallel loop's trip counts.
    SmallVector<Value> counts;
    Value nOut = c1;
    if (red.outer) {
      for (auto [lb, ub, st] :
           llvm::zip(red.outer.getLowerBound(), red.outer.getUpperBound(),
                     red.outer.getStep())) {
        Value n = arith::CeilDivUIOp::create(
            b, loc, arith::SubIOp::create(b, loc, ub, lb), st);
        counts.push_back(n);
        nOut = arith::MulIOp::create(b, loc, nOut, n);
      }
    }
    // Threads: the reduced extent rounded up to a warp, at most blockSize.
    int64_t T = blockSize;
    if (auto lb = getConstantIntValue(red.loop.getLowerBound()),
        ub = getConstantIntValue(red.loop.getUpperBound()),
        st = getConstantIntValue(red.loop.getStep());
        lb && ub && st && *st > 0)
      T = std::min<int64_t>(
          std::max<int64_t>((((*ub - *lb + *st - 1) / *st) + 31) / 32 * 32,
                            32),
          blockSize);
    Value cT = idx(T);
    auto launch = gpu::LaunchOp::create(b, loc, nOut, c1, c1, cT, c1, c1);
    OpBuilder k = OpBuilder::atBlockBegin(&launch.getBody().front());
    Value bid = launch.getBlockIds().x, tid = launch.getThreadIds().x;
    IRMapping map;
    if (red.outer) {
      Value rest = bid;
      for (int64_t d = counts.size() - 1; d >= 0; --d) {
        Value i = d == 0 ? rest
                         : arith::RemUIOp::create(k, loc, rest, counts[d]);
        if (d > 0)
          rest = arith::DivUIOp::create(k, loc, rest, counts[d]);
        Value iv = arith::AddIOp::create(
            k, loc, red.outer.getLowerBound()[d],
            arith::MulIOp::create(k, loc, i, red.outer.getStep()[d]));
        map.map(red.outer.getInductionVars()[d], iv);
      }
    }
    // Each thread's strided share, accumulated in a register.
    Value step = map.lookupOrDefault(red.loop.getStep());
    Value start = arith::AddIOp::create(
        k, loc, map.lookupOrDefault(red.loop.getLowerBound()),
        arith::MulIOp::create(k, loc, tid, step));
    Value stride = arith::MulIOp::create(k, loc, cT, step);
    Type t = red.combine->getResult(0).getType();
    Value identity = arith::ConstantOp::create(
        k, loc, red.identity);
    auto loop = scf::ForOp::create(
        k, loc, start, map.lookupOrDefault(red.loop.getUpperBound()), stride,
        ValueRange{identity},
        [&](OpBuilder &lb, Location l, Value iv, ValueRange acc) {
          IRMapping m = map;
          m.map(red.loop.getInductionVar(), iv);
          for (Operation &op : red.loop.getBody()->without_terminator()) {
            if (&op == red.accLoad.getOperation() || &op == red.combine ||
                &op == red.accStore.getOperation())
              continue;
            lb.clone(op, m);
          }
          IRMapping c;
          c.map(red.accLoad.getResult(), acc[0]);
          for (Value v : red.combine->getOperands())
            if (v != red.accLoad.getResult())
              c.map(v, m.lookupOrDefault(v));
          Operation *next = lb.clone(*red.combine, c);
          scf::YieldOp::create(lb, l, next->getResult(0));
        });
    Value total = gpu::AllReduceOp::create(
                      k, loc, t, loop.getResult(0),
                      gpu::AllReduceOperationAttr::get(k.getContext(), red.kind),
                      /*uniform=*/true)
                      .getResult();
    Value first = arith::CmpIOp::create(k, loc, arith::CmpIPredicate::eq, tid,
                                        arith::ConstantIndexOp::create(k, loc, 0));
    scf::IfOp::create(k, loc, first, [&](OpBuilder &ib, Location l) {
      SmallVector<Value> at;
      for (Value i : red.accStore.getIndices())
        at.push_back(map.lookupOrDefault(i));
      Value old =
          init ? init
               : memref::LoadOp::create(ib, l, red.accStore.getMemRef(), at)
                     .getResult();
      IRMapping c;
      c.map(red.accLoad.getResult(), old);
      c.map(red.value(), total);
      Operation *next = ib.clone(*red.combine, c);
      memref::StoreOp::create(ib, l, next->getResult(0),
                              red.accStore.getMemRef(), at);
      scf::YieldOp::create(ib, l);
    });
    gpu::TerminatorOp::create(k, loc);
    root->erase();
  }

  /// A reduction that stays one thread per output keeps its accumulator in
  /// a register: load once, fold in an scf.for iter_arg, store once,
  ///   a = out[I]; for k { a = combine(a, v(k)) }; out[I] = a
  /// instead of a load and a store of memory per iteration (each a
  /// round trip on the loop's critical path on the GPU). Only inside a
  /// parallel loop, whose body is then the three ops.
  static void keepAccumulatorInRegister(ReductionLoop red) {
    if (!red.outer)
      return;
    OpBuilder b(red.loop);
    Location loc = red.loop.getLoc();
    Value out = red.accStore.getMemRef();
    Value init =
        memref::LoadOp::create(b, loc, out, red.accStore.getIndices());
    auto loop = scf::ForOp::create(
        b, loc, red.loop.getLowerBound(), red.loop.getUpperBound(),
        red.loop.getStep(), ValueRange{init},
        [&](OpBuilder &lb, Location l, Value iv, ValueRange acc) {
          IRMapping m;
          m.map(red.loop.getInductionVar(), iv);
          m.map(red.accLoad.getResult(), acc[0]);
          for (Operation &op : red.loop.getBody()->without_terminator())
            if (&op != red.accLoad.getOperation() &&
                &op != red.accStore.getOperation())
              lb.clone(op, m);
          scf::YieldOp::create(lb, l, m.lookup(red.combine->getResult(0)));
        });
    memref::StoreOp::create(b, loc, loop.getResult(0), out,
                            red.accStore.getIndices());
    red.loop.erase();
  }

  /// Block reductions pay off from a reduced extent of 64 (unknown: yes)
  /// over a few outputs; a matmul-like nest with many outputs keeps one
  /// thread per output (a block each would be mostly idle threads).
  static bool worthBlockReduction(ReductionLoop red) {
    auto lb = getConstantIntValue(red.loop.getLowerBound()),
         ub = getConstantIntValue(red.loop.getUpperBound()),
         st = getConstantIntValue(red.loop.getStep());
    if (lb && ub && st && *st > 0 && (*ub - *lb + *st - 1) / *st < 64)
      return false;
    int64_t outputs = 1;
    if (red.outer)
      for (auto [l, u, s] :
           llvm::zip(red.outer.getLowerBound(), red.outer.getUpperBound(),
                     red.outer.getStep())) {
        auto cl = getConstantIntValue(l), cu = getConstantIntValue(u),
             cs = getConstantIntValue(s);
        if (!cl || !cu || !cs || *cs <= 0)
          return true;
        outputs *= std::max<int64_t>(0, (*cu - *cl + *cs - 1) / *cs);
      }
    return outputs <= kMaxBlockReductionOutputs;
  }
  /// A prefill's norms (tokens x 1) and softmax rows fit; a generated
  /// matmul's M x N outputs do not.
  static constexpr int64_t kMaxBlockReductionOutputs = 16384;

  /// The body of `op` (without its terminator) cloned at `b` with `map`.
  static void cloneBody(OpBuilder &b, Block &body, IRMapping &map) {
    for (Operation &inner : body.without_terminator())
      b.clone(inner, map);
  }

  /// Creates the blocks x threads nest with `total` iterations and calls
  /// `body` with the linear index inside the in-bounds guard.
  void buildNest(OpBuilder &b, Location loc, Value total,
                 std::optional<int64_t> staticTotal,
                 function_ref<void(OpBuilder &, Location, Value)> body) {
    int64_t B = blockSize;
    if (staticTotal && *staticTotal < B)
      B = std::max<int64_t>(*staticTotal, 1);
    Value c0 = arith::ConstantIndexOp::create(b, loc, 0);
    Value c1 = arith::ConstantIndexOp::create(b, loc, 1);
    Value cB = arith::ConstantIndexOp::create(b, loc, B);
    Value blocks = arith::CeilDivUIOp::create(b, loc, total, cB);
    scf::ParallelOp::create(
        b, loc, ValueRange{c0}, ValueRange{blocks}, ValueRange{c1},
        [&](OpBuilder &b, Location loc, ValueRange bIv) {
          scf::ParallelOp::create(
              b, loc, ValueRange{c0}, ValueRange{cB}, ValueRange{c1},
              [&](OpBuilder &b, Location loc, ValueRange tIv) {
                Value lin = arith::AddIOp::create(
                    b, loc, arith::MulIOp::create(b, loc, bIv[0], cB), tIv[0]);
                Value in = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                                 lin, total);
                scf::IfOp::create(b, loc, in, [&](OpBuilder &b, Location loc) {
                  body(b, loc, lin);
                  scf::YieldOp::create(b, loc);
                });
              });
        });
  }

  void runOnOperation() override {
    // CUDA's limit: at most 1024 threads per block.
    if (blockSize < 1 || blockSize > 1024) {
      getOperation().emitError()
          << "lq-gpu-parallelize-loops: 'block-size' must be in [1, 1024], got "
          << int64_t(blockSize);
      return signalPassFailure();
    }
    SmallVector<Operation *> roots;
    // Outermost ops that need a device thread: scf.parallel, scf.for nests
    // and stray stores outside any loop (launch bodies are left alone).
    getOperation().walk<WalkOrder::PreOrder>([&](Operation *op) {
      if (isa<gpu::LaunchOp>(op))
        return WalkResult::skip();
      if (isa<scf::ParallelOp>(op)) {
        roots.push_back(op);
        return WalkResult::skip();
      }
      if (isa<scf::ForOp, memref::StoreOp, affine::AffineStoreOp>(op)) {
        if (touchesMemory(op))
          roots.push_back(op);
        return WalkResult::skip();
      }
      return WalkResult::advance();
    });
    // A constant stored to an accumulator just before a block reduction
    // of it (a decode step's zero-fill of RMSNorm's sum) is folded into the
    // reduction's thread 0: one kernel instead of two.
    llvm::DenseMap<Operation *, Value> initOf;
    for (size_t i = 0; i + 1 < roots.size(); ++i) {
      auto fill = dyn_cast<memref::StoreOp>(roots[i]);
      std::optional<ReductionLoop> red = matchReduction(roots[i + 1]);
      if (!fill || !red || red->outer || !worthBlockReduction(*red) ||
          !fill.getValue().getDefiningOp<arith::ConstantOp>() ||
          fill.getMemRef() != red->accStore.getMemRef() ||
          fill.getIndices() != red->accStore.getIndices())
        continue;
      bool adjacent = true; // nothing in between may touch memory
      for (Operation *op = fill->getNextNode(); op && op != roots[i + 1];
           op = op->getNextNode())
        adjacent &= isMemoryEffectFree(op);
      if (!adjacent || fill->getBlock() != roots[i + 1]->getBlock())
        continue;
      initOf[roots[i + 1]] = fill.getValue();
      fill->erase();
      roots.erase(roots.begin() + i);
      --i;
    }
    for (Operation *root : roots) {
      if (std::optional<ReductionLoop> red = matchReduction(root)) {
        if (worthBlockReduction(*red)) {
          buildBlockReduction(*red, initOf.lookup(root));
          continue;
        }
        keepAccumulatorInRegister(*red);
      }
      OpBuilder b(root);
      Location loc = root->getLoc();
      if (auto par = dyn_cast<scf::ParallelOp>(root)) {
        if (!par.getInitVals().empty()) {
          par.emitError("lq-gpu-parallelize-loops: scf.parallel with "
                        "reductions is not supported");
          return signalPassFailure();
        }
        // Trip counts n_k = ceil((ub - lb) / step), total = prod n_k.
        SmallVector<Value> counts;
        std::optional<int64_t> staticTotal = 1;
        for (auto [lb, ub, st] : llvm::zip(par.getLowerBound(),
                                           par.getUpperBound(), par.getStep())) {
          Value n = arith::CeilDivUIOp::create(
              b, loc, arith::SubIOp::create(b, loc, ub, lb), st);
          counts.push_back(n);
          auto clb = getConstantIntValue(lb), cub = getConstantIntValue(ub),
               cst = getConstantIntValue(st);
          if (staticTotal && clb && cub && cst && *cst > 0)
            *staticTotal *= std::max<int64_t>(0, (*cub - *clb + *cst - 1) / *cst);
          else
            staticTotal.reset();
        }
        Value total = counts[0];
        for (Value n : ArrayRef(counts).drop_front())
          total = arith::MulIOp::create(b, loc, total, n);
        buildNest(b, loc, total, staticTotal,
                  [&](OpBuilder &b, Location loc, Value lin) {
                    IRMapping map;
                    // Row-major delinearization, last dimension fastest.
                    Value rest = lin;
                    for (int64_t k = counts.size() - 1; k >= 0; --k) {
                      Value idx = k == 0 ? rest
                                         : arith::RemUIOp::create(b, loc, rest,
                                                                  counts[k]);
                      if (k > 0)
                        rest = arith::DivUIOp::create(b, loc, rest, counts[k]);
                      Value iv = arith::AddIOp::create(
                          b, loc, par.getLowerBound()[k],
                          arith::MulIOp::create(b, loc, idx, par.getStep()[k]));
                      map.map(par.getInductionVars()[k], iv);
                    }
                    cloneBody(b, *par.getBody(), map);
                  });
      } else {
        // One thread runs the op as it is.
        Value one = arith::ConstantIndexOp::create(b, loc, 1);
        buildNest(b, loc, one, 1, [&](OpBuilder &b, Location, Value) {
          b.clone(*root);
        });
      }
      if (root->getNumResults() && !root->use_empty()) {
        root->emitError("lq-gpu-parallelize-loops: a loop with results "
                        "cannot move to the device");
        return signalPassFailure();
      }
      root->erase();
    }
  }
};

//===----------------------------------------------------------------------===//
// Device buffers
//===----------------------------------------------------------------------===//

/// Marks the waits after which the host reads what a step wrote (a copy to
/// a host buffer): stream-ordered mode keeps those and drops the others.
constexpr StringLiteral kHostWaitAttr = "lq.host_wait";

/// Emits `op` on its own stream and waits for it: %t = gpu.wait async;
/// op async [%t]; gpu.wait [%op_token]. `hostReads`: the host reads the
/// step's result after the wait.
template <typename Fn>
Operation *synchronously(OpBuilder &b, Location loc, Fn &&make,
                         bool hostReads = false) {
  auto tokenTy = gpu::AsyncTokenType::get(b.getContext());
  Value t = gpu::WaitOp::create(b, loc, tokenTy, ValueRange{}).getAsyncToken();
  Operation *op = make(tokenTy, t);
  auto wait =
      gpu::WaitOp::create(b, loc, Type(), ValueRange{op->getResults().back()});
  if (hostReads)
    wait->setAttr(kHostWaitAttr, b.getUnitAttr());
  return op;
}

Value deviceAlloc(OpBuilder &b, Location loc, MemRefType type,
                  ValueRange dynSizes = {}) {
  auto *op = synchronously(b, loc, [&](Type tokTy, Value t) {
    return gpu::AllocOp::create(b, loc, type, tokTy, ValueRange{t}, dynSizes,
                                ValueRange{}, false)
        .getOperation();
  });
  return op->getResult(0);
}

void deviceCopy(OpBuilder &b, Location loc, Value dst, Value src,
                bool hostReads = false) {
  synchronously(
      b, loc,
      [&](Type tokTy, Value t) {
        return gpu::MemcpyOp::create(b, loc, tokTy, ValueRange{t}, dst, src)
            .getOperation();
      },
      hostReads);
}

void deviceFree(OpBuilder &b, Location loc, Value buf) {
  synchronously(b, loc, [&](Type tokTy, Value t) {
    return gpu::DeallocOp::create(b, loc, tokTy, ValueRange{t}, buf)
        .getOperation();
  });
}

/// Dynamic sizes of `v` for an allocation of its type.
SmallVector<Value> dynamicSizes(OpBuilder &b, Location loc, Value v) {
  SmallVector<Value> sizes;
  auto t = cast<MemRefType>(v.getType());
  for (int64_t i = 0; i < t.getRank(); ++i)
    if (t.isDynamicDim(i))
      sizes.push_back(memref::DimOp::create(b, loc, v, i));
  return sizes;
}

bool isContiguous(MemRefType t) {
  return t.getLayout().isIdentity() ||
         memref::isStaticShapeAndContiguousRowMajor(t);
}

/// Host reads of device buffers up to this size copy the buffer back.
constexpr int64_t kMaxHostReadElements = 64;
/// Marks the loads lq-gpu-device-buffers made from host copies.
constexpr StringLiteral kHostAttr = "lq.host_read";

/// The runtime function that returns a constant's device copy.
constexpr StringLiteral kResidentFn = "lq_rt_cuda_resident";

Value deviceMemRef(OpBuilder &b, Location loc, Value dev, MemRefType t);

/// Marks the host-side slots of residentConstant and kvShadow, which stay
/// on the host (not constants to copy to the device).
constexpr StringLiteral kHostSlotAttr = "lq.host_slot";

/// The aligned pointer of buffer `m` as an i64.
Value addressOf(OpBuilder &b, Location loc, Value m) {
  Value idx = memref::ExtractAlignedPointerAsIndexOp::create(b, loc, m);
  return arith::IndexCastOp::create(b, loc, b.getI64Type(), idx);
}

/// The address of the module's zero-initialized i64[n] global `name` (made
/// on first use): per-model state a runtime function keeps for the model.
Value slotAddress(OpBuilder &b, Location loc, ModuleOp module, StringRef name,
                  int64_t n) {
  auto i64 = b.getI64Type();
  auto slotTy = MemRefType::get({n}, i64);
  if (!module.lookupSymbol(name)) {
    OpBuilder mb = OpBuilder::atBlockBegin(module.getBody());
    auto init = DenseElementsAttr::get(RankedTensorType::get({n}, i64),
                                       b.getI64IntegerAttr(0).getValue());
    memref::GlobalOp::create(mb, loc, name, mb.getStringAttr("private"),
                             slotTy, init, /*constant=*/false,
                             /*alignment=*/IntegerAttr());
  }
  auto slot = memref::GetGlobalOp::create(b, loc, slotTy, name);
  slot->setAttr(kHostSlotAttr, b.getUnitAttr());
  return addressOf(b, loc, slot);
}

/// The module's private declaration of lq_rt_cuda's `name` (made on first
/// use), called through its C wrapper.
func::FuncOp runtimeFn(OpBuilder &b, Location loc, ModuleOp module,
                       StringRef name, FunctionType type) {
  if (auto fn = module.lookupSymbol<func::FuncOp>(name))
    return fn;
  OpBuilder mb = OpBuilder::atBlockBegin(module.getBody());
  auto fn = func::FuncOp::create(mb, loc, name, type);
  fn.setPrivate();
  fn->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(), b.getUnitAttr());
  return fn;
}

/// Weights stay on the device across calls. For the host global @g this
/// emits
///   %dev = lq_rt_cuda_resident(&@g__lq_device, &@g, bytes)
/// where @g__lq_device is a zero-initialized i64 slot of the compiled module:
/// the first call copies @g to the device and stores the pointer there, later
/// calls return it (src/cuda/mlir_abi.cpp). The slot lives in the model's own
/// data segment, so a model loaded again (or another model at the same
/// address) starts from zero and can never see a stale copy. The pointer
/// becomes an identity-layout memref through an LLVM descriptor; the
/// unrealized cast disappears when the host code is converted to LLVM.
FailureOr<Value> residentConstant(OpBuilder &b, memref::GetGlobalOp g) {
  Location loc = g.getLoc();
  auto module = g->getParentOfType<ModuleOp>();
  MemRefType t = g.getType();
  Type elt = t.getElementType();
  int64_t eltBytes = 0;
  if (elt.isIndex())
    eltBytes = 8;
  else if (elt.isIntOrFloat())
    eltBytes = (elt.getIntOrFloatBitWidth() + 7) / 8;
  if (!eltBytes || !t.hasStaticShape())
    return g.emitError("lq-gpu-device-buffers: constant of type ")
           << t << " has no device copy (static int or float elements only)";

  auto i64 = b.getI64Type();
  func::FuncOp fn = runtimeFn(b, loc, module, kResidentFn,
                              b.getFunctionType({i64, i64, i64}, {i64}));
  Value slot =
      slotAddress(b, loc, module, (g.getName() + "__lq_device").str(), 1);
  Value bytes = arith::ConstantOp::create(
      b, loc, b.getI64IntegerAttr(t.getNumElements() * eltBytes));
  Value dev = func::CallOp::create(
                  b, loc, fn,
                  ValueRange{slot, addressOf(b, loc, g.getResult()), bytes})
                  .getResult(0);

  return deviceMemRef(b, loc, dev, t);
}

/// The device pointer `dev` (i64) as an identity-layout memref of `t`'s
/// static shape: an LLVM descriptor {ptr, ptr, 0, sizes, strides} behind an
/// unrealized cast, which disappears when the host code becomes LLVM.
Value deviceMemRef(OpBuilder &b, Location loc, Value dev, MemRefType t) {
  MLIRContext *ctx = b.getContext();
  auto i64 = b.getI64Type();
  auto ptrTy = LLVM::LLVMPointerType::get(ctx);
  Type elt = t.getElementType();
  const int64_t rank = t.getRank();
  SmallVector<Type> fields{ptrTy, ptrTy, i64};
  if (rank > 0) {
    fields.push_back(LLVM::LLVMArrayType::get(i64, rank));
    fields.push_back(LLVM::LLVMArrayType::get(i64, rank));
  }
  auto descTy = LLVM::LLVMStructType::getLiteral(ctx, fields);
  Value p = LLVM::IntToPtrOp::create(b, loc, ptrTy, dev);
  auto cst = [&](int64_t v) -> Value {
    return LLVM::ConstantOp::create(b, loc, i64, b.getI64IntegerAttr(v));
  };
  Value desc = LLVM::PoisonOp::create(b, loc, descTy);
  desc = LLVM::InsertValueOp::create(b, loc, desc, p, ArrayRef<int64_t>{0});
  desc = LLVM::InsertValueOp::create(b, loc, desc, p, ArrayRef<int64_t>{1});
  desc = LLVM::InsertValueOp::create(b, loc, desc, cst(0), ArrayRef<int64_t>{2});
  int64_t stride = 1;
  for (int64_t i = rank - 1; i >= 0; --i) {
    desc = LLVM::InsertValueOp::create(b, loc, desc, cst(t.getDimSize(i)),
                                       ArrayRef<int64_t>{3, i});
    desc = LLVM::InsertValueOp::create(b, loc, desc, cst(stride),
                                       ArrayRef<int64_t>{4, i});
    stride *= t.getDimSize(i);
  }
  MemRefType dt = MemRefType::get(t.getShape(), elt);
  return UnrealizedConversionCastOp::create(b, loc, TypeRange{dt},
                                            ValueRange{desc})
      .getResult(0);
}

/// The runtime function that keeps a KV cache on the device.
constexpr StringLiteral kKvShadowFn = "lq_rt_cuda_kv_shadow";

/// device-kv-caches: the device buffer that is the in-place cache `arg`,
///   %dev = lq_rt_cuda_kv_shadow(&@<f>__lq_kv<i>, &arg, bytes, refresh)
/// with a zero-initialized {host, device, bytes} slot per cache argument;
/// the runtime uploads the host buffer when the slot sees a new one or
/// `refresh` (i32) is set, and never copies the cache back.
FailureOr<Value> kvShadow(OpBuilder &b, Location loc, func::FuncOp f,
                          BlockArgument arg, Value refresh) {
  auto module = f->getParentOfType<ModuleOp>();
  auto t = cast<MemRefType>(arg.getType());
  Type elt = t.getElementType();
  if (!t.hasStaticShape() || !elt.isIntOrFloat() ||
      !(t.getLayout().isIdentity()))
    return f.emitError("lq-gpu-device-buffers: device-kv-caches needs cache "
                       "argument ")
           << arg.getArgNumber() << " to be a static, identity-layout int or "
           << "float buffer, not " << t;
  auto i64 = b.getI64Type();
  func::FuncOp fn =
      runtimeFn(b, loc, module, kKvShadowFn,
                b.getFunctionType({i64, i64, i64, b.getI32Type()}, {i64}));
  const int64_t eltBytes = (elt.getIntOrFloatBitWidth() + 7) / 8;
  Value slot = slotAddress(
      b, loc, module,
      (f.getName() + "__lq_kv" + Twine(arg.getArgNumber())).str(), 3);
  Value bytes = arith::ConstantOp::create(
      b, loc, b.getI64IntegerAttr(t.getNumElements() * eltBytes));
  // The caller's buffer starts at its aligned pointer plus the offset.
  Value offset = arith::IndexCastOp::create(
      b, loc, i64,
      memref::ExtractStridedMetadataOp::create(b, loc, arg).getOffset());
  Value host = arith::AddIOp::create(
      b, loc, addressOf(b, loc, arg),
      arith::MulIOp::create(
          b, loc, offset,
          arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(eltBytes))));
  Value dev = func::CallOp::create(b, loc, fn,
                                   ValueRange{slot, host, bytes, refresh})
                  .getResult(0);
  return deviceMemRef(b, loc, dev, t);
}

/// The public function's `position` argument (static-kv-cache's
/// `onnx.name = "position"`), read on the host at the entry; null if none.
Value readPosition(OpBuilder &b, Location loc, func::FuncOp f) {
  for (BlockArgument a : f.getArguments()) {
    auto name = f.getArgAttrOfType<StringAttr>(a.getArgNumber(), "onnx.name");
    auto t = dyn_cast<MemRefType>(a.getType());
    if (!name || name.getValue() != "position" || !t || !t.hasStaticShape() ||
        t.getNumElements() != 1 || !t.getElementType().isSignlessInteger())
      continue;
    SmallVector<Value> zeros(t.getRank(),
                             arith::ConstantIndexOp::create(b, loc, 0));
    auto load = memref::LoadOp::create(b, loc, a, zeros);
    load->setAttr(kHostAttr, b.getUnitAttr());
    return load;
  }
  return nullptr;
}

/// `launch` made asynchronous: the same launch, after `dep`, returning a
/// token. Launches with cluster sizes stay as they are (null).
gpu::LaunchOp asyncLaunch(gpu::LaunchOp launch, Value dep) {
  if (launch.hasClusterSize() || !launch.getWorkgroupAttributions().empty() ||
      !launch.getPrivateAttributions().empty())
    return nullptr;
  OpBuilder b(launch);
  gpu::KernelDim3 grid = launch.getGridSizeOperandValues(),
                  block = launch.getBlockSizeOperandValues();
  auto async = gpu::LaunchOp::create(
      b, launch.getLoc(), grid.x, grid.y, grid.z, block.x, block.y, block.z,
      launch.getDynamicSharedMemorySize(),
      gpu::AsyncTokenType::get(b.getContext()), ValueRange{dep});
  async.getBody().takeBody(launch.getBody());
  if (auto m = launch.getModuleAttr())
    async.setModuleAttr(m);
  if (auto f = launch.getFunctionAttr())
    async.setFunctionAttr(f);
  launch.erase();
  return async;
}

/// Stream-ordered mode: the device steps directly in `entry` (each emitted
/// as `%t = gpu.wait async; step async [%t]; gpu.wait [%step]`, launches
/// without a token) become one chain in program order,
///   %t0 = gpu.wait async
///   %t1 = gpu.alloc async [%t0] ...   %t2 = gpu.launch async [%t1] ...
///   %t3 = gpu.memcpy async [%t2] %host, %dev   gpu.wait [%t3]  (host reads)
/// so nothing waits except before the host reads a copy; a chain restarts
/// after such a wait. lq_rt_cuda's kernels run on the stream the chain's
/// `gpu.wait async` returns (mgpuStreamCreate: the default stream), so
/// calls between steps are ordered with them. Steps inside nested regions
/// keep their own wait.
LogicalResult chainSteps(Block &entry) {
  Value cur;
  auto tokenTy = gpu::AsyncTokenType::get(entry.getParentOp()->getContext());
  for (Operation &op : llvm::make_early_inc_range(entry)) {
    if (auto w = dyn_cast<gpu::WaitOp>(op)) {
      if (w.getAsyncToken() && w.getAsyncDependencies().empty()) {
        if (cur) { // continue the chain instead of a fresh stream
          w.getAsyncToken().replaceAllUsesWith(cur);
          w.erase();
        }
        continue;
      }
      if (!w.getAsyncToken()) {
        if (w->hasAttr(kHostWaitAttr))
          cur = nullptr; // the host waits here; the next step starts anew
        else
          w.erase();
        continue;
      }
    }
    if (auto launch = dyn_cast<gpu::LaunchOp>(op)) {
      if (launch.getAsyncToken())
        continue;
      OpBuilder b(launch);
      Value dep = cur ? cur
                      : gpu::WaitOp::create(b, launch.getLoc(), tokenTy,
                                            ValueRange{})
                            .getAsyncToken();
      gpu::LaunchOp async = asyncLaunch(launch, dep);
      if (!async) {
        if (!cur)
          dep.getDefiningOp()->erase();
        continue;
      }
      cur = async.getAsyncToken();
      continue;
    }
    if (auto a = dyn_cast<gpu::AsyncOpInterface>(op))
      if (Value t = a.getAsyncToken())
        cur = t;
  }
  return success();
}

struct GpuDeviceBuffersPass
    : lq::impl::GpuDeviceBuffersPassBase<GpuDeviceBuffersPass> {
  using Base::Base;

  LogicalResult runOnFunction(func::FuncOp f, LLVM::LLVMFuncOp streamSync) {
    Block &entry = f.front();
    Location floc = f.getLoc();
    // Buffers this function allocates for its whole body, freed at returns.
    SmallVector<Value> scoped;
    // In-place arguments and their device copies, copied back at returns.
    SmallVector<std::pair<Value, Value>> copiedBack;

    // Replaces the uses `v` had before the copy was built by `use`.
    auto redirect = [](SmallVector<OpOperand *> &uses, Value use) {
      for (OpOperand *o : uses)
        o->set(use);
    };
    auto usesOf = [](Value v) {
      SmallVector<OpOperand *> uses;
      for (OpOperand &o : v.getUses())
        uses.push_back(&o);
      return uses;
    };

    // Inputs (public functions: the caller passes host buffers).
    if (f.isPublic()) {
      OpBuilder b = OpBuilder::atBlockBegin(&entry);
      Value refresh; // device-kv-caches: upload the caches (position 0)
      for (BlockArgument arg : entry.getArguments()) {
        auto t = dyn_cast<MemRefType>(arg.getType());
        if (!t || arg.use_empty())
          continue;
        if (deviceKvCaches &&
            f.getArgAttr(arg.getArgNumber(), "lq.kv_cache_in_place")) {
          if (!refresh) {
            Value pos = readPosition(b, floc, f);
            if (!pos)
              return f.emitError("lq-gpu-device-buffers: device-kv-caches "
                                 "needs the model's 'position' argument");
            Value zero = arith::ConstantOp::create(
                b, floc, b.getIntegerAttr(pos.getType(), 0));
            refresh = arith::ExtUIOp::create(
                b, floc, b.getI32Type(),
                arith::CmpIOp::create(b, floc, arith::CmpIPredicate::eq, pos,
                                      zero));
          }
          SmallVector<OpOperand *> uses = usesOf(arg);
          FailureOr<Value> dev = kvShadow(b, floc, f, arg, refresh);
          if (failed(dev))
            return failure();
          MemRefType dt = MemRefType::get(t.getShape(), t.getElementType());
          redirect(uses,
                   dt == t ? *dev : memref::CastOp::create(b, floc, t, *dev));
          continue;
        }
        if (!isContiguous(t))
          return f.emitError("lq-gpu-device-buffers: argument ")
                 << arg.getArgNumber() << " of type " << t
                 << " is not contiguous";
        // An argument only the host reads (a KV cache's position): its
        // loads read the caller's buffer, no copy to the device and back.
        // Any other argument, which the device may also write (bufferization
        // may update an input in place), is copied and read back as below.
        SmallVector<OpOperand *> uses = usesOf(arg);
        if (llvm::all_of(uses, [](OpOperand *o) {
              return isa<memref::LoadOp>(o->getOwner()) &&
                     !o->getOwner()->getParentOfType<gpu::LaunchOp>();
            })) {
          for (OpOperand *o : uses)
            o->getOwner()->setAttr(kHostAttr, b.getUnitAttr());
          continue;
        }
        MemRefType dt = MemRefType::get(t.getShape(), t.getElementType());
        Value d = deviceAlloc(b, floc, dt, dynamicSizes(b, floc, arg));
        deviceCopy(b, floc, d, arg);
        scoped.push_back(d);
        // A cache the function updates in place goes back to the caller's
        // buffer at every return (device-kv-caches keeps it on the device).
        if (f.getArgAttr(arg.getArgNumber(), "lq.kv_cache_in_place"))
          copiedBack.push_back({arg, d});
        redirect(uses, dt == t ? d : memref::CastOp::create(b, floc, t, d));
      }
    }

    // Constants: the device copy of each global, made once (see
    // residentConstant), at the function's entry; with
    // resident-constants=false, copied at every call.
    llvm::MapVector<StringAttr, Value> globals;
    SmallVector<memref::GetGlobalOp> gets;
    f.walk([&](memref::GetGlobalOp g) {
      if (!g->hasAttr(kHostSlotAttr))
        gets.push_back(g);
    });
    for (memref::GetGlobalOp g : gets) {
      Value &dev = globals[g.getNameAttr().getAttr()];
      SmallVector<OpOperand *> uses = usesOf(g.getResult());
      auto t = g.getType();
      MemRefType dt = MemRefType::get(t.getShape(), t.getElementType());
      if (!dev) {
        // The host get_global moves to the entry, followed by the lookup.
        g->moveBefore(&entry, entry.begin());
        OpBuilder b(g->getContext());
        b.setInsertionPointAfter(g);
        if (residentConstants) {
          FailureOr<Value> d = residentConstant(b, g);
          if (failed(d))
            return failure();
          dev = *d;
        } else {
          // The baseline: a fresh device copy per call, freed at returns.
          dev = deviceAlloc(b, floc, dt);
          deviceCopy(b, floc, dev, g.getResult());
          scoped.push_back(dev);
        }
        redirect(uses, dt == t ? dev : memref::CastOp::create(b, floc, t, dev));
      } else {
        OpBuilder b(g);
        redirect(uses, dt == t ? dev : memref::CastOp::create(b, floc, t, dev));
        g->erase();
      }
    }

    // Allocations, copies, deallocations.
    SmallVector<Operation *> work;
    f.walk([&](Operation *op) {
      if (op->getParentOfType<gpu::LaunchOp>())
        return;
      if (isa<memref::AllocOp, memref::DeallocOp, memref::CopyOp>(op))
        work.push_back(op);
    });
    for (Operation *op : work) {
      OpBuilder b(op);
      Location loc = op->getLoc();
      if (auto a = dyn_cast<memref::AllocOp>(op)) {
        Value d = deviceAlloc(b, loc, a.getType(), a.getDynamicSizes());
        a.getResult().replaceAllUsesWith(d);
      } else if (auto d = dyn_cast<memref::DeallocOp>(op)) {
        deviceFree(b, loc, d.getMemref());
      } else {
        auto c = cast<memref::CopyOp>(op);
        auto st = cast<MemRefType>(c.getSource().getType());
        auto dt = cast<MemRefType>(c.getTarget().getType());
        if (!isContiguous(st) || !isContiguous(dt))
          return c.emitError("lq-gpu-device-buffers: strided memref.copy "
                             "(lq-expand-strided-copies runs first)");
        deviceCopy(b, loc, c.getTarget(), c.getSource());
      }
      op->erase();
    }

    // Scalars the host itself reads (a KV cache's position passed to
    // lq_rt_cuda_attention_at_f32): the small buffer is copied back to a
    // host buffer and read there.
    SmallVector<memref::LoadOp> hostLoads;
    f.walk([&](memref::LoadOp load) {
      if (!load->getParentOfType<gpu::LaunchOp>())
        hostLoads.push_back(load);
    });
    for (memref::LoadOp load : hostLoads) {
      if (load->hasAttr(kHostAttr))
        continue; // an argument's host read (above)
      MemRefType t = load.getMemRefType();
      if (!t.hasStaticShape() || !t.getLayout().isIdentity() ||
          t.getNumElements() > kMaxHostReadElements)
        continue; // reported below
      OpBuilder b(load);
      Location loc = load.getLoc();
      Value host = memref::AllocOp::create(b, loc, t);
      deviceCopy(b, loc, host, load.getMemref(), /*hostReads=*/true);
      auto read = memref::LoadOp::create(b, loc, host, load.getIndices());
      read->setAttr(kHostAttr, b.getUnitAttr());
      memref::DeallocOp::create(b, loc, host);
      load.getResult().replaceAllUsesWith(read.getResult());
      load.erase();
    }

    // Runtime kernels run on the default stream: wait for them (unless
    // every step is ordered on that stream).
    f.walk([&](func::CallOp call) {
      if (streamOrdered)
        return;
      if (!call.getCallee().starts_with("lq_rt_cuda_") ||
          call.getCallee() == kResidentFn || call.getCallee() == kKvShadowFn)
        return;
      OpBuilder b(call->getContext());
      b.setInsertionPointAfter(call);
      Value null = LLVM::ZeroOp::create(b, call.getLoc(),
                                        LLVM::LLVMPointerType::get(b.getContext()));
      LLVM::CallOp::create(b, call.getLoc(), streamSync, ValueRange{null});
    });

    // Returns: results back to the host (public functions), then free the
    // function-scoped device buffers.
    SmallVector<func::ReturnOp> returns;
    f.walk([&](func::ReturnOp r) { returns.push_back(r); });
    for (func::ReturnOp r : returns) {
      OpBuilder b(r);
      Location loc = r.getLoc();
      if (f.isPublic()) {
        llvm::SmallDenseMap<Value, Value> copied;
        for (OpOperand &o : r->getOpOperands()) {
          auto t = dyn_cast<MemRefType>(o.get().getType());
          if (!t)
            continue;
          Value &h = copied[o.get()];
          if (!h) {
            if (!isContiguous(t))
              return r.emitError("lq-gpu-device-buffers: result ")
                     << o.getOperandNumber() << " of type " << t
                     << " is not contiguous";
            MemRefType ht = MemRefType::get(t.getShape(), t.getElementType());
            h = memref::AllocOp::create(b, loc, ht,
                                        dynamicSizes(b, loc, o.get()));
            deviceCopy(b, loc, h, o.get(), /*hostReads=*/true);
            // Results are owned by the function (the deallocation pipeline
            // clones anything else), so the device buffer is freed here.
            deviceFree(b, loc, o.get());
            if (ht != t)
              h = memref::CastOp::create(b, loc, t, h);
          }
          o.set(h);
        }
      }
      for (auto [host, dev] : copiedBack)
        deviceCopy(b, loc, host, dev, /*hostReads=*/true);
      for (Value d : scoped)
        deviceFree(b, loc, d);
    }
    // Consumed here (LLVM translation would warn on it).
    for (unsigned i = 0; i < f.getNumArguments(); ++i)
      f.removeArgAttr(i, "lq.kv_cache_in_place");
    if (streamOrdered)
      return chainSteps(entry);
    return success();
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    OpBuilder mb = OpBuilder::atBlockEnd(module.getBody());
    auto ptrTy = LLVM::LLVMPointerType::get(&getContext());
    auto streamSync =
        module.lookupSymbol<LLVM::LLVMFuncOp>("mgpuStreamSynchronize");
    if (!streamSync)
      streamSync = LLVM::LLVMFuncOp::create(
          mb, module.getLoc(), "mgpuStreamSynchronize",
          LLVM::LLVMFunctionType::get(LLVM::LLVMVoidType::get(&getContext()),
                                      {ptrTy}));
    for (auto f : llvm::to_vector(module.getOps<func::FuncOp>())) {
      if (f.isExternal())
        continue;
      if (failed(runOnFunction(f, streamSync)))
        return signalPassFailure();
    }
    // Nothing on the host may touch a buffer any more.
    bool failed = false;
    module.walk([&](Operation *op) {
      if (op->getParentOfType<gpu::LaunchOp>() ||
          op->getParentOfType<gpu::GPUModuleOp>())
        return;
      op->removeAttr(kHostWaitAttr);
      op->removeAttr(kHostSlotAttr);
      if (op->hasAttr(kHostAttr)) {
        op->removeAttr(kHostAttr);
        return;
      }
      if (isa<memref::LoadOp, memref::StoreOp, memref::CopyOp, memref::AllocaOp,
              affine::AffineLoadOp, affine::AffineStoreOp, linalg::LinalgOp>(
              op)) {
        op->emitError("lq-gpu-device-buffers: host code would access device "
                      "memory here ('")
            << op->getName() << "' outside gpu.launch)";
        failed = true;
      }
      if (auto call = dyn_cast<func::CallOp>(op)) {
        auto callee = module.lookupSymbol<func::FuncOp>(call.getCallee());
        if (callee && callee.isExternal() &&
            !call.getCallee().starts_with("lq_rt_cuda_") &&
            llvm::any_of(call.getOperandTypes(),
                         [](Type t) { return isa<MemRefType>(t); })) {
          call.emitError("lq-gpu-device-buffers: '")
              << call.getCallee()
              << "' is a host function but its buffers are on the device";
          failed = true;
        }
      }
    });
    if (failed)
      signalPassFailure();
  }
};

} // namespace

//===----------------------------------------------------------------------===//
// Pipeline
//===----------------------------------------------------------------------===//

std::string lq::cudaToolkitPath(StringRef given) {
  if (!given.empty())
    return given.str();
  for (const char *var : {"CUDA_HOME", "CUDA_PATH", "CUDA_ROOT"})
    if (const char *v = std::getenv(var); v && *v)
      return v;
  return "/usr/local/cuda";
}

std::string lq::cudaDefaultFeatures(StringRef chip) {
  const Chip *c = findChip(chip);
  return "+ptx" + std::to_string(c ? c->minPtx : 80);
}

void lq::buildLowerToCudaPipeline(OpPassManager &pm,
                                  const LowerToCudaOptions &options) {
  std::string features = options.features.empty()
                             ? cudaDefaultFeatures(options.chip)
                             : std::string(options.features);
  {
    CheckCudaTargetPassOptions check;
    check.chip = options.chip;
    check.features = options.features;
    pm.addPass(lq::createCheckCudaTargetPass(check));
  }
  if (options.runtimeKernels) {
    ConvertLQToRuntimePassOptions rt;
    rt.prefix = "lq_rt_cuda_";
    pm.addPass(lq::createConvertLQToRuntimePass(rt));
  }
  pm.addPass(lq::createConvertLQToLinalgPass());
  pm.addNestedPass<func::FuncOp>(lq::createFoldReshapeTransposesPass());
  // Elementwise producers fused into their consumers: one kernel instead of
  // one per op (SwiGLU's silu(gate) * up, residual adds after norms).
  pm.addPass(createLinalgElementwiseOpFusionPass());
  pm.addPass(createCanonicalizerPass());
  lq::addBufferizationPasses(pm);

  // Loops, shaped for the GPU, then kernels.
  {
    // Element copies, which the next passes map to GPU threads.
    ExpandStridedCopiesPassOptions copies;
    copies.denseBlocks = false;
    pm.addPass(lq::createExpandStridedCopiesPass(copies));
  }
  pm.addNestedPass<func::FuncOp>(createConvertLinalgToParallelLoopsPass());
  pm.addPass(createCanonicalizerPass());
  {
    GpuParallelizeLoopsPassOptions par;
    par.blockSize = options.blockSize;
    pm.addNestedPass<func::FuncOp>(lq::createGpuParallelizeLoopsPass(par));
  }
  pm.addNestedPass<func::FuncOp>(createGpuMapParallelLoopsPass());
  pm.addNestedPass<func::FuncOp>(createConvertParallelLoopToGpuPass());
  {
    GpuDeviceBuffersPassOptions buffers;
    buffers.residentConstants = options.residentWeights;
    buffers.streamOrdered = options.streamOrdered;
    buffers.deviceKvCaches = options.deviceKvCaches;
    pm.addPass(lq::createGpuDeviceBuffersPass(buffers));
  }
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createGpuKernelOutliningPass());

  // Device code: NVVM, then a binary.
  GpuNVVMAttachTargetOptions target;
  target.chip = options.chip;
  target.features = features;
  target.optLevel = options.optLevel;
  pm.addPass(createGpuNVVMAttachTarget(target));
  pm.addPass(createSCFToControlFlowPass());
  OpPassManager &dev = pm.nest<gpu::GPUModuleOp>();
  dev.addPass(createConvertGpuOpsToNVVMOps());
  dev.addPass(createCanonicalizerPass());
  dev.addPass(createReconcileUnrealizedCastsPass());

  // Host code.
  if (options.cWrappers)
    pm.addNestedPass<func::FuncOp>(LLVM::createLLVMRequestCWrappersPass());
  pm.addPass(createGpuToLLVMConversionPass());
  pm.addPass(createConvertToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  GpuModuleToBinaryPassOptions binary;
  binary.compilationTarget = options.format;
  // Explicit, so libdevice (expf, rsqrtf, erff: __nv_* calls) is linked even
  // when the environment names no toolkit; without it the PTX would call
  // undefined functions.
  binary.toolkitPath = cudaToolkitPath(options.toolkit);
  pm.addPass(createGpuModuleToBinaryPass(binary));
  pm.addPass(lq::createVerifyLoweredPass());
}

void lq::registerLowerToCuda() {
  ::mlir::registerPass([] { return lq::createCheckCudaTargetPass(); });
  ::mlir::registerPass([] { return lq::createGpuParallelizeLoopsPass(); });
  ::mlir::registerPass([] { return lq::createGpuDeviceBuffersPass(); });
  PassPipelineRegistration<LowerToCudaOptions>(
      "lower-to-cuda",
      "Lower lq IR on tensors to host LLVM dialect and gpu.binary device code "
      "for an NVIDIA GPU",
      buildLowerToCudaPipeline);
}
