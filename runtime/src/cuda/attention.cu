//===- attention.cu - Reference-quality attention on the GPU ------*- CUDA -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// out[b, h, t, :] = sum_s softmax_s(scale * q[b,h,t,:] . k[b,hk,s,:]) v[b,hk,s,:]
// with hk = h / (Hq / Hkv) (grouped-query attention) and, when causal, key s
// hidden from query t if s > t + (S - T); lq_rt_attention_f32's semantics
// (and lq_rt_attention_at_f32's: keys from position + T on are never read).
// lq_cuda_attention_at_f32 runs the flash-decoding kernels of the
// quantized cache below (attentionQ, attentionDec) on float views. The
// simple kernel here, one block per (b, h, t) holding the S scores in shared
// memory (numerically safe softmax, each thread owns output columns), stays
// for views those kernels cannot take: a non-unit inner stride, or head
// dimensions whose tiles exceed the shared memory.
//
//===----------------------------------------------------------------------===//

#include "common.h"
#include "warp.cuh"

#include <cuda_fp16.h>
#include <math.h>

#include <algorithm>
#include <mutex>

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

/// lq_cuda_attention_at_f32 through the flash-decoding kernel of the
/// quantized cache (below), for K/V views with unit inner strides.
bool attentionF32Split(const lq_cuda_view4_t *q, const lq_cuda_view4_t *k,
                       const lq_cuda_view4_t *v, const lq_cuda_view4_t *out,
                       float scale, int causal, int64_t position, void *stream,
                       lq_cuda_status_t *status);

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
  lq_cuda_status_t split = LQ_CUDA_OK;
  if (attentionF32Split(q, k, v, out, scale, causal, position, stream, &split))
    return split;
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

//===----------------------------------------------------------------------===//
// Attention over a quantized KV cache (lq_rt_attention_at_q's semantics)
//===----------------------------------------------------------------------===//
//
// out[b, h, t, :] = sum_{s < vis(t)} softmax_s(scale * q . k~[s]) v~[s],
// vis(t) = min(S, causal ? position + t + 1 : position + T), with
// k~ = decode(code) * scale_k (and v~ alike) computed from the cache's codes
// as each tile of keys is read: the float cache never exists.
//
// Work split (flash-decoding, Dao et al. 2023, "Flash-Decoding for
// long-context inference"; the online softmax of Milakov & Gimelshein 2018):
// a block owns (batch, KV head, key split, up to kRB query rows), where the
// rows are the (query head of the GQA group, t) pairs sharing that KV head,
// so each cache row is decoded once per step for all of them. Per tile of
// kKT keys it decodes K into shared memory, computes the kRB x kKT scores,
// updates each row's running max m and sum l (acc *= exp(m_old - m_new)),
// decodes V over the same buffer and accumulates p . V. With one split the
// block writes acc / l; with several it writes (m, l, acc) and a second
// kernel combines the splits: out = sum_j e^(m_j - M) acc_j /
// sum_j e^(m_j - M) l_j, M = max_j m_j.

namespace lq::cuda {
namespace {

constexpr int kQThreads = 128;
constexpr int kKT = 32;     // keys per tile: one per lane in the softmax step
constexpr int kRB = 16;     // query rows per block
constexpr int kMaxSplits = 256;

/// A quantized view as the kernel reads it.
struct QV {
  const uint8_t *codes;
  int64_t cs0, cs1, cs2; // byte strides of b, h, s
  const void *scales;
  int64_t ss0, ss1, ss2, ss3; // 0 for a broadcast batch / head
  int32_t gs, gd;             // tokens and channels per scale (< 2^31)
  int32_t fmt, bits, stype;
  float global;
  int unit;      // elements per load: 1 or 4 (8-bit), 2 or 8 (4-bit)
  bool oneScale; // gd % unit == 0: one scale per load
};

__device__ __forceinline__ float e4m3ToF32(uint32_t c) {
  const uint32_t e = (c >> 3) & 15u, m = c & 7u;
  float f;
  if (e == 15u && m == 7u)
    f = __int_as_float(0x7fc00000);
  else if (e == 0u)
    f = float(m) * 0x1p-9f;
  else
    f = __uint_as_float(((e + 120u) << 23) | (m << 20));
  return (c & 0x80u) ? -f : f;
}

__device__ __forceinline__ float e5m2ToF32(uint32_t c) {
  const uint32_t e = (c >> 2) & 31u, m = c & 3u;
  float f;
  if (e == 31u)
    f = m ? __int_as_float(0x7fc00000) : __int_as_float(0x7f800000);
  else if (e == 0u)
    f = float(m) * 0x1p-16f;
  else
    f = __uint_as_float(((e + 112u) << 23) | (m << 21));
  return (c & 0x80u) ? -f : f;
}

__device__ __forceinline__ float e2m1ToF32(uint32_t c) {
  const uint32_t e = (c >> 1) & 3u, m = c & 1u;
  const float f = e == 0u ? 0.5f * float(m)
                          : __uint_as_float(((e + 126u) << 23) | (m << 22));
  return (c & 8u) ? -f : f;
}

/// The value of code `c` (a byte, or a nibble for 4-bit views).
__device__ __forceinline__ float decodeCode(const QV &x, uint32_t c) {
  if (x.bits == 4)
    return x.fmt == LQ_FORMAT_NVFP4 ? e2m1ToF32(c) : float(int(c ^ 8u) - 8);
  if (x.fmt == LQ_FORMAT_FP8_E4M3)
    return e4m3ToF32(c);
  if (x.fmt == LQ_FORMAT_FP8_E5M2)
    return e5m2ToF32(c);
  return float(int8_t(uint8_t(c)));
}

__device__ __forceinline__ float scaleAt(const QV &x, int64_t i) {
  float f;
  if (x.stype == LQ_CUDA_SCALE_F16)
    f = __half2float(
        __ushort_as_half(static_cast<const unsigned short *>(x.scales)[i]));
  else if (x.stype == LQ_CUDA_SCALE_E4M3)
    f = e4m3ToF32(static_cast<const uint8_t *>(x.scales)[i]);
  else
    f = static_cast<const float *>(x.scales)[i];
  return f * x.global;
}

/// The code formats an attentionQ instance decodes at compile time, K and V
/// alike (kAny: each view's format at run time, e.g. int8 keys with int4
/// values); kF32: a float cache read as is (lq_cuda_attention_at_f32).
enum : int { kAny = 0, kI8, kI4, kE4M3, kE5M2, kNvfp4, kF32 };

template <int F>
__device__ __forceinline__ float decodeCodeT(const QV &x, uint32_t c) {
  if constexpr (F == kI8)
    return float(int8_t(uint8_t(c)));
  else if constexpr (F == kI4)
    return float(int(c ^ 8u) - 8);
  else if constexpr (F == kE4M3)
    return e4m3ToF32(c);
  else if constexpr (F == kE5M2)
    return e5m2ToF32(c);
  else if constexpr (F == kNvfp4)
    return e2m1ToF32(c);
  else
    return decodeCode(x, c);
}

/// Which load units (x.unit) a format can have: 8-bit codes 4 or 1, 4-bit
/// codes 8 or 2 (qv); instantiating only those keeps the build small.
template <int F> constexpr bool unitPossible(int U) {
  if constexpr (F == kI8 || F == kE4M3 || F == kE5M2)
    return U == 4 || U == 1;
  else if constexpr (F == kI4 || F == kNvfp4)
    return U == 8 || U == 2;
  else if constexpr (F == kF32)
    return false;
  else
    return true;
}

/// Scale row of token s: s / gs in 32 bits (S < 2^31), none for per-token
/// scales (a 64-bit division costs ~70 instructions per load).
__device__ __forceinline__ int64_t tokenGroup(const QV &x, int64_t s) {
  return x.gs == 1 ? s : int64_t(int32_t(s) / x.gs);
}

/// Rows [s0, s0 + kKT) of head (b, h) of a float cache (kF32) copied into
/// buf[row][d]; 16-byte loads when x.unit is 4.
__device__ void copyTileF32(const QV &x, int64_t b, int64_t h, int64_t s0,
                            int64_t send, int D, float *buf, int pitch) {
  const uint8_t *base = x.codes + b * x.cs0 + h * x.cs1;
  if (x.unit == 4 && pitch % 4 == 0) {
    const int upr = D / 4, n = kKT * upr;
#pragma unroll 4
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
      const int sl = i / upr, d0 = (i - sl * upr) * 4;
      const int64_t s = s0 + sl;
      float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
      if (s < send)
        v = __ldg(reinterpret_cast<const float4 *>(base + s * x.cs2) +
                  d0 / 4);
      *reinterpret_cast<float4 *>(buf + sl * pitch + d0) = v;
    }
    return;
  }
  const int n = kKT * D;
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    const int sl = i / D, d = i - sl * D;
    const int64_t s = s0 + sl;
    buf[sl * pitch + d] =
        s < send ? __ldg(reinterpret_cast<const float *>(base + s * x.cs2) + d)
                 : 0.f;
  }
}

