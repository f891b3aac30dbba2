/*===- lq_rt.h - Load and run models compiled by quant-compile -----*- C -*-===*
 * SPDX-License-Identifier: Apache-2.0
 *===----------------------------------------------------------------------===*
 *
 * The C ABI a deployment links against. A model is a shared library written
 * by quant-compile; lq_model_load opens it, reads its signature (names, types
 * and shapes of inputs and outputs) and lq_model_run calls it. Every function
 * returns a status; on failure lq_rt_last_error() says what went wrong (per
 * thread). Nothing here aborts on bad caller input.
 *
 *===----------------------------------------------------------------------===*/

#ifndef LQ_RT_LQ_RT_H
#define LQ_RT_LQ_RT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lq_rt_status {
  LQ_RT_OK = 0,
  LQ_RT_ERROR_IO = 1,               /* cannot open / read / write a file */
  LQ_RT_ERROR_INVALID_ARGUMENT = 2, /* wrong count, type, shape or value */
  LQ_RT_ERROR_FORMAT = 3,           /* not an lq model / not a .npy file */
  LQ_RT_ERROR_OUT_OF_MEMORY = 4,
} lq_rt_status_t;

typedef enum lq_dtype {
  LQ_DTYPE_F32 = 0,
  LQ_DTYPE_F16 = 1,
  LQ_DTYPE_BF16 = 2,
  LQ_DTYPE_F64 = 3,
  LQ_DTYPE_I64 = 4,
  LQ_DTYPE_I32 = 5,
  LQ_DTYPE_I16 = 6,
  LQ_DTYPE_I8 = 7,
  LQ_DTYPE_BOOL = 8, /* one byte per element */
} lq_dtype_t;

#define LQ_MAX_RANK 8

/** A dense row-major tensor. `data` is owned by whoever filled it: tensors
 *  filled by lq_model_run or lq_npy_read are released with lq_tensor_free. */
typedef struct lq_tensor {
  lq_dtype_t dtype;
  int32_t rank;
  int64_t shape[LQ_MAX_RANK];
  void *data;
} lq_tensor_t;

typedef struct lq_model lq_model_t;

/** Message of the last failure on this thread ("" if none). */
const char *lq_rt_last_error(void);

/** Bytes per element; 0 for an invalid dtype. */
size_t lq_dtype_size(lq_dtype_t dtype);
/** "f32", "i64", ...; NULL for an invalid dtype. */
const char *lq_dtype_name(lq_dtype_t dtype);
/** Number of elements of `t` (1 for rank 0). */
int64_t lq_tensor_numel(const lq_tensor_t *t);
/** Frees `t->data` (allocated by lq_rt) and clears it. */
void lq_tensor_free(lq_tensor_t *t);

/** Opens a model library written by quant-compile. `path` is a file path:
 *  a name without a slash is a file in the current directory, never looked
 *  up on the library search path. */
lq_rt_status_t lq_model_load(const char *path, lq_model_t **model);
void lq_model_free(lq_model_t *model);
/** A model from an entry point already in memory (a JIT-compiled module, as
 *  `quant-run model.mlir` makes): `main` and `signature` as quant-compile's
 *  lq_model_main / lq_model_signature. lq_model_free calls
 *  `release(context)` (may be NULL) once the model is no longer used; on
 *  failure the caller keeps `context`. */
lq_rt_status_t lq_model_create(void (*main)(void **), const char *signature,
                               void (*release)(void *), void *context,
                               lq_model_t **model);

size_t lq_model_num_inputs(const lq_model_t *model);
size_t lq_model_num_outputs(const lq_model_t *model);
const char *lq_model_input_name(const lq_model_t *model, size_t i);
const char *lq_model_output_name(const lq_model_t *model, size_t i);
/** dtype, rank and shape of input/output `i`; `info->data` is set to NULL. */
lq_rt_status_t lq_model_input_info(const lq_model_t *model, size_t i,
                                   lq_tensor_t *info);
lq_rt_status_t lq_model_output_info(const lq_model_t *model, size_t i,
                                    lq_tensor_t *info);

/** Runs the model. `inputs` must match the signature exactly (count, dtype,
 *  shape; integer token ids within the embedding's range). Each output is
 *  allocated by lq_rt; release it with lq_tensor_free. */
lq_rt_status_t lq_model_run(lq_model_t *model, const lq_tensor_t *inputs,
                            size_t num_inputs, lq_tensor_t *outputs,
                            size_t num_outputs);

