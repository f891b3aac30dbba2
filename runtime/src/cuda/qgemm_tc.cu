//===- qgemm_tc.cu - Weight-only quantized GEMM on tensor cores ---*- CUDA -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Prefill: C[m, n] = sum_k A[m, k] * w[n, k] for large M, w in
// lq_rt_qgemm_nt's layout. The classic tiled GEMM (e.g. the CUTLASS/"How to
// optimize a CUDA matmul" structure) with the weight dequantized on the way
// into shared memory: each 128x128 output tile walks K in steps of 32; a
// step loads A's 128x32 slice (f16, or f32 rounded to f16) and w's 128x32
// slice (codes -> q * s + b in f32 -> f16) into registers while the tensor
// cores (WMMA 16x16x16, f16 x f16 -> f32, i.e. mma.sync) consume the
// previous step from shared memory. 8 warps, each a 64x32 sub-tile.
// The weight costs 0.5 (int4) or 1 (int8) byte per element from DRAM; its
// f16 form lives only in shared memory.
//
//===----------------------------------------------------------------------===//

#include "common.h"
#include "quant.cuh"

#include <cuda_fp16.h>
#include <mma.h>

namespace lq::cuda {
int weightKind(lq_format_t format, int bits);

namespace {

using namespace nvcuda;

constexpr int BM = 128, BN = 128, BK = 32, LDS = BK + 8, kThreads = 256;

struct Params {
  int64_t M, N, K, lda, ldc, rowBytes, group, G;
  const void *A;
  const uint8_t *codes;
  const float *scales, *biases;
  void *C;
  int kind;
  bool aF16, cF16, vecA, vecB;
};

/// 16 consecutive activations of row m from k0 (zeros outside the matrix).
__device__ __forceinline__ void loadA(const Params &p, int64_t m, int64_t k0,
                                      __half (&out)[16]) {
  if (p.vecA && m < p.M && k0 + 16 <= p.K) {
    if (p.aF16) {
      const uint4 *src = reinterpret_cast<const uint4 *>(
          static_cast<const __half *>(p.A) + m * p.lda + k0);
      uint4 v0 = __ldg(src), v1 = __ldg(src + 1);
      *reinterpret_cast<uint4 *>(&out[0]) = v0;
      *reinterpret_cast<uint4 *>(&out[8]) = v1;
    } else {
      const float4 *src = reinterpret_cast<const float4 *>(
          static_cast<const float *>(p.A) + m * p.lda + k0);
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        float4 v = __ldg(src + i);
        out[4 * i] = __float2half_rn(v.x);
        out[4 * i + 1] = __float2half_rn(v.y);
        out[4 * i + 2] = __float2half_rn(v.z);
        out[4 * i + 3] = __float2half_rn(v.w);
      }
    }
    return;
  }
#pragma unroll
  for (int i = 0; i < 16; ++i) {
    const int64_t k = k0 + i;
    out[i] = (m < p.M && k < p.K)
                 ? __float2half_rn(toFloat(p.A, m * p.lda + k, p.aF16))
                 : __float2half_rn(0.f);
  }
}

__device__ __forceinline__ __half2 bitsh2(uint32_t u) {
  return *reinterpret_cast<__half2 *>(&u);
}

/// 16 consecutive dequantized weights of row n from k0.
__device__ __forceinline__ void loadB(const Params &p, int64_t n, int64_t k0,
                                      __half (&out)[16]) {
  const bool asym = p.biases != nullptr;
  if (p.vecB && n < p.N && k0 + 16 <= p.K) {
    // One group covers the 16 elements (group % 16 == 0 checked on host).
    const uint8_t *row = p.codes + n * p.rowBytes;
    const int64_t gi = n * p.G + k0 / p.group;
    const float s = __ldg(p.scales + gi);
    const float b = asym ? __ldg(p.biases + gi) : 0.f;
    // Codes become exact halves with the magic-number trick (see
    // qgemv.cu), then w = q * s + b in one HFMA2 per pair: no per-element
    // int->float->half conversions, which would dominate the tile's cost.
    __half2 *o2 = reinterpret_cast<__half2 *>(out);
    const __half2 s2 = __float2half2_rn(s), b2 = __float2half2_rn(b);
    if (p.kind == kInt8) {
      uint4 v = __ldg(reinterpret_cast<const uint4 *>(row + k0));
      const uint32_t w[4] = {v.x, v.y, v.z, v.w};
      const __half2 off = bitsh2(asym ? 0xE400E400u : 0xE480E480u);
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const uint32_t word = asym ? w[i] : w[i] ^ 0x80808080u;
        const __half2 q0 = __hadd2(
            bitsh2(__byte_perm(word, 0x64646464u, 0x4140u)), off);
        const __half2 q1 = __hadd2(
            bitsh2(__byte_perm(word, 0x64646464u, 0x4342u)), off);
        o2[2 * i] = __hfma2(q0, s2, b2);
        o2[2 * i + 1] = __hfma2(q1, s2, b2);
      }
    } else if (p.kind == kInt4) {
      uint2 v = __ldg(reinterpret_cast<const uint2 *>(row + k0 / 2));
      const uint32_t w[2] = {v.x, v.y};
      const __half2 mul = bitsh2(0x2C003C00u); // (1, 1/16)
      const __half2 off = bitsh2(asym ? 0xD400E400u : 0xD480E408u);
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        const uint32_t word = asym ? w[i] : w[i] ^ 0x88888888u;
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          const uint32_t t = __byte_perm(word, 0u, 0x4040u | (j << 8) | j);
          const __half2 q =
              __hfma2(bitsh2((t & 0x00F0000Fu) | 0x64006400u), mul, off);
          o2[4 * i + j] = __hfma2(q, s2, b2);
        }
      }
    } else {
      uint2 v = __ldg(reinterpret_cast<const uint2 *>(row + k0 / 2));
      const uint32_t w[2] = {v.x, v.y};
#pragma unroll
      for (int i = 0; i < 16; ++i) {
        const uint32_t c = (w[i >> 3] >> (4 * (i & 7))) & 15u;
        out[i] = __float2half_rn(kNf4Codebook[c] * s + b);
      }
    }
    return;
  }
