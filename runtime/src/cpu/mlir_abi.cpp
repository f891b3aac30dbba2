//===- mlir_abi.cpp - Kernels as compiled models call them ---------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Compiled models declare `func.func private @lq_rt_linear_f32(memref, ...)`
// with `llvm.emit_c_interface`, so calls arrive here as pointers to MLIR's
// ranked memref descriptors {allocated, aligned, offset, sizes[], strides[]}.
// These shims turn descriptors into the plain kernel arguments.
//
//===----------------------------------------------------------------------===//

#include "lq_rt/hadamard.h"
#include "lq_rt/kernels.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace {

template <int Rank, typename T = float> struct MemRef {
  T *allocated;
  T *aligned;
  int64_t offset;
  int64_t sizes[Rank];
  int64_t strides[Rank];
  T *data() const { return aligned + offset; }
};

lq_rt_view4_t view(const MemRef<4> *m) {
  lq_rt_view4_t v;
  v.data = m->data();
  for (int i = 0; i < 4; ++i) {
    v.sizes[i] = m->sizes[i];
    v.strides[i] = m->strides[i];
  }
  return v;
}

/// out[m, n] = sum_k x[m, k] * weight(n, k) for buffers of any strides: the
/// linear shims' fallback (the compiler emits contiguous buffers, so this is
/// a safety net, not a fast path).
template <typename WeightAt>
void stridedLinear(const MemRef<2> *x, MemRef<2> *out, int64_t N,
                   WeightAt weight) {
  const int64_t M = x->sizes[0], K = x->sizes[1];
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      float s = 0;
      for (int64_t k = 0; k < K; ++k)
        s += x->data()[m * x->strides[0] + k * x->strides[1]] * weight(n, k);
      out->data()[m * out->strides[0] + n * out->strides[1]] = s;
    }
}

} // namespace

