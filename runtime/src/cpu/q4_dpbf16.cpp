//===- q4_dpbf16.cpp - 4-bit decode GEMV through vdpbf16ps ----------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// y[n] = sum_g s[n, g] * sum_{k in g} v(code[n, k]) * x[k]  (+ b[n, g] * sum x[g])
//
// Why: on one core the f32 decode GEMV of 4-bit weights is bound by turning
// codes into floats, not by memory: a 512-bit vpermps (the 16-entry table)
// takes ~2 cycles on Zen 4 and 64 codes need four of them plus four FMAs,
// ~11 GB/s of codes cache-hot against ~22 GB/s of DRAM read bandwidth.
// Here the table lookup is vpermw: 32 bf16 values per instruction, and
// vdpbf16ps multiplies 32 pairs per instruction, so 64 codes cost one
// widen, one shift, two vpermw and four vdpbf16ps: cache-hot 128 x 4096
// int4 rows on one core, 12-16 GB/s of codes against the f32 kernel's
// 10-12 (groups of 32 to 128; bench/results/gemv.md has the DRAM figures).
//
// Exactness. Every code value is exact in bf16 (checked: lutIsBf16), so a
// product is exact if the activation operand is; x is split once per call
// into x = hi + lo + r with hi = bf16(x), lo = bf16(x - hi) (both round to
// nearest even), |r| <= 2^-9 |x - hi| <= 2^-18 |x|: the activations carry
// 16 significant bits instead of f32's 24 (a W4A16 GPU kernel's fp16
// activations carry 11). vdpbf16ps sums its pairs in f32 (flushing
// denormals, which only lo of activations below ~1e-33 can be), and the
// rest of the sum is f32 as in the other kernels. kernels_q_test checks it
// against float64 with the same tolerance as every other tier.
//
// Layout: bytes of a row hold codes 2b (low nibble) and 2b + 1 (high); a
// chunk of 64 codes is 32 bytes, widened to 32 words whose low nibble
// (with a 32-entry table repeating the 16 values, vpermw ignores bit 4) is
// the even codes and whose high nibble the odd ones: the activation split
// keeps even and odd elements apart to match (prepareX). Output lane i of a
// vdpbf16ps covers codes 4i..4i+3 of the chunk, so with groups of 32,
// lanes 0-7 are the first group and 8-15 the second.
//
//===----------------------------------------------------------------------===//

#include "q4_dpbf16.h"

#include "kernel_switch.h"

#include <immintrin.h>

#include <cstring>

namespace lq_rt::q4dp {
namespace {

inline uint16_t bf16Nearest(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7f800000u) == 0x7f800000u) // inf / NaN: keep (NaN stays NaN)
    return uint16_t((u >> 16) | ((u & 0xffffu) ? 0x40u : 0u));
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

/// Rows are read one at a time as a single stream (as the f32 row GEMV);
/// the hardware prefetcher restarts at every page, so stream ahead by hand.
constexpr int64_t kPrefetch = 3072;

struct Chunk {
  __m512bh lo, hi; // even / odd codes as bf16
};

inline Chunk decode(const uint8_t *p, __m512i table) {
  const __m512i w = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)p));
  return {(__m512bh)_mm512_permutexvar_epi16(w, table),
          (__m512bh)_mm512_permutexvar_epi16(_mm512_srli_epi16(w, 4), table)};
}

inline __m512bh xload(const uint16_t *p) {
  return (__m512bh)_mm512_loadu_si512((const void *)p);
}

} // namespace

