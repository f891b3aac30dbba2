//===- qgemv.cu - Weight-only quantized GEMV for decode -----------*- CUDA -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// C[m, n] = sum_k A[m, k] * w[n, k] for M <= 8 (decode), w in lq_rt_qgemm_nt's
// layout (int4 / int8 / NF4 / FP4 E2M1 / FP8 E4M3, E5M2 codes, f32 scales per
// group, optional biases for the integers).
//
// Decode is memory bound: the weight bytes are read once and nothing else of
// size matters, so the floor is bytes(codes + scales) / DRAM bandwidth. Four
// kernels with f16 activations (i4Config picks; gpu_check times them all):
//  - qgemvFast (int8, NF4, FP4, FP8): one warp owns one output row n; each lane
//    streams 16-byte chunks of the row (coalesced: a warp reads 512
//    contiguous bytes per step, four steps in flight), dequantizes in
//    registers and multiplies with the activations, which stay in L1/L2
//    (they are M*K*2 bytes, shared by all rows);
//  - qgemvI4 (int4): the same with R rows per warp sharing each
//    activation load and a cheaper dequantization;
//  - qgemvI4K (int4 and FP4 E2M1, batch 1): the k axis split over a block's
//    threads, each keeping its 32 activations in registers for all rows;
//  - qgemvMma (int4, batch 2..8): tensor cores, the batch as the mma's N.
//
// Dequantization with f16 activations uses the "magic number" conversion
// (as in e.g. Kim et al., "Who Says Elephants Can't Run", 2022, and
// FasterTransformer): a 4-bit code c placed in the mantissa of the half 0x6400
// (= 1024) reads as 1024 + c, so one LOP3 and one HFMA2 turn two codes into two
// exact halves; two's complement codes are first XORed with 8 (c ^ 8 = c + 8
// mod 16). Eight bits work the same way (1024 + byte is exact in f16). Products
// are summed in half2 over one 16-byte chunk (16 or 32 elements of one group;
// |q| <= 8 or 128), then scaled and accumulated in f32. NF4 and FP4 E2M1
// (MXFP4, NVFP4) codes go through a 256-entry half2 table of code pairs in
// shared memory; NVFP4's groups of 16 give each half of a 32-code chunk its
// own scale. FP8 codes become halves by moving their bits (fp8Pairs): exact,
// no table. Other inputs (f32
// activations, unaligned rows, odd K) take a general f32 kernel.
//
//===----------------------------------------------------------------------===//

#include "common.h"
#include "qgemv_plan.h"
#include "quant.cuh"
#include "warp.cuh"

#include <cuda_fp16.h>

#include <algorithm>
#include <atomic>

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
  const int perByte = byteKind(kind) ? 1 : 2;
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
constexpr uint32_t kHalf2Pow2m8 = 0x1C001C00u;  // (2^-8, 2^-8)

/// Four FP8 codes (elements 0..3 of `word`) as two half2 pairs (e0, e1),
/// (e2, e3) holding value * 2^-8 exactly. A code c shifted left by 8 is the
/// IEEE half of the same sign, exponent and mantissa bits: for E5M2 (bias
/// 15 like half) that is its value, Inf/NaN included, then scaled by 2^-8
/// (exact: E5M2's smallest subnormal 2^-16 becomes half's 2^-24); for E4M3
/// the 7 magnitude bits shifted by 7 instead land in half's exponent and
/// mantissa with bias 15 instead of 7 (subnormals too), i.e. value * 2^-8.
/// The caller multiplies 256 into the scale. E4M3's NaN codes (S.1111.111)
/// would read as +-480 / 256: the caller flags them (fp8NanBits).
template <int KIND>
__device__ __forceinline__ void fp8Pairs(uint32_t word, __half2 &q0,
                                         __half2 &q1) {
  const uint32_t t0 = __byte_perm(word, 0u, 0x1404u); // (b0 << 8, b1 << 8)
  const uint32_t t1 = __byte_perm(word, 0u, 0x3424u); // (b2 << 8, b3 << 8)
  if constexpr (KIND == kFp8E5M2) {
    q0 = __hmul2(bitsh2(t0), bitsh2(kHalf2Pow2m8));
    q1 = __hmul2(bitsh2(t1), bitsh2(kHalf2Pow2m8));
  } else {
    q0 = bitsh2((t0 & 0x80008000u) | ((t0 >> 1) & 0x3F803F80u));
    q1 = bitsh2((t1 & 0x80008000u) | ((t1 >> 1) & 0x3F803F80u));
  }
}

/// Bit 7 of a byte of the result is set iff that byte of `word` is an E4M3
/// NaN code (low 7 bits all ones; no carries cross bytes).
__device__ __forceinline__ uint32_t fp8NanBits(uint32_t word) {
  return (word & 0x7F7F7F7Fu) + 0x01010101u;
}

