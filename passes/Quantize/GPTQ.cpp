//===- GPTQ.cpp - Hessian-aware weight quantization -----------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// GPTQ (Frantar et al., arXiv:2210.17323) quantizes a linear's weight W
// ([N, K], rows are outputs) one input column at a time and spreads each
// column's rounding error over the columns not yet quantized, minimizing
// ||W X - Q X||² for the calibration inputs X. With H = XᵀX (+ λI, λ = damp ·
// mean diag H) and U the upper Cholesky factor of H⁻¹:
//
//   for column i:  q_i = quant(w_i);  e = (w_i - q_i) / U_ii
//                  w_j -= e · U_ij   for j > i
//
// applied lazily in blocks of `block` columns (the "lazy batch" update) so
// the trailing update is one matrix product per block. Group scales come
// from the (already error-corrected) weights when the group's first column
// is reached; with `act-order` columns are visited by decreasing H_ii and
// group scales are fixed from the original weights up front ("static
// groups", so no column permutation survives into the format).
// The Hessian is the `lq.hessian` attribute written by --calibrate.
//
// Speed (K³ work, in float32 by default as GPTQ's reference implementation
// does, or float64 with `precision=f64`; the small unblocked diagonal
// factorizations always sum in float64): U comes from ONE Cholesky and ONE triangular
// inverse: with J the reversal permutation and J H J = L Lᵀ, H = R Rᵀ for the
// upper R = J L J, so H⁻¹ = R⁻ᵀ R⁻¹ and U = R⁻¹ = J L⁻¹ J (unique, as the
// diagonal is positive). Cholesky is right-looking blocked (the trailing
// update is a GEMM), the inverse is blocked by rows of blocks (each off-
// diagonal block one GEMM), and the lazy batch update is a GEMM; the GEMM is a
// register-tiled kernel (AVX-512 / AVX2+FMA when the CPU has them)
// run on MLIR's thread pool. Inside a block, rows are independent and are
// split across threads too.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"
#include "passes/Quantize/WeightQuantizer.h"

#include "dialects/LQ/IR/LQOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/Threading.h"

#include <lq_rt/formats.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cmath>
#include <numeric>

namespace mlir::lq {
#define GEN_PASS_DEF_GPTQPASS
#include "passes/Passes.h.inc"
} // namespace mlir::lq

using namespace mlir;

