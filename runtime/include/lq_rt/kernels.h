/*===- kernels.h - lq_rt's CPU kernels -----------------------------*- C -*-===*
 * SPDX-License-Identifier: Apache-2.0
 *===----------------------------------------------------------------------===*
 *
 * The hand-written kernels compiled models call (through the MLIR C-interface
 * shims in src/cpu/mlir_abi.cpp) and that tests and benchmarks call directly.
 * Each has AVX-512, AVX2+FMA and portable scalar versions, picked at run time
 * from the CPU's features (or forced with lq_rt_force_isa, for tests).
 *
 *===----------------------------------------------------------------------===*/

#ifndef LQ_RT_KERNELS_H
#define LQ_RT_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Threads kernels use (default: all cores, or $LQ_NUM_THREADS). */
void lq_rt_set_num_threads(int n);
int lq_rt_get_num_threads(void);

/** The ISA in use: "avx512", "avx2" or "scalar". */
const char *lq_rt_isa(void);
/** Forces an ISA ("avx512", "avx2", "scalar", or NULL for automatic).
 *  Returns 0 if this CPU cannot run it (nothing changes then). */
int lq_rt_force_isa(const char *isa);

/** The 4-bit decode GEMV's AVX-512 BF16 kernel (lq_rt_qgemm_nt, M = 1):
 *  1 = use it under the avx512 ISA where the CPU has avx512_bf16 (the
 *  default, unless the environment sets LQ_QGEMV_DPBF16=0), 0 = keep the
 *  f32 kernel. Returns 1 if it is enabled (shapes, the ISA in use and, for
 *  integer codes, lq_rt_qgemv_i16 still decide whether a call takes it). */
int lq_rt_qgemv_dpbf16(int enable);

/** The integer-weight decode GEMV on int16 activations (lq_rt_qgemm_nt,
 *  M = 1, LQ_FORMAT_INT, 4 or 8 bits): 1 = use it under the avx512 ISA
 *  where the CPU has avx512_vnni (the default, unless the environment sets
 *  LQ_QGEMV_I16=0), 0 = keep the f32 (and, for 4-bit codes, vdpbf16ps)
 *  kernels. Returns 1 if it is enabled. A call takes it when K is a
 *  multiple of 64 and the group is 32 or a multiple of 64; x is then
 *  quantized once to int16 per segment (the group up to 256 codes, else
 *  the largest of 256, 128, 64 dividing it; 64 for groups of 32) with
 *  scale max|x| / 32767, so each output may differ from the f32 kernel's
 *  by up to sum_k |s q|[n, k] * max|x over k's segment| / 65534 * 1.02
 *  (|s q| <= |w| + |b|). A segment with an infinity, a NaN or a max below
 *  2^-96 keeps the f32 kernel for the call. */
int lq_rt_qgemv_i16(int enable);

/** C[m, n] = sum_k A[m, k] * B[n, k]: both operands K-contiguous, as a
 *  linear layer's activations [M, K] and weight [N, K] are. Row strides
 *  lda/ldb/ldc are in elements. */
void lq_rt_sgemm_nt(int64_t M, int64_t N, int64_t K, const float *A,
                    int64_t lda, const float *B, int64_t ldb, float *C,
                    int64_t ldc);

/** Width of a packed weight panel, in output columns. */
#define LQ_RT_PACK_WIDTH 16

/** Elements of the packed form of a [N, K] weight: ceil(N / 16) panels of
 *  K x 16 floats. */
int64_t lq_rt_packed_f32_size(int64_t N, int64_t K);
/** Packs a row-major weight w [N, K] (row stride K) into panels for
 *  lq_rt_sgemm_packed: out[p][k][j] = w[p * 16 + j][k], zero for rows past
 *  N. The compiler packs constant weights with it at compile time. */
void lq_rt_pack_f32_panels(const float *w, int64_t N, int64_t K, float *out);
/** C[m, n] = sum_k A[m, k] * w[n, k] with w packed by
 *  lq_rt_pack_f32_panels (compiled models reach it as
 *  `lq_rt_linear_packed_f32`). A decode streams the panels sequentially
 *  with no horizontal sums; a prefill runs its micro-kernel on them without
 *  packing per call. */
void lq_rt_sgemm_packed(int64_t M, int64_t N, int64_t K, const float *A,
                        int64_t lda, const float *packed, float *C,
                        int64_t ldc);