/// Dot product of one 16-byte chunk of codes (KIND's elements) with the
/// matching activations xs (16-byte vectors), as half2 partial sums.
/// Also sums the activations when the scheme is asymmetric. SPLIT (4-bit
/// codes, groups of 16: NVFP4): elements 16..31 go to dot1, not dot. FP8:
/// the products are of value * 2^-8 (fp8Pairs); E4M3 NaN codes set bit 7
/// of a byte of nanBits.
template <int KIND, bool SPLIT = false>
__device__ __forceinline__ void chunkDot(const uint4 &w, const uint4 *xs,
                                         bool asym, const __half2 *lut,
                                         __half2 &dot, __half2 &xsum,
                                         __half2 &dot1, uint32_t &nanBits) {
  const uint32_t words[4] = {w.x, w.y, w.z, w.w};
  if constexpr (KIND == kFp8E4M3 || KIND == kFp8E5M2) {
    // 16 elements; word i holds elements 4i..4i+3 (as for int8 below).
#pragma unroll
    for (int i2 = 0; i2 < 2; ++i2) {
      const uint4 xv = __ldg(xs + i2);
      const uint32_t xw[4] = {xv.x, xv.y, xv.z, xv.w};
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const uint32_t word = words[2 * i2 + h];
        if (KIND == kFp8E4M3)
          nanBits |= fp8NanBits(word);
        __half2 q0, q1;
        fp8Pairs<KIND>(word, q0, q1);
        dot = __hfma2(q0, bitsh2(xw[2 * h]), dot);
        dot = __hfma2(q1, bitsh2(xw[2 * h + 1]), dot);
      }
    }
  } else if constexpr (KIND == kInt4 || KIND == kNf4 || KIND == kFp4) {
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
        if (SPLIT && i >= 2)
          dot1 = __hfma2(q, x, dot1);
        else
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

/// SPLIT (4-bit codes only): two groups per chunk (NVFP4's 16), each half
/// of a chunk scaled by its own scale; chunksPerGroup then counts halves of
/// chunks per group. FP8 scales are taken times 256 (fp8Pairs).
template <int MT, int KIND, bool SPLIT = false>
__global__ void __launch_bounds__(kWarps * 32)
    qgemvFast(int M, int64_t N, const __half *A, int64_t lda,
              const uint4 *codes, int64_t chunks, const float *scales,
              const float *biases, int64_t chunksPerGroup, int64_t G,
              void *C, bool cF16, int64_t ldc) {
  static_assert(!SPLIT || !byteKind(KIND), "SPLIT is for 4-bit codes");
  constexpr int kElems = byteKind(KIND) ? 16 : 32; // elements per chunk
  constexpr int kUnroll = 4;
  constexpr bool kLut = KIND == kNf4 || KIND == kFp4;
  constexpr float kScaleMul =
      KIND == kFp8E4M3 || KIND == kFp8E5M2 ? 256.f : 1.f;
  __shared__ __half2 lut[kLut ? 256 : 1];
  if constexpr (kLut) {
    const float *table = KIND == kNf4 ? kNf4Codebook : kFp4Table;
    for (int i = threadIdx.x; i < 256; i += blockDim.x)
      lut[i] = __floats2half2_rn(table[i & 15], table[i >> 4]);
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
  uint32_t nanBits = 0; // E4M3 NaN codes seen by this lane (bit 7 of a byte)

  for (int64_t c0 = lane; c0 < chunks; c0 += 32 * kUnroll) {
    // Issue every load of this round (codes, scales, biases) before using
    // any, so their DRAM latencies overlap.
    uint4 w[kUnroll];
    float sc[kUnroll], bi[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t c = c0 + 32 * u;
      if (c < chunks) {
        w[u] = __ldcs(row + c); // streamed once: evict first
        if constexpr (SPLIT) { // bi: the second half's scale
          sc[u] = __ldg(scales + n * G + (2 * c) / chunksPerGroup);
          bi[u] = __ldg(scales + n * G + (2 * c + 1) / chunksPerGroup);
        } else {
          const int64_t gi = n * G + c / chunksPerGroup;
          sc[u] = __ldg(scales + gi);
          bi[u] = asym ? __ldg(biases + gi) : 0.f;
        }
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t c = c0 + 32 * u;
      if (c >= chunks)
        break;
      const float s = sc[u] * kScaleMul, b = bi[u];
#pragma unroll
      for (int m = 0; m < MT; ++m) {
        if (m >= M)
          break;
        const uint4 *xs =
            reinterpret_cast<const uint4 *>(A + m * lda + c * kElems);
        __half2 dot = bitsh2(0u), xsum = bitsh2(0u), dot1 = bitsh2(0u);
        chunkDot<KIND, SPLIT>(w[u], xs, asym, lut, dot, xsum, dot1, nanBits);
        const float2 d = __half22float2(dot);
        acc[m] += s * (d.x + d.y);
        if constexpr (SPLIT) {
          const float2 d1 = __half22float2(dot1);
          acc[m] += b * (d1.x + d1.y);
        } else if (asym) {
          const float2 xsf = __half22float2(xsum);
          acc[m] += b * (xsf.x + xsf.y);
        }
      }
    }
  }
  if (KIND == kFp8E4M3 && (nanBits & 0x80808080u) != 0) {
#pragma unroll
    for (int m = 0; m < MT; ++m) // a NaN weight makes every output NaN
      acc[m] = __int_as_float(0x7FC00000);
  }
#pragma unroll
  for (int m = 0; m < MT; ++m) {
    const float s = warpSum(acc[m]);
    if (lane == 0 && m < M)
      store(C, m * ldc + n, s, cF16);
  }
}

/// split: 4-bit codes in groups of 16 (cpg then counts half chunks).
template <int MT>
void launchFast(int kind, bool split, dim3 grid, cudaStream_t st, int M, int64_t N,
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
  else if (kind == kNf4)
    qgemvFast<MT, kNf4><<<grid, block, 0, st>>>(
        M, N, A, lda, codes, chunks, scales, biases, cpg, G, C, cF16, ldc);
  else if (kind == kFp4 && split)
    qgemvFast<MT, kFp4, true><<<grid, block, 0, st>>>(
        M, N, A, lda, codes, chunks, scales, nullptr, cpg, G, C, cF16, ldc);
  else if (kind == kFp4)
    qgemvFast<MT, kFp4><<<grid, block, 0, st>>>(
        M, N, A, lda, codes, chunks, scales, nullptr, cpg, G, C, cF16, ldc);
  else if (kind == kFp8E4M3)
    qgemvFast<MT, kFp8E4M3><<<grid, block, 0, st>>>(
        M, N, A, lda, codes, chunks, scales, nullptr, cpg, G, C, cF16, ldc);
  else
    qgemvFast<MT, kFp8E5M2><<<grid, block, 0, st>>>(
        M, N, A, lda, codes, chunks, scales, nullptr, cpg, G, C, cF16, ldc);
}

//===----------------------------------------------------------------------===//
// int4 kernel: R rows per warp sharing the activations, KS warps along K.
//===----------------------------------------------------------------------===//
//
// Why a second int4 kernel: the one above gives each warp one row, so every
// 16-byte chunk of weights costs four 16-byte activation loads, a 64-bit
// division for its scale group and ~4 instructions per pair of codes; at
// batch 1 that is ~150 issued instructions per 32 weights, as much issue time
// as the DRAM time of the weights (measured: 24-34% of the copy bandwidth).
// Here a warp owns R rows: a lane loads its activations once per chunk
// position and uses them for all R rows (R times fewer activation loads), the
// scale group is a shift (or a 32-bit division when the chunks per group are
// not a power of two), and the codes are split with the interleaved
// magic-number layout (FasterTransformer's fast int4 -> f16 conversion):
//   (w & 0x000F000F) | 0x64006400  = (1024 + e0, 1024 + e4)
//   (w & 0x00F000F0) | 0x64006400  = (1024 + 16 e1, 1024 + 16 e5)
// and again on w >> 8 for (e2, e6), (e3, e7): 1 shift + 4 LOP3 + 4 HADD2/HFMA2
// for 8 codes. The activations are permuted once into the same pairs
// ((x0, x4), (x1, x5), ...; 4 PRMT per 8 elements, shared by the R rows).
// Two's complement codes: (w & mask) ^ (0x6400 | 8 << shift) flips the sign
// bit of each nibble in the same LOP3, so 1024 + (e ^ 8) = 1032 + e.
// Each lane keeps U chunk positions x R rows of 16-byte loads in flight (all
// issued before the first use). KS warps of a block split K and their partial
// sums meet in shared memory, which gives more warps (more loads in flight)
// for short, wide matrices.

constexpr uint32_t kI4Sixteenth = 0x2C002C00u; // (1/16, 1/16)
constexpr uint32_t kI4LoS = 0x64086408u, kI4HiS = 0x64806480u; // xor masks
constexpr uint32_t kI4U = 0x64006400u;
constexpr uint32_t kI4OffLoS = 0xE408E408u, kI4OffHiS = 0xD480D480u; // -1032, -72
constexpr uint32_t kI4OffLoU = 0xE400E400u, kI4OffHiU = 0xD400D400u; // -1024, -64

/// The 32 codes of one 16-byte chunk as 16 half2 pairs in the interleaved
/// order (e0, e4), (e1, e5), (e2, e6), (e3, e7), (e8, e12), ...
template <bool ASYM>
__device__ __forceinline__ void i4Dequant(const uint4 &w, __half2 *q) {
  const uint32_t kLo = ASYM ? kI4U : kI4LoS, kHi = ASYM ? kI4U : kI4HiS;
  const __half2 offLo = bitsh2(ASYM ? kI4OffLoU : kI4OffLoS);
  const __half2 offHi = bitsh2(ASYM ? kI4OffHiU : kI4OffHiS);
  const __half2 sixteenth = bitsh2(kI4Sixteenth);
  const uint32_t words[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const uint32_t a = words[i], b = words[i] >> 8;
    q[4 * i + 0] = __hadd2(bitsh2((a & 0x000F000Fu) ^ kLo), offLo);
    q[4 * i + 1] = __hfma2(bitsh2((a & 0x00F000F0u) ^ kHi), sixteenth, offHi);
    q[4 * i + 2] = __hadd2(bitsh2((b & 0x000F000Fu) ^ kLo), offLo);
    q[4 * i + 3] = __hfma2(bitsh2((b & 0x00F000F0u) ^ kHi), sixteenth, offHi);
  }
}

/// The 32 activations of one chunk (4 x 16 bytes at xs) permuted into the
/// pairs of i4Dequant; also their sum when ASYM.
template <bool ASYM>
__device__ __forceinline__ float i4LoadX(const uint4 *xs, __half2 *xp) {
  __half2 xsum = bitsh2(0u);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const uint4 xv = __ldg(xs + i);
    xp[4 * i + 0] = bitsh2(__byte_perm(xv.x, xv.z, 0x5410));
    xp[4 * i + 1] = bitsh2(__byte_perm(xv.x, xv.z, 0x7632));
    xp[4 * i + 2] = bitsh2(__byte_perm(xv.y, xv.w, 0x5410));
    xp[4 * i + 3] = bitsh2(__byte_perm(xv.y, xv.w, 0x7632));
    if (ASYM)
      xsum = __hadd2(xsum, __hadd2(__hadd2(bitsh2(xv.x), bitsh2(xv.y)),
                                   __hadd2(bitsh2(xv.z), bitsh2(xv.w))));
  }
  if (!ASYM)
    return 0.f;
  const float2 f = __half22float2(xsum);
  return f.x + f.y;
}

/// The 32 FP4 E2M1 codes (MXFP4/NVFP4 elements) of one chunk as 16 half2
/// pairs in i4Dequant's interleaved order. E2M1 is S.EE.M with bias 1; its
/// magnitude bits EEM placed at bits 9..11 of a half (exponent bits 10..11,
/// mantissa bit 9) with S at bit 15 read as value * 2^-14 (bias 15 instead
/// of 1, the subnormal 0.5 included), so one multiplication by 2^14 makes it
/// exact: 2 shifts, 2 LOP3 and 1 HMUL2 per pair (int4: 1 LOP3, 1 HADD2).
__device__ __forceinline__ void fp4Dequant(const uint4 &w, __half2 *q) {
  const __half2 pow14 = bitsh2(0x74007400u); // (2^14, 2^14)
  const uint32_t words[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const uint32_t a = words[i], b = words[i] >> 8;
    // Low nibbles of each half (e0, e4) / (e2, e6): EEM << 9, S << 12.
    // High nibbles (e1, e5) / (e3, e7): EEM << 5, S << 8.
    q[4 * i + 0] = __hmul2(
        bitsh2(((a << 9) & 0x0E000E00u) | ((a << 12) & 0x80008000u)), pow14);
    q[4 * i + 1] = __hmul2(
        bitsh2(((a << 5) & 0x0E000E00u) | ((a << 8) & 0x80008000u)), pow14);
    q[4 * i + 2] = __hmul2(
        bitsh2(((b << 9) & 0x0E000E00u) | ((b << 12) & 0x80008000u)), pow14);
    q[4 * i + 3] = __hmul2(
        bitsh2(((b << 5) & 0x0E000E00u) | ((b << 8) & 0x80008000u)), pow14);
  }
}

/// sum_i q[i] . xp[i] for i in [I0, I1): half2 products in two chains.
template <int I0, int I1>
__device__ __forceinline__ float i4DotRange(const __half2 *q,
                                            const __half2 *xp) {
  __half2 d0 = bitsh2(0u), d1 = bitsh2(0u);
#pragma unroll
  for (int i = I0; i < I1; i += 2) {
    d0 = __hfma2(q[i], xp[i], d0);
    d1 = __hfma2(q[i + 1], xp[i + 1], d1);
  }
  const float2 f0 = __half22float2(d0), f1 = __half22float2(d1);
  return (f0.x + f0.y) + (f1.x + f1.y);
}

/// sum_i q[i] . xp[i] over one chunk: half2 products in two chains, f32 sum.
__device__ __forceinline__ float i4Dot(const __half2 *q, const __half2 *xp) {
  __half2 d0 = bitsh2(0u), d1 = bitsh2(0u);
#pragma unroll
  for (int i = 0; i < 16; i += 2) {
    d0 = __hfma2(q[i], xp[i], d0);
    d1 = __hfma2(q[i + 1], xp[i + 1], d1);
  }
  const float2 f0 = __half22float2(d0), f1 = __half22float2(d1);
  return (f0.x + f0.y) + (f1.x + f1.y);
}

template <int MT, int R, int U, bool ASYM>
__global__ void __launch_bounds__(kWarps * 32)
    qgemvI4(int M, int N, const __half *A, int64_t lda, const uint4 *codes,
            int chunks, const float *scales, const float *biases, int cpg,
            int cpgShift, int G, int KS, void *C, bool cF16, int64_t ldc) {
  __shared__ float red[kWarps][MT * R];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int ks = warp % KS, rg = warp / KS;
  const int rowsPerBlock = (kWarps / KS) * R;
  const int n0 = blockIdx.x * rowsPerBlock + rg * R;
  const uint4 *rowp[R];
  const float *srow[R], *brow[R];
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const int64_t n = min(n0 + r, N - 1); // rows past N: read row N-1, drop
    rowp[r] = codes + n * chunks;
    srow[r] = scales + n * G;
    brow[r] = ASYM ? biases + n * G : nullptr;
  }
  float acc[MT][R];
#pragma unroll
  for (int m = 0; m < MT; ++m)
#pragma unroll
    for (int r = 0; r < R; ++r)
      acc[m][r] = 0.f;

  const int step = 32 * KS;
  for (int c0 = ks * 32 + lane; c0 < chunks; c0 += step * U) {
    uint4 w[U][R];
    float sc[U][R], bi[U][R];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int c = c0 + step * u;
      if (c < chunks) {
        const int gi = cpgShift >= 0 ? c >> cpgShift : c / cpg;
#pragma unroll
        for (int r = 0; r < R; ++r) {
          w[u][r] = __ldcs(rowp[r] + c); // streamed once: evict first
          sc[u][r] = __ldg(srow[r] + gi);
          bi[u][r] = ASYM ? __ldg(brow[r] + gi) : 0.f;
        }
      }
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int c = c0 + step * u;
      if (c >= chunks)
        break;
      if constexpr (MT == 1) {
        // One activation row: permute it once, dequantize each row once.
        __half2 xp[16], q[16];
        const float xs1 = i4LoadX<ASYM>(
            reinterpret_cast<const uint4 *>(A + int64_t(c) * 32), xp);
#pragma unroll
        for (int r = 0; r < R; ++r) {
          i4Dequant<ASYM>(w[u][r], q);
          acc[0][r] = fmaf(sc[u][r], i4Dot(q, xp), acc[0][r]);
          if (ASYM)
            acc[0][r] = fmaf(bi[u][r], xs1, acc[0][r]);
        }
      } else {
        // Several activation rows: dequantize each weight row once and
        // reload the (L1-resident) activations per row instead.
#pragma unroll
        for (int r = 0; r < R; ++r) {
          __half2 q[16];
          i4Dequant<ASYM>(w[u][r], q);
#pragma unroll
          for (int m = 0; m < MT; ++m) {
            if (m >= M)
              break;
            __half2 xp[16];
            const float xs1 = i4LoadX<ASYM>(
                reinterpret_cast<const uint4 *>(A + m * lda +
                                                int64_t(c) * 32),
                xp);
            acc[m][r] = fmaf(sc[u][r], i4Dot(q, xp), acc[m][r]);
            if (ASYM)
              acc[m][r] = fmaf(bi[u][r], xs1, acc[m][r]);
          }
        }
      }
    }
  }

  // Warp sums; with KS > 1 the KS warps of a row group add up in shared memory.
#pragma unroll
  for (int m = 0; m < MT; ++m)
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const float s = warpSum(acc[m][r]);
      if (KS == 1) {
        if (lane == 0 && m < M && n0 + r < N)
          store(C, m * ldc + n0 + r, s, cF16);
      } else if (lane == 0) {
        red[warp][m * R + r] = s;
      }
    }
  if (KS == 1)
    return;
  __syncthreads();
  const int t = threadIdx.x;
  if (t < (kWarps / KS) * R * MT) {
    const int g = t / (R * MT), idx = t % (R * MT);
    const int m = idx / R, r = idx % R;
    float s = 0.f;
    for (int k = 0; k < KS; ++k)
      s += red[g * KS + k][idx];
    const int n = blockIdx.x * rowsPerBlock + g * R + r;
    if (m < M && n < N)
      store(C, m * ldc + n, s, cF16);
  }
}

