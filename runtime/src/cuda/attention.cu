//===- attention.cu - Reference-quality attention on the GPU ------*- CUDA -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// out[b, h, t, :] = sum_s softmax_s(scale * q[b,h,t,:] . k[b,hk,s,:]) v[b,hk,s,:]
// with hk = h / (Hq / Hkv) (grouped-query attention) and, when causal, key s
// hidden from query t if s > t + (S - T); lq_rt_attention_f32's semantics
// (and lq_rt_attention_at_f32's: keys from position + T on are never read).
// A simple, correct kernel (not FlashAttention): one block per (b, h, t)
// keeps the S scores in shared memory, reduces max and sum across the
// block (the numerically safe softmax), then each thread owns output
// columns. Cost O(S * (D + Dv)) per query row, all f32.
//
//===----------------------------------------------------------------------===//

#include "common.h"

#include <math.h>

namespace lq::cuda {
namespace {

constexpr int kThreads = 128;

struct View {
  const float *data;
  int64_t sizes[4], strides[4];
  __device__ const float *at(int64_t a, int64_t b, int64_t c) const {
    return data + a * strides[0] + b * strides[1] + c * strides[2];
  }
};

__device__ float blockReduce(float v, bool isMax, float *red) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float w = __shfl_xor_sync(0xffffffffu, v, o);
    v = isMax ? fmaxf(v, w) : v + w;
  }
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  __syncthreads(); // `red` may still be read from the previous reduction
  if (lane == 0)
    red[warp] = v;
  __syncthreads();
  v = isMax ? -INFINITY : 0.f;
  for (int i = 0; i < int(blockDim.x >> 5); ++i)
    v = isMax ? fmaxf(v, red[i]) : v + red[i];
  return v;
}

__global__ void __launch_bounds__(kThreads)
    attention(View q, View k, View v, float *out, View o, float scale,
              bool causal, int64_t position) {
  extern __shared__ float smem[];
  __shared__ float red[kThreads / 32];
  const int64_t Hq = q.sizes[1], T = q.sizes[2], D = q.sizes[3];
  const int64_t Hkv = k.sizes[1], Dv = v.sizes[3];
  int64_t idx = blockIdx.x;
  const int64_t t = idx % T;
  idx /= T;
  const int64_t h = idx % Hq, b = idx / Hq;
  const int64_t hk = h / (Hq / Hkv);
  float *qs = smem, *scores = smem + D;

  const float *qrow = q.at(b, h, t);
  for (int64_t d = threadIdx.x; d < D; d += blockDim.x)
    qs[d] = qrow[d * q.strides[3]];
  __syncthreads();
  // Keys [0, position + T) are written; query t sits at key position + t.
  const int64_t L = position + T;
  const int64_t visible = causal ? position + t : L - 1; // last visible key
  float mx = -INFINITY;
  for (int64_t s = threadIdx.x; s < L; s += blockDim.x) {
    float sc = -INFINITY;
    if (s <= visible) {
      const float *krow = k.at(b, hk, s);
      float acc = 0.f;
      for (int64_t d = 0; d < D; ++d)
        acc += qs[d] * krow[d * k.strides[3]];
      sc = acc * scale;
    }
    scores[s] = sc;
    mx = fmaxf(mx, sc);
  }
  mx = blockReduce(mx, true, red);
  float *orow = out + b * o.strides[0] + h * o.strides[1] + t * o.strides[2];
  if (mx == -INFINITY) { // no visible key: zeros
    for (int64_t d = threadIdx.x; d < Dv; d += blockDim.x)
      orow[d * o.strides[3]] = 0.f;
    return;
  }
  float sum = 0.f;
  for (int64_t s = threadIdx.x; s < L; s += blockDim.x) {
    const float p = scores[s] == -INFINITY ? 0.f : expf(scores[s] - mx);
    scores[s] = p;
    sum += p;
  }
  sum = blockReduce(sum, false, red); // its barrier publishes `scores`
  const float inv = 1.f / sum;
  for (int64_t d = threadIdx.x; d < Dv; d += blockDim.x) {
    float acc = 0.f;
    for (int64_t s = 0; s < L; ++s)
      acc += scores[s] * v.at(b, hk, s)[d * v.strides[3]];
    orow[d * o.strides[3]] = acc * inv;
  }
}

