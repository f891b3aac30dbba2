/*===- hadamard.h - Walsh-Hadamard transforms ----------------------*- C -*-===*
 * SPDX-License-Identifier: Apache-2.0
 *===----------------------------------------------------------------------===*
 *
 * The orthogonal Hadamard transform that `lq.hadamard` computes and that
 * QuaRot/SpinQuant (Ashkboos et al. 2024, arXiv:2404.00456; Liu et al. 2025,
 * arXiv:2405.16406) apply online to activations and fuse offline into
 * weights. Every backend (CPU kernels here, CUDA, the compiler's constant
 * folding) must use exactly this matrix, so it is defined here once:
 *
 *   A block of B = P * m values with P = 2^k and m the order of one of the
 *   base matrices below (m = 1 when B is a power of two) is transformed as
 *
 *     y = (H_P (x) H_m) x / sqrt(B),
 *     H_B[a*m + c][a'*m + c'] = (-1)^popcount(a & a') * H_m[c][c'],
 *
 *   i.e. H_P is Sylvester's matrix in natural order and the base matrix acts
 *   on the m consecutive elements of each of the P sub-blocks. The result is
 *   orthogonal: applying the transform with H_m transposed inverts it (for
 *   m = 1 the transform is its own inverse).
 *
 * Base matrices (+-1 entries, H H^T = m I, tested in lq_rt_tests):
 *   12, 20, 60, 108, 140: Paley construction I, q = m - 1 prime, q = 3 mod 4;
 *   28, 36: Paley construction II, q = m/2 - 1 prime, q = 1 mod 4;
 *   40: H_2 (x) H_20 (so a size 2^k * 40 factors as 2^(k+1) * 20);
 *   52, 156, 172: Williamson's construction from four circulant +-1
 *   sequences of length m/4 (13: Baumert-Hall; 39: Long 2013; 43: Hall 1983;
 *   as tabulated by SageMath's hadamard_matrix module).
 * A size whose odd part is not 1 or one of these orders is unsupported.
 *
 *===----------------------------------------------------------------------===*/

#ifndef LQ_RT_HADAMARD_H
#define LQ_RT_HADAMARD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The orders of the non-power-of-two base matrices, ascending. */
#define LQ_RT_HADAMARD_NUM_ORDERS 11
extern const int64_t lq_rt_hadamard_orders[LQ_RT_HADAMARD_NUM_ORDERS];

/** The base order m used for a block of \p n values: 1 when n is a power of
 *  two, else the smallest listed order m with n / m a power of two; 0 when n
 *  is unsupported (n <= 0 included). */
int64_t lq_rt_hadamard_factor(int64_t n);

/** The +-1 Hadamard matrix of order \p m (row-major, m * m entries), for
 *  m = 1, 2, or a listed order; NULL otherwise. Built once, never freed. */
const int8_t *lq_rt_hadamard_matrix(int64_t m);

/** In place, for each of \p rows rows (row r starts at x + r * stride) and
 *  each block of \p block consecutive values of its first \p n values:
 *  x_block <- H_block x_block / sqrt(block) (the definition above). \p block
 *  <= 0 means one block of n. Returns 0, or -1 (changing nothing) when block
 *  does not divide n or is unsupported. Threads over rows and blocks. */
int lq_rt_hadamard_f32(int64_t rows, int64_t n, int64_t block, float *x,
                       int64_t stride);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* LQ_RT_HADAMARD_H */
