//===- quant.cuh - Device-side weight decoding shared by the kernels -*- CUDA -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Element decoding of lq_rt_qgemm_nt's weight layout (<lq_rt/kernels.h>):
// w[n, k] = q * s + b, with q the k-th code of row n read as a two's
// complement integer (symmetric, no biases), an unsigned integer
// (asymmetric, with biases), an NF4 codebook value, an FP4 E2M1 value
// (MXFP4/NVFP4, whose block scales arrive decoded to f32) or an FP8
// E4M3/E5M2 value (OCP; <lq_rt/formats.h>); s = scales[n, k/g]. The float
// formats never have biases.
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

/// OCP MX FP4 E2M1 (S.EE.M, bias 1): lq_fp4_e2m1_to_f32 of codes 0..15.
static __constant__ float kFp4Table[16] = {
    0.0f,  0.5f,  1.0f,  1.5f,  2.0f,  3.0f,  4.0f,  6.0f,
    -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};

enum WeightKind : int {
  kInt4 = 0,
  kInt8 = 1,
  kNf4 = 2,
  kFp4 = 3,     // MXFP4 / NVFP4 elements (E2M1 nibbles)
  kFp8E4M3 = 4, // FP8 E4M3FN bytes
  kFp8E5M2 = 5, // FP8 E5M2 bytes
};

/// One code per byte (int8, FP8) rather than two.
__host__ __device__ constexpr bool byteKind(int kind) {
  return kind == kInt8 || kind == kFp8E4M3 || kind == kFp8E5M2;
}
/// Codes carry their own sign and the scheme has no biases.
__host__ __device__ constexpr bool floatKind(int kind) {
  return kind == kFp4 || kind == kFp8E4M3 || kind == kFp8E5M2;
}

/// lq_fp8_e4m3fn_to_f32: S.EEEE.MMM, bias 7, S.1111.111 is NaN, exponent 0
/// subnormal (m 2^-9).
__device__ __forceinline__ float fp8E4M3ToF32(uint32_t c) {
  const uint32_t e = (c >> 3) & 15u, m = c & 7u, sign = (c & 0x80u) << 24;
  if (e == 15u && m == 7u)
    return __int_as_float(int(0x7FC00000u | sign));
  if (e == 0u)
    return __int_as_float(int(__float_as_uint(float(m) * 0.001953125f) | sign));
  return __int_as_float(int(sign | ((e + 120u) << 23) | (m << 20)));
}

/// lq_fp8_e5m2_to_f32: the high byte of an IEEE half (Inf and NaN included).
__device__ __forceinline__ float fp8E5M2ToF32(uint32_t c) {
  return __half2float(__ushort_as_half((unsigned short)((c & 0xFFu) << 8)));
}

/// The value of one 8-bit code of `kind` (int8 two's complement or
/// unsigned, FP8).
__device__ __forceinline__ float decodeByte(uint32_t c, int kind, bool asym) {
  if (kind == kFp8E4M3)
    return fp8E4M3ToF32(c);
  if (kind == kFp8E5M2)
    return fp8E5M2ToF32(c);
  return asym ? float(c) : float(int8_t(uint8_t(c)));
}

/// lq_fp4_e2m1_to_f32 without a table (a __constant__ table read at
/// different addresses by a warp's lanes is serialized): E2M1's magnitude
/// bits EEM at bits 9..11 of a half and S at bit 15 read as value * 2^-14
/// (bias 15 instead of 1; the subnormal 0.5 too), times 2^14 exactly.
__device__ __forceinline__ float fp4E2M1ToF32(uint32_t c) {
  const unsigned short h =
      (unsigned short)(((c & 7u) << 9) | ((c & 8u) << 12));
  return __half2float(__ushort_as_half(h)) * 16384.f;
}

/// The value of one 4-bit code (0..15) of `kind`.
__device__ __forceinline__ float decodeNibble(uint32_t c, int kind,
                                              bool asym) {
  if (kind == kNf4)
    return kNf4Codebook[c];
  if (kind == kFp4)
    return fp4E2M1ToF32(c);
  return asym ? float(c) : float(int32_t(c ^ 8u) - 8);
}

/// Code k of a row (bits 4: element 2i in the low nibble of byte i).
__device__ __forceinline__ float decodeCode(const uint8_t *row, int64_t k,
                                            int kind, bool asym) {
  if (byteKind(kind))
    return decodeByte(row[k], kind, asym);
  uint8_t byte = row[k >> 1];
  uint32_t c = (k & 1) ? (byte >> 4) : (byte & 15u);
  return decodeNibble(c, kind, asym);
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
