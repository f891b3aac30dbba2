//===- mlir_abi.cpp - CUDA kernels as compiled models call them ----*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// The device twins of src/cpu/mlir_abi.cpp: identical signatures and
// semantics, but every memref descriptor points at DEVICE memory. Work is
// enqueued on the legacy default stream (stream 0) and the call returns
// without waiting. As on the CPU, a call the compiler should never emit (bad
// layout, unsupported format) or a failure (no GPU) prints a message naming
// the entry point and aborts: these functions have no way to return an
// error to compiled code.
//
//===----------------------------------------------------------------------===//

#include "internal.h"

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace {

template <int Rank, typename T = float> struct MemRef {
  T *allocated;
  T *aligned;
  int64_t offset;
  int64_t sizes[Rank];
  int64_t strides[Rank];
  T *data() const { return aligned + offset; }
};

[[noreturn]] void die(const char *fn, const char *why) {
  std::fprintf(stderr, "lq_rt_cuda: %s: %s\n", fn, why);
  std::abort();
}

void check(const char *fn, lq_cuda_status_t s) {
  if (s != LQ_CUDA_OK)
    die(fn, lq_cuda_last_error());
}

lq_cuda_view4_t view(const MemRef<4> *m) {
  lq_cuda_view4_t v;
  v.data = m->data();
  for (int i = 0; i < 4; ++i) {
    v.sizes[i] = m->sizes[i];
    v.strides[i] = m->strides[i];
  }
  return v;
}

} // namespace

