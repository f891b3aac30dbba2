//===- warp.cuh - Warp-level reductions shared by the kernels -----*- CUDA -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#ifndef LQ_RT_SRC_CUDA_WARP_CUH
#define LQ_RT_SRC_CUDA_WARP_CUH

namespace lq::cuda {

/// Reduce-scatter of R per-lane values over the warp: returns, in lane l,
/// the warp sum of v[(l >> (5 - log2 R)) & (R - 1)].
template <int R>
__device__ __forceinline__ float warpReduceRows(float (&v)[R], int lane) {
  static_assert(R >= 1 && R <= 32 && (R & (R - 1)) == 0, "R: power of two");
  int o = 16;
#pragma unroll
  for (int cnt = R; cnt > 1; cnt /= 2, o /= 2) {
    const bool upper = (lane & o) != 0;
#pragma unroll
    for (int i = 0; i < cnt / 2; ++i) {
      const float send = upper ? v[i] : v[i + cnt / 2];
      const float keep = upper ? v[i + cnt / 2] : v[i];
      v[i] = keep + __shfl_xor_sync(0xffffffffu, send, o);
    }
  }
  float s = v[0];
  for (; o > 0; o /= 2)
    s += __shfl_xor_sync(0xffffffffu, s, o);
  return s;
}

} // namespace lq::cuda

#endif // LQ_RT_SRC_CUDA_WARP_CUH
