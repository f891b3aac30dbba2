//===- cuda_reference.h - float64 references for the CUDA kernels -*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Host-only helpers shared by lq_rt_cuda_tests (GoogleTest) and gpu_check
// (tools/gpu_check.cu): random quantized weights in lq_rt_qgemm_nt's layout,
// scalar float64 references of every CUDA kernel, and ||out-ref||/||ref||.
// Decoding goes through lq_rt's reference codecs (<lq_rt/formats.h>), the
// single source of truth of the formats.
//
//===----------------------------------------------------------------------===//

#ifndef LQ_RT_TESTS_CUDA_REFERENCE_H
#define LQ_RT_TESTS_CUDA_REFERENCE_H

#include "lq_rt/cuda.h"
#include "lq_rt/formats.h"

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

namespace lqref {

inline uint16_t toHalfBits(float f) {
  __half h = __float2half_rn(f);
  uint16_t b;
  std::memcpy(&b, &h, 2);
  return b;
}
inline float fromHalfBits(uint16_t b) {
  __half h;
  std::memcpy(&h, &b, 2);
  return __half2float(h);
}

/// Activations as stored on the device (f16 or f32 bytes) and as the
/// reference reads them (the exact stored values, in double).
struct Act {
  int64_t rows = 0, cols = 0;
  lq_dtype_t dtype = LQ_DTYPE_F32;
  std::vector<uint8_t> bytes;
  std::vector<double> values;
};

inline Act randomAct(std::mt19937 &rng, int64_t rows, int64_t cols,
                     lq_dtype_t dtype, float scale = 1.f) {
  std::normal_distribution<float> nd(0.f, scale);
  Act a;
  a.rows = rows;
  a.cols = cols;
  a.dtype = dtype;
  const size_t es = dtype == LQ_DTYPE_F16 ? 2 : 4;
  a.bytes.resize(size_t(rows * cols) * es);
  a.values.resize(size_t(rows * cols));
  for (int64_t i = 0; i < rows * cols; ++i) {
    float v = nd(rng);
    if (dtype == LQ_DTYPE_F16) {
      uint16_t b = toHalfBits(v);
      std::memcpy(&a.bytes[size_t(i) * 2], &b, 2);
      a.values[size_t(i)] = fromHalfBits(b);
    } else {
      std::memcpy(&a.bytes[size_t(i) * 4], &v, 4);
      a.values[size_t(i)] = v;
    }
  }
  return a;
}

/// A random quantized weight [N][K] in lq_rt_qgemm_nt's layout.
struct QWeight {
  int64_t N = 0, K = 0, group = 0, G = 0, rowBytes = 0;
  lq_format_t format = LQ_FORMAT_INT;
  int bits = 4;
  bool asym = false;
  std::vector<uint8_t> codes;
  std::vector<float> scales, biases;

  uint32_t code(int64_t n, int64_t k) const {
    if (bits == 8)
      return codes[size_t(n * rowBytes + k)];
    uint8_t b = codes[size_t(n * rowBytes + k / 2)];
    return (k & 1) ? (b >> 4) : (b & 15u);
  }
  /// NF4, MXFP4/NVFP4 (E2M1) and FP8 codes decode through lq_rt's codecs;
  /// the float formats ignore biases (lq_rt_qgemm_nt), even when present.
  bool floatFormat() const {
    return format != LQ_FORMAT_INT && format != LQ_FORMAT_NF4;
  }
  double value(int64_t n, int64_t k) const {
    const uint32_t c = code(n, k);
    double q;
    if (format != LQ_FORMAT_INT)
      q = lq_decode_element(format, uint8_t(c));
    else if (asym)
      q = double(c);
    else
      q = lq_sign_extend(uint8_t(c), unsigned(bits));
    const size_t gi = size_t(n * G + k / group);
    const bool b = asym && !floatFormat();
    return q * double(scales[gi]) + (b ? double(biases[gi]) : 0.0);
  }
};

inline QWeight randomQWeight(std::mt19937 &rng, int64_t N, int64_t K,
                             lq_format_t format, int bits, int64_t group,
                             bool asym) {
  QWeight w;
  w.N = N;
  w.K = K;
  w.format = format;
  w.bits = bits;
  w.asym = asym;
  w.group = group <= 0 ? K : group;
  w.G = K / w.group;
  w.rowBytes = (K * bits + 7) / 8;
  w.codes.assign(size_t(N * w.rowBytes), 0);
  std::uniform_int_distribution<int> code(0, (1 << bits) - 1);
  std::uniform_real_distribution<float> sc(0.005f, 0.02f), bi(-0.1f, 0.1f);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) {
      uint32_t c = uint32_t(code(rng));
      if (format == LQ_FORMAT_INT && !asym && c == (1u << (bits - 1)))
        c = 0; // symmetric schemes never produce -2^(b-1)
      // lq's saturating encoders never emit FP8 NaN / Inf codes.
      if (format == LQ_FORMAT_FP8_E4M3 && (c & 0x7Fu) == 0x7Fu)
        c &= 0xFEu; // +-448
      if (format == LQ_FORMAT_FP8_E5M2 && (c & 0x7Cu) == 0x7Cu)
        c = (c & 0x80u) | 0x7Bu; // +-57344
      if (bits == 8)
        w.codes[size_t(n * w.rowBytes + k)] = uint8_t(c);
      else
        w.codes[size_t(n * w.rowBytes + k / 2)] |=
            uint8_t((k & 1) ? c << 4 : c);
    }
  w.scales.resize(size_t(N * w.G));
  for (auto &s : w.scales)
    s = sc(rng);
  if (asym) {
    w.biases.resize(size_t(N * w.G));
    for (auto &b : w.biases)
      b = bi(rng);
  }
  return w;
}

