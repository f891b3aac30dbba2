//===- cuda_checks.h - Numeric checks of every CUDA kernel ---------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Each check draws fresh random inputs (odd sizes included), poisons the
// output (NaN bytes) so unwritten elements fail, runs one lq_rt_cuda entry
// point and returns ||out - ref|| / ||ref|| against a float64 reference
// (cuda_reference.h). Shared by lq_rt_cuda_tests and gpu_check; needs a GPU.
// A failing API call returns NaN... as +inf, with `error` set.
//
//===----------------------------------------------------------------------===//

#ifndef LQ_RT_TESTS_CUDA_CHECKS_H
#define LQ_RT_TESTS_CUDA_CHECKS_H

#include "cuda_reference.h"

#include <algorithm>
#include <string>

extern "C" {
// The compiled-model entry points (src/cuda/mlir_abi.cpp, mgpu.cpp).
struct LqMemRef2 {
  float *allocated, *aligned;
  int64_t offset, sizes[2], strides[2];
};
struct LqMemRef2I8 {
  int8_t *allocated, *aligned;
  int64_t offset, sizes[2], strides[2];
};
struct LqMemRef4 {
  float *allocated, *aligned;
  int64_t offset, sizes[4], strides[4];
};
void _mlir_ciface_lq_rt_cuda_linear_f32(LqMemRef2 *x, LqMemRef2 *w,
                                        LqMemRef2 *out);
void _mlir_ciface_lq_rt_cuda_linear_q_f32(LqMemRef2 *x, LqMemRef2I8 *codes,
                                          LqMemRef2 *scales, LqMemRef2 *biases,
                                          LqMemRef2 *out, int32_t format,
                                          int32_t bits, int64_t group,
                                          int32_t asymmetric);
void _mlir_ciface_lq_rt_cuda_attention_f32(LqMemRef4 *q, LqMemRef4 *k,
                                           LqMemRef4 *v, LqMemRef4 *out,
                                           float scale, int32_t causal);
int64_t _mlir_ciface_lq_rt_cuda_kv_shadow(int64_t slot, int64_t host,
                                          int64_t bytes, int32_t refresh);
void *mgpuMemAlloc(uint64_t sizeBytes, void *stream, bool isHostShared);
void mgpuMemFree(void *ptr, void *stream);
void mgpuMemcpy(void *dst, void *src, size_t sizeBytes, void *stream);
void mgpuMemset32(void *dst, unsigned value, size_t count, void *stream);
void mgpuMemset16(void *dst, unsigned short value, size_t count, void *stream);
void *mgpuStreamCreate();
void mgpuStreamSynchronize(void *stream);
void mgpuStreamDestroy(void *stream);
void *mgpuEventCreate();
void mgpuEventRecord(void *event, void *stream);
void mgpuStreamWaitEvent(void *stream, void *event);
void mgpuEventSynchronize(void *event);
void mgpuEventDestroy(void *event);
void mgpuModuleUnload(void *module);
void *mgpuModuleLoad(void *data, size_t size);
void *mgpuModuleLoadJIT(void *data, int optLevel, size_t size);
void *mgpuModuleGetFunction(void *module, const char *name);
void mgpuLaunchKernel(void *function, intptr_t gridX, intptr_t gridY,
                      intptr_t gridZ, intptr_t blockX, intptr_t blockY,
                      intptr_t blockZ, int32_t smem, void *stream,
                      void **params, void **extra, size_t paramsCount);
void mgpuSetDefaultDevice(int32_t device);
}