/** Weight-only quantized GEMM NT (compiled models reach it as
 *  `lq_rt_linear_q_f32`, see src/cpu/mlir_abi.cpp, as they reach
 *  lq_rt_sgemm_nt as `lq_rt_linear_f32`): C[m, n] = sum_k A[m, k] * w[n, k], where the
 *  weight w [N, K] is decoded group by group in registers and never stored
 *  as floats. Groups run along K: group \p group divides K (pass K, or
 *  group <= 0, for one scale per output channel).
 *
 *  Layout of the weight (what the compiler's LQToRuntime pass emits):
 *   - codes: row-major [N][row_bytes] with row_bytes = ceil(K * bits / 8);
 *     bits 8: one code per byte; bits 4: two codes per byte, element 2i in
 *     the LOW nibble (<lq_rt/formats.h>'s packing order). A row starts on a
 *     byte boundary (for even K this is exactly lq_pack_bits of the whole
 *     tensor).
 *   - scales: f32 [N][K / group].
 *   - biases: f32 [N][K / group] or NULL. With biases, w = q * s + b, where
 *     b = -zero_point * s is precomputed per group (asymmetric integers),
 *     and the kernel adds b * sum(x over the group).
 *  \p format is an lq_format_t:
 *   - LQ_FORMAT_INT, \p bits 4 or 8: q is the code read as a two's
 *     complement integer when \p biases is NULL (symmetric schemes) and as
 *     an unsigned integer otherwise (asymmetric schemes, codes 0..2^bits-1).
 *   - LQ_FORMAT_NF4 (\p bits 4): q = lq_nf4_codebook[code].
 *   - LQ_FORMAT_MXFP4 / LQ_FORMAT_NVFP4 (\p bits 4): q = the E2M1 value of
 *     the code (lq_fp4_e2m1_to_f32); \p scales hold the block scales as f32
 *     (E8M0 / E4M3 decoded, NVFP4's tensor scale multiplied in); \p biases
 *     is ignored.
 *   - LQ_FORMAT_FP8_E4M3 / LQ_FORMAT_FP8_E5M2 (\p bits 8): q = the FP8 value
 *     of the code; \p biases is ignored.
 *  For bits 4, \p group must be even unless it equals K. Returns 0, or -1
 *  (writing nothing) for an unsupported format/bits/group. M <= 4 runs
 *  GEMVs that stream the codes once; larger M decodes each tile of weight
 *  rows once per block of activation rows into a small f32 buffer and
 *  dots it with them in registers. M = 1 with 4-bit codes exact in bf16
 *  (int4, FP4; not NF4), groups of 32 or of multiples of 64 and K % 64 == 0,
 *  on a CPU with AVX-512 BF16: the activations are split into two bf16
 *  parts (16 significant bits, relative error <= 2^-18 each) and the codes
 *  dotted with them by vdpbf16ps, products exact, sums in f32
 *  (lq_rt_qgemv_dpbf16). */
int lq_rt_qgemm_nt(int64_t M, int64_t N, int64_t K, const float *A,
                    int64_t lda, const uint8_t *codes, const float *scales,
                    const float *biases, int32_t format, int32_t bits,
                    int64_t group, float *C, int64_t ldc);

/** W8A8: int8 activations x int8 weights with int32 accumulation.
 *
 *  C[m, n] = float(acc[m, n]) * (sx[per_token ? m : 0] * sw[n]) (+ bias[n]),
 *  acc[m, n] = sum_k xq[m, k] * w[n, k] exactly (int32; wrapping partial
 *  sums are exact as long as the final sum fits, |acc| < 2^31, i.e. any
 *  K < 131072 for codes in [-128, 127]). xq [M, K] int8 codes with row
 *  stride ldx; w [N, K] int8 codes of a symmetric per-output-channel (or
 *  per-tensor: repeat the scale) weight, pre-packed by lq_rt_pack_w8a8.
 *  Every ISA (AVX-512 VNNI, AVX2, scalar) returns bit-identical C: the
 *  integer sum is exact and the epilogue is the same three IEEE operations.
 *
 *  The packed layout (the compiler packs constant weights at compile time,
 *  like lq_rt_pack_f32_panels): ceil(N / 16) panels of
 *  lq_rt_w8a8_panel_bytes(K) bytes each; a panel holds int32 comp[16] =
 *  128 * sum_k w[n, k] (for VNNI's unsigned x signed vpdpbusd, which reads
 *  x + 128), then ceil(K / 4) blocks of 64 bytes, block b holding
 *  w[p * 16 + j][4 b + i] at byte 4 j + i (zero past N and K). */