//===----------------------------------------------------------------------===//
// int4 kernel for batch 1 with the activations held in registers.
//===----------------------------------------------------------------------===//
//
// Why a third CUDA-core kernel: qgemvI4 reloads and re-permutes the 32
// activations of a chunk for every R rows (64 bytes of L1/L2 traffic per
// 16-32 bytes of weights), and its warps stream along a row, so each warp
// keeps only R x U loads in flight and pays one DRAM latency per round.
// At batch 1 on an H200 it stayed at 36 / 53 / 51% of the copy bandwidth.
//
// Here the k axis is split over the threads of a block instead: thread t
// owns chunk c = k0 + t of every row (k0 = 0, 32 W, ... for K larger than a
// block's 32 W chunks), so it loads and permutes its 32 activations once per
// slice and keeps them in registers for all rows of the block; a warp still
// reads 512 contiguous bytes of a row per load (lanes own consecutive
// chunks), so lq_rt_qgemm_nt's row-major layout needs no reordering (the
// offline reorderings of Marlin or TensorRT-LLM serve tensor-core fragment
// layouts, not this one). A warp takes R rows at a time: R independent
// 16-byte weight loads and R scale loads per lane are issued before any
// math, then the same interleaved magic-number dequantization as qgemvI4
// (FasterTransformer's LOP3 trick; i4Dequant) and half2 products (i4Dot).
// The R per-lane partial sums are reduced across the warp as a
// reduce-scatter (log2(32) butterfly steps that halve the values each lane
// carries: R - 1 + 5 - log2 R shuffles for R rows instead of 5 R), after
// which lane l holds row (l >> (5 - log2 R)) & (R - 1). Warps meet in shared
// memory (one slot per warp and row, summed in a fixed order: deterministic).
//
// Grid: rowsPerBlock = R x groups, with the groups per block chosen on the
// host so the grid is one wave of resident blocks (fewer activation
// reloads, no tail wave). With programmatic dependent launch (sm_90+;
// griddepcontrol), the weights of the first R rows, which no earlier kernel
// writes, are loaded before waiting on the previous kernel in the stream;
// the activations are read and the outputs written only after the wait.
// PF: the next round's loads are issued before this round's math (two
// register sets), so a warp always has loads in flight.