namespace {

//===----------------------------------------------------------------------===//
// GEMM: C[m×n] -= A[m×k] · B[k×n], row-major with leading dimensions, in
// float32 or float64 (T).
//===----------------------------------------------------------------------===//

constexpr int64_t kMR = 6;  // register tile rows
constexpr int64_t kMC = 96; // rows per task

/// One kMR×NR tile (fewer rows/cols at the edges) of C -= A · Bp, Bp a
/// packed k×NR slab. The loops have constant trip counts so the compiler
/// keeps the Rows × NR accumulators in vector registers (NR = two vectors).
template <typename T, int64_t NR, int64_t Rows>
[[gnu::always_inline]] inline void tileKernel(int64_t k, const T *a,
                                              int64_t lda, const T *bp, T *c,
                                              int64_t ldc, int64_t cols) {
  T acc[Rows][NR] = {};
  for (int64_t t = 0; t < k; ++t) {
    const T *bt = bp + t * NR;
#pragma clang loop unroll(full)
    for (int64_t r = 0; r < Rows; ++r) {
      T av = a[r * lda + t];
#pragma clang loop unroll(full)
      for (int64_t j = 0; j < NR; ++j)
        acc[r][j] += av * bt[j];
    }
  }
  for (int64_t r = 0; r < Rows; ++r)
    for (int64_t j = 0; j < cols; ++j)
      c[r * ldc + j] -= acc[r][j];
}

/// Rows [r0, r1) of C -= A · packed B. `lowerOnly`: skip slabs entirely
/// right of the tile's last row (C is a diagonal block: only its lower
/// triangle is wanted; entries just above the diagonal get updated too).
template <typename T, int64_t NR>
[[gnu::always_inline]] inline void
gemmRowsImpl(int64_t r0, int64_t r1, int64_t n, int64_t k, const T *A,
             int64_t lda, const T *Bp, T *C, int64_t ldc, bool lowerOnly) {
  for (int64_t j0 = 0; j0 < n; j0 += NR) {
    const T *slab = Bp + (j0 / NR) * k * NR;
    int64_t cols = std::min(NR, n - j0);
    for (int64_t r = r0; r < r1; r += kMR) {
      int64_t rows = std::min(kMR, r1 - r);
      if (lowerOnly && j0 > r + rows - 1)
        continue;
      const T *a = A + r * lda;
      T *c = C + r * ldc + j0;
      switch (rows) {
      case 6: tileKernel<T, NR, 6>(k, a, lda, slab, c, ldc, cols); break;
      case 5: tileKernel<T, NR, 5>(k, a, lda, slab, c, ldc, cols); break;
      case 4: tileKernel<T, NR, 4>(k, a, lda, slab, c, ldc, cols); break;
      case 3: tileKernel<T, NR, 3>(k, a, lda, slab, c, ldc, cols); break;
      case 2: tileKernel<T, NR, 2>(k, a, lda, slab, c, ldc, cols); break;
      default: tileKernel<T, NR, 1>(k, a, lda, slab, c, ldc, cols); break;
      }
    }
  }
}

template <typename T>
using GemmRowsFn = void (*)(int64_t, int64_t, int64_t, int64_t, const T *,
                            int64_t, const T *, T *, int64_t, bool);

/// A tile width of two vectors of the ISA: 6 × 2 accumulators fit in the
/// register file of AVX-512 (32 zmm) and AVX2 (16 ymm) alike.
template <typename T, int64_t NR>
__attribute__((target("avx512f,avx512vl,avx2,fma"))) void
gemmRowsAvx512(int64_t r0, int64_t r1, int64_t n, int64_t k, const T *A,
               int64_t lda, const T *Bp, T *C, int64_t ldc, bool lowerOnly) {
  gemmRowsImpl<T, NR>(r0, r1, n, k, A, lda, Bp, C, ldc, lowerOnly);
}
template <typename T, int64_t NR>
__attribute__((target("avx2,fma"))) void
gemmRowsAvx2(int64_t r0, int64_t r1, int64_t n, int64_t k, const T *A,
             int64_t lda, const T *Bp, T *C, int64_t ldc, bool lowerOnly) {
  gemmRowsImpl<T, NR>(r0, r1, n, k, A, lda, Bp, C, ldc, lowerOnly);
}
template <typename T, int64_t NR>
void gemmRowsGeneric(int64_t r0, int64_t r1, int64_t n, int64_t k, const T *A,
                     int64_t lda, const T *Bp, T *C, int64_t ldc,
                     bool lowerOnly) {
  gemmRowsImpl<T, NR>(r0, r1, n, k, A, lda, Bp, C, ldc, lowerOnly);
}

/// The kernel for this CPU and its tile width.
template <typename T> struct GemmKernel {
  GemmRowsFn<T> rows;
  int64_t nr;
};

template <typename T> GemmKernel<T> selectGemm() {
  constexpr int64_t zmm = 64 / sizeof(T), ymm = 32 / sizeof(T);
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("fma"))
    return {gemmRowsAvx512<T, 2 * zmm>, 2 * zmm};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return {gemmRowsAvx2<T, 2 * ymm>, 2 * ymm};
  return {gemmRowsGeneric<T, 2 * ymm>, 2 * ymm};
}

/// C[m×n] -= A[m×k] · B[k×n]. B is packed into k×NR slabs, then row blocks
/// of kMC rows run on the context's thread pool when `ctx` is given.
template <typename T>
void gemmSub(MLIRContext *ctx, int64_t m, int64_t n, int64_t k, const T *A,
             int64_t lda, const T *B, int64_t ldb, T *C, int64_t ldc,
             bool lowerOnly = false) {
  if (m <= 0 || n <= 0 || k <= 0)
    return;
  static const GemmKernel<T> gemm = selectGemm<T>();
  const int64_t nr = gemm.nr, slabs = (n + nr - 1) / nr;
  std::vector<T> Bp(slabs * k * nr, T(0));
  auto pack = [&](size_t s) {
    int64_t j0 = int64_t(s) * nr, cols = std::min(nr, n - j0);
    T *dst = &Bp[s * k * nr];
    for (int64_t t = 0; t < k; ++t)
      for (int64_t j = 0; j < cols; ++j)
        dst[t * nr + j] = B[t * ldb + j0 + j];
  };
  int64_t tasks = (m + kMC - 1) / kMC;
  auto run = [&](size_t i) {
    int64_t r0 = int64_t(i) * kMC, r1 = std::min(m, r0 + kMC);
    gemm.rows(r0, r1, n, k, A, lda, Bp.data(), C, ldc, lowerOnly);
  };
  if (ctx && tasks > 1) {
    parallelFor(ctx, 0, slabs, pack);
    parallelFor(ctx, 0, tasks, run);
  } else {
    for (int64_t s = 0; s < slabs; ++s)
      pack(s);
    for (int64_t i = 0; i < tasks; ++i)
      run(i);
  }
}