extern "C" {

/// The device copy of a compiled model's constant (lq-gpu-device-buffers):
/// `slot` is the model's own zero-initialized i64 for this constant, `host`
/// the constant, `bytes` its size. The first call allocates and copies and
/// publishes the pointer in the slot (compare-and-swap: two threads racing
/// on a model's first call keep one copy); later calls only read the slot.
/// Copies live until the process ends.
int64_t _mlir_ciface_lq_rt_cuda_resident(int64_t slot, int64_t host,
                                         int64_t bytes) {
  const char *fn = "lq_rt_cuda_resident";
  auto *cached = reinterpret_cast<std::atomic<int64_t> *>(slot);
  if (int64_t dev = cached->load(std::memory_order_acquire))
    return dev;
  check(fn, lq::cuda::ensureDevice());
  void *dev = nullptr;
  if (cudaError_t err = cudaMalloc(&dev, bytes > 0 ? size_t(bytes) : 1)) {
    lq::cuda::failCuda(err, "cudaMalloc");
    die(fn, lq_cuda_last_error());
  }
  if (bytes > 0)
    if (cudaError_t err = cudaMemcpy(dev, reinterpret_cast<const void *>(host),
                                     size_t(bytes), cudaMemcpyHostToDevice)) {
      lq::cuda::failCuda(err, "cudaMemcpy");
      die(fn, lq_cuda_last_error());
    }
  int64_t expected = 0;
  if (!cached->compare_exchange_strong(expected, int64_t(intptr_t(dev)),
                                       std::memory_order_acq_rel)) {
    cudaFree(dev); // another thread published its copy first
    return expected;
  }
  return int64_t(intptr_t(dev));
}

/// The device copy of a runtime-managed KV cache updated in place
/// (lq-gpu-device-buffers' device-kv-caches): `slot` is the model's own
/// zero-initialized {host, device, bytes} triple for this cache argument,
/// `host` the caller's buffer. The device buffer is the cache: steps append
/// to it and it is never copied back, so a decode step moves O(T) rows
/// instead of the whole cache twice. The host buffer's contents are
/// uploaded when the slot sees a new buffer (another address or size) or
/// `refresh` is set (a step at position 0: a new sequence, which must not
/// see the previous one's rows even if calloc returned the same address).
/// The upload is enqueued on the default stream, in order with the model's
/// other steps. One sequence at a time per loaded model: a step past
/// position 0 on another host buffer than the slot's aborts with a message.
int64_t _mlir_ciface_lq_rt_cuda_kv_shadow(int64_t slot, int64_t host,
                                          int64_t bytes, int32_t refresh) {
  const char *fn = "lq_rt_cuda_kv_shadow";
  static std::mutex m;
  std::lock_guard<std::mutex> lock(m);
  auto *s = reinterpret_cast<int64_t *>(slot); // {host, device, bytes}
  if (s[1] && s[0] == host && s[2] == bytes && !refresh)
    return s[1];
  // The device holds another buffer's cache; this one's host contents were
  // never updated, so continuing its sequence would silently read stale
  // rows (two sequences interleaved on one loaded model).
  if (s[1] && !refresh)
    die(fn, "a step past position 0 on another KV cache than the one this "
            "model keeps on the device; a model compiled with device KV "
            "caches runs one sequence at a time, each starting at position 0");
  check(fn, lq::cuda::ensureDevice());
  if (!s[1] || s[2] != bytes) {
    if (s[1])
      cudaFree(reinterpret_cast<void *>(s[1])); // synchronizes: idle device
    void *dev = nullptr;
    if (cudaError_t err = cudaMalloc(&dev, bytes > 0 ? size_t(bytes) : 1)) {
      lq::cuda::failCuda(err, "cudaMalloc");
      die(fn, lq_cuda_last_error());
    }
    s[1] = int64_t(intptr_t(dev));
    s[2] = bytes;
  }
  if (bytes > 0)
    if (cudaError_t err = cudaMemcpyAsync(
            reinterpret_cast<void *>(s[1]), reinterpret_cast<const void *>(host),
            size_t(bytes), cudaMemcpyHostToDevice, nullptr)) {
      lq::cuda::failCuda(err, "cudaMemcpyAsync");
      die(fn, lq_cuda_last_error());
    }
  s[0] = host;
  return s[1];
}

/// out[M, N] = x[M, K] . w[N, K]^T
void _mlir_ciface_lq_rt_cuda_linear_f32(MemRef<2> *x, MemRef<2> *w,
                                        MemRef<2> *out) {
  const char *fn = "lq_rt_cuda_linear_f32";
  const int64_t M = x->sizes[0], K = x->sizes[1], N = w->sizes[0];
  if (w->sizes[1] != K || out->sizes[0] != M || out->sizes[1] != N)
    die(fn, "shapes of x, w and out do not match");
  check(fn, lq::cuda::ensureDevice());
  if (x->strides[1] == 1 && w->strides[1] == 1 && out->strides[1] == 1 &&
      x->strides[0] >= K && w->strides[0] >= K && out->strides[0] >= N) {
    check(fn, lq_cuda_sgemm_nt(M, N, K, x->data(), x->strides[0], w->data(),
                               w->strides[0], out->data(), out->strides[0],
                               nullptr));
    return;
  }
  // Any other layout: a plain kernel (a safety net, as on the CPU).
  lq::cuda::launchSgemmFallback(M, N, K, x->data(), x->strides[0],
                                x->strides[1], w->data(), w->strides[0],
                                w->strides[1], out->data(), out->strides[0],
                                out->strides[1], nullptr);
  check(fn, lq::cuda::checkLaunch(fn));
}

/// out[M, N] = x[M, K] . dequantize(codes, scales, biases)[N, K]^T, the
/// weight in lq_rt_qgemm_nt's layout (see the CPU twin).
void _mlir_ciface_lq_rt_cuda_linear_q_f32(MemRef<2> *x,
                                          MemRef<2, int8_t> *codes,
                                          MemRef<2> *scales, MemRef<2> *biases,
                                          MemRef<2> *out, int32_t format,
                                          int32_t bits, int64_t group,
                                          int32_t asymmetric) {
  const char *fn = "lq_rt_cuda_linear_q_f32";
  const int64_t M = x->sizes[0], K = x->sizes[1], N = codes->sizes[0];
  const int64_t G = scales->sizes[1];
  if (x->strides[1] != 1 || out->strides[1] != 1 || codes->strides[1] != 1 ||
      codes->strides[0] != codes->sizes[1] || scales->strides[1] != 1 ||
      scales->strides[0] != G ||
      (asymmetric &&
       (biases->strides[1] != 1 || biases->strides[0] != G))) {
    std::fprintf(stderr,
                 "lq_rt_cuda: %s: unsupported layout (M=%lld N=%lld K=%lld)\n",
                 fn, (long long)M, (long long)N, (long long)K);
    std::abort();
  }
  lq_cuda_status_t s = lq_cuda_qgemm_nt(
      M, N, K, x->data(), LQ_DTYPE_F32, x->strides[0],
      reinterpret_cast<const uint8_t *>(codes->data()), scales->data(),
      asymmetric ? biases->data() : nullptr, lq_format_t(format), bits, group,
      out->data(), LQ_DTYPE_F32, out->strides[0], nullptr);
  if (s != LQ_CUDA_OK) {
    std::fprintf(stderr,
                 "lq_rt_cuda: %s: %s (M=%lld N=%lld K=%lld format=%d bits=%d "
                 "group=%lld)\n",
                 fn, lq_cuda_last_error(), (long long)M, (long long)N,
                 (long long)K, int(format), int(bits), (long long)group);
    std::abort();
  }
}

void _mlir_ciface_lq_rt_cuda_attention_f32(MemRef<4> *q, MemRef<4> *k,
                                           MemRef<4> *v, MemRef<4> *out,
                                           float scale, int32_t causal) {
  lq_cuda_view4_t qv = view(q), kv = view(k), vv = view(v), ov = view(out);
  check("lq_rt_cuda_attention_f32",
        lq_cuda_attention_f32(&qv, &kv, &vv, &ov, scale, causal, nullptr));
}

void _mlir_ciface_lq_rt_cuda_attention_at_f32(MemRef<4> *q, MemRef<4> *k,
                                              MemRef<4> *v, MemRef<4> *out,
                                              float scale, int32_t causal,
                                              int64_t position) {
  lq_cuda_view4_t qv = view(q), kv = view(k), vv = view(v), ov = view(out);
  check("lq_rt_cuda_attention_at_f32",
        lq_cuda_attention_at_f32(&qv, &kv, &vv, &ov, scale, causal, position,
                                 nullptr));
}

} // extern "C"

