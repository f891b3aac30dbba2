//===- gemv_i16.cpp - Integer-weight decode GEMV on int16 activations -*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// y[n] = sum_seg s[n, g(seg)] * sx[seg] * sum_{k in seg} q[n, k] * x16[k]
//        (+ sum_g b[n, g] * sum x[g] for zero points)
//
// Why: a decode step reads each weight once, so its GEMV should run at the
// memory's speed, but on one core the f32 kernels are bound by turning codes
// into floats: an int8 code costs a widen, a convert and an FMA (~12 GB/s
// of codes on one Zen 4 core against ~22 GB/s of DRAM read bandwidth), a
// 4-bit one a table lookup. Here x is quantized once per call to int16 and
// vpdpwssd multiplies 32 code/activation pairs per instruction with exact
// int32 sums, after one widen (8-bit codes) or a widen and a mask or shift
// (4-bit): cache-hot on one core ~45 GB/s of int8 codes and ~20 GB/s of
// int4 codes (bench/results/gemv.md has the DRAM figures).
//
// Error. x is cut into segments (the weight's group, up to 256 codes; two
// groups of 32; see segmentFor); a segment with max |x| = m gets sx = m / 32767 and
// x16 = round(x * (32767 / m)) (|x16| <= 32767, saturated), so
// |x - sx * x16| <= (1/2 + 2^-7) sx per element (the half step, plus the
// f32 roundings of 32767 / m, of the product and of sx): each output is off
// by at most sum_k |s q|[n, k] * m(seg(k)) / 65534 * 1.02 beyond the f32
// kernel's own rounding, where |s q| <= |w| + |b| (the zero points' term is
// summed from f32 x). kernels_q_test checks this bound against float64.
// That is 16 bits of the segment's range, the activations of a "W8A16 /
// W4A16" scheme; the weight's own quantization error is ~2^-8 (int8) to
// ~2^-4 (int4) of its range. The integer sums are exact: a lane adds at
// most 16 products per segment, |q * x16| <= 255 * 32767 (unsigned 8-bit
// codes), 16 of them < 2^28. An x holding an infinity or a NaN, or a
// segment whose max is below 2^-96, is not quantized (prepareX fails) and
// the caller keeps the f32 kernel, which propagates non-finite values.
//
// Related: llama.cpp quantizes activations per block of 32 / 256 to int8
// (Q8_0 / Q8_K) for its integer dot products; here the blocks are 16-bit,
// so a weight-only ("A16") scheme keeps activations as precise as fp16's
// 11 bits and more, and VNNI still sums the products exactly.
//
// Layout. 8-bit rows are one code per byte, widened 32 at a time in order.
// 4-bit rows hold codes 2j (low nibble) and 2j + 1 (high) in byte j; a
// chunk of 64 codes is 32 bytes widened to 32 words, whose low nibbles are
// the even codes and high nibbles the odd ones, so x16 keeps each chunk's
// even elements, then its odd ones. Symmetric 4-bit codes are two's
// complement nibbles: XOR 8 maps them to q + 8 in 0..15 (unsigned, as the
// words need), and each segment's sum starts from -8 * sum(x16) instead
// of 0 (X::offset, per lane, computed once per call).
//
//===----------------------------------------------------------------------===//

#include "gemv_i16.h"

#include "kernel_switch.h"

#include <immintrin.h>

#include <cfloat>
#include <initializer_list>