bool cpuHas() {
#if defined(__x86_64__)
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

/// On unless LQ_QGEMV_DPBF16=0 (f32 activations throughout, bit for bit
/// the AVX-512 f32 kernel).
static KernelSwitch &kernelSwitch() {
  static KernelSwitch s("LQ_QGEMV_DPBF16", cpuHas);
  return s;
}

bool enabled() { return kernelSwitch().enabled(); }

bool setEnabled(bool on) { return kernelSwitch().set(on); }

bool lutIsBf16(const float lut[16]) {
  for (int i = 0; i < 16; ++i) {
    uint32_t u;
    std::memcpy(&u, &lut[i], 4);
    if (u & 0xffffu)
      return false;
  }
  return true;
}

void prepareX(const float *x, int64_t K, uint16_t *xs) {
  // Per chunk: even and odd elements gathered from four vectors, rounded to
  // bf16 (vcvtne2ps2bf16: nearest even; denormals become zero, as
  // vdpbf16ps would make them), widened back, and the residuals rounded.
  const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18,
                                          20, 22, 24, 26, 28, 30);
  const __m512i odds = _mm512_add_epi32(evens, _mm512_set1_epi32(1));
  auto widen = [](__m256i h) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  };
  auto split = [&](__m512 a, __m512 b, uint16_t *hiOut, uint16_t *loOut) {
    const __m512i hi = (__m512i)_mm512_cvtne2ps_pbh(b, a); // a: words 0-15
    const __m512 ra = _mm512_sub_ps(a, widen(_mm512_castsi512_si256(hi)));
    const __m512 rb = _mm512_sub_ps(b, widen(_mm512_extracti64x4_epi64(hi, 1)));
    _mm512_storeu_si512(hiOut, hi);
    _mm512_storeu_si512(loOut, (__m512i)_mm512_cvtne2ps_pbh(rb, ra));
  };
  for (int64_t c = 0; c < K; c += kChunk, xs += 2 * kChunk) {
    const __m512 v0 = _mm512_loadu_ps(x + c), v1 = _mm512_loadu_ps(x + c + 16);
    const __m512 v2 = _mm512_loadu_ps(x + c + 32), v3 = _mm512_loadu_ps(x + c + 48);
    split(_mm512_permutex2var_ps(v0, evens, v1), _mm512_permutex2var_ps(v2, evens, v3),
          xs, xs + 32);
    split(_mm512_permutex2var_ps(v0, odds, v1), _mm512_permutex2var_ps(v2, odds, v3),
          xs + 64, xs + 96);
  }
}

/// vpermw's table: the 16 code values as bf16, twice (vpermw reads 5 index
/// bits; the widened byte's bit 4 belongs to the odd code).
static __m512i codeTable(const float lut[16]) {
  alignas(64) uint16_t t[32];
  for (int i = 0; i < 32; ++i)
    t[i] = bf16Nearest(lut[i & 15]);
  return _mm512_load_si512(t);
}

/// sum_g b[n, g] * sum(x[g]): the zero points' term (0 when symmetric).
static float zeroPointTerm(const Args &a, int64_t n) {
  float t = 0.0f;
  if (a.biases)
    for (int64_t gi = 0; gi < a.G; ++gi)
      t += a.biases[n * a.G + gi] * a.xsum[gi];
  return t;
}

void rows(const Args &a, int64_t n0, int64_t n1) {
  const __m512i table = codeTable(a.lut);
  const int64_t chunks = a.K / kChunk, G = a.G;
  for (int64_t n = n0; n < n1; ++n) {
    const uint8_t *row = a.codes + n * a.rowBytes;
    const float *s = a.scales + n * G;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    if (a.group <= kChunk) {
      // A chunk is one group (64) or two (32: lanes 0-7 scaled by the
      // first, 8-15 by the second), its four partial dots summed and scaled
      // at once; two chunks per step into two accumulators.
      auto chunk = [&](int64_t c) {
        const Chunk w = decode(row + c * 32, table);
        const uint16_t *xc = a.xs + c * 2 * kChunk;
        const __m512 z = _mm512_setzero_ps();
        const __m512 d = _mm512_add_ps(
            _mm512_add_ps(_mm512_dpbf16_ps(z, w.lo, xload(xc)),
                          _mm512_dpbf16_ps(z, w.hi, xload(xc + 64))),
            _mm512_add_ps(_mm512_dpbf16_ps(z, w.lo, xload(xc + 32)),
                          _mm512_dpbf16_ps(z, w.hi, xload(xc + 96))));
        const __m512 sv =
            a.group == 32 ? _mm512_mask_blend_ps(0xff00, _mm512_set1_ps(s[2 * c]),
                                                 _mm512_set1_ps(s[2 * c + 1]))
                          : _mm512_set1_ps(s[c]);
        return _mm512_mul_ps(sv, d);
      };
      int64_t c = 0;
      for (; c + 2 <= chunks; c += 2) {
        __builtin_prefetch(row + c * 32 + kPrefetch, 0, 3);
        acc0 = _mm512_add_ps(acc0, chunk(c));
        acc1 = _mm512_add_ps(acc1, chunk(c + 1));
      }
      if (c < chunks)
        acc0 = _mm512_add_ps(acc0, chunk(c));
    } else {
      // Groups of whole chunks: four chains over the group's chunks (one
      // per activation part and parity, so consecutive vdpbf16ps are
      // independent), scaled once per group.
      const int64_t per = a.group / kChunk;
      for (int64_t gi = 0; gi < G; ++gi) {
        __m512 q0 = _mm512_setzero_ps(), q1 = q0, q2 = q0, q3 = q0;
        for (int64_t c = gi * per; c < (gi + 1) * per; ++c) {
          if (c % 2 == 0)
            __builtin_prefetch(row + c * 32 + kPrefetch, 0, 3);
          const Chunk w = decode(row + c * 32, table);
          const uint16_t *xc = a.xs + c * 2 * kChunk;
          q0 = _mm512_dpbf16_ps(q0, w.lo, xload(xc));
          q1 = _mm512_dpbf16_ps(q1, w.hi, xload(xc + 64));
          q2 = _mm512_dpbf16_ps(q2, w.lo, xload(xc + 32));
          q3 = _mm512_dpbf16_ps(q3, w.hi, xload(xc + 96));
        }
        const __m512 d = _mm512_add_ps(_mm512_add_ps(q0, q1), _mm512_add_ps(q2, q3));
        if (gi & 1)
          acc1 = _mm512_fmadd_ps(_mm512_set1_ps(s[gi]), d, acc1);
        else
          acc0 = _mm512_fmadd_ps(_mm512_set1_ps(s[gi]), d, acc0);
      }
    }
    a.C[n] = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1)) + zeroPointTerm(a, n);
  }
}