extern "C" {

/// out[M, N] = x[M, K] . w[N, K]^T with w packed by lq_rt_pack_f32_panels
/// into p [ceil(N/16), K*16] at compile time.
void _mlir_ciface_lq_rt_linear_packed_f32(MemRef<2> *x, MemRef<2> *p,
                                          MemRef<2> *out) {
  const int64_t M = x->sizes[0], K = x->sizes[1], N = out->sizes[1];
  const int64_t W = LQ_RT_PACK_WIDTH;
  if (p->sizes[0] != (N + W - 1) / W || p->sizes[1] != K * W ||
      out->sizes[0] != M) {
    std::fprintf(stderr,
                 "lq_rt_linear_packed_f32: packed weight [%lld, %lld] does not "
                 "fit x [%lld, %lld] -> out [%lld, %lld]\n",
                 (long long)p->sizes[0], (long long)p->sizes[1], (long long)M,
                 (long long)K, (long long)out->sizes[0], (long long)N);
    std::abort();
  }
  if (x->strides[1] == 1 && out->strides[1] == 1 && p->strides[1] == 1 &&
      p->strides[0] == K * W) {
    lq_rt_sgemm_packed(M, N, K, x->data(), x->strides[0], p->data(),
                       out->data(), out->strides[0]);
    return;
  }
  stridedLinear(x, out, N, [&](int64_t n, int64_t k) {
    return p->data()[(n / W) * p->strides[0] + (k * W + n % W) * p->strides[1]];
  });
}

/// out[M, N] = x[M, K] . w[N, K]^T
void _mlir_ciface_lq_rt_linear_f32(MemRef<2> *x, MemRef<2> *w, MemRef<2> *out) {
  const int64_t M = x->sizes[0], K = x->sizes[1], N = w->sizes[0];
  if (x->strides[1] == 1 && w->strides[1] == 1 && out->strides[1] == 1) {
    lq_rt_sgemm_nt(M, N, K, x->data(), x->strides[0], w->data(), w->strides[0],
                   out->data(), out->strides[0]);
    return;
  }
  stridedLinear(x, out, N, [&](int64_t n, int64_t k) {
    return w->data()[n * w->strides[0] + k * w->strides[1]];
  });
}

/// out[M, N] = x[M, K] . dequantize(codes, scales, biases)[N, K]^T, the
/// weight in lq_rt_qgemm_nt's layout: codes [N, ceil(K * bits / 8)] bytes,
/// scales and biases [N, K / group]. `asymmetric` == 0 ignores `biases` (the
/// compiler passes the scales there) and reads integer codes as signed.
void _mlir_ciface_lq_rt_linear_q_f32(MemRef<2> *x, MemRef<2, int8_t> *codes,
                                     MemRef<2> *scales, MemRef<2> *biases,
                                     MemRef<2> *out, int32_t format,
                                     int32_t bits, int64_t group,
                                     int32_t asymmetric) {
  const int64_t M = x->sizes[0], K = x->sizes[1], N = codes->sizes[0];
  const int64_t G = scales->sizes[1];
  // The compiler emits these buffers as fresh constants and allocations;
  // anything else is a compiler bug, not a layout to support slowly.
  if (x->strides[1] != 1 || out->strides[1] != 1 || codes->strides[1] != 1 ||
      codes->strides[0] != codes->sizes[1] || scales->strides[1] != 1 ||
      scales->strides[0] != G || (asymmetric && (biases->strides[1] != 1 ||
                                                 biases->strides[0] != G)) ||
      lq_rt_qgemm_nt(M, N, K, x->data(), x->strides[0],
                     reinterpret_cast<const uint8_t *>(codes->data()),
                     scales->data(), asymmetric ? biases->data() : nullptr,
                     format, bits, group, out->data(), out->strides[0]) != 0) {
    std::fprintf(stderr, "lq_rt_linear_q_f32: unsupported arguments (M=%lld "
                 "N=%lld K=%lld format=%d bits=%d group=%lld)\n",
                 (long long)M, (long long)N, (long long)K, int(format),
                 int(bits), (long long)group);
    std::abort();
  }
}

/// BF16 weights: out[M, N] = x[M, K] . w[N, K]^T with w bfloat16 codes
/// packed by lq_rt_pack_bf16 into p [ceil(N/16), ceil(K/2) * 32] (uint16)
/// at compile time.
void _mlir_ciface_lq_rt_linear_bf16(MemRef<2> *x, MemRef<2, uint16_t> *p,
                                    MemRef<2> *out) {
  const int64_t M = x->sizes[0], K = x->sizes[1], N = out->sizes[1];
  if (out->sizes[0] != M || x->strides[1] != 1 || out->strides[1] != 1 ||
      p->sizes[0] != (N + LQ_RT_BF16_WIDTH - 1) / LQ_RT_BF16_WIDTH ||
      p->sizes[1] != (K + 1) / 2 * 2 * LQ_RT_BF16_WIDTH ||
      p->strides[1] != 1 || p->strides[0] != p->sizes[1] ||
      lq_rt_gemm_bf16(M, N, K, x->data(), x->strides[0], p->data(), nullptr,
                      out->data(), out->strides[0]) != 0) {
    std::fprintf(stderr,
                 "lq_rt_linear_bf16: unsupported arguments (x [%lld, %lld], "
                 "packed weight [%lld, %lld] -> out [%lld, %lld])\n",
                 (long long)M, (long long)K, (long long)p->sizes[0],
                 (long long)p->sizes[1], (long long)out->sizes[0],
                 (long long)N);
    std::abort();
  }
}

/// W8A8: out[M, N] = xs[m or 0] * sw[n] * (xq[M, K] . w[N, K]^T) in int32
/// (+ bias[n] when has_bias; the compiler passes sw there otherwise), w
/// packed by lq_rt_pack_w8a8 into p [ceil(N/16), panel bytes] at compile
/// time; xs holds M scales (per token) or one (per tensor).
void _mlir_ciface_lq_rt_linear_w8a8(MemRef<2, int8_t> *xq, MemRef<1> *xs,
                                    MemRef<2, int8_t> *p, MemRef<1> *sw,
                                    MemRef<1> *bias, MemRef<2> *out,
                                    int32_t hasBias) {
  const int64_t M = xq->sizes[0], K = xq->sizes[1], N = out->sizes[1];
  const bool perToken = xs->sizes[0] != 1;
  if ((perToken && xs->sizes[0] != M) || (xs->strides[0] != 1 && perToken) ||
      out->sizes[0] != M || xq->strides[1] != 1 || out->strides[1] != 1 ||
      p->sizes[0] != (N + LQ_RT_W8A8_WIDTH - 1) / LQ_RT_W8A8_WIDTH ||
      p->sizes[1] != lq_rt_w8a8_panel_bytes(K) || p->strides[1] != 1 ||
      p->strides[0] != p->sizes[1] || sw->sizes[0] != N || sw->strides[0] != 1 ||
      (hasBias && (bias->sizes[0] != N || bias->strides[0] != 1)) ||
      lq_rt_gemm_w8a8(M, N, K, xq->data(), xq->strides[0], xs->data(),
                      perToken, p->data(), sw->data(),
                      hasBias ? bias->data() : nullptr, out->data(),
                      out->strides[0]) != 0) {
    std::fprintf(stderr,
                 "lq_rt_linear_w8a8: unsupported arguments (x [%lld, %lld], "
                 "%lld activation scales, packed weight [%lld, %lld] -> out "
                 "[%lld, %lld])\n",
                 (long long)M, (long long)K, (long long)xs->sizes[0],
                 (long long)p->sizes[0], (long long)p->sizes[1],
                 (long long)out->sizes[0], (long long)N);
    std::abort();
  }
}

/// W4A8: out[M, N] = xs[m or 0] * sum_g sw[n, g] * (xq . (q - z))_g in
/// int32 per group (+ bias[n] when has_bias; the compiler passes xs there
/// otherwise), the int4 weight with its scales and zero points packed by
/// lq_rt_pack_w4a8 into p [ceil(N/16), panel bytes] at compile time.
void _mlir_ciface_lq_rt_linear_w4a8(MemRef<2, int8_t> *xq, MemRef<1> *xs,
                                    MemRef<2, int8_t> *p, MemRef<1> *bias,
                                    MemRef<2> *out, int64_t group,
                                    int32_t asymmetric, int32_t hasBias) {
  const int64_t M = xq->sizes[0], K = xq->sizes[1], N = out->sizes[1];
  const bool perToken = xs->sizes[0] != 1;
  if ((perToken && xs->sizes[0] != M) || (xs->strides[0] != 1 && perToken) ||
      out->sizes[0] != M || xq->strides[1] != 1 || out->strides[1] != 1 ||
      p->sizes[0] != (N + LQ_RT_W4A8_WIDTH - 1) / LQ_RT_W4A8_WIDTH ||
      p->sizes[1] != lq_rt_w4a8_panel_bytes(K, group, asymmetric) ||
      p->strides[1] != 1 || p->strides[0] != p->sizes[1] ||
      (hasBias && (bias->sizes[0] != N || bias->strides[0] != 1)) ||
      lq_rt_gemm_w4a8(M, N, K, xq->data(), xq->strides[0], xs->data(),
                      perToken, p->data(), group, asymmetric,
                      hasBias ? bias->data() : nullptr, out->data(),
                      out->strides[0]) != 0) {
    std::fprintf(stderr,
                 "lq_rt_linear_w4a8: unsupported arguments (x [%lld, %lld], "
                 "%lld activation scales, group %lld, packed weight [%lld, "
                 "%lld] -> out [%lld, %lld])\n",
                 (long long)M, (long long)K, (long long)xs->sizes[0],
                 (long long)group, (long long)p->sizes[0],
                 (long long)p->sizes[1], (long long)out->sizes[0],
                 (long long)N);
    std::abort();
  }
}

void _mlir_ciface_lq_rt_copy_f32(MemRef<4> *src, MemRef<4> *dst) {
  lq_rt_view4_t s = view(src), d = view(dst);
  if (lq_rt_copy_f32(&s, &d) != 0) {
    std::fprintf(stderr, "lq_rt_copy_f32: sizes [%lld, %lld, %lld, %lld] vs [%lld, %lld, %lld, %lld]\n",
                 (long long)s.sizes[0], (long long)s.sizes[1], (long long)s.sizes[2],
                 (long long)s.sizes[3], (long long)d.sizes[0], (long long)d.sizes[1],
                 (long long)d.sizes[2], (long long)d.sizes[3]);
    std::abort();
  }
}

void _mlir_ciface_lq_rt_attention_f32(MemRef<4> *q, MemRef<4> *k, MemRef<4> *v,
                                      MemRef<4> *out, float scale,
                                      int32_t causal) {
  lq_rt_view4_t qv = view(q), kv = view(k), vv = view(v), ov = view(out);
  lq_rt_attention_f32(&qv, &kv, &vv, &ov, scale, causal);
}

void _mlir_ciface_lq_rt_attention_at_f32(MemRef<4> *q, MemRef<4> *k,
                                         MemRef<4> *v, MemRef<4> *out,
                                         float scale, int32_t causal,
                                         int64_t position) {
  lq_rt_view4_t qv = view(q), kv = view(k), vv = view(v), ov = view(out);
  lq_rt_attention_at_f32(&qv, &kv, &vv, &ov, scale, causal, position);
}

} // extern "C"

