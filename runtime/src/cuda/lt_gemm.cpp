//===- lt_gemm.cpp - W8A8, FP8 and f32 GEMMs through cuBLASLt -----*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// We use the ecosystem here rather than writing IMMA / FP8 MMA kernels:
// cuBLASLt's int8 (IMMA) and FP8 E4M3 kernels are what a hand-written kernel
// would have to match, so lq_rt calls them and only adds the dequantization
// (per-tensor, per-token and per-channel scales, SmoothQuant's W8A8) around
// them.
//
// Row-major C[M][N] = A[M][K] . B[N][K]^T is, in cuBLASLt's column-major
// terms, C^T (N x M, ld ldc) = B^T' . A' with "Lt-A" = our B (K x N, ld K,
// transposed) and "Lt-B" = our A (K x M, ld K): the "TN" layout that the
// int8 and FP8 tensor-core kernels require.
//
//===----------------------------------------------------------------------===//

#include "internal.h"

#include <cublasLt.h>

#include <map>
#include <mutex>
#include <tuple>

namespace lq::cuda {
namespace {

constexpr size_t kWorkspace = 32u << 20;

using AlgoKey = std::tuple<int, int, int, int, int64_t, int64_t, int64_t,
                           int64_t, int64_t, int64_t, bool, unsigned>;

struct LtState {
  std::map<AlgoKey, std::pair<int, cublasLtMatmulHeuristicResult_t>> algos;
  cublasLtHandle_t handle = nullptr;
  void *workspace = nullptr;
  void *scratch = nullptr; // int32 / f32 accumulators before the epilogue
  size_t scratchBytes = 0;
  void *weights = nullptr; // f16 weights of the W4A16 prefill GEMM
  size_t weightBytes = 0;
  std::mutex mutex;
};

LtState &state() {
  static LtState s;
  return s;
}

lq_cuda_status_t ltInit(LtState *&out) {
  LtState &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (!s.handle) {
    if (cublasLtCreate(&s.handle) != CUBLAS_STATUS_SUCCESS) {
      s.handle = nullptr;
      return fail(LQ_CUDA_ERROR_LIBRARY, "cublasLtCreate failed");
    }
    if (cudaError_t err = cudaMalloc(&s.workspace, kWorkspace)) {
      s.workspace = nullptr;
      return failCuda(err, "cudaMalloc (cuBLASLt workspace)");
    }
  }
  out = &s;
  return LQ_CUDA_OK;
}

lq_cuda_status_t scratch(LtState &s, size_t bytes, void *&out) {
  std::lock_guard<std::mutex> lock(s.mutex);
  if (s.scratchBytes < bytes) {
    if (s.scratch)
      (void)cudaFree(s.scratch); // synchronizes: no queued user remains
    s.scratch = nullptr;
    s.scratchBytes = 0;
    if (cudaError_t err = cudaMalloc(&s.scratch, bytes))
      return failCuda(err, "cudaMalloc (GEMM accumulators)");
    s.scratchBytes = bytes;
  }
  out = s.scratch;
  return LQ_CUDA_OK;
}

/// The largest power of two (at most 256) dividing the address of a matrix
/// and the byte stride of its rows: cuBLASLt's heuristic assumes 256-byte
/// aligned operands unless told less.
uint32_t alignment(const void *p, int64_t ld, size_t elemBytes) {
  uint64_t v = uint64_t(reinterpret_cast<uintptr_t>(p)) |
               (uint64_t(ld) * elemBytes) | 256u;
  return uint32_t(v & (~v + 1));
}

size_t elemBytes(cudaDataType_t t) {
  switch (t) {
  case CUDA_R_8I:
  case CUDA_R_8F_E4M3:
  case CUDA_R_8F_E5M2:
    return 1;
  case CUDA_R_16F:
  case CUDA_R_16BF:
    return 2;
  default:
    return 4;
  }
}

struct MatmulSpec {
  cudaDataType_t abType, cType, scaleType;
  cublasComputeType_t computeType;
  int64_t M, N, K, lda, ldb, ldc;
  const void *A, *B; // ours: A [M][lda], B [N][ldb]
  void *C;           // ours: C [M][ldc]
  const void *alpha, *beta;
  const float *aScale = nullptr, *bScale = nullptr; // FP8 per-tensor
};

/// Runs one cuBLASLt matmul. `declined` is set (and OK returned) when no
/// algorithm supports the shape, so the caller can fall back.
lq_cuda_status_t ltMatmul(const MatmulSpec &m, cudaStream_t st,
                          bool &declined) {
  declined = false;
  LtState *s = nullptr;
  if (lq_cuda_status_t r = ltInit(s))
    return r;
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t la = nullptr, lb = nullptr, lc = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  lq_cuda_status_t result = LQ_CUDA_OK;
  cublasStatus_t cs = CUBLAS_STATUS_SUCCESS;
  auto check = [&](cublasStatus_t x, const char *what) {
    if (x != CUBLAS_STATUS_SUCCESS && result == LQ_CUDA_OK) {
      result = fail(LQ_CUDA_ERROR_LIBRARY, "%s failed: %s", what,
                    cublasLtGetStatusString(x));
    }
    return x == CUBLAS_STATUS_SUCCESS;
  };
  const cublasOperation_t opT = CUBLAS_OP_T, opN = CUBLAS_OP_N;
  if (check(cublasLtMatmulDescCreate(&desc, m.computeType, m.scaleType),
            "cublasLtMatmulDescCreate") &&
      check(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA,
                                           &opT, sizeof opT),
            "set TRANSA") &&
      check(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB,
                                           &opN, sizeof opN),
            "set TRANSB") &&
      (!m.bScale ||
       check(cublasLtMatmulDescSetAttribute(
                 desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &m.bScale,
                 sizeof m.bScale),
             "set A_SCALE_POINTER")) &&
      (!m.aScale ||
       check(cublasLtMatmulDescSetAttribute(
                 desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &m.aScale,
                 sizeof m.aScale),
             "set B_SCALE_POINTER")) &&
      check(cublasLtMatrixLayoutCreate(&la, m.abType, uint64_t(m.K),
                                       uint64_t(m.N), m.ldb),
            "layout A") &&
      check(cublasLtMatrixLayoutCreate(&lb, m.abType, uint64_t(m.K),
                                       uint64_t(m.M), m.lda),
            "layout B") &&
      check(cublasLtMatrixLayoutCreate(&lc, m.cType, uint64_t(m.N),
                                       uint64_t(m.M), m.ldc),
            "layout C") &&
      check(cublasLtMatmulPreferenceCreate(&pref), "preference")) {
    size_t ws = kWorkspace;
    check(cublasLtMatmulPreferenceSetAttribute(
              pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws),
          "set workspace");
    // Lt-A is our B, Lt-B our A, Lt-C/D our C.
    const uint32_t alB = alignment(m.B, m.ldb, elemBytes(m.abType)),
                   alA = alignment(m.A, m.lda, elemBytes(m.abType)),
                   alC = alignment(m.C, m.ldc, elemBytes(m.cType));
    check(cublasLtMatmulPreferenceSetAttribute(
              pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &alB,
              sizeof alB),
          "set alignment A");
    check(cublasLtMatmulPreferenceSetAttribute(
              pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &alA,
              sizeof alA),
          "set alignment B");
    check(cublasLtMatmulPreferenceSetAttribute(
              pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &alC,
              sizeof alC),
          "set alignment C");
    check(cublasLtMatmulPreferenceSetAttribute(
              pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &alC,
              sizeof alC),
          "set alignment D");
    // The heuristic query costs more host time than a small GEMM: cache
    // its answer per problem.
    const AlgoKey key{m.abType, m.cType, m.scaleType, m.computeType, m.M,
                      m.N, m.K, m.lda, m.ldb, m.ldc,
                      m.aScale != nullptr || m.bScale != nullptr,
                      alA | (alB << 9) | (alC << 18)};
    cublasLtMatmulHeuristicResult_t heur;
    int found = 0;
    bool cached = false;
    {
      std::lock_guard<std::mutex> lock(s->mutex);
      auto it = s->algos.find(key);
      if (it != s->algos.end()) {
        cached = true;
        found = it->second.first;
        heur = it->second.second;
      }
    }
    if (!cached) {
      cs = cublasLtMatmulAlgoGetHeuristic(s->handle, desc, la, lb, lc, lc,
                                          pref, 1, &heur, &found);
      if (cs != CUBLAS_STATUS_SUCCESS)
        found = 0;
      std::lock_guard<std::mutex> lock(s->mutex);
      s->algos[key] = {found, heur};
    }
    if (result == LQ_CUDA_OK) {
      if (found == 0) {
        declined = true;
      } else {
        check(cublasLtMatmul(s->handle, desc, m.alpha, m.B, la, m.A, lb,
                             m.beta, m.C, lc, m.C, lc, &heur.algo,
                             s->workspace, kWorkspace, st),
              "cublasLtMatmul");
      }
    }
  }
  if (pref)
    cublasLtMatmulPreferenceDestroy(pref);
  if (lc)
    cublasLtMatrixLayoutDestroy(lc);
  if (lb)
    cublasLtMatrixLayoutDestroy(lb);
  if (la)
    cublasLtMatrixLayoutDestroy(la);
  if (desc)
    cublasLtMatmulDescDestroy(desc);
  return result;
}