/// Rows [s0, s0 + kKT) of head (b, h) of `x`, decoded with their scales
/// into buf[row][d] (row pitch `pitch`); rows at or past `send` are zeros.
/// U elements per load (x.unit); `vec`: 16-byte stores (pitch % 4 == 0).
template <int F, int U>
__device__ void decodeTileU(const QV &x, int64_t b, int64_t h, int64_t s0,
                            int64_t send, int D, float *buf, int pitch,
                            bool vec) {
  const int upr = D / U, n = kKT * upr;
  const uint8_t *base = x.codes + b * x.cs0 + h * x.cs1;
  const int64_t sbase = b * x.ss0 + h * x.ss1;
  constexpr int shift = U == 2 || U == 8 ? 4 : 8; // 4-bit or 8-bit codes
  constexpr uint32_t mask = shift == 4 ? 15u : 255u;
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    const int sl = i / upr, d0 = (i - sl * upr) * U;
    const int64_t s = s0 + sl;
    float val[U];
    if (s >= send) {
#pragma unroll
      for (int u = 0; u < U; ++u)
        val[u] = 0.f;
    } else {
      const uint8_t *row = base + s * x.cs2;
      const int64_t srow = sbase + tokenGroup(x, s) * x.ss2;
      uint32_t w;
      if constexpr (U == 4)
        w = __ldg(reinterpret_cast<const unsigned *>(row + d0));
      else if constexpr (U == 8)
        w = __ldg(reinterpret_cast<const unsigned *>(row + d0 / 2));
      else if constexpr (U == 2)
        w = __ldg(row + d0 / 2);
      else
        w = __ldg(row + d0);
      if (x.oneScale) {
        const float f = scaleAt(x, srow + (d0 / x.gd) * x.ss3);
#pragma unroll
        for (int u = 0; u < U; ++u)
          val[u] = decodeCodeT<F>(x, (w >> (shift * u)) & mask) * f;
      } else {
#pragma unroll
        for (int u = 0; u < U; ++u)
          val[u] = decodeCodeT<F>(x, (w >> (shift * u)) & mask) *
                   scaleAt(x, srow + ((d0 + u) / x.gd) * x.ss3);
      }
    }
    float *dst = buf + sl * pitch + d0;
    if constexpr (U % 4 == 0) {
      if (vec) {
#pragma unroll
        for (int u = 0; u < U; u += 4)
          *reinterpret_cast<float4 *>(dst + u) =
              make_float4(val[u], val[u + 1], val[u + 2], val[u + 3]);
        continue;
      }
    }
#pragma unroll
    for (int u = 0; u < U; ++u)
      dst[u] = val[u];
  }
}

template <int F>
__device__ void decodeTile(const QV &x, int64_t b, int64_t h, int64_t s0,
                           int64_t send, int D, float *buf, int pitch) {
  if constexpr (F == kF32) {
    copyTileF32(x, b, h, s0, send, D, buf, pitch);
    return;
  }
  const bool vec = pitch % 4 == 0;
  switch (x.unit) {
  case 8:
    if constexpr (unitPossible<F>(8))
      decodeTileU<F, 8>(x, b, h, s0, send, D, buf, pitch, vec);
    break;
  case 4:
    if constexpr (unitPossible<F>(4))
      decodeTileU<F, 4>(x, b, h, s0, send, D, buf, pitch, vec);
    break;
  case 2:
    if constexpr (unitPossible<F>(2))
      decodeTileU<F, 2>(x, b, h, s0, send, D, buf, pitch, vec);
    break;
  default:
    if constexpr (unitPossible<F>(1))
      decodeTileU<F, 1>(x, b, h, s0, send, D, buf, pitch, vec);
    break;
  }
}

/// A tile of codes staged in registers: up to kStage loads per thread (the
/// words of units i = threadIdx.x + j * blockDim.x) and their scales, so
/// that the K and V loads of a tile are all in flight at once (one memory
/// latency per tile instead of one per load) before the decode to shared
/// memory. Taken when a tile has at most kStage * blockDim.x units.
constexpr int kStage = 8;
struct Staged {
  uint32_t w[kStage];
  float f[kStage];
};

template <int F, int U>
__device__ __forceinline__ void stageTileU(const QV &x, int64_t b, int64_t h,
                                           int64_t s0, int64_t send, int D,
                                           Staged &st) {
  const int upr = D / U, n = kKT * upr;
  const uint8_t *base = x.codes + b * x.cs0 + h * x.cs1;
  const int64_t sbase = b * x.ss0 + h * x.ss1;
#pragma unroll
  for (int j = 0; j < kStage; ++j) {
    const int i = threadIdx.x + j * blockDim.x;
    st.w[j] = 0;
    st.f[j] = 0.f;
    if (i >= n)
      continue;
    const int sl = i / upr, d0 = (i - sl * upr) * U;
    const int64_t s = s0 + sl;
    if (s >= send)
      continue;
    const uint8_t *row = base + s * x.cs2;
    if constexpr (U == 4)
      st.w[j] = __ldg(reinterpret_cast<const unsigned *>(row + d0));
    else if constexpr (U == 8)
      st.w[j] = __ldg(reinterpret_cast<const unsigned *>(row + d0 / 2));
    else if constexpr (U == 2)
      st.w[j] = __ldg(row + d0 / 2);
    else
      st.w[j] = __ldg(row + d0);
    if (x.oneScale)
      st.f[j] = scaleAt(x, sbase + tokenGroup(x, s) * x.ss2 + (d0 / x.gd) * x.ss3);
  }
}