namespace {
/// A quantized K/V view of the cache's codes ([B, H, S, D] bytes, or
/// [B, H, S, D/2] for int4) and scales.
template <typename ScaleT = float>
lq_rt_qview4_t qview(const MemRef<4, uint8_t> *codes,
                     const MemRef<4, ScaleT> *scales, int32_t format,
                     int32_t bits, int32_t scaleType = LQ_RT_SCALE_F32,
                     float globalScale = 1.0f) {
  lq_rt_qview4_t v;
  v.codes = codes->data();
  v.scales = scales->data();
  v.scale_type = scaleType;
  v.global_scale = globalScale;
  for (int i = 0; i < 4; ++i) {
    v.sizes[i] = codes->sizes[i];
    v.strides[i] = codes->strides[i];
    v.scale_sizes[i] = scales->sizes[i];
    v.scale_strides[i] = scales->strides[i];
  }
  if (bits == 4)
    v.sizes[3] *= 2;
  v.format = format;
  v.bits = bits;
  return v;
}

/// KIVI's window of a compiled model: the K and V rings and `end`.
struct WindowArgs {
  MemRef<4> *k, *v;
  int64_t end;
};

template <typename ScaleT = float>
void attentionAtQ(MemRef<4> *q, MemRef<4, uint8_t> *kc, MemRef<4, ScaleT> *ks,
                  MemRef<4, uint8_t> *vc, MemRef<4, ScaleT> *vs, MemRef<4> *out,
                  float scale, int32_t causal, int64_t position, int32_t format,
                  int32_t bits, int32_t scaleType = LQ_RT_SCALE_F32,
                  float kGlobal = 1.0f, float vGlobal = 1.0f,
                  const WindowArgs *window = nullptr) {
  lq_rt_view4_t qv = view(q), ov = view(out);
  lq_rt_qview4_t kv = qview(kc, ks, format, bits, scaleType, kGlobal),
                 vv = qview(vc, vs, format, bits, scaleType, vGlobal);
  lq_rt_view4_t kwv, vwv;
  lq_rt_kv_window_t win;
  if (window) {
    kwv = view(window->k);
    vwv = view(window->v);
    win = {&kwv, &vwv, window->end};
  }
  if (lq_rt_attention_at_q_window(&qv, &kv, &vv, &ov, scale, causal, position,
                                  window ? &win : nullptr) != 0) {
    std::fprintf(stderr,
                 "lq_rt_attention_at_q: unsupported cache (format %d, bits %d, "
                 "scale type %d, scales %lldx%lld over %lldx%lld)\n",
                 format, bits, scaleType, (long long)ks->sizes[2],
                 (long long)ks->sizes[3], (long long)kv.sizes[2],
                 (long long)kv.sizes[3]);
    std::abort();
  }
}
} // namespace