#define LQ_RT_W8A8_WIDTH 16
int64_t lq_rt_w8a8_panel_bytes(int64_t K);
int64_t lq_rt_packed_w8a8_size(int64_t N, int64_t K);
void lq_rt_pack_w8a8(const int8_t *w, int64_t N, int64_t K, int8_t *out);
/** Returns 0, or -1 (writing nothing) for negative sizes, K >= 131072,
 *  ldx < K, ldc < N or a null operand (bias may be NULL). M <= 4 runs the GEMV form
 *  (panels streamed once, several accumulator chains per panel); larger M a
 *  register-tiled micro-kernel (8 rows x 32 columns on AVX-512). Threads
 *  split the panels. */
int lq_rt_gemm_w8a8(int64_t M, int64_t N, int64_t K, const int8_t *xq,
                    int64_t ldx, const float *sx, int32_t per_token,
                    const int8_t *packed, const float *sw, const float *bias,
                    float *C, int64_t ldc);
/** The implementation lq_rt_gemm_w8a8 runs now: "avx512-vnni", "avx2" or
 *  "scalar" (follows lq_rt_force_isa; AVX-512 without VNNI runs avx2). */
const char *lq_rt_w8a8_isa(void);

/** W4A8: int8 activations x int4 weights in groups along K, int32 sums per
 *  group (llama.cpp Q4_0's arithmetic, with lq's scales).
 *
 *  C[m, n] = f[m, n] * sx[per_token ? m : 0] (+ bias[n]), where
 *  f = sum over groups g in order of float(acc[m, n, g]) * sw[n, g] (one
 *  rounding for the product, one for the sum, no FMA), and
 *  acc[m, n, g] = sum_{k in g} xq[m, k] * (q[n, k] - z[n, g]) exactly. The
 *  zero point is applied as sum_k xq u - z' sum_k xq, with u = q (+ 8 for
 *  symmetric codes, z' = z or 8), so the activation sums per group are
 *  computed once per row. Every ISA (AVX-512 VNNI, AVX2, scalar) returns
 *  bit-identical C.
 *
 *  Weight codes q [N, K] (one per byte): symmetric, int4 in [-8, 7] and
 *  zero_points NULL; asymmetric, [0, 15] with zero points [N, K / group] in
 *  [0, 15]. Scales sw [N, K / group]. group % 8 == 0, K % group == 0,
 *  K < 2^20. The packed layout (built at compile time): ceil(N / 16) panels
 *  of lq_rt_w4a8_panel_bytes bytes; per group of a panel, float sw[16],
 *  then (asymmetric only) int32 z'[16], then group / 8 blocks of 64 bytes:
 *  block c holds u[p * 16 + j][g * group + 8 c + i] in the low nibble and
 *  u[..][.. + 4 + i] in the high nibble of byte 4 j + i (zero past N) — the
 *  operand order of vpdpbusd (u8 weights x s8 activations) after a
 *  mask / shift. lq_rt_pack_w4a8 returns 0, or -1 for bad sizes or codes /
 *  zero points out of range. */
#define LQ_RT_W4A8_WIDTH 16
int64_t lq_rt_w4a8_panel_bytes(int64_t K, int64_t group, int32_t asymmetric);
int64_t lq_rt_packed_w4a8_size(int64_t N, int64_t K, int64_t group,
                               int32_t asymmetric);
int lq_rt_pack_w4a8(const int8_t *codes, const float *scales,
                    const int32_t *zero_points, int64_t N, int64_t K,
                    int64_t group, int8_t *out);
/** Returns 0, or -1 (writing nothing) for negative sizes, a bad group,
 *  K >= 2^20, ldx < K, ldc < N or a null operand (bias may be NULL).
 *  M <= 4 runs the GEMV form; larger M tiles of 8 rows x 32 columns
 *  (AVX-512) that reuse each unpacked block across the rows. Threads split
 *  the panels. */
int lq_rt_gemm_w4a8(int64_t M, int64_t N, int64_t K, const int8_t *xq,
                    int64_t ldx, const float *sx, int32_t per_token,
                    const int8_t *packed, int64_t group, int32_t asymmetric,
                    const float *bias, float *C, int64_t ldc);
/** The implementation lq_rt_gemm_w4a8 runs now (as lq_rt_w8a8_isa). */
const char *lq_rt_w4a8_isa(void);

