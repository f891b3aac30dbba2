//===- qgemv.cu - Weight-only quantized GEMV for decode -----------*- CUDA -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// C[m, n] = sum_k A[m, k] * w[n, k] for M <= 8 (decode), w in lq_rt_qgemm_nt's
// layout (int4 / int8 / NF4 codes, f32 scales per group, optional biases).
//
// Decode is memory bound: the weight bytes are read once and nothing else of
// size matters, so the floor is bytes(codes + scales) / DRAM bandwidth. One
// warp owns one output row n; each lane streams 16-byte chunks of the row
// (coalesced: a warp reads 512 contiguous bytes per step, four steps in
// flight), dequantizes in registers and multiplies with the activations,
// which stay in L1/L2 (they are M*K*2 bytes, shared by all rows).
//
// Dequantization with f16 activations uses the "magic number" conversion
// (as in e.g. Kim et al., "Who Says Elephants Can't Run", 2022, and FasterTransformer):
// a 4-bit code c placed in the mantissa of the half 0x6400 (= 1024) reads as
// 1024 + c, so one LOP3 and one HFMA2 turn two codes into two exact halves;
// two's complement codes are first XORed with 8 (c ^ 8 = c + 8 mod 16). Eight
// bits work the same way (1024 + byte is exact in f16). Products are summed
// in half2 over one 16-byte chunk (16 or 32 elements of one group; |q| <= 8
// or 128), then scaled and accumulated in f32. Other inputs (f32
// activations, unaligned rows, odd K) take a general f32 kernel.
//
//===----------------------------------------------------------------------===//

#include "common.h"
#include "quant.cuh"

#include <cuda_fp16.h>