#pragma unroll
  for (int i = 0; i < 16; ++i) {
    const int64_t k = k0 + i;
    float w = 0.f;
    if (n < p.N && k < p.K) {
      const int64_t gi = n * p.G + k / p.group;
      w = decodeCode(p.codes + n * p.rowBytes, k, p.kind, asym) * p.scales[gi];
      if (asym)
        w += p.biases[gi];
    }
    out[i] = __float2half_rn(w);
  }
}

__global__ void __launch_bounds__(kThreads, 2) qgemmTc(Params p) {
  __shared__ __align__(32) __half As[BM * LDS];
  __shared__ __align__(32) __half Bs[BN * LDS];
  __shared__ __align__(32) float Cs[kThreads / 32][16 * 16];

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int64_t m0 = int64_t(blockIdx.y) * BM, n0 = int64_t(blockIdx.x) * BN;
  const int lr = tid >> 1, lk = (tid & 1) * 16; // this thread's load slot
  const int wm = (warp >> 2) * 64, wn = (warp & 3) * 32;

  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[4][2];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j)
      wmma::fill_fragment(acc[i][j], 0.f);

  __half ra[16], rb[16];
  loadA(p, m0 + lr, lk, ra);
  loadB(p, n0 + lr, lk, rb);
  for (int64_t k0 = 0; k0 < p.K; k0 += BK) {
    __syncthreads(); // previous step's readers are done
    *reinterpret_cast<uint4 *>(&As[lr * LDS + lk]) =
        *reinterpret_cast<uint4 *>(&ra[0]);
    *reinterpret_cast<uint4 *>(&As[lr * LDS + lk + 8]) =
        *reinterpret_cast<uint4 *>(&ra[8]);
    *reinterpret_cast<uint4 *>(&Bs[lr * LDS + lk]) =
        *reinterpret_cast<uint4 *>(&rb[0]);
    *reinterpret_cast<uint4 *>(&Bs[lr * LDS + lk + 8]) =
        *reinterpret_cast<uint4 *>(&rb[8]);
    __syncthreads();
    if (k0 + BK < p.K) { // prefetch the next step while computing this one
      loadA(p, m0 + lr, k0 + BK + lk, ra);
      loadB(p, n0 + lr, k0 + BK + lk, rb);
    }
#pragma unroll
    for (int kk = 0; kk < BK; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> fa[4];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> fb[2];
#pragma unroll
      for (int i = 0; i < 4; ++i)
        wmma::load_matrix_sync(fa[i], &As[(wm + 16 * i) * LDS + kk], LDS);
#pragma unroll
      for (int j = 0; j < 2; ++j)
        wmma::load_matrix_sync(fb[j], &Bs[(wn + 16 * j) * LDS + kk], LDS);
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j)
          wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
    }
  }

  // Epilogue: each 16x16 fragment through this warp's scratch, with bounds.
  float *scratch = Cs[warp];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      wmma::store_matrix_sync(scratch, acc[i][j], 16, wmma::mem_row_major);
      __syncwarp();
      for (int e = lane; e < 256; e += 32) {
        const int64_t m = m0 + wm + 16 * i + (e >> 4);
        const int64_t n = n0 + wn + 16 * j + (e & 15);
        if (m < p.M && n < p.N)
          store(p.C, m * p.ldc + n, scratch[e], p.cF16);
      }
      __syncwarp();
    }
}