extern "C" {

/// Attention over a quantized KV cache, one entry point per code storage
/// type (MLIR declares callees with the memref's element type).
#define LQ_ATTENTION_AT_Q(suffix)                                              \
  void _mlir_ciface_lq_rt_attention_at_q_##suffix(                             \
      MemRef<4> *q, MemRef<4, uint8_t> *kc, MemRef<4> *ks,                     \
      MemRef<4, uint8_t> *vc, MemRef<4> *vs, MemRef<4> *out, float scale,      \
      int32_t causal, int64_t position, int32_t format, int32_t bits) {        \
    attentionAtQ(q, kc, ks, vc, vs, out, scale, causal, position, format,      \
                 bits);                                                        \
  }
LQ_ATTENTION_AT_Q(i8)
LQ_ATTENTION_AT_Q(f8E4M3FN)
LQ_ATTENTION_AT_Q(f8E5M2)
#undef LQ_ATTENTION_AT_Q

/// The same with KIVI's float window (--quantize-kv-cache residual=R): the
/// K and V rings and the end of the written positions after the arguments
/// above (and after the tensor scales of the _QS entry points).
#define LQ_ATTENTION_AT_Q_WINDOW(suffix)                                       \
  void _mlir_ciface_lq_rt_attention_at_q_##suffix##_window(                    \
      MemRef<4> *q, MemRef<4, uint8_t> *kc, MemRef<4> *ks,                     \
      MemRef<4, uint8_t> *vc, MemRef<4> *vs, MemRef<4> *out, float scale,      \
      int32_t causal, int64_t position, int32_t format, int32_t bits,          \
      MemRef<4> *kw, MemRef<4> *vw, int64_t end) {                             \
    WindowArgs w{kw, vw, end};                                                 \
    attentionAtQ(q, kc, ks, vc, vs, out, scale, causal, position, format,      \
                 bits, LQ_RT_SCALE_F32, 1.0f, 1.0f, &w);                       \
  }