namespace lqref {

/// A device buffer filled with 0xFF bytes (NaN as f32 and f16).
struct DevBuf {
  void *p = nullptr;
  size_t bytes = 0;
  explicit DevBuf(size_t n) : bytes(n) {
    if (cudaMalloc(&p, n ? n : 1) != cudaSuccess)
      p = nullptr;
    else
      cudaMemset(p, 0xFF, n);
  }
  DevBuf(const void *host, size_t n) : DevBuf(n) {
    if (p && n)
      cudaMemcpy(p, host, n, cudaMemcpyHostToDevice);
  }
  ~DevBuf() {
    if (p)
      cudaFree(p);
  }
  DevBuf(const DevBuf &) = delete;
  DevBuf &operator=(const DevBuf &) = delete;
  template <typename T> T *as() const { return static_cast<T *>(p); }
};

template <typename T> DevBuf upload(const std::vector<T> &v) {
  return DevBuf(v.data(), v.size() * sizeof(T));
}

inline double apiFail(std::string *error, lq_cuda_status_t s) {
  if (error)
    *error = std::string(lq_cuda_status_string(s)) + ": " +
             lq_cuda_last_error();
  return INFINITY;
}

inline double syncFail(std::string *error) {
  cudaError_t e = cudaDeviceSynchronize();
  if (e != cudaSuccess) {
    if (error)
      *error = std::string("kernel failed: ") + cudaGetErrorString(e);
    return INFINITY;
  }
  return 0;
}

enum class QKernel { Auto, Gemv, TensorCore };

inline double checkQGemm(uint32_t seed, int64_t M, int64_t N, int64_t K,
                         lq_format_t format, int bits, int64_t group,
                         bool asym, lq_dtype_t aType, lq_dtype_t cType,
                         QKernel which, std::string *error = nullptr) {
  std::mt19937 rng(seed);
  Act a = randomAct(rng, M, K, aType);
  QWeight w = randomQWeight(rng, N, K, format, bits, group, asym);
  DevBuf dA = upload(a.bytes), dCodes = upload(w.codes),
         dS = upload(w.scales), dB = upload(w.biases);
  const size_t cs = cType == LQ_DTYPE_F16 ? 2 : 4;
  DevBuf dC(size_t(M * N) * cs);
  auto fn = which == QKernel::Gemv         ? lq_cuda_qgemv_nt
            : which == QKernel::TensorCore ? lq_cuda_qgemm_tc_nt
                                           : lq_cuda_qgemm_nt;
  lq_cuda_status_t s =
      fn(M, N, K, dA.p, aType, K, dCodes.as<uint8_t>(), dS.as<float>(),
         asym ? dB.as<float>() : nullptr, format, bits, group, dC.p, cType, N,
         nullptr);
  if (s)
    return apiFail(error, s);
  if (syncFail(error))
    return INFINITY;
  return relErr(readBack(dC.p, size_t(M * N), cType), refQGemm(a, w));
}

/// Two batch-1 int4 GEMVs back to back on one stream, the second reading
/// the first's f16 output as its activations: y1 = W1 x (symmetric, K1 ->
/// N1), y2 = W2 y1 (asymmetric, N1 -> N2, f32 out). With programmatic
/// dependent launch the second kernel loads weights before the first ends
/// and must still read the finished y1: `reps` rounds, each poisoning y1 and
/// y2 (NaN) on the stream first, so a read of y1 before the first kernel
/// wrote it shows as NaN. Returns the larger relative error of y1 (against
/// the float64 W1 x) and y2 (against W2 applied to the y1 read back).
inline double checkGemvChain(uint32_t seed, int64_t K1, int64_t N1, int64_t N2,
                             int reps, std::string *error = nullptr) {
  std::mt19937 rng(seed);
  const auto F16 = LQ_DTYPE_F16, F32 = LQ_DTYPE_F32;
  Act a = randomAct(rng, 1, K1, F16);
  QWeight w1 = randomQWeight(rng, N1, K1, LQ_FORMAT_INT, 4, 128, false);
  QWeight w2 = randomQWeight(rng, N2, N1, LQ_FORMAT_INT, 4, 128, true);
  DevBuf dA = upload(a.bytes), c1 = upload(w1.codes), s1 = upload(w1.scales),
         c2 = upload(w2.codes), s2 = upload(w2.scales), b2 = upload(w2.biases);
  DevBuf y1(size_t(N1) * 2), y2(size_t(N2) * 4);
  cudaStream_t st = nullptr;
  if (cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking) != cudaSuccess) {
    if (error)
      *error = "cudaStreamCreateWithFlags failed";
    return INFINITY;
  }
  lq_cuda_status_t s = LQ_CUDA_OK;
  for (int r = 0; r < reps && !s; ++r) {
    cudaMemsetAsync(y1.p, 0xFF, y1.bytes, st);
    cudaMemsetAsync(y2.p, 0xFF, y2.bytes, st);
    s = lq_cuda_qgemv_nt(1, N1, K1, dA.p, F16, K1, c1.as<uint8_t>(),
                         s1.as<float>(), nullptr, LQ_FORMAT_INT, 4, 128, y1.p,
                         F16, N1, st);
    if (!s)
      s = lq_cuda_qgemv_nt(1, N2, N1, y1.p, F16, N1, c2.as<uint8_t>(),
                           s2.as<float>(), b2.as<float>(), LQ_FORMAT_INT, 4,
                           128, y2.p, F32, N2, st);
  }
  const cudaError_t se = cudaStreamSynchronize(st);
  cudaStreamDestroy(st);
  if (s)
    return apiFail(error, s);
  if (se != cudaSuccess) {
    if (error)
      *error = std::string("kernel failed: ") + cudaGetErrorString(se);
    return INFINITY;
  }
  Act a2;
  a2.rows = 1;
  a2.cols = N1;
  a2.dtype = F16;
  a2.values = readBack(y1.p, size_t(N1), F16);
  const double e1 = relErr(a2.values, refQGemm(a, w1));
  const double e2 = relErr(readBack(y2.p, size_t(N2), F32), refQGemm(a2, w2));
  return std::isnan(e1) || std::isnan(e2) ? INFINITY : std::max(e1, e2);
}

