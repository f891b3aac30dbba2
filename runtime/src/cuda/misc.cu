//===- misc.cu - Epilogues and CUDA-core fallback GEMMs -----------*- CUDA -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Small kernels around the cuBLASLt GEMMs: the scale epilogue of W8A8 / FP8
// (acc * s_a[m] * s_b[n], the SmoothQuant / per-channel dequantization) and
// plain one-thread-per-output GEMMs used only for shapes cuBLASLt declines.
//
//===----------------------------------------------------------------------===//

#include "internal.h"
#include "quant.cuh"

#include <cuda_fp16.h>
#include <cuda_fp8.h>

namespace lq::cuda {
namespace {

__device__ __forceinline__ float scaleOf(const float *s, int64_t count,
                                         int64_t i) {
  return count == 1 ? s[0] : s[i];
}

__global__ void scaleEpilogue(const void *acc, bool accIsInt, int64_t M,
                              int64_t N, const float *sa, int64_t saCount,
                              const float *sb, int64_t sbCount, void *C,
                              bool cF16, int64_t ldc) {
  const int64_t total = M * N;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t m = i / N, n = i - m * N;
    const float a = accIsInt ? float(static_cast<const int32_t *>(acc)[i])
                             : static_cast<const float *>(acc)[i];
    store(C, m * ldc + n, a * scaleOf(sa, saCount, m) * scaleOf(sb, sbCount, n),
          cF16);
  }
}

__global__ void gemmI8(int64_t M, int64_t N, int64_t K, const int8_t *A,
                       const int8_t *B, const float *sa, int64_t saCount,
                       const float *sb, int64_t sbCount, void *C, bool cF16,
                       int64_t ldc) {
  const int64_t n = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t m = blockIdx.y;
  if (n >= N)
    return;
  int32_t acc = 0;
  for (int64_t k = 0; k < K; ++k)
    acc += int32_t(A[m * K + k]) * int32_t(B[n * K + k]);
  store(C, m * ldc + n,
        float(acc) * scaleOf(sa, saCount, m) * scaleOf(sb, sbCount, n), cF16);
}

__device__ __forceinline__ float e4m3(uint8_t c) {
  __nv_fp8_e4m3 v;
  v.__x = c;
  return float(v);
}

__global__ void gemmFp8(int64_t M, int64_t N, int64_t K, const uint8_t *A,
                        const uint8_t *B, const float *sa, int64_t saCount,
                        const float *sb, int64_t sbCount, void *C, bool cF16,
                        int64_t ldc) {
  const int64_t n = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t m = blockIdx.y;
  if (n >= N)
    return;
  float acc = 0.f;
  for (int64_t k = 0; k < K; ++k)
    acc += e4m3(A[m * K + k]) * e4m3(B[n * K + k]);
  store(C, m * ldc + n,
        acc * scaleOf(sa, saCount, m) * scaleOf(sb, sbCount, n), cF16);
}

__global__ void sgemmNaive(int64_t M, int64_t N, int64_t K, const float *A,
                           int64_t lda, int64_t lda1, const float *B,
                           int64_t ldb, int64_t ldb1, float *C, int64_t ldc,
                           int64_t ldc1) {
  const int64_t n = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t m = blockIdx.y;
  if (n >= N)
    return;
  float acc = 0.f;
  for (int64_t k = 0; k < K; ++k)
    acc += A[m * lda + k * lda1] * B[n * ldb + k * ldb1];
  C[m * ldc + n * ldc1] = acc;
}

dim3 rowGrid(int64_t M, int64_t N) {
  return dim3(unsigned((N + 127) / 128), unsigned(M));
}

} // namespace

void launchScaleEpilogue(const void *acc, bool accIsInt, int64_t M, int64_t N,
                         const float *sa, int64_t saCount, const float *sb,
                         int64_t sbCount, void *C, bool cF16, int64_t ldc,
                         cudaStream_t st) {
  const int64_t total = M * N;
  const unsigned blocks = unsigned(std::min<int64_t>((total + 255) / 256, 65536));
  scaleEpilogue<<<blocks, 256, 0, st>>>(acc, accIsInt, M, N, sa, saCount, sb,
                                        sbCount, C, cF16, ldc);
}

void launchGemmI8Fallback(int64_t M, int64_t N, int64_t K, const int8_t *A,
                          const int8_t *B, const float *sa, int64_t saCount,
                          const float *sb, int64_t sbCount, void *C, bool cF16,
                          int64_t ldc, cudaStream_t st) {
  gemmI8<<<rowGrid(M, N), 128, 0, st>>>(M, N, K, A, B, sa, saCount, sb,
                                        sbCount, C, cF16, ldc);
}

void launchGemmFp8Fallback(int64_t M, int64_t N, int64_t K, const uint8_t *A,
                           const uint8_t *B, const float *sa, int64_t saCount,
                           const float *sb, int64_t sbCount, void *C,
                           bool cF16, int64_t ldc, cudaStream_t st) {
  gemmFp8<<<rowGrid(M, N), 128, 0, st>>>(M, N, K, A, B, sa, saCount, sb,
                                         sbCount, C, cF16, ldc);
}

void launchSgemmFallback(int64_t M, int64_t N, int64_t K, const float *A,
                         int64_t lda, int64_t lda1, const float *B,
                         int64_t ldb, int64_t ldb1, float *C, int64_t ldc,
                         int64_t ldc1, cudaStream_t st) {
  sgemmNaive<<<rowGrid(M, N), 128, 0, st>>>(M, N, K, A, lda, lda1, B, ldb,
                                            ldb1, C, ldc, ldc1);
}

} // namespace lq::cuda