namespace lq_rt::i16 {

bool cpuHas() {
#if defined(__x86_64__)
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
#else
  return false;
#endif
}

/// On unless LQ_QGEMV_I16=0 (f32 activations, the f32 / vdpbf16ps kernels).
static KernelSwitch &kernelSwitch() {
  static KernelSwitch s("LQ_QGEMV_I16", cpuHas);
  return s;
}

bool enabled() { return kernelSwitch().enabled(); }

bool setEnabled(bool on) { return kernelSwitch().set(on); }

int64_t segmentFor(int64_t K, int64_t group) {
  if (K <= 0 || group <= 0 || K % group != 0 || K % kChunk != 0)
    return 0;
  if (group == kChunk / 2)
    return kChunk; // two groups per segment
  if (group % kChunk != 0)
    return 0;
  if (group <= 256)
    return group;
  for (int64_t s : {256, 128})
    if (group % s == 0)
      return s;
  return kChunk;
}

bool prepareX(const float *x, int64_t K, int64_t seg, int bits, bool sym, X &out) {
  const int64_t S = K / seg;
  out.K = K;
  out.seg = seg;
  out.v.reset(new int16_t[size_t(K)]);
  out.scale.reset(new float[size_t(S)]);
  const bool offset = bits == 4 && sym;
  out.offset.reset(offset ? new int32_t[size_t(S * 16)] : nullptr);
  const __m512i evens = _mm512_setr_epi32(
      0x00020000, 0x00060004, 0x000a0008, 0x000e000c, 0x00120010, 0x00160014,
      0x001a0018, 0x001e001c, 0x00220020, 0x00260024, 0x002a0028, 0x002e002c,
      0x00320030, 0x00360034, 0x003a0038, 0x003e003c); // words 0, 2, .., 62
  const __m512i odds = _mm512_add_epi16(evens, _mm512_set1_epi16(1));
  const __m512i minus8 = _mm512_set1_epi16(-8);
  for (int64_t s = 0; s < S; ++s) {
    const float *xs = x + s * seg;
    __m512 m = _mm512_setzero_ps();
    __mmask16 nan = 0;
    for (int64_t k = 0; k < seg; k += 16) {
      const __m512 v = _mm512_loadu_ps(xs + k);
      nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
      m = _mm512_max_ps(m, _mm512_abs_ps(v));
    }
    const float mx = _mm512_reduce_max_ps(m);
    // Not finite, or so small (0 < max < 2^-96) that 32767 / max would
    // overflow or the scale fall into denormals: the f32 kernel's case.
    if (nan || !(mx <= FLT_MAX) || (mx > 0.0f && mx < 0x1p-96f))
      return false;
    out.scale[s] = mx / 32767.0f;
    const __m512 inv = _mm512_set1_ps(mx > 0.0f ? 32767.0f / mx : 0.0f);
    // 16 floats -> 16 int16 (nearest even; saturating, so a product that
    // rounds up past 32767 stays in range).
    auto q16 = [&](const float *p) {
      return _mm512_cvtsepi32_epi16(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(p), inv)));
    };
    auto q32 = [&](const float *p) { // 32 floats -> one vector of words
      return _mm512_inserti64x4(_mm512_castsi256_si512(q16(p)), q16(p + 16), 1);
    };
    int16_t *d = out.v.get() + s * seg;
    __m512i off = _mm512_setzero_si512();
    for (int64_t c = 0; c < seg; c += kChunk) {
      const __m512i lo = q32(xs + c), hi = q32(xs + c + 32);
      if (bits == 4) {
        const __m512i e = _mm512_permutex2var_epi16(lo, evens, hi);
        const __m512i o = _mm512_permutex2var_epi16(lo, odds, hi);
        _mm512_storeu_si512(d + c, e);
        _mm512_storeu_si512(d + c + 32, o);
        if (offset)
          off = _mm512_dpwssd_epi32(_mm512_dpwssd_epi32(off, minus8, e), minus8, o);
      } else {
        _mm512_storeu_si512(d + c, lo);
        _mm512_storeu_si512(d + c + 32, hi);
      }
    }
    if (offset)
      _mm512_storeu_si512(out.offset.get() + s * 16, off);
  }
  return true;
}

namespace {

/// Codes are prefetched this many bytes ahead into L2 (prefetcht2), not L1:
/// the row streams through while x16 (2 bytes per code) stays in L1. Found
/// by sweeping 0-24 KB, interleaved A/B on one Zen 4 core with weights in
/// DRAM: none or into L1 lost up to 2x on rows of 11008 codes (x16 22 KB);
/// 8 KB into L2 gained 1.1-1.9x over the f32 kernels on every shape.
constexpr int64_t kPrefetchBytes = 8192;

/// sum_g b[n, g] * sum(x[g]): the zero points' term (0 when symmetric),
/// 16 groups at a time (a scalar loop cost ~10% of a 4096-code int4 row).
float zeroPointTerm(const Args &a, int64_t n) {
  if (!a.biases)
    return 0.0f;
  const float *b = a.biases + n * a.G;
  __m512 t = _mm512_setzero_ps();
  int64_t g = 0;
  for (; g + 16 <= a.G; g += 16)
    t = _mm512_fmadd_ps(_mm512_loadu_ps(b + g), _mm512_loadu_ps(a.xsum + g), t);
  const __mmask16 tail = __mmask16((1u << (a.G - g)) - 1);
  t = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, b + g), _mm512_maskz_loadu_ps(tail, a.xsum + g), t);
  return _mm512_reduce_add_ps(t);
}