lq_cuda_status_t validateLowp(const char *fn, int64_t M, int64_t N, int64_t K,
                              const void *A, const void *B, const float *sa,
                              int64_t saCount, const float *sb,
                              int64_t sbCount, const void *C,
                              lq_dtype_t c_dtype, int64_t ldc) {
  if (M <= 0 || N <= 0 || K <= 0)
    return fail(LQ_CUDA_ERROR_INVALID_ARGUMENT,
                "%s: sizes must be positive (M=%lld N=%lld K=%lld)", fn,
                (long long)M, (long long)N, (long long)K);
  if (!A || !B || !sa || !sb || !C)
    return fail(LQ_CUDA_ERROR_INVALID_ARGUMENT, "%s: null pointer argument",
                fn);
  if (saCount != 1 && saCount != M)
    return fail(LQ_CUDA_ERROR_INVALID_ARGUMENT,
                "%s: %lld activation scales, expected 1 or M=%lld", fn,
                (long long)saCount, (long long)M);
  if (sbCount != 1 && sbCount != N)
    return fail(LQ_CUDA_ERROR_INVALID_ARGUMENT,
                "%s: %lld weight scales, expected 1 or N=%lld", fn,
                (long long)sbCount, (long long)N);
  if (!isFloatDtype(c_dtype) || ldc < N)
    return fail(LQ_CUDA_ERROR_INVALID_ARGUMENT,
                "%s: output must be f16 or f32 with ldc >= N", fn);
  if (M > 65535)
    return fail(LQ_CUDA_ERROR_INVALID_ARGUMENT, "%s: M=%lld above 65535", fn,
                (long long)M);
  return LQ_CUDA_OK;
}

} // namespace

