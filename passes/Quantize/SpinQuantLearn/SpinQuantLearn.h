/*===- SpinQuantLearn.h - C ABI of the SpinQuant rotation learner -*- C -*-===//
 * SPDX-License-Identifier: Apache-2.0
 *===----------------------------------------------------------------------===//
 *
 * --spinquant="rotations=learn" learns R1/R2 with a plugin, liblq_spinquant.so
 * (next to liblq_rt.so, in ../lib from quant-opt / quant-compile), which links
 * libtorch for the differentiable forward; the pass dlopen()s it only then, so
 * the compiler never loads libtorch otherwise. This header is the whole
 * interface: plain C structs, filled by the pass (SpinQuantLearn.cpp says what
 * the plugin computes).
 *
 * Conventions: every weight is an lq.linear weight after --fold-norms, [out,
 * in] row-major f32 (y = x Wᵀ; the norm scales already folded in); the
 * embedding is [vocab, dim]. Rotations act on row vectors (x -> x R) and are
 * [n, n] row-major float64.
 *
 *===----------------------------------------------------------------------===*/

#ifndef LQ_PASSES_QUANTIZE_SPINQUANTLEARN_H
#define LQ_PASSES_QUANTIZE_SPINQUANTLEARN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LQ_SPINQUANT_ABI_VERSION 2

typedef struct lq_spinquant_layer {
  const float *q, *k, *v;   /* [heads*hd, dim], [kv*hd, dim], [kv*hd, dim] */
  const float *o;           /* [dim, heads*hd] */
  const float *gate, *up;   /* [hidden, dim] */
  const float *down;        /* [dim, hidden] */
} lq_spinquant_layer_t;

typedef struct lq_spinquant_step {
  int64_t step;             /* 0: before the first update */
  double lr;                /* this step's learning rate (0 at step 0) */
  double train_loss;        /* the batch loss the step's gradient is of (NaN at 0) */
  double heldout_ce;        /* held-out CE after the step; NaN when not evaluated */
  double seconds;           /* since learning started */
} lq_spinquant_step_t;

typedef struct lq_spinquant_problem {
  int32_t abi_version;      /* LQ_SPINQUANT_ABI_VERSION */
  /* The norm-folded Llama (SwiGLU MLP, RoPE, causal GQA). */
  int64_t vocab, dim, hidden, layers, heads, kv_heads, head_dim;
  double rope_theta;        /* RoPE base: angle of pair i at position p = p / theta^(2i/hd) */
  int32_t rope_interleaved; /* pairs (2i, 2i+1) (llama2.c, GPT-J) instead of (i, i + hd/2) */
  double eps;               /* RMSNorm epsilon */
  const float *embedding;   /* [vocab, dim] */
  const float *lm_head;     /* [vocab, dim] */
  const lq_spinquant_layer_t *layer; /* [layers] */
  /* Starting point and the fixed R4. */
  const double *r1_start;   /* [dim, dim] */
  const double *r2_start;   /* [head_dim, head_dim], every layer */
  const double *t4;         /* [hidden, hidden]: lq.hadamard(x) = x T4 */
  /* Calibration sequences, [num_seqs, seq_len]: the last `heldout` are the
   * fixed held-out set of the loss curve, the others are learned on, batch
   * after batch in order (cycling). */
  const int64_t *tokens;
  int64_t num_seqs, seq_len, heldout;
  /* Optimization. */
  int64_t steps, batch, eval_every;
  double lr;                /* initial; cosine schedule to 0 */
  int32_t wbits, abits, group; /* >= 16 bits: not quantized */
  int32_t loss_kl;          /* 0: next-token CE; 1: KL(float || quantized) */
  int32_t threads;          /* 0: libtorch's default */
  /* Called after step 0 and every step (may be NULL). */
  void (*progress)(void *ctx, const lq_spinquant_step_t *step);
  void *progress_ctx;
  /* Outputs (allocated by the caller). */
  double *r1;               /* [dim, dim] */
  double *r2;               /* [layers, head_dim, head_dim] */
  lq_spinquant_step_t *curve; /* [steps + 1] */
  double float_ce, norot_ce; /* held-out CE of the float and of the unrotated quantized model */
  char error[512];          /* set when the call returns nonzero */
} lq_spinquant_problem_t;

/* Learns R1/R2; 0 on success. */
typedef int (*lq_spinquant_learn_fn)(lq_spinquant_problem_t *problem);
int lq_spinquant_learn(lq_spinquant_problem_t *problem);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* LQ_PASSES_QUANTIZE_SPINQUANTLEARN_H */