/// A 16-byte streaming load: LOAD 0 = ld.global.cs (evict first),
/// 1 = ld.global.nc.L1::no_allocate (read-only path, not kept in L1).
template <int LOAD> __device__ __forceinline__ uint4 ldWeights(const uint4 *p) {
  if constexpr (LOAD == 0) {
    return __ldcs(p);
  } else {
    uint4 v;
    asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
        : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
        : "l"(p));
    return v;
  }
}

__device__ __forceinline__ void pdlWait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
__device__ __forceinline__ void pdlLaunchDependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

/// Asks the copy engine to bring `bytes` (a multiple of 16, from a 16-byte
/// aligned `p`) into L2 (sm_90+: cp.async.bulk.prefetch; a no-op before).
__device__ __forceinline__ void bulkPrefetchL2(const void *p, uint32_t bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(
                   __cvta_generic_to_global(p)),
               "r"(bytes)
               : "memory");
#endif
}

/// DQ: 0 int4 codes; 1 FP4 E2M1 codes (fp4Dequant), one scale per chunk;
/// 2 FP4 with two scales per chunk (NVFP4's groups of 16: cpg then counts
/// half chunks per group; words 0-1 and 2-3 of a chunk are i4Dequant's
/// pairs 0-7 and 8-15).
template <int R, int LOAD, bool PF, bool ASYM, int DQ = 0>
__global__ void __launch_bounds__(kI4KMaxWarps * 32)
    qgemvI4K(int N, const __half *A, const uint4 *codes, int chunks,
             const float *scales, const float *biases, int cpg, int cpgShift,
             int G, int rowsPerBlock, void *C, bool cF16, bool l2Prefetch) {
  static_assert(DQ == 0 || !ASYM, "FP4 has no biases");
  extern __shared__ float part[]; // [warps][rowsPerBlock]
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int warps = blockDim.x >> 5;
  const int n0 = blockIdx.x * rowsPerBlock;
  const int rows = min(rowsPerBlock, N - n0);
  constexpr int kRowShift = 5 - (R >= 32   ? 5
                                 : R >= 16 ? 4
                                 : R >= 8  ? 3
                                 : R >= 4  ? 2
                                 : R >= 2  ? 1
                                           : 0);
  const int myRow = (lane >> kRowShift) & (R - 1);
  const bool writer = (lane & ((1 << kRowShift) - 1)) == 0;
  float *mine = part + warp * rowsPerBlock;
  for (int i = lane; i < rowsPerBlock; i += 32)
    mine[i] = 0.f;
  __syncwarp();

  uint4 w[R];
  float sc[R], bi[R];
  // Loads of R rows starting at block row r0, chunk c (zeros past the row).
  auto load = [&](int r0, int c) {
    const bool ok = c < chunks;
    const int cs = DQ == 2 ? 2 * c : c; // DQ 2: half chunks
    const int gi = cpgShift >= 0 ? cs >> cpgShift : cs / cpg;
    const int gi1 =
        DQ == 2 ? (cpgShift >= 0 ? (cs + 1) >> cpgShift : (cs + 1) / cpg) : 0;
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const int64_t n = min(n0 + r0 + r, N - 1); // past N: row N-1, dropped
      if (ok) {
        w[r] = ldWeights<LOAD>(codes + n * chunks + c);
        sc[r] = __ldg(scales + n * G + gi);
        // bi: biases, or the second half's scale (DQ 2)
        bi[r] = ASYM      ? __ldg(biases + n * G + gi)
                : DQ == 2 ? __ldg(scales + n * G + gi1)
                          : 0.f;
      } else {
        w[r] = make_uint4(0u, 0u, 0u, 0u);
        sc[r] = bi[r] = 0.f;
      }
    }
  };
  // The first round's weights depend on no earlier kernel: load them before
  // waiting for it (a no-op without programmatic dependent launch).
  // l2Prefetch (an experiment, off by default): the block's other rows are
  // asked into L2 too, so that under PDL the whole weight stream starts
  // while the previous kernel finishes; the block's rows are one
  // contiguous range of codes.
  if (l2Prefetch && threadIdx.x == 0) {
    const char *first = reinterpret_cast<const char *>(codes + int64_t(n0) * chunks);
    const int64_t total = int64_t(rows) * chunks * 16;
    for (int64_t off = 0; off < total; off += int64_t(1) << 20)
      bulkPrefetchL2(first + off,
                     uint32_t(min(total - off, int64_t(1) << 20)));
  }
  load(0, threadIdx.x);
  pdlWait();
  pdlLaunchDependents();

  const int slice = blockDim.x;
  for (int k0 = 0; k0 < chunks; k0 += slice) {
    const int c = k0 + threadIdx.x;
    __half2 xp[16];
    float xs = 0.f;
    if (c < chunks) {
      xs = i4LoadX<ASYM>(reinterpret_cast<const uint4 *>(A) + int64_t(c) * 4,
                         xp);
    } else {
#pragma unroll
      for (int i = 0; i < 16; ++i)
        xp[i] = bitsh2(0u);
    }
    for (int r0 = 0; r0 < rows; r0 += R) {
      if (!PF && (k0 != 0 || r0 != 0))
        load(r0, c);
      uint4 cw[R];
      float csc[R], cbi[R];
#pragma unroll
      for (int r = 0; r < R; ++r) {
        cw[r] = w[r];
        csc[r] = sc[r];
        cbi[r] = bi[r];
      }
      if (PF) { // the next round's loads fly while this one computes
        if (r0 + R < rows)
          load(r0 + R, c);
        else if (k0 + slice < chunks)
          load(0, c + slice);
      }
      float acc[R];
#pragma unroll
      for (int r = 0; r < R; ++r) {
        __half2 q[16];
        if constexpr (DQ == 0)
          i4Dequant<ASYM>(cw[r], q);
        else
          fp4Dequant(cw[r], q);
        if constexpr (DQ == 2)
          acc[r] = fmaf(cbi[r], i4DotRange<8, 16>(q, xp),
                        csc[r] * i4DotRange<0, 8>(q, xp));
        else
          acc[r] = csc[r] * i4Dot(q, xp);
        if (ASYM)
          acc[r] = fmaf(cbi[r], xs, acc[r]);
      }
      const float s = warpReduceRows<R>(acc, lane);
      if (writer && r0 + myRow < rows)
        mine[r0 + myRow] += s;
    }
  }
  __syncthreads();
  for (int i = threadIdx.x; i < rows; i += blockDim.x) {
    float s = 0.f;
    for (int k = 0; k < warps; ++k)
      s += part[k * rowsPerBlock + i];
    store(C, n0 + i, s, cF16);
  }
}

