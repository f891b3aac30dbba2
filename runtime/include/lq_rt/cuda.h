/*===- cuda.h - lq_rt's CUDA kernels and device runtime ------------*- C -*-===*
 * SPDX-License-Identifier: Apache-2.0
 *===----------------------------------------------------------------------===*
 *
 * The C ABI of liblq_rt_cuda, a separate library so that the CPU runtime
 * (liblq_rt) never depends on CUDA. It holds
 *   - device queries that fail with a clear status (never a crash) when the
 *     machine has no NVIDIA driver or no GPU;
 *   - quantized and low-precision matrix kernels: W4A16/W8A16/NF4 GEMV for
 *     decode and a tensor-core GEMM for prefill (weights in exactly the
 *     layout of the CPU lq_rt_qgemm_nt, <lq_rt/kernels.h>), W8A8 int8 and
 *     FP8 E4M3 GEMMs (through cuBLASLt), the fast Walsh-Hadamard transform;
 *   - the `_mlir_ciface_lq_rt_cuda_*` entry points compiled models call (the
 *     CPU ones' signatures, on device memory; src/cuda/mlir_abi.cpp) and
 *     the `mgpu*` host ABI that MLIR's gpu-to-llvm lowering emits calls to
 *     (src/cuda/mgpu.cpp; Debian ships no libmlir_cuda_runtime.so).
 *
 * Conventions: every pointer argument of a kernel is DEVICE memory unless
 * its comment says otherwise; `stream` is a cudaStream_t passed as void*
 * (NULL: the legacy default stream); kernels return after enqueueing work.
 * Every function returns an lq_cuda_status_t; lq_cuda_last_error() gives
 * the message of the last failure on the calling thread. Arguments are
 * validated before the device is touched, so bad arguments give
 * LQ_CUDA_ERROR_INVALID_ARGUMENT on any machine.
 *
 *===----------------------------------------------------------------------===*/

#ifndef LQ_RT_CUDA_H
#define LQ_RT_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "lq_rt/formats.h"
#include "lq_rt/lq_rt.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lq_cuda_status {
  LQ_CUDA_OK = 0,
  LQ_CUDA_ERROR_NO_DEVICE = 1,        /* no NVIDIA driver, or no GPU */
  LQ_CUDA_ERROR_INVALID_ARGUMENT = 2, /* bad size, dtype, format, pointer */
  LQ_CUDA_ERROR_UNSUPPORTED = 3,      /* valid, but not on this GPU/build */
  LQ_CUDA_ERROR_OUT_OF_MEMORY = 4,
  LQ_CUDA_ERROR_LAUNCH = 5,           /* a CUDA runtime/driver call failed */
  LQ_CUDA_ERROR_LIBRARY = 6,          /* cuBLASLt failed */
} lq_cuda_status_t;

/** Short fixed description of a status ("no CUDA device", ...). */
const char *lq_cuda_status_string(lq_cuda_status_t status);
/** Message of the last failure on this thread ("" if none). */
const char *lq_cuda_last_error(void);

/** Number of CUDA devices. Without a driver or a GPU this returns
 *  LQ_CUDA_ERROR_NO_DEVICE (and *count = 0), with a message saying which. */
lq_cuda_status_t lq_cuda_device_count(int *count);

typedef struct lq_cuda_device_info {
  char name[256];
  int major, minor;        /* compute capability: 9, 0 for an H100 */
  int multiprocessors;
  int64_t global_memory;   /* bytes */
  int64_t l2_cache;        /* bytes */
  int64_t shared_per_block_optin; /* bytes of shared memory a block can get */
  int driver_version;      /* 13000 for CUDA 13.0 */
  int runtime_version;
} lq_cuda_device_info_t;

lq_cuda_status_t lq_cuda_device_info(int device, lq_cuda_device_info_t *info);

/** Blocks until all work queued on `stream` finished; reports asynchronous
 *  kernel failures. */
lq_cuda_status_t lq_cuda_synchronize(void *stream);

/*===------------------------------------------------------------------===*
 * Weight-only quantized linear: C[m, n] = sum_k A[m, k] * w[n, k]
 *
 * The weight is lq_rt_qgemm_nt's (see <lq_rt/kernels.h>): codes [N][row]
 * bytes, row = ceil(K * bits / 8), 4-bit element 2i in the LOW nibble;
 * scales f32 [N][K / group]; biases f32 [N][K / group] or NULL (with
 * biases, w = q * s + b and integer codes are unsigned; without, integer
 * codes are two's complement). format: LQ_FORMAT_INT (bits 4 or 8),
 * LQ_FORMAT_NF4 (bits 4), LQ_FORMAT_MXFP4 / LQ_FORMAT_NVFP4 (bits 4: E2M1
 * codes; scales are the decoded E8M0 / E4M3 block scales as f32, NVFP4's
 * tensor scale multiplied in) or LQ_FORMAT_FP8_E4M3 / LQ_FORMAT_FP8_E5M2
 * (bits 8); the float formats ignore biases (lq_rt_qgemm_nt's semantics and
 * codes). Other format/bits pairs: LQ_CUDA_ERROR_INVALID_ARGUMENT.
 * group <= 0 or group == K: one scale per row.
 * A and C are row-major with row strides lda / ldc in elements; a_dtype
 * and c_dtype are LQ_DTYPE_F16 or LQ_DTYPE_F32.
 *===------------------------------------------------------------------===*/

