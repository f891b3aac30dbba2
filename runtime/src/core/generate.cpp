//===- generate.cpp - Token generation over a runtime-managed KV cache -*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// lq_generate drives a model compiled with a fixed-capacity KV cache
// (`--static-kv-cache`): inputs are a [1, T] token chunk, a `position` (tokens
// already cached) and the caches; outputs are the logits and the updated
// caches, fed back on the next step. Only the public model API is used, so
// any runtime (or a user) can drive a model the same way.
//
// Sampling follows the usual order (as in Hugging Face's generate and
// llama.cpp): temperature, then top-k, then top-p (nucleus, Holtzman et al.,
// arXiv:1904.09751) on the renormalized distribution, then one draw from
// SplitMix64 (Steele et al., OOPSLA 2014: one 64-bit word of state, so a
// caller can hold it) turned into a double by hand, so a seed gives the same
// tokens everywhere.
//
//===----------------------------------------------------------------------===//

#include "lq_rt/lq_rt.h"
#include "output_blocks.h"
#include "status.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <vector>

namespace {

double now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

uint64_t splitMix64(uint64_t &state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/// Picks the next token from one row of logits.
int64_t pickToken(const float *logits, int64_t V,
                  const lq_generate_options_t &o, uint64_t &rng) {
  if (o.temperature <= 0.0f)
    return std::max_element(logits, logits + V) - logits;
  std::vector<int64_t> ids(V);
  std::iota(ids.begin(), ids.end(), 0);
  int64_t k = o.top_k > 0 ? std::min<int64_t>(o.top_k, V) : V;
  auto higher = [&](int64_t a, int64_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), higher);
  ids.resize(k);
  std::vector<double> p(k);
  double mx = logits[ids[0]] / double(o.temperature), sum = 0;
  for (int64_t i = 0; i < k; ++i)
    sum += p[i] = std::exp(logits[ids[i]] / double(o.temperature) - mx);
  int64_t keep = k;
  if (o.top_p > 0.0f && o.top_p < 1.0f) {
    double c = 0;
    for (keep = 0; keep < k;)
      if ((c += p[keep++] / sum) >= o.top_p)
        break;
    sum = std::accumulate(p.begin(), p.begin() + keep, 0.0);
  }
  double u = double(splitMix64(rng) >> 11) * 0x1.0p-53 * sum;
  for (int64_t i = 0; i < keep; ++i)
    if ((u -= p[i]) < 0)
      return ids[i];
  return ids[keep - 1];
}

} // namespace

