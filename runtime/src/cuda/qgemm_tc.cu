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
// The weight costs 0.5 (int4, NF4, FP4) or 1 (int8, FP8) byte per element
// from DRAM; its f16 form lives only in shared memory.
//
// For M >= kDequantMinM with f16 activations, a second path dequantizes the
// weight once per call into an f16 scratch matrix (w = q * s + b in f32,
// rounded once) and runs cuBLASLt's f16 GEMM (f32 accumulation) on it, in
// row blocks of at most kDequantMaxElems weights: the dequantization moves
// N K (0.5 + 2) bytes, ~12 us at 4096 x 4096 on an H200, against ~180 us
// for the 4096^3 GEMM, so prefill runs near cuBLASLt's f16 rate, at the
// price of the scratch (2 bytes per weight of one row block, <= 128 MB).
// This is what e.g. vLLM's AWQ path does for large token counts. (The WMMA
// kernel above measured 22% of cuBLASLt f16 at 4096^3.) The hook
// lq_cuda_bench_qgemm_tc_mode picks either path for gpu_check.
//
//===----------------------------------------------------------------------===//

#include "internal.h"
#include "quant.cuh"

#include <cuda_fp16.h>
#include <mma.h>

#include <algorithm>

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
    } else if (byteKind(p.kind)) { // FP8: decoded exactly in f32
      uint4 v = __ldg(reinterpret_cast<const uint4 *>(row + k0));
      const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
      for (int i = 0; i < 16; ++i)
        out[i] = __float2half_rn(
            decodeByte((w[i >> 2] >> (8 * (i & 3))) & 0xFFu, p.kind, false) *
            s);
    } else { // NF4 (table), FP4
      uint2 v = __ldg(reinterpret_cast<const uint2 *>(row + k0 / 2));
      const uint32_t w[2] = {v.x, v.y};
#pragma unroll
      for (int i = 0; i < 16; ++i) {
        const uint32_t c = (w[i >> 3] >> (4 * (i & 7))) & 15u;
        out[i] = __float2half_rn(decodeNibble(c, p.kind, false) * s + b);
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

//===----------------------------------------------------------------------===//
// Dequantize + cuBLASLt f16 GEMM (large M)
//===----------------------------------------------------------------------===//

constexpr int64_t kDequantMinM = 128;
constexpr int64_t kDequantMaxElems = int64_t(64) << 20; // 128 MB of f16

/// out[r][k] = w[n0 + r][k] as f16 for r < rows, 8 elements (one group:
/// group % 8 == 0, K % 8 == 0) per thread and step, one 16-byte store.
__global__ void dequantRowsF16(const uint8_t *codes, int64_t rowBytes,
                               const float *scales, const float *biases,
                               int kind, int64_t K, int64_t group, int64_t G,
                               int64_t n0, int64_t rows, __half *out) {
  const int64_t per = K / 8, total = rows * per;
  const bool asym = biases != nullptr;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / per, k0 = (i - r * per) * 8, n = n0 + r;
    const int64_t gi = n * G + k0 / group;
    const float s = __ldg(scales + gi), b = asym ? __ldg(biases + gi) : 0.f;
    const uint8_t *row = codes + n * rowBytes;
    float v[8];
    if (byteKind(kind)) {
      const uint2 w = __ldg(reinterpret_cast<const uint2 *>(row + k0));
#pragma unroll
      for (int e = 0; e < 8; ++e) {
        const uint32_t c = ((e < 4 ? w.x : w.y) >> (8 * (e & 3))) & 0xFFu;
        v[e] = fmaf(decodeByte(c, kind, asym), s, b);
      }
    } else {
      const uint32_t w =
          __ldg(reinterpret_cast<const uint32_t *>(row + k0 / 2));
#pragma unroll
      for (int e = 0; e < 8; ++e) {
        const uint32_t c = (w >> (4 * e)) & 15u; // element 2i: low nibble
        v[e] = fmaf(decodeNibble(c, kind, asym), s, b);
      }
    }
    uint4 o;
    uint32_t *ow = &o.x;
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const __half2 h = __floats2half2_rn(v[2 * e], v[2 * e + 1]);
      ow[e] = *reinterpret_cast<const uint32_t *>(&h);
    }
    *reinterpret_cast<uint4 *>(out + r * K + k0) = o;
  }
}