template <int F, int U>
__device__ __forceinline__ void storeTileU(const QV &x, int64_t b, int64_t h,
                                           int64_t s0, int64_t send, int D,
                                           const Staged &st, float *buf,
                                           int pitch, bool vec) {
  const int upr = D / U, n = kKT * upr;
  const int64_t sbase = b * x.ss0 + h * x.ss1;
  constexpr int shift = U == 2 || U == 8 ? 4 : 8;
  constexpr uint32_t mask = shift == 4 ? 15u : 255u;
#pragma unroll
  for (int j = 0; j < kStage; ++j) {
    const int i = threadIdx.x + j * blockDim.x;
    if (i >= n)
      break;
    const int sl = i / upr, d0 = (i - sl * upr) * U;
    const int64_t s = s0 + sl;
    float val[U];
    if (s >= send) {
#pragma unroll
      for (int u = 0; u < U; ++u)
        val[u] = 0.f;
    } else if (x.oneScale) {
#pragma unroll
      for (int u = 0; u < U; ++u)
        val[u] = decodeCodeT<F>(x, (st.w[j] >> (shift * u)) & mask) * st.f[j];
    } else {
      const int64_t srow = sbase + tokenGroup(x, s) * x.ss2;
#pragma unroll
      for (int u = 0; u < U; ++u)
        val[u] = decodeCodeT<F>(x, (st.w[j] >> (shift * u)) & mask) *
                 scaleAt(x, srow + ((d0 + u) / x.gd) * x.ss3);
    }
    float *dst = buf + sl * pitch + d0;
    if constexpr (U % 4 == 0) {
      if (vec) {
#pragma unroll
        for (int u = 0; u < U; u += 4)
          *reinterpret_cast<float4 *>(dst + u) =
              make_float4(val[u], val[u + 1], val[u + 2], val[u + 3]);
        continue;
      }
    }
#pragma unroll
    for (int u = 0; u < U; ++u)
      dst[u] = val[u];
  }
}

template <int F>
__device__ __forceinline__ void stageTile(const QV &x, int64_t b, int64_t h,
                                          int64_t s0, int64_t send, int D,
                                          Staged &st) {
  switch (x.unit) {
  case 8:
    if constexpr (unitPossible<F>(8))
      stageTileU<F, 8>(x, b, h, s0, send, D, st);
    break;
  case 4:
    if constexpr (unitPossible<F>(4))
      stageTileU<F, 4>(x, b, h, s0, send, D, st);
    break;
  case 2:
    if constexpr (unitPossible<F>(2))
      stageTileU<F, 2>(x, b, h, s0, send, D, st);
    break;
  default:
    if constexpr (unitPossible<F>(1))
      stageTileU<F, 1>(x, b, h, s0, send, D, st);
    break;
  }
}

template <int F>
__device__ __forceinline__ void storeTile(const QV &x, int64_t b, int64_t h,
                                          int64_t s0, int64_t send, int D,
                                          const Staged &st, float *buf,
                                          int pitch) {
  const bool vec = pitch % 4 == 0;
  switch (x.unit) {
  case 8:
    if constexpr (unitPossible<F>(8))
      storeTileU<F, 8>(x, b, h, s0, send, D, st, buf, pitch, vec);
    break;
  case 4:
    if constexpr (unitPossible<F>(4))
      storeTileU<F, 4>(x, b, h, s0, send, D, st, buf, pitch, vec);
    break;
  case 2:
    if constexpr (unitPossible<F>(2))
      storeTileU<F, 2>(x, b, h, s0, send, D, st, buf, pitch, vec);
    break;
  default:
    if constexpr (unitPossible<F>(1))
      storeTileU<F, 1>(x, b, h, s0, send, D, st, buf, pitch, vec);
    break;
  }
}

__device__ __forceinline__ int64_t lmin(int64_t a, int64_t b) {
  return a < b ? a : b;
}

/// Floats of attentionQ's query rows in shared memory, rounded up to a
/// multiple of 4 so that the K/V tile after them starts 16-byte aligned
/// (its rows take float4 stores whenever the pitch is a multiple of 4, which
/// D % 4 != 0 does not exclude).
__host__ __device__ __forceinline__ int64_t qsFloats(int64_t rb, int64_t D) {
  return (rb * D + 3) / 4 * 4;
}

/// attentionQ's dynamic shared memory for `rows` query rows per KV head.
__host__ __device__ __forceinline__ size_t attentionQSmem(int64_t rows,
                                                          int64_t D,
                                                          int64_t Dv) {
  const int64_t rb = rows < kRB ? rows : kRB;
  const int64_t pitch = (D > Dv ? D : Dv) + (D % 4 == 0 && Dv % 4 == 0 ? 4 : 1);
  return size_t(qsFloats(rb, D) + kKT * pitch + rb * Dv + rb * kKT + 4 * rb) *
         sizeof(float);
}

/// Split partials: (m, l) pairs of every (row, split), then the
/// accumulators from this float offset (a multiple of 4: 16-byte loads).
__host__ __device__ __forceinline__ int64_t paccOffset(int64_t rowsAll,
                                                       int64_t nsplit) {
  return (2 * rowsAll * nsplit + 3) / 4 * 4;
}