lq_cuda_status_t weightScratch(size_t bytes, void *&out) {
  LtState *s = nullptr;
  if (lq_cuda_status_t r = ltInit(s))
    return r;
  std::lock_guard<std::mutex> lock(s->mutex);
  if (s->weightBytes < bytes) {
    if (s->weights)
      (void)cudaFree(s->weights); // synchronizes: no queued user remains
    s->weights = nullptr;
    s->weightBytes = 0;
    if (cudaError_t err = cudaMalloc(&s->weights, bytes))
      return failCuda(err, "cudaMalloc (dequantized weights)");
    s->weightBytes = bytes;
  }
  out = s->weights;
  return LQ_CUDA_OK;
}

lq_cuda_status_t ltGemmF16(int64_t M, int64_t N, int64_t K, const void *A,
                           int64_t lda, const void *B, int64_t ldb, void *C,
                           bool cF16, int64_t ldc, cudaStream_t st,
                           bool &declined) {
  const float one = 1.f, zero = 0.f;
  MatmulSpec m{CUDA_R_16F, cF16 ? CUDA_R_16F : CUDA_R_32F, CUDA_R_32F,
               CUBLAS_COMPUTE_32F, M, N, K, lda, ldb, ldc, A, B, C, &one,
               &zero};
  return ltMatmul(m, st, declined);
}

} // namespace lq::cuda

using namespace lq::cuda;