//===----------------------------------------------------------------------===//
// Cholesky and triangular inverse
//===----------------------------------------------------------------------===//

constexpr int64_t kNB = 128; // block size of the factorizations

/// Unblocked lower Cholesky of the kb×kb block at `a` (leading dim lda).
/// Sums in float64 whatever T: this block's rounding errors seed the rest.
template <typename T> bool choleskyUnblocked(T *a, int64_t lda, int64_t kb) {
  for (int64_t j = 0; j < kb; ++j) {
    double d = a[j * lda + j];
    for (int64_t k = 0; k < j; ++k)
      d -= double(a[j * lda + k]) * a[j * lda + k];
    if (!(d > 0))
      return false;
    d = std::sqrt(d);
    a[j * lda + j] = T(d);
    for (int64_t i = j + 1; i < kb; ++i) {
      double s = a[i * lda + j];
      for (int64_t k = 0; k < j; ++k)
        s -= double(a[i * lda + k]) * a[j * lda + k];
      a[i * lda + j] = T(s / d);
    }
  }
  return true;
}

/// In-place lower Cholesky factor of the SPD matrix `a` ([n, n] row-major),
/// right-looking blocked: factor the diagonal block, solve the panel below
/// it (L21 = A21 L11⁻ᵀ), update the trailing matrix A22 -= L21 L21ᵀ (GEMM).
/// The strict upper triangle is zeroed. Returns false if `a` is not positive
/// definite.
template <typename T>
bool cholesky(MLIRContext *ctx, std::vector<T> &a, int64_t n) {
  std::vector<T> panelT;
  for (int64_t k0 = 0; k0 < n; k0 += kNB) {
    int64_t kb = std::min(kNB, n - k0), r0 = k0 + kb, m = n - r0;
    T *l11 = &a[k0 * n + k0];
    if (!choleskyUnblocked(l11, n, kb))
      return false;
    if (m == 0)
      break;
    // Panel: each row i solves x L11ᵀ = a_i (forward substitution).
    auto solveRows = [&](size_t chunk) {
      int64_t i0 = r0 + int64_t(chunk) * kMC, i1 = std::min(n, i0 + kMC);
      for (int64_t i = i0; i < i1; ++i) {
        T *ai = &a[i * n + k0];
        for (int64_t j = 0; j < kb; ++j) {
          T s = ai[j];
          const T *lj = l11 + j * n;
          for (int64_t t = 0; t < j; ++t)
            s -= ai[t] * lj[t];
          ai[j] = s / lj[j];
        }
      }
    };
    parallelFor(ctx, 0, (m + kMC - 1) / kMC, solveRows);
    // Trailing update A22 -= L21 · L21ᵀ (lower triangle).
    panelT.assign(kb * m, T(0));
    for (int64_t i = 0; i < m; ++i)
      for (int64_t t = 0; t < kb; ++t)
        panelT[t * m + i] = a[(r0 + i) * n + k0 + t];
    gemmSub<T>(ctx, m, m, kb, &a[r0 * n + k0], n, panelT.data(), m,
               &a[r0 * n + r0], n, /*lowerOnly=*/true);
  }
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j)
      a[i * n + j] = 0;
  return true;
}