namespace lq::cuda {
namespace {

constexpr int kWarps = 8; // rows per block of the GEMV kernels

__device__ __forceinline__ float warpSum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

//===----------------------------------------------------------------------===//
// General kernel: any K, group, alignment, f16 or f32 activations.
//===----------------------------------------------------------------------===//

template <int MT>
__global__ void __launch_bounds__(kWarps * 32)
    qgemvGeneral(int M, int64_t N, int64_t K, const void *A, bool aF16,
                 int64_t lda, const uint8_t *codes, int64_t rowBytes,
                 const float *scales, const float *biases, int kind,
                 int64_t group, int64_t G, void *C, bool cF16, int64_t ldc) {
  const int lane = threadIdx.x & 31;
  const int64_t n = int64_t(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  if (n >= N)
    return;
  const bool asym = biases != nullptr;
  const uint8_t *row = codes + n * rowBytes;
  const int perByte = kind == kInt8 ? 1 : 2;
  float acc[MT];
#pragma unroll
  for (int m = 0; m < MT; ++m)
    acc[m] = 0.f;
  for (int64_t b = lane; b < rowBytes; b += 32) {
    for (int e = 0; e < perByte; ++e) {
      const int64_t k = b * perByte + e;
      if (k >= K)
        break;
      const int64_t gi = n * G + k / group;
      float w = decodeCode(row, k, kind, asym) * scales[gi];
      if (asym)
        w += biases[gi];
#pragma unroll
      for (int m = 0; m < MT; ++m)
        if (m < M)
          acc[m] += w * toFloat(A, m * lda + k, aF16);
    }
  }
#pragma unroll
  for (int m = 0; m < MT; ++m) {
    float s = warpSum(acc[m]);
    if (lane == 0 && m < M)
      store(C, m * ldc + n, s, cF16);
  }
}

//===----------------------------------------------------------------------===//
// Fast kernel: f16 activations, 16-byte chunks of one group each.
//===----------------------------------------------------------------------===//

__device__ __forceinline__ __half2 bitsh2(uint32_t u) {
  return *reinterpret_cast<__half2 *>(&u);
}

// Half constants as bit patterns (low half first). __float2half is inline
// PTX (cvt) that the compiler cannot fold: written that way, each use of a
// constant would cost a low-throughput conversion instruction.
constexpr uint32_t kOneSixteenth = 0x2C003C00u; // (1, 1/16)
constexpr uint32_t kOffS4 = 0xD480E408u;        // (-1032, -72): signed int4
constexpr uint32_t kOffU4 = 0xD400E400u;        // (-1024, -64): unsigned int4
constexpr uint32_t kOffS8 = 0xE480E480u;        // (-1152, -1152): signed int8
constexpr uint32_t kOffU8 = 0xE400E400u;        // (-1024, -1024)

/// Dot product of one 16-byte chunk of codes (KIND's elements) with the
/// matching activations xs (16-byte vectors), as half2 partial sums.
/// Also sums the activations when the scheme is asymmetric.
template <int KIND>
__device__ __forceinline__ void chunkDot(const uint4 &w, const uint4 *xs,
                                         bool asym, const __half2 *lut,
                                         __half2 &dot, __half2 &xsum) {
  const uint32_t words[4] = {w.x, w.y, w.z, w.w};
  if constexpr (KIND == kInt4 || KIND == kNf4) {
    // 32 elements; word i holds elements 8i..8i+7, activations xs[i].
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const uint4 xv = __ldg(xs + i);
      const uint32_t xw[4] = {xv.x, xv.y, xv.z, xv.w};
      uint32_t word = words[i];
      if (KIND == kInt4 && !asym)
        word ^= 0x88888888u; // two's complement -> offset binary
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        __half2 q;
        if constexpr (KIND == kInt4) {
          // Byte j into both halves, low nibble -> bits 0..3, high -> 20..23.
          const uint32_t t = __byte_perm(word, 0u, 0x4040u | (j << 8) | j);
          const uint32_t h = (t & 0x00F0000Fu) | 0x64006400u;
          // low: 1024 + lo; high: 1024 + 16 hi  ->  (lo, hi) - offset
          q = __hfma2(bitsh2(h), bitsh2(kOneSixteenth),
                      bitsh2(asym ? kOffU4 : kOffS4));
        } else {
          q = lut[(word >> (8 * j)) & 0xFFu];
        }
        const __half2 x = bitsh2(xw[j]);
        dot = __hfma2(q, x, dot);
        if (asym)
          xsum = __hadd2(xsum, x);
      }
    }
  } else {
    // int8: 16 elements; word i holds elements 4i..4i+3, activations
    // xs[i / 2] words 2 (i % 2) and 2 (i % 2) + 1.
#pragma unroll
    for (int i2 = 0; i2 < 2; ++i2) {
      const uint4 xv = __ldg(xs + i2);
      const uint32_t xw[4] = {xv.x, xv.y, xv.z, xv.w};
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        uint32_t word = words[2 * i2 + h];
        if (!asym)
          word ^= 0x80808080u;
        const __half2 off = bitsh2(asym ? kOffU8 : kOffS8);
        const __half2 q0 = __hadd2(bitsh2(__byte_perm(word, 0x64646464u,
                                                      0x4140u)),
                                   off);
        const __half2 q1 = __hadd2(bitsh2(__byte_perm(word, 0x64646464u,
                                                      0x4342u)),
                                   off);
        const __half2 x0 = bitsh2(xw[2 * h]), x1 = bitsh2(xw[2 * h + 1]);
        dot = __hfma2(q0, x0, dot);
        dot = __hfma2(q1, x1, dot);
        if (asym)
          xsum = __hadd2(xsum, __hadd2(x0, x1));
      }
    }
  }
}