/** Picks the kernel: the GEMV for M <= 8, the tensor-core GEMM above. */
lq_cuda_status_t lq_cuda_qgemm_nt(int64_t M, int64_t N, int64_t K,
                                  const void *A, lq_dtype_t a_dtype,
                                  int64_t lda, const uint8_t *codes,
                                  const float *scales, const float *biases,
                                  lq_format_t format, int32_t bits,
                                  int64_t group, void *C, lq_dtype_t c_dtype,
                                  int64_t ldc, void *stream);

/** Decode GEMV (1 <= M <= 8): streams the codes once, dequantizing in
 *  registers. With f16 activations, 16-byte aligned rows (K % 32 == 0 for
 *  4 bits, K % 16 == 0 for 8) and group % 32 == 0 (8 bits: % 16; FP4 also
 *  % 16) it runs a half2 kernel (products summed in f16 over up to 32
 *  elements, then in f32; FP8 products are of value * 2^-8, so E4M3 stays
 *  far from f16's range and E5M2 like int8; int4 and FP4 at batch 1 take a
 *  kernel that keeps the activations in registers); otherwise a general f32
 *  kernel. */
lq_cuda_status_t lq_cuda_qgemv_nt(int64_t M, int64_t N, int64_t K,
                                  const void *A, lq_dtype_t a_dtype,
                                  int64_t lda, const uint8_t *codes,
                                  const float *scales, const float *biases,
                                  lq_format_t format, int32_t bits,
                                  int64_t group, void *C, lq_dtype_t c_dtype,
                                  int64_t ldc, void *stream);

/** Prefill GEMM on tensor cores (any M): tiles of w are dequantized to f16
 *  in shared memory and multiplied with WMMA (mma.sync) in f32; A is read
 *  as f16 (f32 activations are rounded to f16). */
lq_cuda_status_t lq_cuda_qgemm_tc_nt(int64_t M, int64_t N, int64_t K,
                                     const void *A, lq_dtype_t a_dtype,
                                     int64_t lda, const uint8_t *codes,
                                     const float *scales, const float *biases,
                                     lq_format_t format, int32_t bits,
                                     int64_t group, void *C,
                                     lq_dtype_t c_dtype, int64_t ldc,
                                     void *stream);

/*===------------------------------------------------------------------===*
 * W8A8 and FP8 GEMMs (cuBLASLt): C[m, n] = sa[m] * sb[n] * sum_k A[m, k] B[n, k]
 *
 * A [M][K] and B [N][K] are row-major, K-contiguous, dense (lda = ldb = K);
 * C [M][N] has row stride ldc. a_scales holds 1 value (per tensor) or M
 * (per token) when a_scale_count == M; b_scales 1 or N (per channel); both
 * f32 device arrays. Shapes cuBLASLt declines (e.g. K % 4 != 0 for int8,
 * K % 16 != 0 for FP8) fall back to a simple CUDA-core kernel.
 *===------------------------------------------------------------------===*/

/** int8 x int8 -> int32 (IMMA) then the scales in a fused epilogue. */
lq_cuda_status_t lq_cuda_gemm_w8a8(int64_t M, int64_t N, int64_t K,
                                   const int8_t *A, const int8_t *B,
                                   const float *a_scales,
                                   int64_t a_scale_count,
                                   const float *b_scales,
                                   int64_t b_scale_count, void *C,
                                   lq_dtype_t c_dtype, int64_t ldc,
                                   void *stream);

/** FP8 E4M3 (OCP, codes as in <lq_rt/formats.h>) x E4M3, f32 accumulation.
 *  Per-tensor scales go to cuBLASLt's A/B scale pointers (one call);
 *  per-token/per-channel scales are applied by an epilogue kernel.
 *  Needs compute capability 8.9 or newer (LQ_CUDA_ERROR_UNSUPPORTED
 *  otherwise). */
lq_cuda_status_t lq_cuda_gemm_fp8(int64_t M, int64_t N, int64_t K,
                                  const uint8_t *A, const uint8_t *B,
                                  const float *a_scales,
                                  int64_t a_scale_count,
                                  const float *b_scales,
                                  int64_t b_scale_count, void *C,
                                  lq_dtype_t c_dtype, int64_t ldc,
                                  void *stream);

/** Dense C[M][N] = A[M][K] . B[N][K]^T in f32 (cuBLASLt SGEMM), row
 *  strides lda/ldb/ldc in elements. */
lq_cuda_status_t lq_cuda_sgemm_nt(int64_t M, int64_t N, int64_t K,
                                  const float *A, int64_t lda, const float *B,
                                  int64_t ldb, float *C, int64_t ldc,
                                  void *stream);