/** BF16 weights, f32 activations (llama.cpp's BF16 GGUF type):
 *
 *  C[m, n] = sum_k A[m, k] * bf16(W[n, k])   (+ bias[n])
 *
 *  A [M, K] f32 with row stride lda; W [N, K] bfloat16 codes
 *  (lq_bf16_from_f32), pre-packed by lq_rt_pack_bf16 into ceil(N / 16)
 *  panels of ceil(K / 2) blocks of 64 bytes, block b of panel p holding
 *  W[16 p + j][2 b + i] as uint16 element 2 j + i (zero past N and K): the
 *  operand layout of AVX-512 BF16's vdpbf16ps, and for the f32 kernels one
 *  shift (even k) and one mask (odd k) widen a block to exact f32 weights.
 *  Two arithmetics:
 *   - widen: weights widened exactly to f32, products and sums in f32 FMAs
 *     (AVX-512F, AVX2+FMA, scalar): activations stay exact;
 *   - dpbf16: activations rounded to bf16 (nearest even, vcvtne2ps2bf16;
 *     NaN kept) once per call, then vdpbf16ps (products exact in f32, sums
 *     in f32; denormal inputs and results flushed to zero, so a denormal
 *     activation counts as 0), as llama.cpp's and oneDNN's BF16 GEMMs do:
 *     twice the multiply-adds per instruction of an f32 FMA.
 *  Automatic choice: dpbf16 for M >= LQ_RT_BF16_DOT_MIN_ROWS on a CPU with
 *  avx512_bf16 while lq_rt_isa() is "avx512"; widen otherwise (a decode
 *  step is memory-bound either way, so it keeps its activations exact). */
#define LQ_RT_BF16_WIDTH 16
#define LQ_RT_BF16_DOT_MIN_ROWS 8
/** Bytes of the packed weight: ceil(N / 16) * ceil(K / 2) * 64. */
int64_t lq_rt_packed_bf16_size(int64_t N, int64_t K);
void lq_rt_pack_bf16(const uint16_t *w, int64_t N, int64_t K, uint16_t *out);
/** Returns 0, or -1 (writing nothing) for negative sizes, lda < K,
 *  ldc < N or a null operand (bias may be NULL). Threads split the panels. */
int lq_rt_gemm_bf16(int64_t M, int64_t N, int64_t K, const float *A,
                    int64_t lda, const uint16_t *packed, const float *bias,
                    float *C, int64_t ldc);
/** The kernel lq_rt_gemm_bf16 runs for M rows: "avx512-bf16" (dpbf16),
 *  "avx512", "avx2" or "scalar" (widen). */
const char *lq_rt_bf16_isa(int64_t M);
/** Forces the kernel ("avx512-bf16" for every M, "avx512", "avx2",
 *  "scalar"; NULL: automatic, following lq_rt_isa()). Returns 0 if this CPU
 *  cannot run it (nothing changes then). For tests and benchmarks. */
int lq_rt_force_bf16_isa(const char *name);

/** A strided 4-D f32 view (strides in elements). */
typedef struct lq_rt_view4 {
  float *data;
  int64_t sizes[4];
  int64_t strides[4];
} lq_rt_view4_t;

/** dst = src for two 4-D f32 views of the same sizes, any strides (they
 *  must not overlap): the copy a decode step makes of each layer's KV
 *  cache into the cache it returns. Rows whose trailing dimensions are
 *  dense in both views are copied with memcpy, split between lq_rt's
 *  threads from 64 KB. Returns 0, or -1 (copying nothing) when the sizes
 *  differ or are negative. */
int lq_rt_copy_f32(const lq_rt_view4_t *src, const lq_rt_view4_t *dst);

/** out = softmax(scale * q k^T [+ causal mask]) v per head. q [B, Hq, T, D],
 *  k [B, Hkv, S, D], v [B, Hkv, S, Dv], out [B, Hq, T, Dv]; query head h
 *  reads KV head h / (Hq / Hkv). Causal masks key s for query t when
 *  s > t + (S - T); a query with no visible key gets zeros. */
void lq_rt_attention_f32(const lq_rt_view4_t *q, const lq_rt_view4_t *k,
                         const lq_rt_view4_t *v, const lq_rt_view4_t *out,
                         float scale, int causal);

/** lq_rt_attention_f32 over a fixed-capacity KV cache: query t sits at key
 *  index position + t; keys s >= position + T are unwritten and never read;
 *  causal also masks s > position + t. position = S - T is
 *  lq_rt_attention_f32. Work is proportional to position + T, not S. */