View view(const lq_cuda_view4_t *x) {
  View r;
  r.data = x->data;
  for (int i = 0; i < 4; ++i) {
    r.sizes[i] = x->sizes[i];
    r.strides[i] = x->strides[i];
  }
  return r;
}

} // namespace
} // namespace lq::cuda

using namespace lq::cuda;

extern "C" lq_cuda_status_t
lq_cuda_attention_at_f32(const lq_cuda_view4_t *q, const lq_cuda_view4_t *k,
                         const lq_cuda_view4_t *v, const lq_cuda_view4_t *out,
                         float scale, int causal, int64_t position,
                         void *stream) {
  if (!q || !k || !v || !out || !q->data || !k->data || !v->data ||
      !out->data)
    return fail(LQ_CUDA_ERROR_INVALID_ARGUMENT,
                "lq_cuda_attention_f32: null view or data pointer");
  const int64_t B = q->sizes[0], Hq = q->sizes[1], T = q->sizes[2],
                D = q->sizes[3];
  const int64_t Hkv = k->sizes[1], S = k->sizes[2], Dv = v->sizes[3];
  if (B <= 0 || Hq <= 0 || T <= 0 || D <= 0 || Hkv <= 0 || S <= 0 ||
      Dv <= 0 || Hq % Hkv != 0 || k->sizes[0] != B || v->sizes[0] != B ||
      k->sizes[3] != D || v->sizes[1] != Hkv || v->sizes[2] != S ||
      out->sizes[0] != B || out->sizes[1] != Hq || out->sizes[2] != T ||
      out->sizes[3] != Dv)
    return fail(LQ_CUDA_ERROR_INVALID_ARGUMENT,
                "lq_cuda_attention_f32: inconsistent shapes q [%lld,%lld,%lld,"
                "%lld] k [%lld,%lld,%lld,%lld] v [%lld,%lld,%lld,%lld] out "
                "[%lld,%lld,%lld,%lld]",
                (long long)B, (long long)Hq, (long long)T, (long long)D,
                (long long)k->sizes[0], (long long)Hkv, (long long)S,
                (long long)k->sizes[3], (long long)v->sizes[0],
                (long long)v->sizes[1], (long long)v->sizes[2], (long long)Dv,
                (long long)out->sizes[0], (long long)out->sizes[1],
                (long long)out->sizes[2], (long long)out->sizes[3]);
  if (position < 0 || position + T > S)
    return fail(LQ_CUDA_ERROR_INVALID_ARGUMENT,
                "lq_cuda_attention_f32: position %lld + %lld queries exceeds "
                "the %lld keys",
                (long long)position, (long long)T, (long long)S);
  if (lq_cuda_status_t s = ensureDevice())
    return s;
  const size_t smem = size_t(D + position + T) * sizeof(float);
  if (smem > 48 * 1024) {
    const size_t limit = sharedPerBlockOptin() - 1024;
    if (smem > limit)
      return fail(LQ_CUDA_ERROR_UNSUPPORTED,
                  "lq_cuda_attention_f32: %lld keys need %zu bytes of shared "
                  "memory, the GPU gives %zu",
                  (long long)S, smem, limit);
    if (cudaError_t err = cudaFuncSetAttribute(
            attention, cudaFuncAttributeMaxDynamicSharedMemorySize,
            int(smem)))
      return failCuda(err, "cudaFuncSetAttribute (attention)");
  }
  const int64_t blocks = B * Hq * T;
  attention<<<unsigned(blocks), kThreads, smem, asStream(stream)>>>(
      view(q), view(k), view(v), out->data, view(out), scale, causal != 0,
      position);
  return checkLaunch("lq_cuda_attention_f32");
}

extern "C" lq_cuda_status_t
lq_cuda_attention_f32(const lq_cuda_view4_t *q, const lq_cuda_view4_t *k,
                      const lq_cuda_view4_t *v, const lq_cuda_view4_t *out,
                      float scale, int causal, void *stream) {
  if (!q || !k)
    return fail(LQ_CUDA_ERROR_INVALID_ARGUMENT,
                "lq_cuda_attention_f32: null view");
  return lq_cuda_attention_at_f32(q, k, v, out, scale, causal,
                                  k->sizes[2] - q->sizes[2], stream);
}