/// Rows n0.. in blocks of R; returns where the blocks end. Each row is
/// summed in the same order whatever R, so results do not depend on how
/// rows are split between threads.
template <int R>
static int64_t blockRows(const Args &a, __m512i table, int64_t n0, int64_t n1) {
  const int64_t chunks = a.K / kChunk, G = a.G, per = a.group / kChunk;
  int64_t n = n0;
  for (; n + R <= n1; n += R) {
    const uint8_t *row[R];
    const float *s[R];
    __m512 acc[R];
    for (int r = 0; r < R; ++r) {
      row[r] = a.codes + (n + r) * a.rowBytes;
      s[r] = a.scales + (n + r) * G;
      acc[r] = _mm512_setzero_ps();
    }
    // One chunk of the R rows against the activation parts xc: each row's
    // two chains (hi and lo parts) advanced in q.
    auto chunkInto = [&](int64_t c, const uint16_t *xc, __m512 (*q)[2]) {
      const __m512bh xhE = xload(xc), xlE = xload(xc + 32);
      const __m512bh xhO = xload(xc + 64), xlO = xload(xc + 96);
      for (int r = 0; r < R; ++r) {
        if (c % 2 == 0) // the same columns of the next block of rows
          __builtin_prefetch(row[r] + R * a.rowBytes + c * 32, 0, 3);
        const Chunk w = decode(row[r] + c * 32, table);
        q[r][0] = _mm512_dpbf16_ps(_mm512_dpbf16_ps(q[r][0], w.lo, xhE), w.hi, xhO);
        q[r][1] = _mm512_dpbf16_ps(_mm512_dpbf16_ps(q[r][1], w.lo, xlE), w.hi, xlO);
      }
    };
    if (a.group <= kChunk) {
      for (int64_t c = 0; c < chunks; ++c) {
        __m512 q[R][2];
        for (int r = 0; r < R; ++r)
          q[r][0] = q[r][1] = _mm512_setzero_ps();
        chunkInto(c, a.xs + c * 2 * kChunk, q);
        for (int r = 0; r < R; ++r) {
          const __m512 sv =
              a.group == 32 ? _mm512_mask_blend_ps(0xff00, _mm512_set1_ps(s[r][2 * c]),
                                                   _mm512_set1_ps(s[r][2 * c + 1]))
                            : _mm512_set1_ps(s[r][c]);
          acc[r] = _mm512_fmadd_ps(sv, _mm512_add_ps(q[r][0], q[r][1]), acc[r]);
        }
      }
    } else {
      for (int64_t gi = 0; gi < G; ++gi) {
        __m512 q[R][2];
        for (int r = 0; r < R; ++r)
          q[r][0] = q[r][1] = _mm512_setzero_ps();
        for (int64_t c = gi * per; c < (gi + 1) * per; ++c)
          chunkInto(c, a.xs + c * 2 * kChunk, q);
        for (int r = 0; r < R; ++r)
          acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(s[r][gi]),
                                   _mm512_add_ps(q[r][0], q[r][1]), acc[r]);
      }
    }
    for (int r = 0; r < R; ++r)
      a.C[n + r] = _mm512_reduce_add_ps(acc[r]) + zeroPointTerm(a, n + r);
  }
  return n;
}

void rowBlocks(const Args &a, int64_t n0, int64_t n1) {
  const __m512i table = codeTable(a.lut);
  blockRows<1>(a, table, blockRows<4>(a, table, n0, n1), n1);
}

} // namespace lq_rt::q4dp