extern "C" {

int64_t lq_sample_token(const float *logits, int64_t vocab,
                        const lq_generate_options_t *options,
                        uint64_t *rng_state) {
  if (!logits || vocab <= 0 || !options || !rng_state)
    return -1;
  return pickToken(logits, vocab, *options, *rng_state);
}

void lq_generate_options_init(lq_generate_options_t *o) {
  if (!o)
    return;
  std::memset(o, 0, sizeof(*o));
  o->max_new_tokens = 64;
  o->top_p = 1.0f;
  o->stop_token = -1;
}

lq_rt_status_t lq_generate(lq_model_t *m, const int64_t *prompt,
                           size_t nPrompt, const lq_generate_options_t *opt,
                           int64_t *out, size_t *nOut,
                           lq_generate_stats_t *stats) {
  if (!m || !prompt || !opt || !nOut || (opt->max_new_tokens > 0 && !out))
    return lq_rt_fail(LQ_RT_ERROR_INVALID_ARGUMENT, "null argument");
  *nOut = 0;
  if (nPrompt == 0)
    return lq_rt_fail(LQ_RT_ERROR_INVALID_ARGUMENT, "empty prompt");
  if (opt->max_new_tokens < 0 || opt->top_k < 0 || opt->temperature < 0 ||
      !(opt->top_p > 0.0f) || opt->top_p > 1.0f)
    return lq_rt_fail(LQ_RT_ERROR_INVALID_ARGUMENT,
                      "bad options: max_new_tokens, top_k and temperature "
                      "must be >= 0 and top_p in (0, 1]");
  const size_t nIn = lq_model_num_inputs(m), nOuts = lq_model_num_outputs(m);
  const size_t nCaches = lq_model_num_caches(m);
  if (nCaches == 0)
    return lq_rt_fail(LQ_RT_ERROR_INVALID_ARGUMENT,
                      "the model has no runtime-managed KV cache (compile its "
                      "KV-cache step with quant-compile --kv-cache N)");

  // Roles of the inputs: caches, `position`, the [1, T] token chunk.
  std::vector<lq_tensor_t> in(nIn);
  std::vector<int> isCache(nIn, 0);
  std::vector<size_t> cacheOut(nIn, 0);
  for (size_t c = 0; c < nCaches; ++c) {
    size_t i, o;
    lq_model_cache(m, c, &i, &o);
    isCache[i] = 1;
    cacheOut[i] = o;
  }
  size_t tokIdx = nIn, posIdx = nIn;
  for (size_t i = 0; i < nIn; ++i) {
    lq_model_input_info(m, i, &in[i]);
    bool isInt = in[i].dtype == LQ_DTYPE_I64 || in[i].dtype == LQ_DTYPE_I32;
    if (isCache[i])
      continue;
    if (isInt && in[i].rank == 0 &&
        std::strcmp(lq_model_input_name(m, i), "position") == 0)
      posIdx = i;
    else if (isInt && in[i].rank == 2 && in[i].shape[0] == 1 && tokIdx == nIn)
      tokIdx = i;
    else
      return lq_rt_fail(LQ_RT_ERROR_INVALID_ARGUMENT,
                        "lq_generate: cannot tell what input '%s' is (expected "
                        "a [1, T] token input, 'position' and the caches)",
                        lq_model_input_name(m, i));
  }
  if (tokIdx == nIn || posIdx == nIn)
    return lq_rt_fail(LQ_RT_ERROR_INVALID_ARGUMENT,
                      "lq_generate: the model needs a [1, T] token input and "
                      "a 'position' input");
  const int64_t T = in[tokIdx].shape[1];
  // The cache holds `capacity` tokens; the last step writes T rows at most
  // at position capacity - T.
  // Its length is the longest cache input's: KIVI's per-channel key scales
  // have one row per group of R positions, and a float window
  // (`<name>.window`) holds the last R + T - 1 positions whatever the
  // capacity, so neither is a cache to size by.
  int64_t capacity = -1;
  for (size_t i = 0; i < nIn; ++i) {
    const char *name = lq_model_input_name(m, i);
    const size_t len = std::strlen(name);
    const bool window = len >= 7 && std::strcmp(name + len - 7, ".window") == 0;
    if (isCache[i] && !window)
      capacity = std::max<int64_t>(capacity, in[i].shape[2]);
  }
  if (capacity < 0)
    return lq_rt_fail(LQ_RT_ERROR_INVALID_ARGUMENT,
                      "lq_generate: the model's caches are all windows");
  const int64_t need = int64_t(nPrompt) + std::max(opt->max_new_tokens - 1, 0);
  if (need + (T - 1) > capacity)
    return lq_rt_fail(LQ_RT_ERROR_INVALID_ARGUMENT,
                      "prompt (%zu tokens) + %d new tokens do not fit the "
                      "model's KV cache of %lld tokens (steps of %lld tokens)",
                      nPrompt, opt->max_new_tokens, (long long)capacity,
                      (long long)T);
  // The logits: the first f32 output of shape [1, T, V].
  size_t logIdx = nOuts;
  int64_t V = 0;
  for (size_t o = 0; o < nOuts && logIdx == nOuts; ++o) {
    lq_tensor_t info;
    lq_model_output_info(m, o, &info);
    if (info.dtype == LQ_DTYPE_F32 && info.rank == 3 && info.shape[1] == T) {
      logIdx = o;
      V = info.shape[2];
    }
  }
  if (logIdx == nOuts)
    return lq_rt_fail(LQ_RT_ERROR_INVALID_ARGUMENT,
                      "lq_generate: no [1, %lld, vocab] f32 logits output",
                      (long long)T);

  // Buffers: zeroed caches, the token chunk, the position.
  std::vector<int64_t> tokens64(T, prompt[nPrompt - 1]);
  std::vector<int32_t> tokens32(T, int32_t(prompt[nPrompt - 1]));
  int64_t pos64 = 0;
  int32_t pos32 = 0;
  bool tok64 = in[tokIdx].dtype == LQ_DTYPE_I64;
  bool p64 = in[posIdx].dtype == LQ_DTYPE_I64;
  in[tokIdx].data = tok64 ? (void *)tokens64.data() : (void *)tokens32.data();
  in[posIdx].data = p64 ? (void *)&pos64 : (void *)&pos32;
  lq_rt_status_t status = LQ_RT_OK;
  for (size_t i = 0; i < nIn; ++i)
    if (isCache[i]) {
      size_t bytes = size_t(lq_tensor_numel(&in[i])) * lq_dtype_size(in[i].dtype);
      in[i].data = std::calloc(bytes ? bytes : 1, 1);
      if (!in[i].data)
        status = lq_rt_fail(LQ_RT_ERROR_OUT_OF_MEMORY, "cannot allocate caches");
    }
  std::vector<lq_tensor_t> outs(nOuts);
  uint64_t rng = opt->seed;

  // One step: `count` tokens at `position`; picks the token after the last
  // (`pick`: only the last prompt chunk and decode steps pick one).
  auto step = [&](const int64_t *ids, int64_t count, int64_t position,
                  bool pick, int64_t *next) -> lq_rt_status_t {
    for (int64_t t = 0; t < T; ++t) {
      int64_t id = ids[std::min(t, count - 1)]; // pad with the last token
      tokens64[t] = id;
      tokens32[t] = int32_t(id);
    }
    pos64 = position;
    pos32 = int32_t(position);
    if (lq_rt_status_t s = lq_model_run(m, in.data(), nIn, outs.data(), nOuts))
      return s;
    // Rows past `count` are padding: their cache rows are overwritten by the
    // next step, which starts at position + count.
    const float *row = static_cast<float *>(outs[logIdx].data) + (count - 1) * V;
    if (pick) {
      if (opt->on_logits)
        opt->on_logits(row, V, opt->user);
      *next = pickToken(row, V, *opt, rng);
    }
    for (size_t o = 0; o < nOuts; ++o) {
      bool fedBack = false;
      for (size_t i = 0; i < nIn; ++i)
        if (isCache[i] && cacheOut[i] == o) {
          lq_rt::freeTensorData(in[i].data); // calloc'ed, or an output
          in[i].data = outs[o].data;
          fedBack = true;
        }
      if (!fedBack)
        lq_tensor_free(&outs[o]);
      outs[o].data = nullptr;
    }
    return LQ_RT_OK;
  };

  double t0 = now(), tFirst = t0;
  int64_t position = 0, next = 0;
  size_t produced = 0;
  auto force = [&] {
    if (opt->forced_tokens && produced < opt->num_forced)
      next = opt->forced_tokens[produced];
  };
  if (opt->max_new_tokens > 0 && status == LQ_RT_OK) {
    for (size_t p = 0; p < nPrompt && status == LQ_RT_OK; p += size_t(T)) {
      int64_t count = std::min<int64_t>(T, int64_t(nPrompt - p));
      status = step(prompt + p, count, position, p + size_t(count) == nPrompt,
                    &next);
      position += count;
    }
    tFirst = now();
    while (status == LQ_RT_OK) {
      force();
      out[produced++] = next;
      if (opt->on_token)
        opt->on_token(next, opt->user);
      if (int64_t(produced) >= opt->max_new_tokens || next == opt->stop_token)
        break;
      int64_t id = next;
      status = step(&id, 1, position, true, &next);
      position += 1;
    }
  }
  double t1 = now();
  for (size_t i = 0; i < nIn; ++i)
    if (isCache[i])
      lq_rt::freeTensorData(in[i].data); // calloc'ed, or an output
  *nOut = produced;
  if (stats) {
    stats->prompt_tokens = int64_t(nPrompt);
    stats->new_tokens = int64_t(produced);
    stats->prefill_seconds = tFirst - t0;
    stats->decode_seconds = t1 - tFirst;
  }
  return status;
}

} // extern "C"