/// Rows n..n+R-1: for each segment, two int32 chains per row (even / odd
/// words of each chunk) over its chunks, then one convert and one FMA by
/// the weight's and the activations' scales. Segments are independent, so
/// the chains' latency overlaps the next segment's loads. Each row's
/// arithmetic is the same whatever R (the rows only share x's loads), so
/// results do not depend on how rows are split between threads.
template <int Bits, bool Sym, int R>
void block(const Args &a, int64_t n) {
  const X &x = *a.x;
  const uint8_t *codes[R];
  const float *sw[R];
  for (int r = 0; r < R; ++r) {
    codes[r] = a.codes + (n + r) * a.rowBytes;
    sw[r] = a.scales + (n + r) * a.G;
  }
  const int16_t *xv = x.v.get();
  const int64_t seg = x.seg, S = a.K / seg;
  const __m512i low4 = _mm512_set1_epi16(0x000f), flip = _mm512_set1_epi16(0x0088);
  __m512 acc[R];
  for (int r = 0; r < R; ++r)
    acc[r] = _mm512_setzero_ps();
  for (int64_t s = 0; s < S; ++s) {
    const int64_t k0 = s * seg;
    const __m512i init = Bits == 4 && Sym ? _mm512_loadu_si512(x.offset.get() + s * 16)
                                          : _mm512_setzero_si512();
    __m512i s0[R], s1[R];
    for (int r = 0; r < R; ++r) {
      s0[r] = init;
      s1[r] = _mm512_setzero_si512();
    }
    for (int64_t c = k0; c < k0 + seg; c += kChunk) {
      const __m512i x0 = _mm512_loadu_si512(xv + c), x1 = _mm512_loadu_si512(xv + c + 32);
      for (int r = 0; r < R; ++r) {
        if (Bits == 8 || c % 128 == 0) // once per 64-byte line
          _mm_prefetch((const char *)codes[r] + c * Bits / 8 + kPrefetchBytes, _MM_HINT_T2);
        if constexpr (Bits == 4) {
          __m512i w = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(codes[r] + c / 2)));
          if constexpr (Sym)
            w = _mm512_xor_si512(w, flip);
          s0[r] = _mm512_dpwssd_epi32(s0[r], _mm512_and_si512(w, low4), x0);
          s1[r] = _mm512_dpwssd_epi32(s1[r], _mm512_srli_epi16(w, 4), x1);
        } else {
          const __m256i *p = (const __m256i *)(codes[r] + c);
          const __m512i w0 = Sym ? _mm512_cvtepi8_epi16(_mm256_loadu_si256(p))
                                 : _mm512_cvtepu8_epi16(_mm256_loadu_si256(p));
          const __m512i w1 = Sym ? _mm512_cvtepi8_epi16(_mm256_loadu_si256(p + 1))
                                 : _mm512_cvtepu8_epi16(_mm256_loadu_si256(p + 1));
          s0[r] = _mm512_dpwssd_epi32(s0[r], w0, x0);
          s1[r] = _mm512_dpwssd_epi32(s1[r], w1, x1);
        }
      }
    }
    if (a.group == kChunk / 2) {
      // Groups of 32: 4-bit lanes 0-7 (words 0-15 of either parity) hold
      // the first group and 8-15 the second; 8-bit s0 the first, s1 the
      // second.
      const __m512 sx = _mm512_set1_ps(x.scale[s]);
      for (int r = 0; r < R; ++r) {
        const __m512 g0 = _mm512_set1_ps(sw[r][2 * s]), g1 = _mm512_set1_ps(sw[r][2 * s + 1]);
        if constexpr (Bits == 4)
          acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0[r], s1[r])),
                                   _mm512_mul_ps(_mm512_mask_blend_ps(0xff00, g0, g1), sx),
                                   acc[r]);
        else
          acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s1[r]), _mm512_mul_ps(g1, sx),
                                   _mm512_fmadd_ps(_mm512_cvtepi32_ps(s0[r]),
                                                   _mm512_mul_ps(g0, sx), acc[r]));
      }
      continue;
    }
    for (int r = 0; r < R; ++r)
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0[r], s1[r])),
                               _mm512_set1_ps(sw[r][k0 / a.group] * x.scale[s]), acc[r]);
  }
  for (int r = 0; r < R; ++r)
    a.C[n + r] = _mm512_reduce_add_ps(acc[r]) + zeroPointTerm(a, n + r);
}

/// 4-bit rows under 1 KB go four at a time: a short row's set-up and
/// x loads are a large part of it (768 x 768 int4 g128, one core: 1.5x
/// cache-hot, 1.2-1.3x from DRAM); longer rows and 8-bit ones gained
/// nothing or lost (several streams in flight).
constexpr int64_t kBlockRowBytes4 = 1024;

template <int Bits, bool Sym> void rowsOf(const Args &a, int64_t n0, int64_t n1) {
  int64_t n = n0;
  if (Bits == 4 && a.rowBytes < kBlockRowBytes4)
    for (; n + 4 <= n1; n += 4)
      block<Bits, Sym, 4>(a, n);
  for (; n < n1; ++n)
    block<Bits, Sym, 1>(a, n);
}

} // namespace

void rows4(const Args &a, bool sym, int64_t n0, int64_t n1) {
  sym ? rowsOf<4, true>(a, n0, n1) : rowsOf<4, false>(a, n0, n1);
}

void rows8(const Args &a, bool sym, int64_t n0, int64_t n1) {
  sym ? rowsOf<8, true>(a, n0, n1) : rowsOf<8, false>(a, n0, n1);
}

} // namespace lq_rt::i16
