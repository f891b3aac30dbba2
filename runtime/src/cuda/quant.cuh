//===- quant.cuh - Device-side weight decoding shared by the kernels -*- CUDA -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Element decoding of lq_rt_qgemm_nt's weight layout (<lq_rt/kernels.h>):
// w[n, k] = q * s + b, with q the k-th code of row n read as a two's
// complement integer (symmetric, no biases), an unsigned integer
// (asymmetric, with biases) or an NF4 codebook value; s = scales[n, k/g].
//
//===----------------------------------------------------------------------===//

#ifndef LQ_RT_SRC_CUDA_QUANT_CUH
#define LQ_RT_SRC_CUDA_QUANT_CUH

#include <cstdint>
#include <cuda_fp16.h>

namespace lq::cuda {

/// QLoRA's NF4 table (bit-identical to lq_nf4_codebook in formats.cpp;
/// the CUDA tests compare the two).
static __constant__ float kNf4Codebook[16] = {
    -1.0f,
    -0.6961928009986877f,
    -0.5250730514526367f,
    -0.39491748809814453f,
    -0.28444138169288635f,
    -0.18477343022823334f,
    -0.09105003625154495f,
    0.0f,
    0.07958029955625534f,
    0.16093020141124725f,
    0.24611230194568634f,
    0.33791524171829224f,
    0.44070982933044434f,
    0.5626170039176941f,
    0.7229568362236023f,
    1.0f};

enum WeightKind : int { kInt4 = 0, kInt8 = 1, kNf4 = 2 };

/// Code k of a row (bits 4: element 2i in the low nibble of byte i).
__device__ __forceinline__ float decodeCode(const uint8_t *row, int64_t k,
                                            int kind, bool asym) {
  if (kind == kInt8) {
    uint8_t c = row[k];
    return asym ? float(c) : float(int8_t(c));
  }
  uint8_t byte = row[k >> 1];
  uint32_t c = (k & 1) ? (byte >> 4) : (byte & 15u);
  if (kind == kNf4)
    return kNf4Codebook[c];
  return asym ? float(c) : float(int32_t(c ^ 8u) - 8);
}

__device__ __forceinline__ float toFloat(const void *p, int64_t i, bool f16) {
  return f16 ? __half2float(static_cast<const __half *>(p)[i])
             : static_cast<const float *>(p)[i];
}

__device__ __forceinline__ void store(void *p, int64_t i, float v, bool f16) {
  if (f16)
    static_cast<__half *>(p)[i] = __float2half_rn(v);
  else
    static_cast<float *>(p)[i] = v;
}

} // namespace lq::cuda

#endif // LQ_RT_SRC_CUDA_QUANT_CUH