__device__ __forceinline__ float warpMax(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ __forceinline__ float warpSum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

struct QShape {
  int64_t T, S, group, Hkv, rows, position;
  int D, Dv;
  int causal;
  float scale;
  int64_t keysPerSplit;
  int nsplit;
  int pitch; // floats per row of the K/V tile (16-byte rows when possible)
  int rb;    // query rows the block's shared arrays hold: min(kRB, rows)
};

__device__ __forceinline__ float *outAt(const View &o, const QShape &p,
                                        int64_t b, int64_t hk, int64_t R) {
  const int64_t g = R / p.T, t = R - g * p.T, h = hk * p.group + g;
  return const_cast<float *>(o.at(b, h, t));
}

// At most 96 registers (5 blocks per SM; the staged tile takes 32).
template <int F>
__global__ void __launch_bounds__(kQThreads, 5)
    attentionQ(View q, QV k, QV v, View o, QShape p, float *part) {
  extern __shared__ float sm[];
  const int D = p.D, Dv = p.Dv, pitch = p.pitch;
  const bool vec4 = D % 4 == 0 && Dv % 4 == 0;
  const int64_t bk = blockIdx.x, b = bk / p.Hkv, hk = bk - b * p.Hkv;
  const int split = blockIdx.y;
  const int64_t r0 = int64_t(blockIdx.z) * kRB;
  const int nr = int(lmin(kRB, p.rows - r0));
  const int rb = p.rb;            // rows the shared arrays hold (>= nr)
  float *qs = sm;                 // [rb][D]
  float *kv = qs + qsFloats(rb, D); // [kKT][pitch]: K, then V of a tile
  float *acc = kv + kKT * pitch;  // [rb][Dv]
  float *pr = acc + rb * Dv;      // [rb][kKT]: scores, then weights
  float *mrow = pr + rb * kKT, *lrow = mrow + rb, *alpha = lrow + rb;
  int *vis = reinterpret_cast<int *>(alpha + rb); // visible keys per row
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5,
            nwarps = blockDim.x >> 5;

  for (int i = tid; i < nr * D; i += blockDim.x) {
    const int r = i / D, d = i - r * D;
    const int64_t R = r0 + r, g = R / p.T, t = R - g * p.T;
    qs[i] = q.at(b, hk * p.group + g, t)[d * q.strides[3]];
  }
  for (int i = tid; i < nr * Dv; i += blockDim.x)
    acc[i] = 0.f;
  if (tid < nr) {
    const int64_t t = (r0 + tid) % p.T;
    const int64_t n = p.causal ? p.position + t + 1 : p.position + p.T;
    vis[tid] = int(lmin(p.S, n));
    mrow[tid] = -INFINITY;
    lrow[tid] = 0.f;
  }
  const int64_t kEnd = lmin(p.S, p.position + p.T);
  const int64_t k0 = int64_t(split) * p.keysPerSplit;
  const int64_t k1 = lmin(kEnd, k0 + p.keysPerSplit);
  __syncthreads();

  // Register staging when a tile's units fit (D <= 128 for int8, <= 256
  // for int4 / NVFP4 with aligned rows); else the looping decoder.
  const bool staged = F != kF32 &&
                      kKT * (D / k.unit) <= kStage * int(blockDim.x) &&
                      kKT * (Dv / v.unit) <= kStage * int(blockDim.x);
  Staged kst, vst;
  for (int64_t s0 = k0; s0 < k1; s0 += kKT) {
    if (staged) {
      stageTile<F>(k, b, hk, s0, k1, D, kst);
      stageTile<F>(v, b, hk, s0, k1, Dv, vst);
      storeTile<F>(k, b, hk, s0, k1, D, kst, kv, pitch);
    } else {
      decodeTile<F>(k, b, hk, s0, k1, D, kv, pitch);
    }
    __syncthreads();
    // Scores: lanes take consecutive keys (kv rows are padded: no bank
    // conflicts), the query row is a broadcast.
    for (int i = tid; i < nr * kKT; i += blockDim.x) {
      const int r = i / kKT, sl = i - r * kKT;
      const int64_t s = s0 + sl;
      float sc = -INFINITY;
      if (s < k1 && s < vis[r]) {
        const float *qr = qs + r * D, *kr = kv + sl * pitch;
        float a = 0.f;
        if (vec4) {
          for (int d = 0; d < D; d += 4) {
            const float4 x = *reinterpret_cast<const float4 *>(qr + d),
                         y = *reinterpret_cast<const float4 *>(kr + d);
            a = fmaf(x.x, y.x, a);
            a = fmaf(x.y, y.y, a);
            a = fmaf(x.z, y.z, a);
            a = fmaf(x.w, y.w, a);
          }
        } else {
          for (int d = 0; d < D; ++d)
            a = fmaf(qr[d], kr[d], a);
        }
        sc = p.scale * a;
      }
      pr[i] = sc;
    }
    __syncthreads();
    // Online softmax, a warp per row, a lane per key of the tile.
    for (int r = warp; r < nr; r += nwarps) {
      const float sc = pr[r * kKT + lane];
      const float mo = mrow[r], mn = fmaxf(mo, warpMax(sc));
      const float e = sc == -INFINITY ? 0.f : expf(sc - mn);
      const float sum = warpSum(e);
      pr[r * kKT + lane] = e;
      if (lane == 0) {
        const float a = mo == -INFINITY ? 0.f : expf(mo - mn);
        mrow[r] = mn;
        lrow[r] = lrow[r] * a + sum;
        alpha[r] = a;
      }
    }
    __syncthreads();
    if (staged)
      storeTile<F>(v, b, hk, s0, k1, Dv, vst, kv, pitch);
    else
      decodeTile<F>(v, b, hk, s0, k1, Dv, kv, pitch);
    __syncthreads();
    if (vec4) { // four output columns per thread, 16-byte loads
      const int dv4 = Dv / 4;
      for (int i = tid; i < nr * dv4; i += blockDim.x) {
        const int r = i / dv4, e = (i - r * dv4) * 4;
        const float *w = pr + r * kKT;
        float4 *ap = reinterpret_cast<float4 *>(acc + r * Dv + e);
        float4 a = *ap;
        const float al = alpha[r];
        a.x *= al, a.y *= al, a.z *= al, a.w *= al;
#pragma unroll 8
        for (int sl = 0; sl < kKT; ++sl) {
          const float ws = w[sl];
          const float4 y = *reinterpret_cast<const float4 *>(kv + sl * pitch + e);
          a.x = fmaf(ws, y.x, a.x);
          a.y = fmaf(ws, y.y, a.y);
          a.z = fmaf(ws, y.z, a.z);
          a.w = fmaf(ws, y.w, a.w);
        }
        *ap = a;
      }
    } else {
      for (int i = tid; i < nr * Dv; i += blockDim.x) {
        const int r = i / Dv, e = i - r * Dv;
        const float *w = pr + r * kKT;
        float a = acc[i] * alpha[r];
#pragma unroll 8
        for (int sl = 0; sl < kKT; ++sl)
          a = fmaf(w[sl], kv[sl * pitch + e], a);
        acc[i] = a;
      }
    }
    __syncthreads();
  }

  if (!part) {
    for (int i = tid; i < nr * Dv; i += blockDim.x) {
      const int r = i / Dv, e = i - r * Dv;
      const float inv = lrow[r] > 0.f ? 1.f / lrow[r] : 0.f;
      outAt(o, p, b, hk, r0 + r)[e * o.strides[3]] = acc[i] * inv;
    }
    return;
  }
  // Partial results: (m, l) pairs, then accumulators, per (row, split).
  const int64_t rowsAll = int64_t(gridDim.x) * p.rows;
  float *ml = part, *pacc = part + paccOffset(rowsAll, p.nsplit);
  for (int i = tid; i < nr * Dv; i += blockDim.x) {
    const int r = i / Dv, e = i - r * Dv;
    const int64_t P = (bk * p.rows + r0 + r) * p.nsplit + split;
    pacc[P * Dv + e] = acc[i];
  }
  if (tid < nr) {
    const int64_t P = (bk * p.rows + r0 + tid) * p.nsplit + split;
    ml[2 * P] = mrow[tid];
    ml[2 * P + 1] = lrow[tid];
  }
}

//===----------------------------------------------------------------------===//
// Decode attention with a GQA group's query rows in registers (attentionDec)
//===----------------------------------------------------------------------===//
//
// Why a second kernel: attentionQ decodes every 32-key tile into shared
// memory as f32 and meets at four barriers per tile. At decode (one query row
// per head, 4-8 heads per KV head) that is latency and instruction bound: on
// an H200 an int8 cache streamed at 5-6% of the copy bandwidth (run 10),
// slower than a float cache through the same kernel.
//
// Here a warp streams its own keys and never waits on a barrier until its
// split ends (same math: flash-decoding's key splits, the online softmax):
//   - lane l owns elements [4 l, 4 l + 4) of every K and V row (D = Dv =
//     128): one 4-byte (int8 codes) or 16-byte (f32) load per lane and row,
//     a coalesced 128- or 512-byte segment per warp;
//   - the NR query rows (GQA group x T, NR = 4 or 8) sit in registers, scaled
//     by the softmax scale, 4 elements per lane;
//   - a step takes KI = 32 / NR keys: all K and V loads and scales of the
//     step are issued first, then NR x KI partial dot products per lane are
//     summed over the warp by one reduce-scatter (warpReduceRows<32>: 31
//     shuffles for 32 sums instead of 5 each), after which lane i NR + r holds
//     the score of key i for row r;
//   - each row's running max / sum update over its KI lanes (log2 KI
//     shuffles), the weights are broadcast back (one shuffle per key and
//     row), and lanes accumulate their 4 output columns of every row.
// The four warps of a block (interleaved steps of one split) meet once in
// shared memory; one split writes out = acc / l, several write (m, l, acc)
// in attentionQ's layout for combineQ. Float and int8 caches only: with
// 4-bit codes (and, untimed, FP8) the per-element decode on each warp's
// critical path made it slower than attentionQ (run 11, with the int4 /
// NVFP4 / FP8 instances of commit 81d4d71, since removed).
constexpr int kDecE = 4;      // elements per lane: D = Dv = 32 kDecE
constexpr int kDecWarps = 4;  // warps per block

template <int F> struct DecCodes; // one row's codes for a lane (kDecE)
template <> struct DecCodes<kI8> { using T = uint32_t; };
template <> struct DecCodes<kF32> { using T = float4; };

/// Lane `lane`'s kDecE codes of row s of head (b, h), decoded (no scale).
template <int F>
__device__ __forceinline__ void decLoad(const QV &x, int64_t b, int64_t h,
                                        int64_t s, int lane,
                                        typename DecCodes<F>::T &w) {
  using T = typename DecCodes<F>::T;
  const uint8_t *row = x.codes + b * x.cs0 + h * x.cs1 + s * x.cs2;
  w = __ldg(reinterpret_cast<const T *>(row) + lane);
}

/// Lane `lane`'s kDecE values of a row: its codes `w` decoded, times the
/// scales `f` (decScales).
template <int F>
__device__ __forceinline__ void decValues(const QV &x,
                                          const typename DecCodes<F>::T &w,
                                          const float (&f)[kDecE],
                                          float (&v)[kDecE]) {
  if constexpr (F == kF32) {
    v[0] = w.x, v[1] = w.y, v[2] = w.z, v[3] = w.w;
  } else {
#pragma unroll
    for (int e = 0; e < kDecE; ++e)
      v[e] = decodeCodeT<F>(x, (w >> (8 * e)) & 255u);
  }
#pragma unroll
  for (int e = 0; e < kDecE; ++e)
    v[e] *= f[e];
}

/// The scales of lane `lane`'s kDecE elements of row s (1 for kF32): one
/// when a channel group covers them (gd % kDecE == 0), else one each.
template <int F>
__device__ __forceinline__ void decScales(const QV &x, int64_t b, int64_t h,
                                          int64_t s, int lane,
                                          float (&f)[kDecE]) {
  if constexpr (F == kF32) {
#pragma unroll
    for (int e = 0; e < kDecE; ++e)
      f[e] = 1.f;
  } else {
    const int64_t srow =
        b * x.ss0 + h * x.ss1 + tokenGroup(x, s) * x.ss2;
    const int d0 = kDecE * lane;
    if (x.gd % kDecE == 0) {
      const float one = scaleAt(x, srow + (d0 / x.gd) * x.ss3);
#pragma unroll
      for (int e = 0; e < kDecE; ++e)
        f[e] = one;
    } else {
#pragma unroll
      for (int e = 0; e < kDecE; ++e)
        f[e] = scaleAt(x, srow + ((d0 + e) / x.gd) * x.ss3);
    }
  }
}

template <int F, int NR>
__global__ void __launch_bounds__(kDecWarps * 32)
    attentionDec(View q, QV k, QV v, View o, QShape p, float *part) {
  constexpr int KI = 32 / NR; // keys per warp step
  using Codes = typename DecCodes<F>::T;
  __shared__ float wm[kDecWarps][NR], wl[kDecWarps][NR];
  __shared__ float wacc[kDecWarps][NR][kDecE * 32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t bk = blockIdx.x, b = bk / p.Hkv, hk = bk - b * p.Hkv;
  const int split = blockIdx.y;
  const int64_t r0 = int64_t(blockIdx.z) * NR;
  const int nr = int(lmin(NR, p.rows - r0));

  float qr[NR][kDecE], acc[NR][kDecE];
  int vis[NR];
#pragma unroll
  for (int r = 0; r < NR; ++r) {
    vis[r] = 0;
#pragma unroll
    for (int e = 0; e < kDecE; ++e)
      qr[r][e] = acc[r][e] = 0.f;
    if (r < nr) {
      const int64_t R = r0 + r, g = R / p.T, t = R - g * p.T;
      const float *qrow = q.at(b, hk * p.group + g, t);
#pragma unroll
      for (int e = 0; e < kDecE; ++e)
        qr[r][e] = p.scale * qrow[(kDecE * lane + e) * q.strides[3]];
      vis[r] = int(lmin(p.S, p.causal ? p.position + t + 1
                                      : p.position + p.T));
    }
  }
  // Running max and sum of row (lane % NR), kept alike by its KI lanes.
  const int myRow = lane % NR, myKey = lane / NR;
  float m = -INFINITY, l = 0.f;

  const int64_t kEnd = lmin(p.S, p.position + p.T);
  const int64_t k0 = int64_t(split) * p.keysPerSplit;
  const int64_t k1 = lmin(kEnd, k0 + p.keysPerSplit);
  for (int64_t s0 = k0 + int64_t(warp) * KI; s0 < k1;
       s0 += int64_t(kDecWarps) * KI) {
    Codes kw[KI], vw[KI];
    float kf[KI][kDecE], vf[KI][kDecE];
#pragma unroll
    for (int i = 0; i < KI; ++i) {
      const int64_t s = lmin(s0 + i, k1 - 1); // past k1: masked below
      decLoad<F>(k, b, hk, s, lane, kw[i]);
      decLoad<F>(v, b, hk, s, lane, vw[i]);
      decScales<F>(k, b, hk, s, lane, kf[i]);
      decScales<F>(v, b, hk, s, lane, vf[i]);
    }
    // Partial scores: value i NR + r is key i against row r.
    float sc[32];
#pragma unroll
    for (int i = 0; i < KI; ++i) {
      float kv[kDecE];
      decValues<F>(k, kw[i], kf[i], kv);
#pragma unroll
      for (int r = 0; r < NR; ++r) {
        float a = 0.f;
#pragma unroll
        for (int e = 0; e < kDecE; ++e)
          a = fmaf(qr[r][e], kv[e], a);
        sc[i * NR + r] = a;
      }
    }
    float score = warpReduceRows<32>(sc, lane); // key myKey, row myRow
    const int64_t key = s0 + myKey;
    int visMine = vis[0];
#pragma unroll
    for (int r = 1; r < NR; ++r)
      visMine = myRow == r ? vis[r] : visMine;
    if (key >= k1 || key >= visMine)
      score = -INFINITY;
    float mx = score;
#pragma unroll
    for (int o = NR; o < 32; o *= 2)
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
    const float mn = fmaxf(m, mx);
    const float pw = score == -INFINITY ? 0.f : expf(score - mn);
    float sum = pw;
#pragma unroll
    for (int o = NR; o < 32; o *= 2)
      sum += __shfl_xor_sync(0xffffffffu, sum, o);
    const float alpha = m == -INFINITY ? 0.f : expf(m - mn);
    l = l * alpha + sum;
    m = mn;
    // Rescale, then accumulate the weighted values.
#pragma unroll
    for (int r = 0; r < NR; ++r) {
      const float a = __shfl_sync(0xffffffffu, alpha, r);
#pragma unroll
      for (int e = 0; e < kDecE; ++e)
        acc[r][e] *= a;
    }
#pragma unroll
    for (int i = 0; i < KI; ++i) {
      float vv[kDecE];
      decValues<F>(v, vw[i], vf[i], vv);
#pragma unroll
      for (int r = 0; r < NR; ++r) {
        const float w = __shfl_sync(0xffffffffu, pw, i * NR + r);
#pragma unroll
        for (int e = 0; e < kDecE; ++e)
          acc[r][e] = fmaf(w, vv[e], acc[r][e]);
      }
    }
  }
  // The warps of the block meet: M = max_w m_w, out = sum_w e^(m_w - M)
  // acc_w / sum_w e^(m_w - M) l_w.
  if (lane < NR) {
    wm[warp][lane] = m;
    wl[warp][lane] = l;
  }
#pragma unroll
  for (int r = 0; r < NR; ++r)
#pragma unroll
    for (int e = 0; e < kDecE; ++e)
      wacc[warp][r][kDecE * lane + e] = acc[r][e];
  __syncthreads();
  const int Dv = kDecE * 32;
  for (int i = threadIdx.x; i < nr * Dv; i += blockDim.x) {
    const int r = i / Dv, d = i - r * Dv;
    float M = -INFINITY;
#pragma unroll
    for (int w = 0; w < kDecWarps; ++w)
      M = fmaxf(M, wm[w][r]);
    float L = 0.f, a = 0.f;
#pragma unroll
    for (int w = 0; w < kDecWarps; ++w) {
      const float f = wm[w][r] == -INFINITY ? 0.f : expf(wm[w][r] - M);
      L = fmaf(f, wl[w][r], L);
      a = fmaf(f, wacc[w][r][d], a);
    }
    if (!part) {
      outAt(o, p, b, hk, r0 + r)[d * o.strides[3]] = L > 0.f ? a / L : 0.f;
      continue;
    }
    const int64_t rowsAll = int64_t(gridDim.x) * p.rows;
    const int64_t P = (bk * p.rows + r0 + r) * p.nsplit + split;
    part[paccOffset(rowsAll, p.nsplit) + P * Dv + d] = a;
    if (d == 0) {
      part[2 * P] = M;
      part[2 * P + 1] = L;
    }
  }
}

__global__ void __launch_bounds__(kQThreads)
    combineQ(const float *part, int64_t rowsAll, View o, QShape p) {
  __shared__ float wgt[kMaxSplits];
  __shared__ float total;
  const int64_t P = blockIdx.x, bk = P / p.rows, R = P - bk * p.rows;
  const int64_t b = bk / p.Hkv, hk = bk - b * p.Hkv;
  const float *ml = part + 2 * P * p.nsplit;
  const float *pacc =
      part + paccOffset(rowsAll, p.nsplit) + P * p.nsplit * p.Dv;
  if (threadIdx.x < 32) {
    float M = -INFINITY;
    for (int j = threadIdx.x; j < p.nsplit; j += 32)
      M = fmaxf(M, ml[2 * j]);
    M = warpMax(M);
    float L = 0.f;
    for (int j = threadIdx.x; j < p.nsplit; j += 32) {
      const float w = ml[2 * j] == -INFINITY ? 0.f : expf(ml[2 * j] - M);
      wgt[j] = w;
      L += w * ml[2 * j + 1];
    }
    L = warpSum(L);
    if (threadIdx.x == 0)
      total = L;
  }
  __syncthreads();
  const float inv = total > 0.f ? 1.f / total : 0.f;
  float *out = outAt(o, p, b, hk, R);
  if (p.Dv % 4 == 0 && p.Dv <= 128) {
    // Lanes own 4 columns (16-byte loads), the warps interleave the splits
    // and meet in shared memory: up to 4 independent loads per lane (16 per
    // column over the block's warps) instead of one dependent chain over
    // all splits.
    __shared__ float4 red[kQThreads / 32][32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int nw = blockDim.x >> 5, e = 4 * lane;
    float4 a = make_float4(0.f, 0.f, 0.f, 0.f);
    if (e < p.Dv) {
#pragma unroll 4
      for (int j = warp; j < p.nsplit; j += nw) {
        const float4 x =
            *reinterpret_cast<const float4 *>(pacc + int64_t(j) * p.Dv + e);
        const float w = wgt[j];
        a.x = fmaf(w, x.x, a.x), a.y = fmaf(w, x.y, a.y);
        a.z = fmaf(w, x.z, a.z), a.w = fmaf(w, x.w, a.w);
      }
    }
    red[warp][lane] = a;
    __syncthreads();
    if (warp == 0 && e < p.Dv) {
      for (int w = 1; w < nw; ++w) {
        const float4 x = red[w][lane];
        a.x += x.x, a.y += x.y, a.z += x.z, a.w += x.w;
      }
      out[(e + 0) * o.strides[3]] = a.x * inv;
      out[(e + 1) * o.strides[3]] = a.y * inv;
      out[(e + 2) * o.strides[3]] = a.z * inv;
      out[(e + 3) * o.strides[3]] = a.w * inv;
    }
    return;
  }
  for (int e = threadIdx.x; e < p.Dv; e += blockDim.x) {
    float a = 0.f;
#pragma unroll 8
    for (int j = 0; j < p.nsplit; ++j)
      a = fmaf(wgt[j], pacc[int64_t(j) * p.Dv + e], a);
    out[e * o.strides[3]] = a * inv;
  }
}

/// lq_rt_attention_at_q's rules for one view; null or a message.
const char *badQView(const lq_cuda_qview4_t *x) {
  const bool fmt =
      (x->format == LQ_FORMAT_INT && (x->bits == 8 || x->bits == 4)) ||
      ((x->format == LQ_FORMAT_FP8_E4M3 || x->format == LQ_FORMAT_FP8_E5M2) &&
       x->bits == 8) ||
      (x->format == LQ_FORMAT_NVFP4 && x->bits == 4);
  if (!fmt)
    return "unsupported format/bits (int8, int4, fp8 e4m3/e5m2 with 8 bits, "
           "nvfp4 with 4)";
  if (!x->codes || !x->scales)
    return "null codes or scales";
  if (x->scale_type != LQ_CUDA_SCALE_F32 &&
      x->scale_type != LQ_CUDA_SCALE_F16 &&
      x->scale_type != LQ_CUDA_SCALE_E4M3)
    return "unknown scale_type (f32 0, f16 1, e4m3 2)";
  for (int i = 0; i < 4; ++i)
    if (x->sizes[i] <= 0 || x->scale_sizes[i] <= 0)
      return "sizes and scale_sizes must be positive";
  for (int i = 0; i < 2; ++i)
    if (x->scale_sizes[i] != 1 && x->scale_sizes[i] != x->sizes[i])
      return "scale_sizes[0] / [1] must be 1 or the batch / head count";
  if (x->sizes[2] % x->scale_sizes[2] || x->sizes[3] % x->scale_sizes[3])
    return "scale blocks must divide S and D";
  const int64_t gd = x->sizes[3] / x->scale_sizes[3];
  if (x->bits == 4 && (x->sizes[3] % 2 != 0 || (gd % 2 != 0 && gd != 1)))
    return "4-bit codes need an even D and channel groups that are even or 1";
  if (x->sizes[3] > (int64_t(1) << 20))
    return "head dimension above 2^20";
  return nullptr;
}

QV qv(const lq_cuda_qview4_t *x) {
  QV r;
  r.codes = x->codes;
  r.cs0 = x->strides[0], r.cs1 = x->strides[1], r.cs2 = x->strides[2];
  r.scales = x->scales;
  r.ss0 = x->scale_sizes[0] == 1 ? 0 : x->scale_strides[0];
  r.ss1 = x->scale_sizes[1] == 1 ? 0 : x->scale_strides[1];
  r.ss2 = x->scale_strides[2], r.ss3 = x->scale_strides[3];
  r.gs = int32_t(x->sizes[2] / x->scale_sizes[2]);
  r.gd = int32_t(x->sizes[3] / x->scale_sizes[3]);
  r.fmt = x->format, r.bits = x->bits, r.stype = x->scale_type;
  r.global = x->format == LQ_FORMAT_NVFP4 ? x->global_scale : 1.0f;
  const int64_t D = x->sizes[3];
  const bool aligned = (uintptr_t(x->codes) % 4 == 0) && r.cs0 % 4 == 0 &&
                       r.cs1 % 4 == 0 && r.cs2 % 4 == 0;
  if (x->bits == 8)
    r.unit = aligned && D % 4 == 0 ? 4 : 1;
  else
    r.unit = aligned && D % 8 == 0 ? 8 : 2;
  r.oneScale = r.gd % r.unit == 0;
  return r;
}

/// Device scratch for the split partials (grown, never shrunk; stream
/// ordered users only, like the GEMM accumulators).
lq_cuda_status_t splitScratch(size_t bytes, float *&out) {
  static std::mutex mu;
  static void *buf = nullptr;
  static size_t have = 0;
  std::lock_guard<std::mutex> lock(mu);
  if (bytes > have) {
    if (buf)
      cudaFree(buf);
    buf = nullptr;
    have = 0;
    if (cudaError_t err = cudaMalloc(&buf, bytes))
      return failCuda(err, "cudaMalloc (attention split partials)");
    have = bytes;
  }
  out = static_cast<float *>(buf);
  return LQ_CUDA_OK;
}

int multiprocessors() {
  static const int n = [] {
    int dev = 0, v = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, dev) !=
            cudaSuccess)
      return 100;
    return v;
  }();
  return n;
}

/// Key splits (bench hook lq_cuda_bench_attention_q_splits): at least this
/// many tiles of 32 keys per split, up to this many blocks per SM; 0: the
/// best of run 11's sweep for the kernel taken (attentionQ 2 and 16,
/// attentionDec 4 and 8).
int gAttnMinTiles = 0;
int gAttnBlocksPerSM = 0;
/// lq_cuda_attention_at_f32 through attentionQ<kF32> (1) or its one-block-
/// per-query-row kernel (0; bench hook).
bool gAttnF32Split = true;
/// Decode shapes through attentionDec (1) or attentionQ (0; bench hook).
bool gAttnDec = true;

cudaError_t setQSmem(int F, int smem) {
  switch (F) {
#define LQ_ATTN(FF)                                                            \
  case FF:                                                                     \
    return cudaFuncSetAttribute(                                               \
        attentionQ<FF>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
    LQ_ATTN(kI8)
    LQ_ATTN(kI4)
    LQ_ATTN(kE4M3)
    LQ_ATTN(kE5M2)
    LQ_ATTN(kNvfp4)
    LQ_ATTN(kF32)
  default:
    LQ_ATTN(kAny)
#undef LQ_ATTN
  }
}

/// Attention over quantized (or, F = kF32, float) K/V views whose shapes the
/// caller checked: shared memory, key splits, attentionQ<F>, combineQ.
lq_cuda_status_t runAttentionQ(const char *fn, int F, const lq_cuda_view4_t *q,
                               const QV &k, const QV &v,
                               const lq_cuda_view4_t *out, int64_t B,
                               int64_t Hq, int64_t T, int64_t D, int64_t Hkv,
                               int64_t S, int64_t Dv, float scale, int causal,
                               int64_t position, void *stream) {
  const int64_t group = Hq / Hkv, rows = group * T;
  const int64_t nz = (rows + kRB - 1) / kRB;
  // Shared arrays for the rows a block holds: decode with a GQA group of 4
  // needs 4, not kRB (smaller blocks, more of them resident per SM).
  const int64_t rb = std::min<int64_t>(kRB, rows);
  if (nz > 65535 || B * Hkv > (int64_t(1) << 31) - 1 ||
      S > (int64_t(1) << 31) - 1)
    return fail(LQ_CUDA_ERROR_INVALID_ARGUMENT,
                "%s: too large (%lld query rows per KV head, %lld KV heads, "
                "%lld keys)", fn, (long long)rows, (long long)(B * Hkv),
                (long long)S);
  if (lq_cuda_status_t s = ensureDevice())
    return s;

  // Tile rows padded against bank conflicts: +4 keeps 16-byte rows (float4
  // loads) when both head dims are multiples of 4, else +1.
  const int64_t pitch =
      std::max(D, Dv) + (D % 4 == 0 && Dv % 4 == 0 ? 4 : 1);
  const size_t smem = attentionQSmem(rows, D, Dv);
  if (smem > 48 * 1024) {
    const size_t limit = sharedPerBlockOptin();
    if (smem > limit)
      return fail(LQ_CUDA_ERROR_UNSUPPORTED,
                  "%s: head dimensions %lld / %lld need %zu bytes of shared "
                  "memory, the GPU gives %zu",
                  fn, (long long)D, (long long)Dv, smem, limit);
    if (cudaError_t err = setQSmem(F, int(smem)))
      return failCuda(err, "cudaFuncSetAttribute (attentionQ)");
  }
  // Decode shapes (D = Dv = 128, at most 8 query rows per KV head, float or
  // int8 codes, rows aligned for the wide loads) take attentionDec. Measured
  // on an H200 (run 11), it is 1.2-1.4x attentionQ on a float cache and
  // 1.03-1.12x on int8, but 0.74-0.81x on int4 / NVFP4, whose per-element
  // decode then sits on its critical path (attentionQ decodes into shared
  // memory with every thread of the block), so those stay on attentionQ.
  auto wide = [](const QV &x) { return x.unit == 4; };
  const bool useDec = gAttnDec && (F == kI8 || F == kF32) &&
                      D == 32 * kDecE && Dv == 32 * kDecE && rows <= 8 &&
                      wide(k) && wide(v);
  // Splits over keys: enough blocks for blocksPerSM per SM (the latency of
  // a tile's loads, decode and softmax is hidden by other blocks, not inside
  // one), at least minTiles tiles of kKT keys per split.
  const int64_t kEnd = std::min<int64_t>(S, position + T);
  const int64_t tiles = std::max<int64_t>(1, (kEnd + kKT - 1) / kKT);
  const int64_t base = B * Hkv * nz;
  const int64_t minTiles =
      gAttnMinTiles > 0 ? gAttnMinTiles : useDec ? 4 : 2;
  const int64_t blocksPerSM =
      gAttnBlocksPerSM > 0 ? gAttnBlocksPerSM : useDec ? 8 : 16;
  int64_t nsplit = (blocksPerSM * int64_t(multiprocessors()) + base - 1) /
                   base;
  nsplit = std::max<int64_t>(
      1, std::min<int64_t>(
             {nsplit, (tiles + minTiles - 1) / minTiles, kMaxSplits}));
  const int64_t tilesPerSplit = (tiles + nsplit - 1) / nsplit;
  nsplit = (tiles + tilesPerSplit - 1) / tilesPerSplit;
  QShape p;
  p.T = T, p.S = S, p.group = group, p.Hkv = Hkv, p.rows = rows;
  p.position = position, p.D = int(D), p.Dv = int(Dv), p.causal = causal != 0;
  p.scale = scale, p.keysPerSplit = tilesPerSplit * kKT, p.nsplit = int(nsplit);
  p.pitch = int(pitch), p.rb = int(rb);
  float *part = nullptr;
  const int64_t rowsAll = B * Hkv * rows;
  if (nsplit > 1)
    if (lq_cuda_status_t s = splitScratch(
            size_t(paccOffset(rowsAll, nsplit) + rowsAll * nsplit * Dv) *
                sizeof(float),
            part))
      return s;
  const View qv4 = view(q), ov4 = view(out);
  if (useDec) {
    const int NR = rows <= 4 ? 4 : 8;
    const dim3 grid(unsigned(B * Hkv), unsigned(nsplit),
                    unsigned((rows + NR - 1) / NR));
    cudaStream_t st = asStream(stream);
    switch (F * 16 + NR) {
#define LQ_DEC(FF, NN)                                                         \
  case FF * 16 + NN:                                                           \
    attentionDec<FF, NN><<<grid, kDecWarps * 32, 0, st>>>(qv4, k, v, ov4, p,  \
                                                          part);               \
    break;
      LQ_DEC(kI8, 4)
      LQ_DEC(kI8, 8)
      LQ_DEC(kF32, 4)
      LQ_DEC(kF32, 8)
#undef LQ_DEC
    default: // useDec admits no other format
      return fail(LQ_CUDA_ERROR_INVALID_ARGUMENT,
                  "%s: no attentionDec instance for format %d, %d rows", fn,
                  F, NR);
    }
    if (lq_cuda_status_t s = checkLaunch(fn))
      return s;
    if (nsplit > 1)
      combineQ<<<unsigned(rowsAll), kQThreads, 0, st>>>(part, rowsAll, ov4,
                                                         p);
    return checkLaunch(fn);
  }
  const dim3 grid(unsigned(B * Hkv), unsigned(nsplit), unsigned(nz));
  switch (F) {
#define LQ_ATTN(FF)                                                            \
  case FF:                                                                     \
    attentionQ<FF><<<grid, kQThreads, smem, asStream(stream)>>>(              \
        qv4, k, v, ov4, p, part);                                              \
    break;
    LQ_ATTN(kI8)
    LQ_ATTN(kI4)
    LQ_ATTN(kE4M3)
    LQ_ATTN(kE5M2)
    LQ_ATTN(kNvfp4)
    LQ_ATTN(kF32)
  default:
    LQ_ATTN(kAny)
#undef LQ_ATTN
  }
  if (lq_cuda_status_t s = checkLaunch(fn))
    return s;
  if (nsplit > 1)
    combineQ<<<unsigned(rowsAll), kQThreads, 0, asStream(stream)>>>(
        part, rowsAll, ov4, p);
  return checkLaunch(fn);
}

/// A float K or V view as attentionQ<kF32> reads it: byte strides, no
/// scales (never read under kF32), 16-byte loads when rows allow.
QV f32View(const lq_cuda_view4_t *x) {
  QV r{};
  r.codes = reinterpret_cast<const uint8_t *>(x->data);
  r.cs0 = x->strides[0] * 4, r.cs1 = x->strides[1] * 4;
  r.cs2 = x->strides[2] * 4;
  r.gs = 1, r.gd = int32_t(x->sizes[3]);
  r.fmt = -1, r.bits = 32, r.stype = LQ_CUDA_SCALE_F32;
  r.global = 1.f;
  const bool aligned = uintptr_t(x->data) % 16 == 0 && x->strides[0] % 4 == 0 &&
                       x->strides[1] % 4 == 0 && x->strides[2] % 4 == 0 &&
                       x->sizes[3] % 4 == 0;
  r.unit = aligned ? 4 : 1;
  r.oneScale = true;
  return r;
}

bool attentionF32Split(const lq_cuda_view4_t *q, const lq_cuda_view4_t *k,
                       const lq_cuda_view4_t *v, const lq_cuda_view4_t *out,
                       float scale, int causal, int64_t position, void *stream,
                       lq_cuda_status_t *status) {
  if (!gAttnF32Split || k->strides[3] != 1 || v->strides[3] != 1 ||
      k->sizes[3] > (int64_t(1) << 20) || v->sizes[3] > (int64_t(1) << 20))
    return false;
  // Tiles that exceed the shared memory: the one-block-per-row kernel.
  const int64_t rows = (q->sizes[1] / k->sizes[1]) * q->sizes[2];
  const size_t need = attentionQSmem(rows, k->sizes[3], v->sizes[3]);
  if (need > 48 * 1024 && need > sharedPerBlockOptin())
    return false;
  *status = runAttentionQ("lq_cuda_attention_f32", kF32, q, f32View(k),
                          f32View(v), out, q->sizes[0], q->sizes[1],
                          q->sizes[2], q->sizes[3], k->sizes[1], k->sizes[2],
                          v->sizes[3], scale, causal, position, stream);
  return true;
}
} // namespace
} // namespace lq::cuda