namespace {
/// The CPU twin's qview (src/cpu/mlir_abi.cpp) on device memory: codes
/// [B, H, S, D] bytes ([B, H, S, D/2] for 4-bit codes), scales of
/// `scaleType`.
template <typename ScaleT>
lq_cuda_qview4_t qview(const MemRef<4, uint8_t> *codes,
                       const MemRef<4, ScaleT> *scales, int32_t format,
                       int32_t bits, int32_t scaleType, float globalScale) {
  lq_cuda_qview4_t v;
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

template <typename ScaleT = float>
void attentionAtQ(const char *fn, MemRef<4> *q, MemRef<4, uint8_t> *kc,
                  MemRef<4, ScaleT> *ks, MemRef<4, uint8_t> *vc,
                  MemRef<4, ScaleT> *vs, MemRef<4> *out, float scale,
                  int32_t causal, int64_t position, int32_t format,
                  int32_t bits, int32_t scaleType = LQ_CUDA_SCALE_F32,
                  float kGlobal = 1.0f, float vGlobal = 1.0f) {
  lq_cuda_view4_t qv = view(q), ov = view(out);
  lq_cuda_qview4_t kv = qview(kc, ks, format, bits, scaleType, kGlobal),
                   vv = qview(vc, vs, format, bits, scaleType, vGlobal);
  check(fn, lq_cuda_attention_at_q(&qv, &kv, &vv, &ov, scale, causal,
                                   position, nullptr));
}
} // namespace

extern "C" {

/// Attention over a quantized KV cache (the CPU's lq_rt_attention_at_q_*
/// entry points, one per code storage type), decoded in the kernel.
#define LQ_CUDA_ATTENTION_AT_Q(suffix)                                         \
  void _mlir_ciface_lq_rt_cuda_attention_at_q_##suffix(                        \
      MemRef<4> *q, MemRef<4, uint8_t> *kc, MemRef<4> *ks,                     \
      MemRef<4, uint8_t> *vc, MemRef<4> *vs, MemRef<4> *out, float scale,      \
      int32_t causal, int64_t position, int32_t format, int32_t bits) {        \
    attentionAtQ("lq_rt_cuda_attention_at_q_" #suffix, q, kc, ks, vc, vs,      \
                 out, scale, causal, position, format, bits);                  \
  }
LQ_CUDA_ATTENTION_AT_Q(i8)
LQ_CUDA_ATTENTION_AT_Q(f8E4M3FN)
LQ_CUDA_ATTENTION_AT_Q(f8E5M2)
#undef LQ_CUDA_ATTENTION_AT_Q

/// Scales stored as f16 or E4M3 (NVFP4's block scales), plus the K and V
/// tensor scales (NVFP4's global_scale; 1 for the other formats).
#define LQ_CUDA_ATTENTION_AT_QS(suffix, ScaleT, scaleType)                     \
  void _mlir_ciface_lq_rt_cuda_attention_at_q_##suffix(                        \
      MemRef<4> *q, MemRef<4, uint8_t> *kc, MemRef<4, ScaleT> *ks,             \
      MemRef<4, uint8_t> *vc, MemRef<4, ScaleT> *vs, MemRef<4> *out,           \
      float scale, int32_t causal, int64_t position, int32_t format,           \
      int32_t bits, float kGlobal, float vGlobal) {                            \
    attentionAtQ<ScaleT>("lq_rt_cuda_attention_at_q_" #suffix, q, kc, ks, vc, \
                         vs, out, scale, causal, position, format, bits,       \
                         scaleType, kGlobal, vGlobal);                         \
  }
LQ_CUDA_ATTENTION_AT_QS(i8_f8E4M3FN, uint8_t, LQ_CUDA_SCALE_E4M3)
LQ_CUDA_ATTENTION_AT_QS(i8_f16, uint16_t, LQ_CUDA_SCALE_F16)
LQ_CUDA_ATTENTION_AT_QS(f8E4M3FN_f16, uint16_t, LQ_CUDA_SCALE_F16)
LQ_CUDA_ATTENTION_AT_QS(f8E5M2_f16, uint16_t, LQ_CUDA_SCALE_F16)
#undef LQ_CUDA_ATTENTION_AT_QS

} // extern "C"
