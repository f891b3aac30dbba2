//===- internal.h - Launchers shared between lq_rt_cuda's files ----*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#ifndef LQ_RT_SRC_CUDA_INTERNAL_H
#define LQ_RT_SRC_CUDA_INTERNAL_H

#include "common.h"

namespace lq::cuda {

/// C[m, n] = acc[m, n] * sa[m or 0] * sb[n or 0]; acc dense [M][N], int32
/// (accIsInt) or f32. In place is fine when acc and C alias with ldc == N
/// and the same element size (f32).
void launchScaleEpilogue(const void *acc, bool accIsInt, int64_t M, int64_t N,
                         const float *sa, int64_t saCount, const float *sb,
                         int64_t sbCount, void *C, bool cF16, int64_t ldc,
                         cudaStream_t st);

/// CUDA-core fallbacks for shapes cuBLASLt declines: one thread per output,
/// scales applied inline. fp8: A and B hold E4M3 codes.
void launchGemmI8Fallback(int64_t M, int64_t N, int64_t K, const int8_t *A,
                          const int8_t *B, const float *sa, int64_t saCount,
                          const float *sb, int64_t sbCount, void *C, bool cF16,
                          int64_t ldc, cudaStream_t st);
void launchGemmFp8Fallback(int64_t M, int64_t N, int64_t K, const uint8_t *A,
                           const uint8_t *B, const float *sa, int64_t saCount,
                           const float *sb, int64_t sbCount, void *C,
                           bool cF16, int64_t ldc, cudaStream_t st);
/// Strided f32 GEMM NT (any strides).
void launchSgemmFallback(int64_t M, int64_t N, int64_t K, const float *A,
                         int64_t lda, int64_t lda1, const float *B,
                         int64_t ldb, int64_t ldb1, float *C, int64_t ldc,
                         int64_t ldc1, cudaStream_t st);

/// A device buffer of at least `bytes` for dequantized weights, shared by
/// all calls (grown, never shrunk; stream-ordered users only, like the GEMM
/// accumulators).
lq_cuda_status_t weightScratch(size_t bytes, void *&out);

/// Row-major C[M][N] = A[M][K] . B[N][K]^T, A and B f16, f32 accumulation,
/// C f16 or f32 (cuBLASLt). `declined`: no algorithm for the shape.
lq_cuda_status_t ltGemmF16(int64_t M, int64_t N, int64_t K, const void *A,
                           int64_t lda, const void *B, int64_t ldb, void *C,
                           bool cF16, int64_t ldc, cudaStream_t st,
                           bool &declined);

} // namespace lq::cuda

#endif // LQ_RT_SRC_CUDA_INTERNAL_H