//===----------------------------------------------------------------------===//
// int4 kernel on the tensor cores: mma.sync m16n8k16, the batch as N = 8.
//===----------------------------------------------------------------------===//
//
// The CUDA-core kernel above spends ~70 issued instructions per lane on each
// 32 weights (dequantization ~36, half2 products 16, activation loads and
// permutes), which at batch 1 is as much issue time as the DRAM time of the
// weights: measured 36-54% of the copy bandwidth. Here one warp computes a
// 16-row tile with mma.sync.m16n8k16 (f16 in, f32 accumulate): the weights
// are the A operand (16 rows x 16 k), the activations the B operand (16 k x 8
// columns = the batch, M <= 8; columns past M are zero), so one HMMA replaces
// 16 HFMA2 per lane and batches up to 8 cost the same as batch 1.
//
// The k order inside an mma is free as long as A and B agree, so lane
// (g = lane / 4, t = lane % 4) loads chunk t (32 codes) of each 128-code
// block ("kblock") of rows g and g + 8, and its fragments take the codes in
// the interleaved pairs of i4Dequant, (e0, e4), (e1, e5), ...: eight mmas
// cover one kblock, whose 128 codes share one scale group (the group must be
// a multiple of 128 elements). A fragment a0 (row g, k slot 2t) is a low-nibble
// pair, a2 (row g, slot 2t + 8) the high-nibble pair of the same word; B holds
// the activations permuted into the same pairs.
//
// RAW (the default): the A operand is the magic-number half itself,
// 1024 + (e + 8) for a low nibble and 1024 + 16 (e + 8) for a high one (one
// LOP3 per pair, no subtraction), the high pairs' activations are scaled by
// 1/16 (exact), and the offsets are removed after the f32 accumulation:
//   sum_k e_k x_k = D - Dc,  Dc = sum_k h0_k x_k,
// h0 = 1032 (low) and 1152 (high) being the halves of code 0, i.e. the
// xor masks themselves; Dc is one more mma chain with those constants as A,
// shared by all tiles of the warp. The products are exact in f32 (11 x 11 bit
// mantissas) and |D| <~ 1300 sum|x|, so the f32 cancellation costs ~1e-6
// relative. EXACT: A is the exact code (LOP3 + HADD2/HFMA2 per pair) and B
// the plain activations. Asymmetric codes add b * sum_k x_k, the sum being an
// mma with A = 1 (16 on high pairs under RAW).
//
// Measured on an H200 (gpu_check, graph replays, group 128): RAW and EXACT
// run alike; at batch 1 this kernel is slower than qgemvI4 (best 7.2 / 16.2
// / 17.0 us against 5.9 / 13.4 / 14.0 us at 4096x4096, 4096x14336,
// 14336x4096), at batch 8 it is 5-7x faster (7.7 / 18.0 / 18.8 us against
// 38 / 123 / 135 us), so i4Config uses it from batch 2 on. Not measured yet,
// suspected at batch 1: each load instruction touches 16 rows x 64 bytes
// (one 128-code block per row) where qgemvI4 reads 512 contiguous bytes of
// one row, and two chains of 8 dependent HMMAs per block at ~104 registers
// (16 warps per SM). Staging 512-byte row spans through shared memory
// (cp.async + ldmatrix, as Marlin does) is the next step.