/// 0: automatic, 1: the WMMA kernel, 2: dequantize + cuBLASLt (when the
/// inputs allow it); the most weights per row block (0: kDequantMaxElems).
/// Set by lq_cuda_bench_qgemm_tc_mode (gpu_check).
int gTcMode = 0;
int64_t gTcMaxElems = 0;

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
  // Float codes (FP4, FP8) carry their sign: never a zero point.
  p.biases = floatKind(weightKind(format, bits)) ? nullptr : biases;
  biases = p.biases;
  p.C = C;
  p.kind = weightKind(format, bits);
  p.aF16 = a_dtype == LQ_DTYPE_F16;
  p.cF16 = c_dtype == LQ_DTYPE_F16;
  p.vecA = p.aF16 ? (lda % 8 == 0 && aligned(A, 16))
                  : (lda % 4 == 0 && aligned(A, 16));
  p.vecB = p.group % 16 == 0 && aligned(codes, 16) &&
           (bits == 8 ? p.rowBytes % 16 == 0 : p.rowBytes % 8 == 0);
  const bool canDequant = p.aF16 && K % 8 == 0 && p.group % 8 == 0 &&
                          lda % 8 == 0 && aligned(A, 16) &&
                          aligned(codes, 8) && aligned(C, 16) && ldc % 8 == 0;
  const bool dequant =
      canDequant && (gTcMode == 2 || (gTcMode == 0 && M >= kDequantMinM));
  if (dequant) {
    // Row blocks of a multiple of 128 rows (16-byte aligned C offsets).
    const int64_t maxElems = gTcMaxElems > 0 ? gTcMaxElems : kDequantMaxElems;
    const int64_t rowsPer = std::min<int64_t>(
        N, std::max<int64_t>(128, (maxElems / K) / 128 * 128));
    void *ws = nullptr;
    if (lq_cuda_status_t s =
            weightScratch(size_t(rowsPer) * size_t(K) * 2, ws))
      return s;
    cudaStream_t st = asStream(stream);
    const size_t elem = p.cF16 ? 2 : 4;
    for (int64_t n0 = 0; n0 < N; n0 += rowsPer) {
      const int64_t rows = std::min(rowsPer, N - n0);
      const int64_t work = rows * (K / 8);
      const unsigned blocks =
          unsigned(std::min<int64_t>((work + 255) / 256, 132 * 16));
      dequantRowsF16<<<blocks, 256, 0, st>>>(
          codes, p.rowBytes, scales, biases, p.kind, K, p.group, p.G, n0, rows,
          static_cast<__half *>(ws));
      if (lq_cuda_status_t s = checkLaunch("lq_cuda_qgemm_tc_nt (dequantize)"))
        return s;
      bool declined = false;
      if (lq_cuda_status_t s = ltGemmF16(
              M, rows, K, A, lda, ws, K,
              static_cast<char *>(C) + size_t(n0) * elem, p.cF16, ldc, st,
              declined))
        return s;
      if (declined) { // cuBLASLt has no kernel: the WMMA kernel, whole
        if (n0 != 0)  // (a row block failing after the first: not seen)
          return fail(LQ_CUDA_ERROR_LIBRARY,
                      "lq_cuda_qgemm_tc_nt: cuBLASLt declined a row block");
        break;
      }
      if (n0 + rowsPer >= N)
        return checkLaunch("lq_cuda_qgemm_tc_nt (cuBLASLt)");
    }
  }
  dim3 grid(unsigned((N + BN - 1) / BN), unsigned((M + BM - 1) / BM));
  qgemmTc<<<grid, dim3(kThreads), 0, asStream(stream)>>>(p);
  return checkLaunch("lq_cuda_qgemm_tc_nt");
}

/// Benchmark hook (gpu_check only; not in <lq_rt/cuda.h>, not thread safe):
/// the prefill path of lq_cuda_qgemm_tc_nt: 0 automatic (dequantize +
/// cuBLASLt from M = 128 on), 1 the WMMA kernel, 2 dequantize + cuBLASLt;
/// max_elems: the most weights dequantized per row block (0: 64 Mi).
extern "C" void lq_cuda_bench_qgemm_tc_mode(int mode, int64_t max_elems) {
  gTcMode = mode;
  gTcMaxElems = max_elems;
}