/// W8A8 (fp8 = false) or FP8 E4M3 (fp8 = true) GEMM with per-tensor or
/// per-token/per-channel scales.
inline double checkLowpGemm(uint32_t seed, bool fp8, int64_t M, int64_t N,
                            int64_t K, bool perToken, bool perChannel,
                            lq_dtype_t cType, std::string *error = nullptr) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> A(size_t(M * K)), B(size_t(N * K));
  std::uniform_int_distribution<int> i8(-127, 127), b8(0, 255);
  auto draw = [&](std::vector<uint8_t> &v) {
    for (auto &x : v) {
      if (fp8) {
        int c;
        do
          c = b8(rng);
        while ((c & 0x7F) == 0x7F || (c & 0x78) == 0x78); // no NaN, |x|<=240
        x = uint8_t(c);
      } else {
        x = uint8_t(int8_t(i8(rng)));
      }
    }
  };
  draw(A);
  draw(B);
  std::uniform_real_distribution<float> sc(0.001f, 0.01f);
  std::vector<float> sa(size_t(perToken ? M : 1)), sb(size_t(perChannel ? N : 1));
  for (auto &x : sa)
    x = sc(rng);
  for (auto &x : sb)
    x = sc(rng);
  auto val = [&](uint8_t c) {
    return fp8 ? double(lq_fp8_e4m3fn_to_f32(c)) : double(int8_t(c));
  };
  std::vector<double> ref(size_t(M * N));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k)
        acc += val(A[size_t(m * K + k)]) * val(B[size_t(n * K + k)]);
      ref[size_t(m * N + n)] = acc * sa[perToken ? size_t(m) : 0] *
                               sb[perChannel ? size_t(n) : 0];
    }
  DevBuf dA = upload(A), dB = upload(B), dSa = upload(sa), dSb = upload(sb);
  const size_t cs = cType == LQ_DTYPE_F16 ? 2 : 4;
  DevBuf dC(size_t(M * N) * cs);
  lq_cuda_status_t s =
      fp8 ? lq_cuda_gemm_fp8(M, N, K, dA.as<uint8_t>(), dB.as<uint8_t>(),
                             dSa.as<float>(), int64_t(sa.size()),
                             dSb.as<float>(), int64_t(sb.size()), dC.p, cType,
                             N, nullptr)
          : lq_cuda_gemm_w8a8(M, N, K, dA.as<int8_t>(), dB.as<int8_t>(),
                              dSa.as<float>(), int64_t(sa.size()),
                              dSb.as<float>(), int64_t(sb.size()), dC.p,
                              cType, N, nullptr);
  if (s)
    return apiFail(error, s);
  if (syncFail(error))
    return INFINITY;
  return relErr(readBack(dC.p, size_t(M * N), cType), ref);
}