__device__ __forceinline__ void mma16816(float *d, uint32_t a0, uint32_t a1,
                                         uint32_t a2, uint32_t a3, uint32_t b0,
                                         uint32_t b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
               "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
               "{%0, %1, %2, %3};\n"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
               : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t h2bits(__half2 h) {
  return *reinterpret_cast<uint32_t *>(&h);
}

template <int T, int U, bool RAW, bool ASYM>
__global__ void __launch_bounds__(kWarps * 32)
    qgemvMma(int M, int N, const __half *A, int64_t lda, const uint4 *codes,
             int chunks, const float *scales, const float *biases,
             int kbPerGroup, int kbShift, int G, int KS, void *C, bool cF16,
             int64_t ldc) {
  __shared__ float red[kWarps][4 * T][32];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int g = lane >> 2, t = lane & 3;
  const int ks = warp % KS, rg = warp / KS;
  const int rowsPerBlock = (kWarps / KS) * 16 * T;
  const int nBase = blockIdx.x * rowsPerBlock + rg * 16 * T;
  const int kblocks = chunks >> 2;
  constexpr uint32_t kLo = ASYM ? kI4U : kI4LoS, kHi = ASYM ? kI4U : kI4HiS;

  // Fragment rows: i = 2 tt + h is row nBase + 16 tt + g + 8 h.
  const uint4 *rowp[2 * T];
  const float *srow[2 * T], *brow[2 * T];
#pragma unroll
  for (int i = 0; i < 2 * T; ++i) {
    const int64_t n = min(nBase + 16 * (i / 2) + g + 8 * (i % 2), N - 1);
    rowp[i] = codes + n * chunks + t;
    srow[i] = scales + n * G;
    brow[i] = ASYM ? biases + n * G : nullptr;
  }
  const bool hasX = g < M; // lane's B column = batch row g
  const __half *xrow = A + (hasX ? g : 0) * lda + t * 32;

  float acc[2 * T][2];
#pragma unroll
  for (int i = 0; i < 2 * T; ++i)
    acc[i][0] = acc[i][1] = 0.f;

  uint4 w[U][2 * T];
  float sc[U][2 * T], bi[U][2 * T];
  auto load = [&](int kb0) {
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int kb = kb0 + KS * u;
      if (kb < kblocks) {
        const int gi = kbShift >= 0 ? kb >> kbShift : kb / kbPerGroup;
#pragma unroll
        for (int i = 0; i < 2 * T; ++i) {
          w[u][i] = __ldcs(rowp[i] + 4 * kb); // streamed once
          sc[u][i] = __ldg(srow[i] + gi);
          bi[u][i] = ASYM ? __ldg(brow[i] + gi) : 0.f;
        }
      }
    }
  };
  load(ks);
  for (int kb0 = ks; kb0 < kblocks; kb0 += KS * U) {
    // Take this round's registers, then issue the next round's loads so
    // they are in flight while this round computes.
    uint4 cw[U][2 * T];
    float csc[U][2 * T], cbi[U][2 * T];
#pragma unroll
    for (int u = 0; u < U; ++u)
#pragma unroll
      for (int i = 0; i < 2 * T; ++i) {
        cw[u][i] = w[u][i];
        csc[u][i] = sc[u][i];
        cbi[u][i] = bi[u][i];
      }
    if (kb0 + KS * U < kblocks)
      load(kb0 + KS * U);
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int kb = kb0 + KS * u;
      if (kb >= kblocks)
        break;
      // B fragments: the lane's 32 activations in i4Dequant's pairs.
      uint32_t xb[16];
      if (hasX) {
        const uint4 *xs = reinterpret_cast<const uint4 *>(xrow + kb * 128);
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          const uint4 xv = __ldg(xs + i);
          xb[4 * i + 0] = __byte_perm(xv.x, xv.z, 0x5410);
          xb[4 * i + 1] = __byte_perm(xv.x, xv.z, 0x7632);
          xb[4 * i + 2] = __byte_perm(xv.y, xv.w, 0x5410);
          xb[4 * i + 3] = __byte_perm(xv.y, xv.w, 0x7632);
          if (RAW) {
            xb[4 * i + 1] =
                h2bits(__hmul2(bitsh2(xb[4 * i + 1]), bitsh2(kI4Sixteenth)));
            xb[4 * i + 3] =
                h2bits(__hmul2(bitsh2(xb[4 * i + 3]), bitsh2(kI4Sixteenth)));
          }
        }
      } else {
#pragma unroll
        for (int i = 0; i < 16; ++i)
          xb[i] = 0u;
      }
      // Offsets (RAW) and activation sums (ASYM), shared by the tiles.
      float dc[4] = {0.f, 0.f, 0.f, 0.f}, dx[4] = {0.f, 0.f, 0.f, 0.f};
      if (RAW) {
#pragma unroll
        for (int j = 0; j < 8; ++j)
          mma16816(dc, kLo, kLo, kHi, kHi, xb[2 * j], xb[2 * j + 1]);
      }
      if (ASYM) {
        const uint32_t one = 0x3C003C00u, hiOne = RAW ? 0x4C004C00u : one;
#pragma unroll
        for (int j = 0; j < 8; ++j)
          mma16816(dx, one, one, hiOne, hiOne, xb[2 * j], xb[2 * j + 1]);
      }
#pragma unroll
      for (int tt = 0; tt < T; ++tt) {
        const uint4 &w0 = cw[u][2 * tt], &w1 = cw[u][2 * tt + 1];
        const uint32_t r0[4] = {w0.x, w0.y, w0.z, w0.w};
        const uint32_t r1[4] = {w1.x, w1.y, w1.z, w1.w};
        float d[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
        for (int i = 0; i < 4; ++i) {
#pragma unroll
          for (int s = 0; s < 2; ++s) { // word >> 0: (e0,e4),(e1,e5); >> 8
            const uint32_t a = r0[i] >> (8 * s), b = r1[i] >> (8 * s);
            uint32_t aLo = (a & 0x000F000Fu) ^ kLo, bLo = (b & 0x000F000Fu) ^ kLo;
            uint32_t aHi = (a & 0x00F000F0u) ^ kHi, bHi = (b & 0x00F000F0u) ^ kHi;
            if (!RAW) {
              const __half2 offLo = bitsh2(ASYM ? kI4OffLoU : kI4OffLoS);
              const __half2 offHi = bitsh2(ASYM ? kI4OffHiU : kI4OffHiS);
              const __half2 six = bitsh2(kI4Sixteenth);
              aLo = h2bits(__hadd2(bitsh2(aLo), offLo));
              bLo = h2bits(__hadd2(bitsh2(bLo), offLo));
              aHi = h2bits(__hfma2(bitsh2(aHi), six, offHi));
              bHi = h2bits(__hfma2(bitsh2(bHi), six, offHi));
            }
            mma16816(d, aLo, bLo, aHi, bHi, xb[4 * i + 2 * s],
                     xb[4 * i + 2 * s + 1]);
          }
        }
        // d[0], d[1]: row g, batch 2t, 2t + 1; d[2], d[3]: row g + 8.
#pragma unroll
        for (int h = 0; h < 2; ++h)
#pragma unroll
          for (int c = 0; c < 2; ++c) {
            float v = d[2 * h + c] - dc[c];
            acc[2 * tt + h][c] = fmaf(csc[u][2 * tt + h], v, acc[2 * tt + h][c]);
            if (ASYM)
              acc[2 * tt + h][c] =
                  fmaf(cbi[u][2 * tt + h], dx[c], acc[2 * tt + h][c]);
          }
      }
    }
  }

  // KS warps of a row group add up in shared memory; the first stores.
  if (KS > 1) {
    if (ks != 0) {
#pragma unroll
      for (int i = 0; i < 2 * T; ++i) {
        red[warp][2 * i][lane] = acc[i][0];
        red[warp][2 * i + 1][lane] = acc[i][1];
      }
    }
    __syncthreads();
    if (ks != 0)
      return;
    for (int k = 1; k < KS; ++k)
#pragma unroll
      for (int i = 0; i < 2 * T; ++i) {
        acc[i][0] += red[warp + k][2 * i][lane];
        acc[i][1] += red[warp + k][2 * i + 1][lane];
      }
  }
#pragma unroll
  for (int i = 0; i < 2 * T; ++i) {
    const int n = nBase + 16 * (i / 2) + g + 8 * (i % 2);
#pragma unroll
    for (int c = 0; c < 2; ++c) {
      const int m = 2 * t + c;
      if (m < M && n < N)
        store(C, m * ldc + n, acc[i][c], cF16);
    }
  }
}

template <int T, int U, bool RAW>
void launchMmaTU(bool asym, int M, int64_t N, int KS, cudaStream_t st,
                 const __half *A, int64_t lda, const uint4 *codes,
                 int64_t chunks, const float *scales, const float *biases,
                 int64_t cpg, int64_t G, void *C, bool cF16, int64_t ldc) {
  const int64_t rowsPerBlock = (kWarps / KS) * 16 * T;
  dim3 grid(unsigned((N + rowsPerBlock - 1) / rowsPerBlock));
  const int64_t kbpg = cpg / 4;
  const int shift = (kbpg & (kbpg - 1)) == 0 ? __builtin_ctzll(uint64_t(kbpg))
                                             : -1;
  if (asym)
    qgemvMma<T, U, RAW, true><<<grid, dim3(kWarps * 32), 0, st>>>(
        M, int(N), A, lda, codes, int(chunks), scales, biases, int(kbpg),
        shift, int(G), KS, C, cF16, ldc);
  else
    qgemvMma<T, U, RAW, false><<<grid, dim3(kWarps * 32), 0, st>>>(
        M, int(N), A, lda, codes, int(chunks), scales, biases, int(kbpg),
        shift, int(G), KS, C, cF16, ldc);
}

/// Which int4 kernel and shape: kernel 0 = automatic (i4Config), 1 = the
/// one-row-per-warp kernel (qgemvFast), 2 = qgemvI4 with R rows per warp,
/// 3 / 4 = qgemvMma RAW / EXACT with R 16-row tiles per warp; U loads per
/// round, KS warps along K; 6 / 7 = qgemvI4K (batch 1) with ld.global.cs /
/// ld.global.nc.L1::no_allocate weight loads, 8 = no-allocate loads with the
/// next round prefetched; R rows per round (4 or 8), U rounds per block and
/// KS warps per block (0: automatic, planI4K). Only the
/// shapes gpu_check's sweep found fastest (or next) are instantiated: qgemvI4 R
/// = 2, U = 2 (and R = 4, U = 2 at batch 1), qgemvMma R = 1, U = 2. Set by
/// lq_cuda_bench_qgemv_config (gpu_check).
struct I4Config {
  int kernel, R, U, KS;
};
I4Config gI4Config = {0, 0, 0, 0};

int smCount() {
  static const int n = [] {
    int dev = 0, v = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, dev) !=
            cudaSuccess)
      v = 132;
    return v;
  }();
  return n;
}

