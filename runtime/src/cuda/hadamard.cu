//===- hadamard.cu - Fast Walsh-Hadamard transform ----------------*- CUDA -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// y = H_n x / sqrt(n) along the last dimension, H_n the Sylvester-Hadamard
// matrix (H_2n = [[H_n, H_n], [H_n, -H_n]]), in O(n log n) butterflies
// (the fast Walsh-Hadamard transform; as used for incoherence processing
// by QuIP#, Tseng et al. 2024, and QuaRot, Ashkboos et al. 2024).
//
// Sylvester's construction factors H_n = H_r (x) H_c for n = r * c, so
// H_n = (H_r (x) I_c)(I_r (x) H_c): a first kernel transforms each
// contiguous chunk of c = min(n, 4096) elements in shared memory (log2 c
// butterfly stages, scaled by 1/sqrt(c)); for n > 4096 a second kernel applies H_r (r <= 8)
// across the chunks in registers, element by element (scaled by 1/sqrt(r)). Arithmetic is f32.
//
//===----------------------------------------------------------------------===//

#include "common.h"
#include "quant.cuh"

#include <cuda_fp16.h>

namespace lq::cuda {
namespace {

constexpr int kChunk = 4096, kThreads = 512;

__global__ void __launch_bounds__(kThreads)
    fwhtChunks(const void *x, void *y, bool f16, int64_t n, int c,
               float norm) {
  __shared__ float s[kChunk];
  const int64_t base = int64_t(blockIdx.x) * c; // row * n + chunk * c
  for (int i = threadIdx.x; i < c; i += blockDim.x)
    s[i] = toFloat(x, base + i, f16);
  __syncthreads();
  for (int h = 1; h < c; h <<= 1) {
    for (int i = threadIdx.x; i < c / 2; i += blockDim.x) {
      const int j = (i / h) * 2 * h + (i % h);
      const float a = s[j], b = s[j + h];
      s[j] = a + b;
      s[j + h] = a - b;
    }
    __syncthreads();
  }
  for (int i = threadIdx.x; i < c; i += blockDim.x)
    store(y, base + i, s[i] * norm, f16);
  (void)n;
}

template <int R>
__global__ void fwhtAcross(void *y, bool f16, int64_t rows, int64_t n, int c,
                           float norm) {
  const int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= rows * c)
    return;
  const int64_t row = t / c, o = t - row * c;
  const int64_t base = row * n + o;
  float v[R];
#pragma unroll
  for (int j = 0; j < R; ++j)
    v[j] = toFloat(y, base + int64_t(j) * c, f16);
#pragma unroll
  for (int h = 1; h < R; h <<= 1)
#pragma unroll
    for (int j = 0; j < R; ++j)
      if ((j & h) == 0) {
        const float a = v[j], b = v[j + h];
        v[j] = a + b;
        v[j + h] = a - b;
      }
#pragma unroll
  for (int j = 0; j < R; ++j)
    store(y, base + int64_t(j) * c, v[j] * norm, f16);
}

} // namespace
} // namespace lq::cuda

using namespace lq::cuda;

extern "C" lq_cuda_status_t lq_cuda_hadamard(const void *x, void *y,
                                             lq_dtype_t dtype, int64_t rows,
                                             int64_t n, void *stream) {
  if (!x || !y)
    return fail(LQ_CUDA_ERROR_INVALID_ARGUMENT,
                "lq_cuda_hadamard: null pointer argument");
  if (!isFloatDtype(dtype))
    return fail(LQ_CUDA_ERROR_INVALID_ARGUMENT,
                "lq_cuda_hadamard: dtype must be f32 or f16 (got %d)",
                int(dtype));
  if (n < 1 || n > 32768 || (n & (n - 1)) != 0)
    return fail(LQ_CUDA_ERROR_INVALID_ARGUMENT,
                "lq_cuda_hadamard: n=%lld must be a power of two in "
                "[1, 32768]",
                (long long)n);
  if (rows < 0)
    return fail(LQ_CUDA_ERROR_INVALID_ARGUMENT,
                "lq_cuda_hadamard: negative row count %lld", (long long)rows);
  if (lq_cuda_status_t s = ensureDevice())
    return s;
  if (rows == 0)
    return LQ_CUDA_OK;
  const bool f16 = dtype == LQ_DTYPE_F16;
  const int c = int(n < kChunk ? n : kChunk);
  const int64_t r = n / c;
  // 1/sqrt(n) = 1/sqrt(c) * 1/sqrt(r): each pass normalizes its own factor,
  // so f16 intermediates stay in range.
  const float normC = 1.f / sqrtf(float(c)), normR = 1.f / sqrtf(float(r));
  cudaStream_t st = asStream(stream);
  const int64_t blocks = rows * r;
  if (blocks > 0x7fffffff)
    return fail(LQ_CUDA_ERROR_INVALID_ARGUMENT,
                "lq_cuda_hadamard: too many rows (%lld)", (long long)rows);
  const int threads = c / 2 < kThreads ? (c / 2 < 32 ? 32 : c / 2) : kThreads;
  fwhtChunks<<<unsigned(blocks), threads, 0, st>>>(x, y, f16, n, c,
                                                   normC);
  if (r > 1) {
    const int64_t total = rows * c;
    const unsigned g = unsigned((total + 255) / 256);
    if (r == 2)
      fwhtAcross<2><<<g, 256, 0, st>>>(y, f16, rows, n, c, normR);
    else if (r == 4)
      fwhtAcross<4><<<g, 256, 0, st>>>(y, f16, rows, n, c, normR);
    else
      fwhtAcross<8><<<g, 256, 0, st>>>(y, f16, rows, n, c, normR);
  }
  return checkLaunch("lq_cuda_hadamard");
}