LQ_ATTENTION_AT_Q_WINDOW(i8)
LQ_ATTENTION_AT_Q_WINDOW(f8E4M3FN)
LQ_ATTENTION_AT_Q_WINDOW(f8E5M2)
#undef LQ_ATTENTION_AT_Q_WINDOW

/// The same with scales stored as f16 or E4M3 (NVFP4's block scales), one
/// entry point per (code, scale) storage type, plus the K and V tensor
/// scales (NVFP4's global_scale; 1 for the other formats).
#define LQ_ATTENTION_AT_QS(suffix, ScaleT, scaleType)                          \
  void _mlir_ciface_lq_rt_attention_at_q_##suffix(                             \
      MemRef<4> *q, MemRef<4, uint8_t> *kc, MemRef<4, ScaleT> *ks,             \
      MemRef<4, uint8_t> *vc, MemRef<4, ScaleT> *vs, MemRef<4> *out,           \
      float scale, int32_t causal, int64_t position, int32_t format,           \
      int32_t bits, float kGlobal, float vGlobal) {                            \
    attentionAtQ<ScaleT>(q, kc, ks, vc, vs, out, scale, causal, position,      \
                         format, bits, scaleType, kGlobal, vGlobal);           \
  }
LQ_ATTENTION_AT_QS(i8_f8E4M3FN, uint8_t, LQ_RT_SCALE_E4M3)
LQ_ATTENTION_AT_QS(i8_f16, uint16_t, LQ_RT_SCALE_F16)
LQ_ATTENTION_AT_QS(f8E4M3FN_f16, uint16_t, LQ_RT_SCALE_F16)
LQ_ATTENTION_AT_QS(f8E5M2_f16, uint16_t, LQ_RT_SCALE_F16)
#undef LQ_ATTENTION_AT_QS

#define LQ_ATTENTION_AT_QS_WINDOW(suffix, ScaleT, scaleType)                   \
  void _mlir_ciface_lq_rt_attention_at_q_##suffix##_window(                    \
      MemRef<4> *q, MemRef<4, uint8_t> *kc, MemRef<4, ScaleT> *ks,             \
      MemRef<4, uint8_t> *vc, MemRef<4, ScaleT> *vs, MemRef<4> *out,           \
      float scale, int32_t causal, int64_t position, int32_t format,           \
      int32_t bits, float kGlobal, float vGlobal, MemRef<4> *kw,               \
      MemRef<4> *vw, int64_t end) {                                            \
    WindowArgs w{kw, vw, end};                                                 \
    attentionAtQ<ScaleT>(q, kc, ks, vc, vs, out, scale, causal, position,      \
                         format, bits, scaleType, kGlobal, vGlobal, &w);       \
  }
LQ_ATTENTION_AT_QS_WINDOW(i8_f8E4M3FN, uint8_t, LQ_RT_SCALE_E4M3)
LQ_ATTENTION_AT_QS_WINDOW(i8_f16, uint16_t, LQ_RT_SCALE_F16)
LQ_ATTENTION_AT_QS_WINDOW(f8E4M3FN_f16, uint16_t, LQ_RT_SCALE_F16)
LQ_ATTENTION_AT_QS_WINDOW(f8E5M2_f16, uint16_t, LQ_RT_SCALE_F16)
#undef LQ_ATTENTION_AT_QS_WINDOW

/// out[M, N] = lq.hadamard(in[M, N]) with the given block (0: N). `out` is
/// row-contiguous (the compiler allocates it); `in` may be any layout, and
/// the same buffer as `out`.
void _mlir_ciface_lq_rt_hadamard_f32(MemRef<2> *in, MemRef<2> *out,
                                     int64_t block) {
  const int64_t M = in->sizes[0], N = in->sizes[1];
  float *o = out->data();
  const float *i = in->data();
  if (out->strides[1] != 1 || out->sizes[0] != M || out->sizes[1] != N) {
    std::fprintf(stderr, "lq_rt_hadamard_f32: output is not row-contiguous\n");
    std::abort();
  }
  if (i != o || in->strides[0] != out->strides[0] || in->strides[1] != 1)
    for (int64_t r = 0; r < M; ++r)
      for (int64_t c = 0; c < N; ++c)
        o[r * out->strides[0] + c] = i[r * in->strides[0] + c * in->strides[1]];
  if (lq_rt_hadamard_f32(M, N, block, o, out->strides[0]) != 0) {
    std::fprintf(stderr,
                 "lq_rt_hadamard_f32: unsupported size (N=%lld block=%lld)\n",
                 (long long)N, (long long)block);
    std::abort();
  }
}

} // extern "C"
