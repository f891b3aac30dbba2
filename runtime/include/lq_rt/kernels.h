/*===- kernels.h - lq_rt's CPU kernels -----------------------------*- C -*-===*
 * SPDX-License-Identifier: Apache-2.0
 *===----------------------------------------------------------------------===*
 *
 * The hand-written kernels compiled models call (through the MLIR C-interface
 * shims in src/cpu/mlir_abi.cpp) and that tests and benchmarks call directly.
 * Each has AVX-512, AVX2+FMA and portable scalar versions, picked at run time
 * from the CPU's features (or forced with lq_rt_force_isa, for tests).
 *
 *===----------------------------------------------------------------------===*/

#ifndef LQ_RT_KERNELS_H
#define LQ_RT_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Threads kernels use (default: all cores, or $LQ_NUM_THREADS). */
void lq_rt_set_num_threads(int n);
int lq_rt_get_num_threads(void);

/** The ISA in use: "avx512", "avx2" or "scalar". */
const char *lq_rt_isa(void);
/** Forces an ISA ("avx512", "avx2", "scalar", or NULL for automatic).
 *  Returns 0 if this CPU cannot run it (nothing changes then). */
int lq_rt_force_isa(const char *isa);

/** C[m, n] = sum_k A[m, k] * B[n, k]: both operands K-contiguous, as a
 *  linear layer's activations [M, K] and weight [N, K] are. Row strides
 *  lda/ldb/ldc are in elements. */
void lq_rt_sgemm_nt(int64_t M, int64_t N, int64_t K, const float *A,
                    int64_t lda, const float *B, int64_t ldb, float *C,
                    int64_t ldc);

/** A strided 4-D f32 view (strides in elements). */
typedef struct lq_rt_view4 {
  float *data;
  int64_t sizes[4];
  int64_t strides[4];
} lq_rt_view4_t;

/** out = softmax(scale * q k^T [+ causal mask]) v per head. q [B, Hq, T, D],
 *  k [B, Hkv, S, D], v [B, Hkv, S, Dv], out [B, Hq, T, Dv]; query head h
 *  reads KV head h / (Hq / Hkv). Causal masks key s for query t when
 *  s > t + (S - T); a query with no visible key gets zeros. */
void lq_rt_attention_f32(const lq_rt_view4_t *q, const lq_rt_view4_t *k,
                         const lq_rt_view4_t *v, const lq_rt_view4_t *out,
                         float scale, int causal);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* LQ_RT_KERNELS_H */