bool aligned(const void *ptr, unsigned a) {
  return (reinterpret_cast<uintptr_t>(ptr) & (a - 1)) == 0;
}

} // namespace
} // namespace lq::cuda

using namespace lq::cuda;

extern "C" lq_cuda_status_t
lq_cuda_qgemm_tc_nt(int64_t M, int64_t N, int64_t K, const void *A,
                    lq_dtype_t a_dtype, int64_t lda, const uint8_t *codes,
                    const float *scales, const float *biases,
                    lq_format_t format, int32_t bits, int64_t group, void *C,
                    lq_dtype_t c_dtype, int64_t ldc, void *stream) {
  if (lq_cuda_status_t s =
          validateQGemm("lq_cuda_qgemm_tc_nt", M, N, K, A, a_dtype, lda,
                        codes, scales, format, bits, group, C, c_dtype, ldc))
    return s;
  if ((N + BN - 1) / BN > 0x7fffffff || (M + BM - 1) / BM > 65535)
    return fail(LQ_CUDA_ERROR_INVALID_ARGUMENT,
                "lq_cuda_qgemm_tc_nt: M=%lld too large (at most %d)",
                (long long)M, 65535 * BM);
  if (lq_cuda_status_t s = ensureDevice())
    return s;
  Params p;
  p.M = M;
  p.N = N;
  p.K = K;
  p.lda = lda;
  p.ldc = ldc;
  p.rowBytes = (K * bits + 7) / 8;
  p.group = group <= 0 ? K : group;
  p.G = K / p.group;
  p.A = A;
  p.codes = codes;
  p.scales = scales;
  p.biases = biases;
  p.C = C;
  p.kind = weightKind(format, bits);
  p.aF16 = a_dtype == LQ_DTYPE_F16;
  p.cF16 = c_dtype == LQ_DTYPE_F16;
  p.vecA = p.aF16 ? (lda % 8 == 0 && aligned(A, 16))
                  : (lda % 4 == 0 && aligned(A, 16));
  p.vecB = p.group % 16 == 0 && aligned(codes, 16) &&
           (bits == 8 ? p.rowBytes % 16 == 0 : p.rowBytes % 8 == 0);
  dim3 grid(unsigned((N + BN - 1) / BN), unsigned((M + BM - 1) / BM));
  qgemmTc<<<grid, dim3(kThreads), 0, asStream(stream)>>>(p);
  return checkLaunch("lq_cuda_qgemm_tc_nt");
}
