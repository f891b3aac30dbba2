/* A hand-written "compiled model" with a runtime-managed KV cache, to test
 * lq_generate without a compiler: the same C ABI quant-compile emits
 * (lq_model_signature + lq_model_main over memref descriptors).
 *
 * Step of T = 2 tokens at `position`: cache[position + t] = id_t + 1, and
 * row t of the logits peaks at token (sum of cache[0 .. position + t]) mod 5,
 * so the greedy continuation is a known function of the whole history. */
#include <stdint.h>
#include <stdlib.h>

const char lq_model_signature[] =
    "in input_ids i64 1x2\n"
    "in past.0 f32 1x1x8x1\n"
    "in position i64 scalar\n"
    "range input_ids 0 5\n"
    "range position 0 7\n"
    "cache past.0 present.0\n"
    "out logits f32 1x2x5\n"
    "out present.0 f32 1x1x8x1\n";

static void setOut(int64_t *d, void *data, int rank, const int64_t *sizes) {
  d[0] = d[1] = (int64_t)(intptr_t)data;
  d[2] = 0;
  int64_t stride = 1;
  for (int k = rank - 1; k >= 0; --k) {
    d[3 + k] = sizes[k];
    d[3 + rank + k] = stride;
    stride *= sizes[k];
  }
}

void lq_model_main(void **args) {
  /* Descriptors: {allocated, aligned, offset, sizes..., strides...}. */
  const int64_t *ids = (const int64_t *)(intptr_t)((int64_t *)args[0])[1];
  const float *past = (const float *)(intptr_t)((int64_t *)args[1])[1];
  int64_t pos = *(const int64_t *)(intptr_t)((int64_t *)args[2])[1];
  int64_t *result = (int64_t *)args[3];
  float *logits = malloc(2 * 5 * sizeof(float));
  float *present = malloc(8 * sizeof(float));
  for (int i = 0; i < 8; ++i)
    present[i] = past[i];
  for (int t = 0; t < 2; ++t)
    present[pos + t] = (float)(ids[t] + 1);
  for (int t = 0; t < 2; ++t) {
    int64_t sum = 0;
    for (int64_t s = 0; s <= pos + t; ++s)
      sum += (int64_t)present[s];
    for (int v = 0; v < 5; ++v)
      logits[t * 5 + v] = -(float)((v - sum % 5) * (v - sum % 5));
  }
  const int64_t ls[3] = {1, 2, 5}, ps[4] = {1, 1, 8, 1};
  setOut(result, logits, 3, ls);
  setOut(result + 3 + 2 * 3, present, 4, ps);
}