void lq_rt_attention_at_f32(const lq_rt_view4_t *q, const lq_rt_view4_t *k,
                            const lq_rt_view4_t *v, const lq_rt_view4_t *out,
                            float scale, int causal, int64_t position);

/** Quantized keys or values of a KV cache: logical shape [B, H, S, D].
 *  Element (b, h, s, d) is byte \p codes[b*strides[0] + h*strides[1] +
 *  s*strides[2] + d] (int8 and FP8 codes), or the (d % 2 ? high : low)
 *  nibble of byte d / 2 there (int4, two's complement; strides[3] unused).
 *  Its scale is scales[b'*ss[0] + h'*ss[1] + (s / gs)*ss[2] + (d / gd)*ss[3]]
 *  with gs = S / scale_sizes[2], gd = D / scale_sizes[3], and b' (h') = 0
 *  when scale_sizes[0] (scale_sizes[1]) is 1: per-token scales have
 *  scale_sizes [B, H, S, D / group]. Value = decode(code) * scale (times
 *  global_scale for NVFP4, whose nibbles are E2M1 codes laid out as int4's).
 *  Views that do not set scale_type / global_scale must zero them (f32
 *  scales). */
typedef struct lq_rt_qview4 {
  const uint8_t *codes;
  int64_t sizes[4];
  int64_t strides[4];
  const void *scales; /**< scale_type elements (f32 unless set) */
  int64_t scale_sizes[4];
  int64_t scale_strides[4];
  int32_t format; /**< LQ_FORMAT_INT (bits 8 or 4), LQ_FORMAT_FP8_E4M3/E5M2,
                       LQ_FORMAT_NVFP4 (bits 4: E2M1 nibbles, packed as int4) */
  int32_t bits;
  int32_t scale_type; /**< LQ_RT_SCALE_F32 (0), _F16 or _E4M3 */
  float global_scale; /**< NVFP4: the tensor scale, multiplies every block
                           scale; unused by the other formats */
} lq_rt_qview4_t;

/** Storage of a qview's scales: f32, IEEE binary16 (uint16_t bits), or FP8
 *  E4M3FN bytes (NVFP4's block scales; any format may use them). */
enum {
  LQ_RT_SCALE_F32 = 0,
  LQ_RT_SCALE_F16 = 1,
  LQ_RT_SCALE_E4M3 = 2
};

/** lq_rt_attention_at_f32 reading quantized keys and values: each row is
 *  decoded as it is read (once per KV head and step, shared by its GQA query
 *  heads). Returns 0, or -1 (writing nothing) for an unsupported format,
 *  bits, scale type, or scale blocking (blocks must divide S and D; int4
 *  and NVFP4 need an even D and channel groups that are even or 1). */
/** KIVI's float window (Liu et al. 2024, arXiv:2402.02750, §3.2) over a
 *  quantized cache: rings k / v [B, Hkv, R, Dk/Dv] in f32 holding position s
 *  in slot s mod R (what lq.kv_window_append writes). Positions
 *  max(0, end - R) <= s < end are read from the rings, the others from the
 *  codes; R is each ring's own length (the key ring may be longer: KIVI's
 *  per-channel keys keep R + T - 1 positions, see --quantize-kv-cache).
 *  Per-channel key scales over groups of R tokens (KIVI, scale_sizes
 *  [B, H, S / R, D], element (b, h, s, d) scaled by [b, h, s / R, d]) are
 *  a qview like any other; the kernel decodes them on its fast path. */
typedef struct lq_rt_kv_window {
  const lq_rt_view4_t *k;
  const lq_rt_view4_t *v;
  int64_t end;
} lq_rt_kv_window_t;

/** lq_rt_attention_at_q with the most recent positions read from `window`
 *  (NULL: none, exactly lq_rt_attention_at_q). Returns -1 for a window whose
 *  batch, heads or head dimensions differ from the cache's. */
int lq_rt_attention_at_q_window(const lq_rt_view4_t *q,
                                const lq_rt_qview4_t *k,
                                const lq_rt_qview4_t *v,
                                const lq_rt_view4_t *out, float scale,
                                int causal, int64_t position,
                                const lq_rt_kv_window_t *window);

int lq_rt_attention_at_q(const lq_rt_view4_t *q, const lq_rt_qview4_t *k,
                         const lq_rt_qview4_t *v, const lq_rt_view4_t *out,
                         float scale, int causal, int64_t position);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* LQ_RT_KERNELS_H */
