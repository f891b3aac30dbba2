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

/// One row m per blockIdx.y, four columns per thread: a 16-byte load of
/// accumulators, one 8- or 16-byte store (when N and ldc allow).
__global__ void scaleEpilogue(const void *acc, bool accIsInt, int64_t N,
                              const float *sa, int64_t saCount,
                              const float *sb, int64_t sbCount, void *C,
                              bool cF16, int64_t ldc, bool vec) {
  const int64_t m = blockIdx.y;
  const int64_t n0 = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) * 4;
  if (n0 >= N)
    return;
  const float am = scaleOf(sa, saCount, m);
  const int64_t base = m * N + n0;
  if (vec) { // N % 4 == 0, ldc % 4 == 0, C 16-byte aligned
    float a[4];
    if (accIsInt) {
      const int4 v = *reinterpret_cast<const int4 *>(
          static_cast<const int32_t *>(acc) + base);
      a[0] = float(v.x), a[1] = float(v.y), a[2] = float(v.z),
      a[3] = float(v.w);
    } else {
      const float4 v = *reinterpret_cast<const float4 *>(
          static_cast<const float *>(acc) + base);
      a[0] = v.x, a[1] = v.y, a[2] = v.z, a[3] = v.w;
    }
    float4 b = sbCount == 1
                   ? make_float4(sb[0], sb[0], sb[0], sb[0])
                   : *reinterpret_cast<const float4 *>(sb + n0);
    const float r0 = a[0] * am * b.x, r1 = a[1] * am * b.y,
                r2 = a[2] * am * b.z, r3 = a[3] * am * b.w;
    if (cF16) {
      __half2 h[2] = {__floats2half2_rn(r0, r1), __floats2half2_rn(r2, r3)};
      *reinterpret_cast<uint2 *>(static_cast<__half *>(C) + m * ldc + n0) =
          *reinterpret_cast<uint2 *>(h);
    } else {
      *reinterpret_cast<float4 *>(static_cast<float *>(C) + m * ldc + n0) =
          make_float4(r0, r1, r2, r3);
    }
    return;
  }
  for (int64_t n = n0; n < n0 + 4 && n < N; ++n) {
    const float a = accIsInt ? float(static_cast<const int32_t *>(acc)[m * N + n])
                             : static_cast<const float *>(acc)[m * N + n];
    store(C, m * ldc + n, a * am * scaleOf(sb, sbCount, n), cF16);
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
  const bool vec = N % 4 == 0 && ldc % 4 == 0 &&
                   (reinterpret_cast<uintptr_t>(C) & 15u) == 0 &&
                   (reinterpret_cast<uintptr_t>(sb) & 15u) == 0;
  const dim3 grid(unsigned((N + 1023) / 1024), unsigned(M));
  scaleEpilogue<<<grid, 256, 0, st>>>(acc, accIsInt, N, sa, saCount, sb,
                                      sbCount, C, cF16, ldc, vec);
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