/// X = L⁻¹ for the lower triangular `l` ([n, n]), blocked: X_ii = L_ii⁻¹ by
/// substitution, then for each block row i and block column j < i,
/// X_ij = -X_ii · Σ_{j<=k<i} L_ik X_kj (the sum one GEMM).
template <typename T>
std::vector<T> lowerInverse(MLIRContext *ctx, const std::vector<T> &l,
                            int64_t n) {
  std::vector<T> x(n * n, T(0));
  int64_t nblocks = (n + kNB - 1) / kNB;
  auto blockStart = [&](int64_t b) { return b * kNB; };
  auto blockSize = [&](int64_t b) { return std::min(kNB, n - b * kNB); };
  // Diagonal blocks (float64 sums, as choleskyUnblocked).
  parallelFor(ctx, 0, nblocks, [&](size_t bi) {
    int64_t o = blockStart(bi), nb = blockSize(bi);
    for (int64_t i = 0; i < nb; ++i) {
      x[(o + i) * n + o + i] = T(1.0 / l[(o + i) * n + o + i]);
      for (int64_t j = 0; j < i; ++j) {
        double s = 0;
        for (int64_t k = j; k < i; ++k)
          s += double(l[(o + i) * n + o + k]) * x[(o + k) * n + o + j];
        x[(o + i) * n + o + j] = T(-s / l[(o + i) * n + o + i]);
      }
    }
  });
  for (int64_t bi = 1; bi < nblocks; ++bi) {
    int64_t i0 = blockStart(bi), ni = blockSize(bi);
    parallelFor(ctx, 0, bi, [&](size_t bj) {
      int64_t j0 = blockStart(bj), nj = blockSize(bj);
      // T = -Σ_k L[i0.., j0..i0) X[j0..i0, j0..]
      std::vector<T> t(ni * nj, T(0));
      gemmSub<T>(nullptr, ni, nj, i0 - j0, &l[i0 * n + j0], n, &x[j0 * n + j0],
                 n, t.data(), nj);
      // X_ij = X_ii · T
      for (int64_t r = 0; r < ni; ++r) {
        T *xr = &x[(i0 + r) * n + j0];
        for (int64_t k = 0; k <= r; ++k) {
          T xv = x[(i0 + r) * n + i0 + k];
          const T *tk = &t[k * nj];
          for (int64_t c = 0; c < nj; ++c)
            xr[c] += xv * tk[c];
        }
      }
    });
  }
  return x;
}