inline double checkHadamard(uint32_t seed, int64_t rows, int64_t n,
                            lq_dtype_t dtype, bool inPlace,
                            std::string *error = nullptr) {
  std::mt19937 rng(seed);
  Act x = randomAct(rng, rows, n, dtype);
  DevBuf dX = upload(x.bytes);
  DevBuf dY(x.bytes.size());
  void *out = inPlace ? dX.p : dY.p;
  lq_cuda_status_t s = lq_cuda_hadamard(dX.p, out, dtype, rows, n, nullptr);
  if (s)
    return apiFail(error, s);
  if (syncFail(error))
    return INFINITY;
  return relErr(readBack(out, size_t(rows * n), dtype),
                refHadamard(x.values, rows, n));
}

/// Attention through lq_cuda_attention_at_f32 (position < 0: S - T, i.e.
/// lq_cuda_attention_f32) or, with ciface, through the compiled-model entry.
inline double checkAttention(uint32_t seed, int64_t B, int64_t Hq,
                             int64_t Hkv, int64_t T, int64_t S, int64_t D,
                             int64_t Dv, bool causal, int64_t position,
                             bool ciface, std::string *error = nullptr) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> q(size_t(B * Hq * T * D)), k(size_t(B * Hkv * S * D)),
      v(size_t(B * Hkv * S * Dv));
  for (auto *vec : {&q, &k, &v})
    for (auto &x : *vec)
      x = nd(rng);
  const float scale = 1.f / std::sqrt(float(D));
  const int64_t pos = position < 0 ? S - T : position;
  DevBuf dq = upload(q), dk = upload(k), dv = upload(v);
  DevBuf dout(size_t(B * Hq * T * Dv) * 4);
  auto mk = [](float *p, int64_t a, int64_t b, int64_t c, int64_t d) {
    lq_cuda_view4_t r;
    r.data = p;
    r.sizes[0] = a, r.sizes[1] = b, r.sizes[2] = c, r.sizes[3] = d;
    r.strides[3] = 1, r.strides[2] = d, r.strides[1] = c * d,
    r.strides[0] = b * c * d;
    return r;
  };
  lq_cuda_view4_t vq = mk(dq.as<float>(), B, Hq, T, D),
                  vk = mk(dk.as<float>(), B, Hkv, S, D),
                  vv = mk(dv.as<float>(), B, Hkv, S, Dv),
                  vo = mk(dout.as<float>(), B, Hq, T, Dv);
  if (ciface) {
    auto mr = [](const lq_cuda_view4_t &x) {
      LqMemRef4 r;
      r.allocated = r.aligned = x.data;
      r.offset = 0;
      for (int i = 0; i < 4; ++i)
        r.sizes[i] = x.sizes[i], r.strides[i] = x.strides[i];
      return r;
    };
    LqMemRef4 mq = mr(vq), mk4 = mr(vk), mv = mr(vv), mo = mr(vo);
    _mlir_ciface_lq_rt_cuda_attention_f32(&mq, &mk4, &mv, &mo, scale,
                                          causal ? 1 : 0);
  } else {
    lq_cuda_status_t s = lq_cuda_attention_at_f32(&vq, &vk, &vv, &vo, scale,
                                                  causal ? 1 : 0, pos, nullptr);
    if (s)
      return apiFail(error, s);
  }
  if (syncFail(error))
    return INFINITY;
  return relErr(readBack(dout.p, size_t(B * Hq * T * Dv), LQ_DTYPE_F32),
                refAttention(q, k, v, B, Hq, Hkv, T, S, D, Dv, scale, causal,
                             pos));
}