extern "C" {

lq_cuda_status_t lq_cuda_gemm_w8a8(int64_t M, int64_t N, int64_t K,
                                   const int8_t *A, const int8_t *B,
                                   const float *a_scales,
                                   int64_t a_scale_count,
                                   const float *b_scales,
                                   int64_t b_scale_count, void *C,
                                   lq_dtype_t c_dtype, int64_t ldc,
                                   void *stream) {
  if (lq_cuda_status_t s = validateLowp(
          "lq_cuda_gemm_w8a8", M, N, K, A, B, a_scales, a_scale_count,
          b_scales, b_scale_count, C, c_dtype, ldc))
    return s;
  if (lq_cuda_status_t s = ensureDevice())
    return s;
  cudaStream_t st = asStream(stream);
  const bool cF16 = c_dtype == LQ_DTYPE_F16;
  LtState *lt = nullptr;
  if (lq_cuda_status_t s = ltInit(lt))
    return s;
  void *acc = nullptr;
  if (lq_cuda_status_t s = scratch(*lt, size_t(M) * size_t(N) * 4, acc))
    return s;
  const int32_t one = 1, zero = 0;
  MatmulSpec m{CUDA_R_8I, CUDA_R_32I, CUDA_R_32I, CUBLAS_COMPUTE_32I,
               M, N, K, K, K, N, A, B, acc, &one, &zero};
  bool declined = false;
  if (lq_cuda_status_t s = ltMatmul(m, st, declined))
    return s;
  if (declined)
    launchGemmI8Fallback(M, N, K, A, B, a_scales, a_scale_count, b_scales,
                         b_scale_count, C, cF16, ldc, st);
  else
    launchScaleEpilogue(acc, true, M, N, a_scales, a_scale_count, b_scales,
                        b_scale_count, C, cF16, ldc, st);
  return checkLaunch("lq_cuda_gemm_w8a8");
}

lq_cuda_status_t lq_cuda_gemm_fp8(int64_t M, int64_t N, int64_t K,
                                  const uint8_t *A, const uint8_t *B,
                                  const float *a_scales,
                                  int64_t a_scale_count,
                                  const float *b_scales,
                                  int64_t b_scale_count, void *C,
                                  lq_dtype_t c_dtype, int64_t ldc,
                                  void *stream) {
  if (lq_cuda_status_t s = validateLowp(
          "lq_cuda_gemm_fp8", M, N, K, A, B, a_scales, a_scale_count,
          b_scales, b_scale_count, C, c_dtype, ldc))
    return s;
  if (lq_cuda_status_t s = ensureDevice())
    return s;
  const int cc = computeCapability();
  if (cc < 89)
    return fail(LQ_CUDA_ERROR_UNSUPPORTED,
                "lq_cuda_gemm_fp8: FP8 tensor cores need sm_89 or newer, this "
                "GPU is sm_%d",
                cc);
  cudaStream_t st = asStream(stream);
  const bool cF16 = c_dtype == LQ_DTYPE_F16;
  const bool perTensor = a_scale_count == 1 && b_scale_count == 1;
  const float one = 1.f, zero = 0.f;
  bool declined = false;
  if (perTensor) {
    // One call: cuBLASLt multiplies by *a_scale * *b_scale itself.
    MatmulSpec m{CUDA_R_8F_E4M3, cF16 ? CUDA_R_16F : CUDA_R_32F, CUDA_R_32F,
                 CUBLAS_COMPUTE_32F, M, N, K, K, K, ldc, A, B, C, &one, &zero,
                 a_scales, b_scales};
    if (lq_cuda_status_t s = ltMatmul(m, st, declined))
      return s;
  } else {
    LtState *lt = nullptr;
    if (lq_cuda_status_t s = ltInit(lt))
      return s;
    void *acc = nullptr;
    if (lq_cuda_status_t s = scratch(*lt, size_t(M) * size_t(N) * 4, acc))
      return s;
    MatmulSpec m{CUDA_R_8F_E4M3, CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F,
                 M, N, K, K, K, N, A, B, acc, &one, &zero};
    if (lq_cuda_status_t s = ltMatmul(m, st, declined))
      return s;
    if (!declined)
      launchScaleEpilogue(acc, false, M, N, a_scales, a_scale_count, b_scales,
                          b_scale_count, C, cF16, ldc, st);
  }
  if (declined)
    launchGemmFp8Fallback(M, N, K, A, B, a_scales, a_scale_count, b_scales,
                          b_scale_count, C, cF16, ldc, st);
  return checkLaunch("lq_cuda_gemm_fp8");
}

lq_cuda_status_t lq_cuda_sgemm_nt(int64_t M, int64_t N, int64_t K,
                                  const float *A, int64_t lda, const float *B,
                                  int64_t ldb, float *C, int64_t ldc,
                                  void *stream) {
  if (M <= 0 || N <= 0 || K <= 0 || !A || !B || !C || lda < K || ldb < K ||
      ldc < N)
    return fail(LQ_CUDA_ERROR_INVALID_ARGUMENT,
                "lq_cuda_sgemm_nt: bad sizes, strides or null pointers "
                "(M=%lld N=%lld K=%lld lda=%lld ldb=%lld ldc=%lld)",
                (long long)M, (long long)N, (long long)K, (long long)lda,
                (long long)ldb, (long long)ldc);
  if (lq_cuda_status_t s = ensureDevice())
    return s;
  cudaStream_t st = asStream(stream);
  const float one = 1.f, zero = 0.f;
  MatmulSpec m{CUDA_R_32F, CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F,
               M, N, K, lda, ldb, ldc, A, B, C, &one, &zero};
  bool declined = false;
  if (lq_cuda_status_t s = ltMatmul(m, st, declined))
    return s;
  if (declined)
    launchSgemmFallback(M, N, K, A, lda, 1, B, ldb, 1, C, ldc, 1, st);
  return checkLaunch("lq_cuda_sgemm_nt");
}

} // extern "C"