/// C[m][n] = sum_k A[m][k] w[n][k] in double.
inline std::vector<double> refQGemm(const Act &a, const QWeight &w) {
  std::vector<double> c(size_t(a.rows * w.N), 0.0);
  std::vector<double> row(size_t(w.K));
  for (int64_t n = 0; n < w.N; ++n) {
    for (int64_t k = 0; k < w.K; ++k)
      row[size_t(k)] = w.value(n, k);
    for (int64_t m = 0; m < a.rows; ++m) {
      double s = 0;
      for (int64_t k = 0; k < w.K; ++k)
        s += a.values[size_t(m * a.cols + k)] * row[size_t(k)];
      c[size_t(m * w.N + n)] = s;
    }
  }
  return c;
}

inline double relErr(const std::vector<double> &out,
                     const std::vector<double> &ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double d = out[i] - ref[i];
    if (std::isnan(out[i]))
      return INFINITY;
    num += d * d;
    den += ref[i] * ref[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

/// Reads back a device buffer of f16/f32 values as doubles.
inline std::vector<double> readBack(const void *dev, size_t n,
                                    lq_dtype_t dtype) {
  std::vector<double> out(n);
  if (dtype == LQ_DTYPE_F16) {
    std::vector<uint16_t> h(n);
    cudaMemcpy(h.data(), dev, n * 2, cudaMemcpyDeviceToHost);
    for (size_t i = 0; i < n; ++i)
      out[i] = fromHalfBits(h[i]);
  } else {
    std::vector<float> h(n);
    cudaMemcpy(h.data(), dev, n * 4, cudaMemcpyDeviceToHost);
    for (size_t i = 0; i < n; ++i)
      out[i] = h[i];
  }
  return out;
}

/// y = H_n x / sqrt(n) per row, by the definition H[i][j] = (-1)^popcount(i&j).
inline std::vector<double> refHadamard(const std::vector<double> &x,
                                       int64_t rows, int64_t n) {
  std::vector<double> y(x.size());
  // Fast transform in double (exact definition checked by the tests on
  // small n through this same function against the popcount form).
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<double> v(x.begin() + r * n, x.begin() + (r + 1) * n);
    for (int64_t h = 1; h < n; h <<= 1)
      for (int64_t i = 0; i < n; i += 2 * h)
        for (int64_t j = i; j < i + h; ++j) {
          const double a = v[size_t(j)], b = v[size_t(j + h)];
          v[size_t(j)] = a + b;
          v[size_t(j + h)] = a - b;
        }
    for (int64_t i = 0; i < n; ++i)
      y[size_t(r * n + i)] = v[size_t(i)] / std::sqrt(double(n));
  }
  return y;
}

/// Attention with lq_rt_attention_at_f32's semantics on dense [B,H,T,D].
inline std::vector<double>
refAttention(const std::vector<float> &q, const std::vector<float> &k,
             const std::vector<float> &v, int64_t B, int64_t Hq, int64_t Hkv,
             int64_t T, int64_t S, int64_t D, int64_t Dv, double scale,
             bool causal, int64_t position) {
  std::vector<double> out(size_t(B * Hq * T * Dv), 0.0);
  const int64_t L = position + T;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < Hq; ++h) {
      const int64_t hk = h / (Hq / Hkv);
      for (int64_t t = 0; t < T; ++t) {
        std::vector<double> sc;
        const int64_t last = causal ? position + t : L - 1;
        double mx = -INFINITY;
        for (int64_t s = 0; s <= last && s < L; ++s) {
          double a = 0;
          for (int64_t d = 0; d < D; ++d)
            a += double(q[size_t(((b * Hq + h) * T + t) * D + d)]) *
                 double(k[size_t(((b * Hkv + hk) * S + s) * D + d)]);
          sc.push_back(a * scale);
          mx = std::max(mx, a * scale);
        }
        double sum = 0;
        for (auto &x : sc)
          sum += (x = std::exp(x - mx));
        for (int64_t d = 0; d < Dv; ++d) {
          double a = 0;
          for (size_t s = 0; s < sc.size(); ++s)
            a += sc[s] * double(v[size_t(((b * Hkv + hk) * S + int64_t(s)) *
                                             Dv + d)]);
          out[size_t(((b * Hq + h) * T + t) * Dv + d)] =
              sc.empty() ? 0.0 : a / sum;
        }
      }
    }
  return out;
}

} // namespace lqref

#endif // LQ_RT_TESTS_CUDA_REFERENCE_H
