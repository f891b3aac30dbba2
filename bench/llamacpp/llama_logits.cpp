// llama_logits: the logits llama.cpp computes for a token sequence, for checking that a
// GGUF of pd-llama-6m is the same model as the ONNX lq compiles (check_logits.py runs it).
//
//   llama_logits MODEL.gguf OUT.f32 MODE KV FA THREADS ID...
//
// MODE "batch": all ids in one llama_decode (prefill), logits requested at every position;
// MODE "step":  one id per llama_decode over the KV cache (decode path), logits of each step.
// KV "f32" or "f16": the K/V cache type (llama.cpp's default is f16; f32 isolates the
// weights and arithmetic). FA "off", "on" or "auto" (flash attention; llama.cpp's default is
// auto, on for the CPU backend; with it, llama-graph.cpp casts an f32 K/V to f16 before the
// kernel, so the cache type then makes no difference). Writes n_ids x n_vocab float32,
// row-major, to OUT.f32.
// Built by build.sh against the libllama of build-llamacpp/build.
#include "llama.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

int main(int argc, char **argv) {
  if (argc < 8) {
    std::fprintf(stderr, "usage: %s MODEL.gguf OUT.f32 batch|step f32|f16 off|on|auto THREADS ID...\n", argv[0]);
    return 2;
  }
  const std::string mode = argv[3], kv = argv[4], fa = argv[5];
  const int threads = std::atoi(argv[6]);
  std::vector<llama_token> ids;
  for (int i = 7; i < argc; ++i) ids.push_back(std::atoi(argv[i]));
  const int n = static_cast<int>(ids.size());

  llama_backend_init();
  llama_model_params mp = llama_model_default_params();
  llama_model *model = llama_model_load_from_file(argv[1], mp);
  if (!model) { std::fprintf(stderr, "llama_logits: cannot load %s\n", argv[1]); return 1; }
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = 256;
  cp.n_batch = cp.n_ubatch = 256;
  cp.n_threads = cp.n_threads_batch = threads;
  cp.type_k = cp.type_v = kv == "f32" ? GGML_TYPE_F32 : GGML_TYPE_F16;
  cp.flash_attn_type = fa == "off"  ? LLAMA_FLASH_ATTN_TYPE_DISABLED
                       : fa == "on" ? LLAMA_FLASH_ATTN_TYPE_ENABLED
                                    : LLAMA_FLASH_ATTN_TYPE_AUTO;
  llama_context *ctx = llama_init_from_model(model, cp);
  if (!ctx) { std::fprintf(stderr, "llama_logits: cannot create a context\n"); return 1; }
  const int nv = llama_vocab_n_tokens(llama_model_get_vocab(model));

  std::vector<float> out(static_cast<size_t>(n) * nv);
  const int chunk = mode == "step" ? 1 : n;
  llama_batch b = llama_batch_init(n, 0, 1);
  for (int s = 0; s < n; s += chunk) {
    b.n_tokens = 0;
    for (int i = s; i < s + chunk; ++i) {
      b.token[b.n_tokens] = ids[i];
      b.pos[b.n_tokens] = i;
      b.n_seq_id[b.n_tokens] = 1;
      b.seq_id[b.n_tokens][0] = 0;
      b.logits[b.n_tokens] = 1;
      ++b.n_tokens;
    }
    if (llama_decode(ctx, b) != 0) { std::fprintf(stderr, "llama_logits: llama_decode failed\n"); return 1; }
    for (int i = 0; i < chunk; ++i)
      std::memcpy(&out[static_cast<size_t>(s + i) * nv], llama_get_logits_ith(ctx, i), nv * sizeof(float));
  }
  llama_batch_free(b);
  FILE *f = std::fopen(argv[2], "wb");
  if (!f || std::fwrite(out.data(), sizeof(float), out.size(), f) != out.size()) {
    std::fprintf(stderr, "llama_logits: cannot write %s\n", argv[2]);
    return 1;
  }
  std::fclose(f);
  llama_free(ctx);
  llama_model_free(model);
  llama_backend_free();
  return 0;
}