/** The allocator compiled models call for their buffers (MLIR's generic
 *  allocation functions; a model whose signature has the line `alloc lq_rt`
 *  uses them, and lq_model_run releases its outputs with the free). Blocks
 *  are 64-byte aligned and cached per thread for the next call. */
void *_mlir_memref_to_llvm_alloc(size_t size);
void *_mlir_memref_to_llvm_aligned_alloc(size_t alignment, size_t size);
void _mlir_memref_to_llvm_free(void *ptr);

/** Runtime-managed KV caches (models compiled with `quant-compile
 *  --kv-cache N`): the number of cache inputs. Cache `i` is input
 *  `*input`; after a step, output `*output` holds its updated contents and
 *  is fed back as that input on the next step. */
size_t lq_model_num_caches(const lq_model_t *model);
/** lq_model_cache's `*output` for a cache the model updates in place
 *  (`cache <name> inplace`): the input buffer itself holds the updated
 *  contents after lq_model_run, and no output carries them. Exception: a
 *  CUDA model compiled with `--cuda-device-kv-cache` keeps the contents on
 *  the GPU (the host buffer only names the cache and gives its initial
 *  contents at position 0); it runs one sequence at a time, as
 *  lq_generate does, and aborts with a message when a step past position 0
 *  switches to another cache buffer. */
#define LQ_MODEL_CACHE_IN_PLACE ((size_t)-1)
lq_rt_status_t lq_model_cache(const lq_model_t *model, size_t i,
                              size_t *input, size_t *output);

/** How lq_generate picks tokens. temperature 0 is greedy (argmax); else
 *  logits / temperature are restricted to the top_k most likely tokens
 *  (0: all) and then to the smallest set whose probability reaches top_p
 *  (1: all), and a token is drawn with a seeded generator (the same seed
 *  gives the same tokens on every platform). */
typedef struct lq_generate_options {
  int32_t max_new_tokens;
  float temperature;
  int32_t top_k;
  float top_p;
  uint64_t seed;
  int64_t stop_token; /**< stop after emitting it; -1: never */
  /** Called with each new token as soon as it is chosen (may be NULL). */
  void (*on_token)(int64_t token, void *user);
  /** Called with the logits each new token is picked from (`vocab`
   *  floats, valid during the call; may be NULL): for measuring a decode. */
  void (*on_logits)(const float *logits, int64_t vocab, void *user);
  void *user;
  /** Teacher forcing (may be NULL): new token i is forced_tokens[i] for
   *  i < num_forced instead of the pick (on_logits still sees the logits it
   *  would have been picked from). Compares two models' decodes, e.g. a
   *  quantized KV cache against a float one, on the same token sequence. */
  const int64_t *forced_tokens;
  size_t num_forced;
} lq_generate_options_t;

/** Defaults: 64 tokens, greedy, top_k 0, top_p 1, seed 0, no stop token. */
void lq_generate_options_init(lq_generate_options_t *options);

/** One pick from `vocab` logits exactly as lq_generate makes it (greedy when
 *  temperature is 0). `*rng_state` is the generator's state: start it at
 *  options->seed; each sampled pick advances it. -1 on a null argument. */
int64_t lq_sample_token(const float *logits, int64_t vocab,
                        const lq_generate_options_t *options,
                        uint64_t *rng_state);

typedef struct lq_generate_stats {
  int64_t prompt_tokens, new_tokens;
  double prefill_seconds; /**< the prompt, up to the first new token */
  double decode_seconds;  /**< every later token */
} lq_generate_stats_t;

/** Continues `prompt` (n_prompt >= 1 token ids) with up to
 *  options->max_new_tokens tokens written to `out` (room for that many);
 *  `*n_out` receives the count. The model must have a runtime-managed KV
 *  cache, a [1, T] integer token input and a `position` input: the prompt is
 *  fed T tokens per step (the last chunk padded), then one token per step.
 *  Fails, writing nothing, when prompt + new tokens exceed the cache. */
lq_rt_status_t lq_generate(lq_model_t *model, const int64_t *prompt,
                           size_t n_prompt,
                           const lq_generate_options_t *options, int64_t *out,
                           size_t *n_out, lq_generate_stats_t *stats);

/** Reads a NumPy .npy file (little-endian, C order; f32/f16/f64/i64/i32/i16/
 *  i8/u8/bool) into a tensor allocated by lq_rt. */
lq_rt_status_t lq_npy_read(const char *path, lq_tensor_t *out);
/** Writes `t` as a .npy file. */
lq_rt_status_t lq_npy_write(const char *path, const lq_tensor_t *t);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* LQ_RT_LQ_RT_H */