/// The automatic choice, from gpu_check's sweep on an H200 (graph replays,
/// N x K = 4096 x 4096, 4096 x 14336, 14336 x 4096, group 128):
///  - batch 1: qgemvI4K as i4kChoose (qgemv_plan.h) picks it: kernel 7
///    (R = 8 at <= 4 warps, else R = 4) or, from 64 rows per SM on, kernel 8
///    with R = 4; one K slice of a power-of-two warp count; rounds per block
///    automatic. Retuned from run 5's sweep, where these were the fastest
///    points: 4.52 / 12.00 / 11.26 us (47 / 62 / 66% of copy; run 5's
///    automatic choice, kernel 7 R = 8 with i4kWarps, 4.52 / 14.88 / 11.75
///    us; qgemvI4 R = 2, U = 2, KS = 1 5.9 / 13.9 / 14.5 us). The retuned
///    selection itself has not run on a GPU yet;
///  - batch 2..8 with groups of whole 128-code blocks: the tensor-core
///    kernel, whose time hardly moves with the batch (M = 8: 7.7 / 18.0 /
///    18.8 us, the CUDA-core kernel 38 / 123 / 159 us), with KS doubled
///    until the grid has 12 warps per multiprocessor (KS = 8 for 4096 rows,
///    2 for 14336: the fastest measured for each);
///  - otherwise the CUDA-core kernel.
I4Config i4Config(int M, int64_t N, int64_t chunks, int64_t cpg) {
  if (M == 1) {
    const I4KChoice c = i4kChoose(N, chunks, smCount());
    return {c.kernel, c.R, 0, c.warps}; // KS = warps per block for qgemvI4K
  }
  if (cpg % 4 != 0)
    return {2, 2, 2, 1};
  const int64_t tiles = (N + 15) / 16, kblocks = chunks / 4;
  int ks = 1;
  while (ks < kWarps && tiles * ks < 12 * int64_t(smCount()) &&
         2 * ks <= kblocks)
    ks *= 2;
  return {3, 1, 2, ks};
}

template <int MT, int R, int U>
void launchI4RU(bool asym, int64_t N, int KS, cudaStream_t st, int M,
                const __half *A, int64_t lda, const uint4 *codes,
                int64_t chunks, const float *scales, const float *biases,
                int64_t cpg, int64_t G, void *C, bool cF16, int64_t ldc) {
  const int64_t rowsPerBlock = (kWarps / KS) * R;
  dim3 grid(unsigned((N + rowsPerBlock - 1) / rowsPerBlock));
  const int shift = (cpg & (cpg - 1)) == 0 ? __builtin_ctzll(uint64_t(cpg))
                                           : -1;
  if (asym)
    qgemvI4<MT, R, U, true><<<grid, dim3(kWarps * 32), 0, st>>>(
        M, int(N), A, lda, codes, int(chunks), scales, biases, int(cpg),
        shift, int(G), KS, C, cF16, ldc);
  else
    qgemvI4<MT, R, U, false><<<grid, dim3(kWarps * 32), 0, st>>>(
        M, int(N), A, lda, codes, int(chunks), scales, biases, int(cpg),
        shift, int(G), KS, C, cF16, ldc);
}

/// False when the configuration has no instance (then nothing is launched).
bool launchMma(I4Config cf, bool asym, int M, int64_t N, cudaStream_t st,
               const __half *A, int64_t lda, const uint4 *codes,
               int64_t chunks, const float *scales, const float *biases,
               int64_t cpg, int64_t G, void *C, bool cF16, int64_t ldc) {
  if (cpg % 4 != 0 || (cf.kernel != 3 && cf.kernel != 4))
    return false;
#define LQ_MMA(TT, UU, RAWV)                                                   \
  if (cf.R == TT && cf.U == UU && (cf.kernel == 3) == RAWV) {                  \
    launchMmaTU<TT, UU, RAWV>(asym, M, N, cf.KS, st, A, lda, codes, chunks,    \
                              scales, biases, cpg, G, C, cF16, ldc);           \
    return true;                                                               \
  }
  LQ_MMA(1, 2, true)
  LQ_MMA(1, 2, false)
#undef LQ_MMA
  return false;
}

template <int MT>
bool launchI4(I4Config cf, bool asym, int64_t N, cudaStream_t st, int M,
              const __half *A, int64_t lda, const uint4 *codes,
              int64_t chunks, const float *scales, const float *biases,
              int64_t cpg, int64_t G, void *C, bool cF16, int64_t ldc) {
#define LQ_I4(RR, UU)                                                          \
  if (cf.R == RR && cf.U == UU) {                                              \
    launchI4RU<MT, RR, UU>(asym, N, cf.KS, st, M, A, lda, codes, chunks,       \
                           scales, biases, cpg, G, C, cF16, ldc);              \
    return true;                                                               \
  }
  LQ_I4(2, 2)
  if constexpr (MT == 1) { // the runner-up at batch 1 (gpu_check's sweep)
    LQ_I4(4, 2)
  }
#undef LQ_I4
  return false;
}

/// Resident blocks of qgemvI4K<R, LOAD, PF, ASYM, DQ> per multiprocessor at
/// `warps` warps (asked once per shape, then cached).
template <int R, int LOAD, bool PF, bool ASYM, int DQ>
int i4kBlocksPerSM(int warps) {
  static std::atomic<int> cache[kI4KMaxWarps + 1];
  int v = cache[warps].load(std::memory_order_relaxed);
  if (v == 0) {
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(
            &v, qgemvI4K<R, LOAD, PF, ASYM, DQ>, warps * 32,
            size_t(warps) * R * 4 * sizeof(float)) != cudaSuccess ||
        v < 1) {
      (void)cudaGetLastError();
      v = 1;
    }
    cache[warps].store(v, std::memory_order_relaxed);
  }
  return v;
}

/// Programmatic dependent launch for qgemvI4K (bench hook; on by default,
/// used on sm_90+ only).
bool gI4KPdl = true;
/// qgemvI4K's L2 bulk prefetch of each block's rows before the PDL wait
/// (bench hook, off: not yet measured).
bool gI4KL2Prefetch = false;

template <int R, int LOAD, bool PF, bool ASYM, int DQ>
cudaError_t launchI4K(int warps, int groups, cudaStream_t st, int N,
                      const __half *A, const uint4 *codes, int chunks,
                      const float *scales, const float *biases, int cpg, int G,
                      void *C, bool cF16) {
  const int w = warps > 0 ? std::min(warps, kI4KMaxWarps) : i4kWarps(chunks);
  // Blocks per SM with the shared memory of one round of R rows (the plan's
  // few rounds more change nothing at these sizes).
  const I4KPlan p =
      planI4K(N, R, w, groups, i4kBlocksPerSM<R, LOAD, PF, ASYM, DQ>(w),
              smCount());
  const int shift = (cpg & (cpg - 1)) == 0 ? __builtin_ctz(unsigned(cpg)) : -1;
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(unsigned(p.blocks));
  cfg.blockDim = dim3(unsigned(p.warps * 32));
  cfg.dynamicSmemBytes = p.smem;
  cfg.stream = st;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  static const int cc = computeCapability(); // like smCount: device 0's
  cfg.numAttrs = gI4KPdl && cc >= 90 ? 1 : 0;
  cudaError_t err = cudaLaunchKernelEx(
      &cfg, qgemvI4K<R, LOAD, PF, ASYM, DQ>, N, A, codes, chunks, scales,
      biases, cpg, shift, G, p.rowsPerBlock, C, cF16, gI4KL2Prefetch);
  if (err != cudaSuccess && cfg.numAttrs != 0) {
    // A stream or driver that refuses the attribute: launch plainly (the
    // kernel's griddepcontrol instructions are then no-ops).
    (void)cudaGetLastError();
    cfg.numAttrs = 0;
    err = cudaLaunchKernelEx(&cfg, qgemvI4K<R, LOAD, PF, ASYM, DQ>, N, A, codes,
                             chunks, scales, biases, cpg, shift, G,
                             p.rowsPerBlock, C, cF16, gI4KL2Prefetch);
  }
  return err;
}