/*===------------------------------------------------------------------===*
 * Fast Walsh-Hadamard transform along the last dimension:
 *   y[r, :] = H_n x[r, :] / sqrt(n),  H_1 = [1], H_2n = [[H_n, H_n], [H_n, -H_n]]
 * n a power of two, 1 <= n <= 32768; dtype LQ_DTYPE_F32 or LQ_DTYPE_F16
 * (computed in f32); x == y (in place) is allowed.
 *===------------------------------------------------------------------===*/
lq_cuda_status_t lq_cuda_hadamard(const void *x, void *y, lq_dtype_t dtype,
                                  int64_t rows, int64_t n, void *stream);

/*===------------------------------------------------------------------===*
 * Attention (f32): out = softmax(scale * q k^T [+ causal mask]) v, with
 * lq_rt_attention_f32's semantics (GQA: query head h reads KV head
 * h / (Hq / Hkv); causal masks s > t + (S - T); no visible key -> zeros).
 * Views are strided [B, H, T, D] tensors in device memory.
 *===------------------------------------------------------------------===*/
typedef struct lq_cuda_view4 {
  float *data;
  int64_t sizes[4];
  int64_t strides[4];
} lq_cuda_view4_t;

lq_cuda_status_t lq_cuda_attention_f32(const lq_cuda_view4_t *q,
                                       const lq_cuda_view4_t *k,
                                       const lq_cuda_view4_t *v,
                                       const lq_cuda_view4_t *out, float scale,
                                       int causal, void *stream);

/** lq_rt_attention_at_f32 on the GPU (a fixed-capacity KV cache): query t
 *  sits at key position + t, keys from position + T on are never read,
 *  causal masks s > position + t. position = S - T is the call above.
 *  Views with unit inner strides run the flash-decoding kernels of
 *  lq_cuda_attention_at_q (key splits whose partials go to one device
 *  scratch buffer of lq_rt_cuda): like it, calls on different streams must
 *  not overlap in time. */
lq_cuda_status_t lq_cuda_attention_at_f32(const lq_cuda_view4_t *q,
                                          const lq_cuda_view4_t *k,
                                          const lq_cuda_view4_t *v,
                                          const lq_cuda_view4_t *out,
                                          float scale, int causal,
                                          int64_t position, void *stream);

/*===------------------------------------------------------------------===*
 * Attention over a quantized KV cache (lq_rt_attention_at_q on the GPU)
 *
 * lq_cuda_qview4_t is lq_rt_qview4_t (<lq_rt/kernels.h>) with device
 * pointers: element (b, h, s, d) is byte codes[b*strides[0] + h*strides[1]
 * + s*strides[2] + d] (int8, FP8), or the (d % 2 ? high : low) nibble of
 * byte d / 2 there (int4 two's complement, NVFP4's E2M1); its scale is
 * scales[b'*ss[0] + h'*ss[1] + (s / gs)*ss[2] + (d / gd)*ss[3]] with
 * gs = S / scale_sizes[2], gd = D / scale_sizes[3], b' (h') = 0 when
 * scale_sizes[0] ([1]) is 1; value = decode(code) * scale (* global_scale
 * for NVFP4). scale_type: LQ_CUDA_SCALE_F32 / _F16 / _E4M3.
 *===------------------------------------------------------------------===*/
typedef struct lq_cuda_qview4 {
  const uint8_t *codes;
  int64_t sizes[4];
  int64_t strides[4];
  const void *scales;
  int64_t scale_sizes[4];
  int64_t scale_strides[4];
  int32_t format; /* LQ_FORMAT_INT (bits 8 or 4), LQ_FORMAT_FP8_E4M3/E5M2
                     (bits 8), LQ_FORMAT_NVFP4 (bits 4) */
  int32_t bits;
  int32_t scale_type;
  float global_scale; /* NVFP4 only */
} lq_cuda_qview4_t;

enum {
  LQ_CUDA_SCALE_F32 = 0,
  LQ_CUDA_SCALE_F16 = 1,
  LQ_CUDA_SCALE_E4M3 = 2
};

/** lq_cuda_attention_at_f32 reading quantized keys and values, decoded in
 *  the kernel as they are read (no float copy of the cache): q, out f32
 *  [B, Hq, T, D] / [B, Hq, T, Dv], k [B, Hkv, S, D], v [B, Hkv, S, Dv].
 *  One block per (batch, KV head, key split) reads each cache row once for
 *  all the query heads of its GQA group; long caches are split over keys
 *  (flash-decoding) and the splits combined by a second kernel. Query t
 *  sees keys [0, min(S, causal ? position + t + 1 : position + T)); none:
 *  zeros. Blocks must divide S and D; int4 / NVFP4 need an even D and
 *  channel groups that are even or 1 (lq_rt_attention_at_q's rules).
 *  The split partials go to one process-wide device scratch buffer (grown
 *  on demand): calls on different streams must not overlap in time, and a
 *  captured CUDA graph must be re-captured after a call that grew it. */
lq_cuda_status_t lq_cuda_attention_at_q(const lq_cuda_view4_t *q,
                                        const lq_cuda_qview4_t *k,
                                        const lq_cuda_qview4_t *v,
                                        const lq_cuda_view4_t *out,
                                        float scale, int causal,
                                        int64_t position, void *stream);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* LQ_RT_CUDA_H */