extern "C" lq_cuda_status_t
lq_cuda_attention_at_q(const lq_cuda_view4_t *q, const lq_cuda_qview4_t *k,
                       const lq_cuda_qview4_t *v, const lq_cuda_view4_t *out,
                       float scale, int causal, int64_t position,
                       void *stream) {
  const char *fn = "lq_cuda_attention_at_q";
  if (!q || !k || !v || !out || !q->data || !out->data)
    return fail(LQ_CUDA_ERROR_INVALID_ARGUMENT, "%s: null view or data pointer",
                fn);
  if (const char *why = badQView(k))
    return fail(LQ_CUDA_ERROR_INVALID_ARGUMENT, "%s: keys: %s (format %d, "
                "bits %d)", fn, why, int(k->format), int(k->bits));
  if (const char *why = badQView(v))
    return fail(LQ_CUDA_ERROR_INVALID_ARGUMENT, "%s: values: %s (format %d, "
                "bits %d)", fn, why, int(v->format), int(v->bits));
  const int64_t B = q->sizes[0], Hq = q->sizes[1], T = q->sizes[2],
                D = q->sizes[3];
  const int64_t Hkv = k->sizes[1], S = k->sizes[2], Dv = v->sizes[3];
  if (B <= 0 || Hq <= 0 || T <= 0 || D <= 0 || Hq % Hkv != 0 ||
      k->sizes[0] != B || v->sizes[0] != B || k->sizes[3] != D ||
      v->sizes[1] != Hkv || v->sizes[2] != S || out->sizes[0] != B ||
      out->sizes[1] != Hq || out->sizes[2] != T || out->sizes[3] != Dv)
    return fail(LQ_CUDA_ERROR_INVALID_ARGUMENT,
                "%s: inconsistent shapes q [%lld,%lld,%lld,%lld] k [%lld,%lld,"
                "%lld,%lld] v [%lld,%lld,%lld,%lld] out [%lld,%lld,%lld,%lld]",
                fn, (long long)B, (long long)Hq, (long long)T, (long long)D,
                (long long)k->sizes[0], (long long)Hkv, (long long)S,
                (long long)k->sizes[3], (long long)v->sizes[0],
                (long long)v->sizes[1], (long long)v->sizes[2], (long long)Dv,
                (long long)out->sizes[0], (long long)out->sizes[1],
                (long long)out->sizes[2], (long long)out->sizes[3]);
  if (position < 0)
    return fail(LQ_CUDA_ERROR_INVALID_ARGUMENT, "%s: negative position %lld",
                fn, (long long)position);
  const QV kq = qv(k), vq = qv(v);
  int F = kAny;
  if (k->format == v->format && k->bits == v->bits)
    F = k->format == LQ_FORMAT_FP8_E4M3   ? kE4M3
        : k->format == LQ_FORMAT_FP8_E5M2 ? kE5M2
        : k->format == LQ_FORMAT_NVFP4    ? kNvfp4
        : k->bits == 8                    ? kI8
                                          : kI4;
  return runAttentionQ(fn, F, q, kq, vq, out, B, Hq, T, D, Hkv, S, Dv, scale,
                       causal, position, stream);
}

/// Benchmark hooks (gpu_check only; not in <lq_rt/cuda.h>, not thread safe):
/// attentionQ's key splits (at least minTiles tiles of 32 keys per split, up
/// to blocksPerSM blocks per SM; 0: automatic per kernel), and whether
/// lq_cuda_attention_at_f32 takes attentionQ<kF32> (1, the default) or its
/// one-block-per-query-row kernel (0).
extern "C" void lq_cuda_bench_attention_q_splits(int minTiles,
                                                 int blocksPerSM) {
  gAttnMinTiles = std::max(0, minTiles);
  gAttnBlocksPerSM = std::max(0, blocksPerSM);
}
extern "C" void lq_cuda_bench_attention_f32_split(int on) {
  gAttnF32Split = on != 0;
}
/// Benchmark hook: decode shapes through attentionDec (1, the default) or
/// attentionQ (0).
extern "C" void lq_cuda_bench_attention_dec(int on) { gAttnDec = on != 0; }