/// kernel 6 / 7: qgemvI4K with ld.global.cs / ld.global.nc.L1::no_allocate
/// weight loads, 8: no-allocate loads with the next round prefetched; R rows
/// per round (4 or 8), U rounds of R rows per block and KS warps per block
/// (0: automatic). dq: qgemvI4K's DQ (0 int4, 1 / 2 FP4 with 1 / 2 scales
/// per chunk; FP4 is never asymmetric). False when there is no instance.
bool launchI4KConfig(I4Config cf, bool asym, int64_t N, cudaStream_t st,
                     const __half *A, const uint4 *codes, int64_t chunks,
                     const float *scales, const float *biases, int64_t cpg,
                     int64_t G, void *C, bool cF16, cudaError_t *err,
                     int dq = 0) {
#define LQ_I4K_DQ(RR, LL, PF, AS, DQ)                                          \
  launchI4K<RR, LL, PF, AS, DQ>(cf.KS, cf.U, st, int(N), A, codes,             \
                                int(chunks), scales, biases, int(cpg), int(G), \
                                C, cF16)
#define LQ_I4K(KERNEL, RR, LL, PF)                                             \
  if (cf.R == RR && cf.kernel == KERNEL) {                                     \
    *err = asym      ? LQ_I4K_DQ(RR, LL, PF, true, 0)                          \
           : dq == 1 ? LQ_I4K_DQ(RR, LL, PF, false, 1)                         \
           : dq == 2 ? LQ_I4K_DQ(RR, LL, PF, false, 2)                         \
                     : LQ_I4K_DQ(RR, LL, PF, false, 0);                        \
    return true;                                                               \
  }
  LQ_I4K(6, 4, 0, false)
  LQ_I4K(6, 8, 0, false)
  LQ_I4K(7, 4, 1, false)
  LQ_I4K(7, 8, 1, false)
  LQ_I4K(8, 4, 1, true)
  LQ_I4K(8, 8, 1, true)
#undef LQ_I4K
#undef LQ_I4K_DQ
  return false;
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
  switch (format) {
  case LQ_FORMAT_NF4:
    return kNf4;
  case LQ_FORMAT_MXFP4:
  case LQ_FORMAT_NVFP4:
    return kFp4;
  case LQ_FORMAT_FP8_E4M3:
    return kFp8E4M3;
  case LQ_FORMAT_FP8_E5M2:
    return kFp8E5M2;
  default:
    return bits == 8 ? kInt8 : kInt4;
  }
}

} // namespace lq::cuda

using namespace lq::cuda;

/// Benchmark hook (gpu_check only; not in <lq_rt/cuda.h>, not thread safe):
/// picks the int4 GEMV kernel of later lq_cuda_qgemv_nt calls (I4Config in
/// qgemv.cu: kernel 0 = automatic, 1 = one row per warp, 2 = R rows per warp,
/// 3 / 4 = tensor cores with R 16-row tiles, RAW / EXACT dequantization,
/// 6 / 7 = the batch-1 kernel with activations in registers).
extern "C" void lq_cuda_bench_qgemv_config(int kernel, int R, int U,
                                           int KS) {
  gI4Config = {kernel, R, U, KS};
}

/// Benchmark hook (gpu_check only): programmatic dependent launch of the
/// batch-1 int4 kernel (qgemvI4K) on sm_90+, on (1, the default) or off.
extern "C" void lq_cuda_bench_qgemv_pdl(int on) { gI4KPdl = on != 0; }
extern "C" void lq_cuda_bench_qgemv_l2prefetch(int on) {
  gI4KL2Prefetch = on != 0;
}

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
  if (floatKind(kind))
    biases = nullptr; // float codes carry their sign: never a zero point
  const bool aF16 = a_dtype == LQ_DTYPE_F16, cF16 = c_dtype == LQ_DTYPE_F16;
  const int elemsPerChunk = bits == 8 ? 16 : 32;
  // FP4 in groups that split a 32-code chunk in halves (NVFP4's 16).
  const bool split =
      kind == kFp4 && g % elemsPerChunk != 0 && g % (elemsPerChunk / 2) == 0;
  dim3 grid(unsigned((N + kWarps - 1) / kWarps));
  cudaStream_t st = asStream(stream);
  const int m = int(M);
  const bool fast = aF16 && rowBytes % 16 == 0 &&
                    (g % elemsPerChunk == 0 || split) && lda % 8 == 0 &&
                    aligned16(A) && aligned16(codes);
  if (fast) {
    const auto *cw = reinterpret_cast<const uint4 *>(codes);
    const auto *a = static_cast<const __half *>(A);
    const int64_t chunks = rowBytes / 16,
                  cpg = split ? g / (elemsPerChunk / 2) : g / elemsPerChunk;
    bool done = false;
    if (kind == kInt4 && gI4Config.kernel != 1 && N < (int64_t(1) << 31) &&
        N * G < (int64_t(1) << 31) && chunks < (int64_t(1) << 26)) {
      I4Config cf =
          gI4Config.kernel != 0 ? gI4Config : i4Config(m, N, chunks, cpg);
      if (cf.kernel >= 6 && m != 1) // qgemvI4K is for batch 1 only
        cf = i4Config(m, N, chunks, cpg);
      const bool asym = biases != nullptr;
      if (cf.kernel >= 6) {
        cudaError_t err = cudaSuccess;
        done = launchI4KConfig(cf, asym, N, st, a, cw, chunks, scales, biases,
                               cpg, G, C, cF16, &err);
        if (done && err != cudaSuccess)
          return failCuda(err, "lq_cuda_qgemv_nt (int4 batch-1 kernel)");
      } else if (cf.KS == 1 || cf.KS == 2 || cf.KS == 4 || cf.KS == 8) {
        if (cf.kernel >= 3)
          done = launchMma(cf, asym, m, N, st, a, lda, cw, chunks, scales,
                           biases, cpg, G, C, cF16, ldc);
        else if (m == 1)
          done = launchI4<1>(cf, asym, N, st, m, a, lda, cw, chunks, scales,
                             biases, cpg, G, C, cF16, ldc);
        else if (m == 2)
          done = launchI4<2>(cf, asym, N, st, m, a, lda, cw, chunks, scales,
                             biases, cpg, G, C, cF16, ldc);
        else if (m <= 4)
          done = launchI4<4>(cf, asym, N, st, m, a, lda, cw, chunks, scales,
                             biases, cpg, G, C, cF16, ldc);
        else
          done = launchI4<8>(cf, asym, N, st, m, a, lda, cw, chunks, scales,
                             biases, cpg, G, C, cF16, ldc);
      }
      if (!done)
        return fail(LQ_CUDA_ERROR_INVALID_ARGUMENT,
                    "lq_cuda_qgemv_nt: no int4 kernel %d with R=%d U=%d "
                    "KS=%d for group %lld",
                    cf.kernel, cf.R, cf.U, cf.KS, (long long)g);
    } else if (kind == kFp4 && m == 1 && gI4Config.kernel != 1 &&
               N < (int64_t(1) << 31) && N * G < (int64_t(1) << 31) &&
               chunks < (int64_t(1) << 26)) {
      // FP4 at batch 1: the int4 batch-1 kernel with E2M1 dequantization,
      // its launch shape chosen as for int4 (or forced by the bench hook).
      I4Config cf = gI4Config.kernel >= 6 ? gI4Config
                                          : i4Config(1, N, chunks, cpg);
      cudaError_t err = cudaSuccess;
      if (!launchI4KConfig(cf, false, N, st, a, cw, chunks, scales, nullptr,
                           cpg, G, C, cF16, &err, split ? 2 : 1))
        return fail(LQ_CUDA_ERROR_INVALID_ARGUMENT,
                    "lq_cuda_qgemv_nt: no FP4 batch-1 kernel %d with R=%d",
                    cf.kernel, cf.R);
      if (err != cudaSuccess)
        return failCuda(err, "lq_cuda_qgemv_nt (FP4 batch-1 kernel)");
    } else if (m == 1)
      launchFast<1>(kind, split, grid, st, m, N, a, lda, cw, chunks, scales, biases,
                    cpg, G, C, cF16, ldc);
    else if (m == 2)
      launchFast<2>(kind, split, grid, st, m, N, a, lda, cw, chunks, scales, biases,
                    cpg, G, C, cF16, ldc);
    else if (m <= 4)
      launchFast<4>(kind, split, grid, st, m, N, a, lda, cw, chunks, scales, biases,
                    cpg, G, C, cF16, ldc);
    else
      launchFast<8>(kind, split, grid, st, m, N, a, lda, cw, chunks, scales, biases,
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
