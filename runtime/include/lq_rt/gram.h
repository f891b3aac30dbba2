/*===- gram.h - Accumulated Gram matrices XᵀX (GPTQ Hessians) ------*- C -*-===*
 * SPDX-License-Identifier: Apache-2.0
 *===----------------------------------------------------------------------===*/

#ifndef LQ_RT_GRAM_H
#define LQ_RT_GRAM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** GPTQ's Hessian accumulation (a SYRK): H[i, j] += sum_m X[m, i] * X[m, j]
 *  for j <= i, X [M, K] at X[m * stride_m + k * stride_k]; H [K, K] double,
 *  row-major. Only the lower triangle (with the diagonal) is written: call
 *  lq_rt_gram_symmetrize once after the last accumulation. Each call's
 *  product is summed in float over its M rows by lq_rt_sgemm_nt (lower-
 *  triangle block rows only, about half the flops of the full product), then
 *  added to H in double. Not reentrant per thread (a thread-local scratch). */
void lq_rt_gram_accumulate(int64_t M, int64_t K, const float *X,
                           int64_t stride_m, int64_t stride_k, double *H);
/** Copies the lower triangle of H [K, K] onto its upper triangle. */
void lq_rt_gram_symmetrize(int64_t K, double *H);

#ifdef __cplusplus
}
#endif

#endif /* LQ_RT_GRAM_H */
