//===- hadamard_tables.h - Base matrices for the kernels ----------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#ifndef LQ_RT_SRC_CORE_HADAMARD_TABLES_H
#define LQ_RT_SRC_CORE_HADAMARD_TABLES_H

#include <cstdint>

namespace lq_rt {

/// Row stride of hadamardTransposed: m rounded up to 16 floats, so a kernel
/// may load full vectors (up to 16 lanes) past column m - 1.
inline int64_t hadamardPaddedOrder(int64_t m) { return (m + 15) / 16 * 16; }

/// H_m^T as floats, [m][hadamardPaddedOrder(m)] (zero padded): row c' holds
/// column c' of H_m, the coefficients a kernel FMAs with x[c']. NULL when m
/// is not a base order (m = 1 included).
const float *hadamardTransposed(int64_t m);

} // namespace lq_rt

#endif // LQ_RT_SRC_CORE_HADAMARD_TABLES_H