template <int MT, int KIND>
__global__ void __launch_bounds__(kWarps * 32)
    qgemvFast(int M, int64_t N, const __half *A, int64_t lda,
              const uint4 *codes, int64_t chunks, const float *scales,
              const float *biases, int64_t chunksPerGroup, int64_t G,
              void *C, bool cF16, int64_t ldc) {
  constexpr int kElems = KIND == kInt8 ? 16 : 32; // elements per chunk
  constexpr int kUnroll = 4;
  __shared__ __half2 lut[KIND == kNf4 ? 256 : 1];
  if constexpr (KIND == kNf4) {
    for (int i = threadIdx.x; i < 256; i += blockDim.x)
      lut[i] = __floats2half2_rn(kNf4Codebook[i & 15], kNf4Codebook[i >> 4]);
    __syncthreads();
  }
  const int lane = threadIdx.x & 31;
  const int64_t n = int64_t(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  if (n >= N)
    return;
  const bool asym = biases != nullptr;
  const uint4 *row = codes + n * chunks;
  float acc[MT];
#pragma unroll
  for (int m = 0; m < MT; ++m)
    acc[m] = 0.f;

  for (int64_t c0 = lane; c0 < chunks; c0 += 32 * kUnroll) {
    // Issue every load of this round (codes, scales, biases) before using
    // any, so their DRAM latencies overlap.
    uint4 w[kUnroll];
    float sc[kUnroll], bi[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t c = c0 + 32 * u;
      if (c < chunks) {
        const int64_t gi = n * G + c / chunksPerGroup;
        w[u] = __ldcs(row + c); // streamed once: evict first
        sc[u] = __ldg(scales + gi);
        bi[u] = asym ? __ldg(biases + gi) : 0.f;
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t c = c0 + 32 * u;
      if (c >= chunks)
        break;
      const float s = sc[u], b = bi[u];
#pragma unroll
      for (int m = 0; m < MT; ++m) {
        if (m >= M)
          break;
        const uint4 *xs =
            reinterpret_cast<const uint4 *>(A + m * lda + c * kElems);
        __half2 dot = bitsh2(0u), xsum = bitsh2(0u);
        chunkDot<KIND>(w[u], xs, asym, lut, dot, xsum);
        const float2 d = __half22float2(dot);
        acc[m] += s * (d.x + d.y);
        if (asym) {
          const float2 xsf = __half22float2(xsum);
          acc[m] += b * (xsf.x + xsf.y);
        }
      }
    }
  }
#pragma unroll
  for (int m = 0; m < MT; ++m) {
    const float s = warpSum(acc[m]);
    if (lane == 0 && m < M)
      store(C, m * ldc + n, s, cF16);
  }
}

template <int MT>
void launchFast(int kind, dim3 grid, cudaStream_t st, int M, int64_t N,
                const __half *A, int64_t lda, const uint4 *codes,
                int64_t chunks, const float *scales, const float *biases,
                int64_t cpg, int64_t G, void *C, bool cF16, int64_t ldc) {
  dim3 block(kWarps * 32);
  if (kind == kInt4)
    qgemvFast<MT, kInt4><<<grid, block, 0, st>>>(
        M, N, A, lda, codes, chunks, scales, biases, cpg, G, C, cF16, ldc);
  else if (kind == kInt8)
    qgemvFast<MT, kInt8><<<grid, block, 0, st>>>(
        M, N, A, lda, codes, chunks, scales, biases, cpg, G, C, cF16, ldc);
  else
    qgemvFast<MT, kNf4><<<grid, block, 0, st>>>(
        M, N, A, lda, codes, chunks, scales, biases, cpg, G, C, cF16, ldc);
}

template <int MT>
void launchGeneral(dim3 grid, cudaStream_t st, int M, int64_t N, int64_t K,
                   const void *A, bool aF16, int64_t lda,
                   const uint8_t *codes, int64_t rowBytes,
                   const float *scales, const float *biases, int kind,
                   int64_t group, int64_t G, void *C, bool cF16,
                   int64_t ldc) {
  qgemvGeneral<MT><<<grid, dim3(kWarps * 32), 0, st>>>(
      M, N, K, A, aF16, lda, codes, rowBytes, scales, biases, kind, group, G,
      C, cF16, ldc);
}

bool aligned16(const void *p) {
  return (reinterpret_cast<uintptr_t>(p) & 15u) == 0;
}

} // namespace

int weightKind(lq_format_t format, int bits) {
  return format == LQ_FORMAT_NF4 ? kNf4 : (bits == 8 ? kInt8 : kInt4);
}

} // namespace lq::cuda

using namespace lq::cuda;