inline LqMemRef2 memref2(float *p, int64_t r, int64_t c, int64_t ld) {
  LqMemRef2 m;
  m.allocated = m.aligned = p;
  m.offset = 0;
  m.sizes[0] = r, m.sizes[1] = c, m.strides[0] = ld, m.strides[1] = 1;
  return m;
}

/// _mlir_ciface_lq_rt_cuda_linear_f32 (f32 GEMM NT through cuBLASLt).
inline double checkLinearF32Ciface(uint32_t seed, int64_t M, int64_t N,
                                   int64_t K, std::string *error = nullptr) {
  std::mt19937 rng(seed);
  Act x = randomAct(rng, M, K, LQ_DTYPE_F32), w = randomAct(rng, N, K,
                                                            LQ_DTYPE_F32);
  DevBuf dx = upload(x.bytes), dw = upload(w.bytes), dout(size_t(M * N) * 4);
  LqMemRef2 mx = memref2(dx.as<float>(), M, K, K),
            mw = memref2(dw.as<float>(), N, K, K),
            mo = memref2(dout.as<float>(), M, N, N);
  _mlir_ciface_lq_rt_cuda_linear_f32(&mx, &mw, &mo);
  if (syncFail(error))
    return INFINITY;
  std::vector<double> ref(size_t(M * N));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k)
        s += x.values[size_t(m * K + k)] * w.values[size_t(n * K + k)];
      ref[size_t(m * N + n)] = s;
    }
  return relErr(readBack(dout.p, size_t(M * N), LQ_DTYPE_F32), ref);
}

/// _mlir_ciface_lq_rt_cuda_linear_q_f32 (f32 activations and outputs).
inline double checkLinearQCiface(uint32_t seed, int64_t M, int64_t N,
                                 int64_t K, lq_format_t format, int bits,
                                 int64_t group, bool asym,
                                 std::string *error = nullptr) {
  std::mt19937 rng(seed);
  Act a = randomAct(rng, M, K, LQ_DTYPE_F32);
  QWeight w = randomQWeight(rng, N, K, format, bits, group, asym);
  DevBuf dA = upload(a.bytes), dCodes = upload(w.codes),
         dS = upload(w.scales), dB = upload(w.biases),
         dC(size_t(M * N) * 4);
  LqMemRef2 mx = memref2(dA.as<float>(), M, K, K);
  LqMemRef2I8 mc;
  mc.allocated = mc.aligned = dCodes.as<int8_t>();
  mc.offset = 0;
  mc.sizes[0] = N, mc.sizes[1] = w.rowBytes, mc.strides[0] = w.rowBytes,
  mc.strides[1] = 1;
  LqMemRef2 ms = memref2(dS.as<float>(), N, w.G, w.G);
  LqMemRef2 mb = asym ? memref2(dB.as<float>(), N, w.G, w.G) : ms;
  LqMemRef2 mo = memref2(dC.as<float>(), M, N, N);
  _mlir_ciface_lq_rt_cuda_linear_q_f32(&mx, &mc, &ms, &mb, &mo, int32_t(format),
                                       bits, group, asym ? 1 : 0);
  if (syncFail(error))
    return INFINITY;
  return relErr(readBack(dC.p, size_t(M * N), LQ_DTYPE_F32), refQGemm(a, w));
}

} // namespace lqref

#endif // LQ_RT_TESTS_CUDA_CHECKS_H