/// Upper Cholesky factor U of H⁻¹ (H⁻¹ = Uᵀ U): U = J L⁻¹ J for the lower
/// Cholesky factor L of J H J (see the file comment). Returns false if `h`
/// is not positive definite.
template <typename T>
bool inverseCholeskyUpper(MLIRContext *ctx, std::vector<T> &h, int64_t n) {
  std::vector<T> r(n * n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      r[i * n + j] = h[(n - 1 - i) * n + (n - 1 - j)];
  if (!cholesky<T>(ctx, r, n))
    return false;
  std::vector<T> x = lowerInverse<T>(ctx, r, n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      h[i * n + j] = x[(n - 1 - i) * n + (n - 1 - j)];
  return true;
}

struct GPTQPass : lq::impl::GPTQPassBase<GPTQPass> {
  using Base::Base;
  double factorSeconds = 0; // time of the last layer's U = chol(H⁻¹)

  void runOnOperation() override {
    func::FuncOp f = getOperation();
    if (damp <= 0 || damp >= 1) {
      f.emitError() << "'damp' must be in (0, 1), got " << damp;
      return signalPassFailure();
    }
    if (precision != "f32" && precision != "f64") {
      f.emitError() << "'precision' must be f32 or f64, got '" << precision
                    << "'";
      return signalPassFailure();
    }
    if (blockSize <= 0) {
      f.emitError() << "'block' must be positive, got " << int64_t(blockSize);
      return signalPassFailure();
    }
    FailureOr<std::vector<llvm::Regex>> keepRe =
        lq::compileKeep(f, llvm::to_vector(keep));
    if (failed(keepRe))
      return signalPassFailure();
    SmallVector<lq::LinearOp> linears;
    f.walk([&](lq::LinearOp op) { linears.push_back(op); });
    bool any = false;
    for (auto [index, op] : llvm::enumerate(linears)) {
      if (onlyIndex >= 0 && int64_t(index) != onlyIndex)
        continue;
      if (lq::feedsReturn(op.getResult()))
        continue; // the output projection: --quantize-weights' lm-head
      if (lq::isKept(op, *keepRe))
        continue; // left in float, as --quantize-weights' keep
      Attribute wAttr;
      SmallVector<float> w;
      if (!matchPattern(op.getWeight(), m_Constant(&wAttr)) ||
          failed(lq::readFloatElements(wAttr, w)))
        continue;
      auto hAttr = op->getAttrOfType<ElementsAttr>("lq.hessian");
      if (!hAttr) {
        op.emitError() << "gptq needs 'lq.hessian' on every linear: run "
                          "--calibrate=\"... hessian=true\" first";
        return signalPassFailure();
      }
      auto wTy = op.getWeight().getType();
      int64_t N = wTy.getDimSize(0), K = wTy.getDimSize(1);
      SmallVector<float> hf;
      if (failed(lq::readFloatElements(hAttr, hf)) ||
          int64_t(hf.size()) != K * K) {
        op.emitError() << "'lq.hessian' must be a [" << K << ", " << K
                       << "] f32 tensor";
        return signalPassFailure();
      }
      FailureOr<lq::SchemeAttr> scheme = lq::weightScheme(
          &getContext(), op.getLoc(), "int", bits, group, sym, K);
      if (failed(scheme))
        return signalPassFailure();
      auto start = std::chrono::steady_clock::now();
      std::clock_t cpuStart = std::clock();
      FailureOr<lq::QuantizedWeight> q = quantize(op, *scheme, w, hf, N, K);
      if (failed(q))
        return signalPassFailure();
      OpBuilder b(op);
      Value deq = lq::buildDequantize(b, op.getWeight().getLoc(), *scheme, *q,
                                      wTy.getElementType());
      Operation *old = op.getWeight().getDefiningOp();
      op.getWeightMutable().assign(deq);
      if (old->use_empty())
        old->erase();
      op->removeAttr("lq.hessian");
      ++numQuantized;
      any = true;
      if (verbose)
        op.emitRemark() << "gptq " << N << "x" << K << " in "
                        << std::chrono::duration<double>(
                               std::chrono::steady_clock::now() - start)
                               .count()
                        << " s (H⁻¹ factor " << factorSeconds
                        << " s; process CPU time "
                        << double(std::clock() - cpuStart) / CLOCKS_PER_SEC
                        << " s)";
    }
    if (!any && !linears.empty())
      f.emitWarning() << "gptq found no constant f32 linear weight to quantize";
  }

  FailureOr<lq::QuantizedWeight> quantize(lq::LinearOp op, lq::SchemeAttr scheme,
                                          ArrayRef<float> wIn, ArrayRef<float> hIn,
                                          int64_t N, int64_t K) {
    return precision == "f64" ? quantizeIn<double>(op, scheme, wIn, hIn, N, K)
                              : quantizeIn<float>(op, scheme, wIn, hIn, N, K);
  }

  /// GPTQ with the factorizations and updates in T (float: GPTQ's reference
  /// precision and twice the GEMM rate; double: the precise variant).
  template <typename T>
  FailureOr<lq::QuantizedWeight>
  quantizeIn(lq::LinearOp op, lq::SchemeAttr scheme, ArrayRef<float> wIn,
             ArrayRef<float> hIn, int64_t N, int64_t K) {
    std::vector<T> W(wIn.begin(), wIn.end()), H(hIn.begin(), hIn.end());
    // Columns no calibration token touched: their weights cannot matter.
    for (int64_t i = 0; i < K; ++i)
      if (H[i * K + i] == 0) {
        H[i * K + i] = 1;
        for (int64_t r = 0; r < N; ++r)
          W[r * K + i] = 0;
      }
    double meanDiag = 0;
    for (int64_t i = 0; i < K; ++i)
      meanDiag += H[i * K + i];
    meanDiag /= K;
    for (int64_t i = 0; i < K; ++i)
      H[i * K + i] += T(damp * meanDiag);

    // Visiting order: natural, or decreasing H_ii (act-order).
    std::vector<int64_t> order(K);
    std::iota(order.begin(), order.end(), 0);
    if (actOrder)
      std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
        double ha = H[a * K + a], hb = H[b * K + b];
        return ha > hb || (ha == hb && a < b); // stable: ties keep column order
      });
    // Permute W's columns and H into that order.
    std::vector<T> Wp, Hp;
    if (actOrder) {
      Wp.resize(N * K);
      Hp.resize(K * K);
      for (int64_t r = 0; r < N; ++r)
        for (int64_t j = 0; j < K; ++j)
          Wp[r * K + j] = W[r * K + order[j]];
      for (int64_t i = 0; i < K; ++i)
        for (int64_t j = 0; j < K; ++j)
          Hp[i * K + j] = H[order[i] * K + order[j]];
    } else { // the identity permutation
      Wp = std::move(W);
      Hp = std::move(H);
    }
    auto factorStart = std::chrono::steady_clock::now();
    if (!inverseCholeskyUpper<T>(&getContext(), Hp, K)) {
      op.emitError() << "gptq: the damped Hessian is not positive definite; "
                        "raise 'damp' or calibrate on more tokens";
      return failure();
    }
    const std::vector<T> &U = Hp;
    factorSeconds = std::chrono::duration<double>(
                        std::chrono::steady_clock::now() - factorStart)
                        .count();

    // Group parameters: groups along the ORIGINAL column order.
    lq::QuantizedWeight q;
    q.rows = N;
    q.cols = K;
    q.groupSize = lq::groupSizeOf(scheme, K);
    int64_t G = q.groupsPerRow();
    q.codes.assign(N * K, 0);
    q.scales.assign(N * G, 0.0f);
    if (!scheme.getSymmetric())
      q.zeroPoints.assign(N * G, 0);
    std::vector<bool> haveParams(G, false);
    auto setGroupParams = [&](int64_t g, const std::vector<T> &src,
                              bool permuted) {
      std::vector<float> x(q.groupSize);
      std::vector<uint8_t> tmp(q.groupSize);
      // Position of original column c in the current layout.
      std::vector<int64_t> where(K);
      for (int64_t j = 0; j < K; ++j)
        where[order[j]] = j;
      for (int64_t r = 0; r < N; ++r) {
        for (int64_t t = 0; t < q.groupSize; ++t) {
          int64_t c = g * q.groupSize + t;
          x[t] = float(src[r * K + (permuted ? where[c] : c)]);
        }
        int32_t zp = 0;
        lq_quantize_group_int(x.data(), q.groupSize, scheme.getBits(),
                              scheme.getSymmetric(), &q.scales[r * G + g], &zp,
                              tmp.data());
        if (!scheme.getSymmetric())
          q.zeroPoints[r * G + g] = zp;
      }
      haveParams[g] = true;
    };
    if (actOrder)
      for (int64_t g = 0; g < G; ++g)
        setGroupParams(g, W, /*permuted=*/false);

    // Column blocks of B. Inside a block, each row is independent: the
    // block's columns are copied transposed (Wb[t][r]) so that a column of
    // all rows is contiguous, rows are split across threads, and the error
    // E[r][t] of the block then updates all later columns in one GEMM.
    const int64_t B = blockSize;
    MLIRContext *ctx = &getContext();
    std::vector<T> wb(B * N), errT(B * N), e(N * B);
    const int64_t rowChunk = 256, chunks = (N + rowChunk - 1) / rowChunk;
    for (int64_t i1 = 0; i1 < K; i1 += B) {
      int64_t i2 = std::min(K, i1 + B), count = i2 - i1;
      for (int64_t r = 0; r < N; ++r)
        for (int64_t t = 0; t < count; ++t)
          wb[t * N + r] = Wp[r * K + i1 + t];
      // Segments of columns without a group start inside (group parameters
      // come from the error-corrected weights at the group's first column).
      for (int64_t s0 = 0; s0 < count;) {
        int64_t g0 = order[i1 + s0] / q.groupSize;
        if (!haveParams[g0]) {
          for (int64_t r = 0; r < N; ++r) // write back the pending columns
            for (int64_t t = s0; t < count; ++t)
              Wp[r * K + i1 + t] = wb[t * N + r];
          setGroupParams(g0, Wp, /*permuted=*/true);
        }
        int64_t s1 = s0 + 1;
        while (s1 < count && haveParams[order[i1 + s1] / q.groupSize])
          ++s1;
        parallelFor(ctx, 0, chunks, [&](size_t c) {
          int64_t r0 = int64_t(c) * rowChunk, r1 = std::min(N, r0 + rowChunk);
          for (int64_t t = s0; t < s1; ++t) {
            int64_t i = i1 + t, col = order[i], g = col / q.groupSize;
            T d = U[i * K + i];
            T *wt = &wb[t * N], *et = &errT[t * N];
            for (int64_t r = r0; r < r1; ++r) {
              float deq;
              q.codes[r * K + col] =
                  lq::quantizeWithScale(scheme, q, r, g, float(wt[r]), deq);
              et[r] = (wt[r] - deq) / d;
            }
            // Update the rest of this block now.
            const T *ui = &U[i * K + i1];
            for (int64_t j = t + 1; j < count; ++j) {
              T u = ui[j];
              T *wj = &wb[j * N];
              for (int64_t r = r0; r < r1; ++r)
                wj[r] -= et[r] * u;
            }
          }
        });
        s0 = s1;
      }
      if (i2 == K)
        break;
      // Lazy batch update of all later columns: W[:, i2:] -= E · U[i1:i2, i2:].
      for (int64_t r = 0; r < N; ++r)
        for (int64_t t = 0; t < count; ++t)
          e[r * count + t] = errT[t * N + r];
      gemmSub<T>(ctx, N, K - i2, count, e.data(), count, &U[i1 * K + i2], K,
              &Wp[i2], K);
    }
    return q;
  }
};

} // namespace