extern "C" lq_cuda_status_t
lq_cuda_qgemv_nt(int64_t M, int64_t N, int64_t K, const void *A,
                 lq_dtype_t a_dtype, int64_t lda, const uint8_t *codes,
                 const float *scales, const float *biases, lq_format_t format,
                 int32_t bits, int64_t group, void *C, lq_dtype_t c_dtype,
                 int64_t ldc, void *stream) {
  if (lq_cuda_status_t s =
          validateQGemm("lq_cuda_qgemv_nt", M, N, K, A, a_dtype, lda, codes,
                        scales, format, bits, group, C, c_dtype, ldc))
    return s;
  if (M > 8)
    return fail(LQ_CUDA_ERROR_INVALID_ARGUMENT,
                "lq_cuda_qgemv_nt: M=%lld, the GEMV takes at most 8 rows "
                "(use lq_cuda_qgemm_nt)",
                (long long)M);
  if (lq_cuda_status_t s = ensureDevice())
    return s;
  const int64_t g = group <= 0 ? K : group;
  const int64_t G = K / g;
  const int64_t rowBytes = (K * bits + 7) / 8;
  const int kind = weightKind(format, bits);
  const bool aF16 = a_dtype == LQ_DTYPE_F16, cF16 = c_dtype == LQ_DTYPE_F16;
  const int elemsPerChunk = bits == 8 ? 16 : 32;
  dim3 grid(unsigned((N + kWarps - 1) / kWarps));
  cudaStream_t st = asStream(stream);
  const int m = int(M);
  const bool fast = aF16 && rowBytes % 16 == 0 && g % elemsPerChunk == 0 &&
                    lda % 8 == 0 && aligned16(A) && aligned16(codes);
  if (fast) {
    const auto *cw = reinterpret_cast<const uint4 *>(codes);
    const auto *a = static_cast<const __half *>(A);
    const int64_t chunks = rowBytes / 16, cpg = g / elemsPerChunk;
    if (m == 1)
      launchFast<1>(kind, grid, st, m, N, a, lda, cw, chunks, scales, biases,
                    cpg, G, C, cF16, ldc);
    else if (m == 2)
      launchFast<2>(kind, grid, st, m, N, a, lda, cw, chunks, scales, biases,
                    cpg, G, C, cF16, ldc);
    else if (m <= 4)
      launchFast<4>(kind, grid, st, m, N, a, lda, cw, chunks, scales, biases,
                    cpg, G, C, cF16, ldc);
    else
      launchFast<8>(kind, grid, st, m, N, a, lda, cw, chunks, scales, biases,
                    cpg, G, C, cF16, ldc);
  } else {
    if (m == 1)
      launchGeneral<1>(grid, st, m, N, K, A, aF16, lda, codes, rowBytes,
                       scales, biases, kind, g, G, C, cF16, ldc);
    else if (m == 2)
      launchGeneral<2>(grid, st, m, N, K, A, aF16, lda, codes, rowBytes,
                       scales, biases, kind, g, G, C, cF16, ldc);
    else if (m <= 4)
      launchGeneral<4>(grid, st, m, N, K, A, aF16, lda, codes, rowBytes,
                       scales, biases, kind, g, G, C, cF16, ldc);
    else
      launchGeneral<8>(grid, st, m, N, K, A, aF16, lda, codes, rowBytes,
                       scales, biases, kind, g, G, C, cF16, ldc);
  }
  return checkLaunch(fast ? "lq_cuda_qgemv_nt (half2 kernel)"
                          : "lq_cuda_qgemv_nt (general kernel)");
}

extern "C" lq_cuda_status_t
lq_cuda_qgemm_nt(int64_t M, int64_t N, int64_t K, const void *A,
                 lq_dtype_t a_dtype, int64_t lda, const uint8_t *codes,
                 const float *scales, const float *biases, lq_format_t format,
                 int32_t bits, int64_t group, void *C, lq_dtype_t c_dtype,
                 int64_t ldc, void *stream) {
  if (M >= 1 && M <= 8)
    return lq_cuda_qgemv_nt(M, N, K, A, a_dtype, lda, codes, scales, biases,
                            format, bits, group, C, c_dtype, ldc, stream);
  return lq_cuda_qgemm_tc_nt(M, N, K, A, a_dtype, lda, codes, scales, biases,
                             format, bits, group, C, c_dtype, ldc, stream);
}
