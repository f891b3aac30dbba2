//===- quant-run.cpp - Run a model compiled by quant-compile ------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// quant-run model.so [--tokens 1,2,3 | --tokens-file ids.npy |
//                     --prompt "text" --tokenizer tok.model]
//                    [--input NAME=FILE.npy]... [--dump-logits out.npy]
//                    [--dump-outputs DIR] [--repeat N] [--json]
//
// A thin CLI over lq_rt (no MLIR): what a deployment does, plus timing.
//
//===----------------------------------------------------------------------===//

#include "lq_rt/kernels.h"
#include "lq_rt/lq_rt.h"

#include <sentencepiece_processor.h>

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace {

int fail(const std::string &msg) {
  std::fprintf(stderr, "quant-run: error: %s\n", msg.c_str());
  return 1;
}

const char *usage =
    "usage: quant-run MODEL.so [--tokens 1,2,3 | --tokens-file ids.npy |\n"
    "                  --prompt TEXT --tokenizer tok.model]\n"
    "       quant-run MODEL.mlir|MODEL.onnx [--dim NAME=N]... [--input-shape S]\n"
    "                 [--recipe R] [--kv-cache N] [--kv-format F] ...\n"
    "                                  JIT-compile the model in memory (MLIR's\n"
    "                                  ExecutionEngine, quant-compile's flags)\n"
    "                 [--input NAME=FILE.npy]... [--dump-logits FILE.npy]\n"
    "                 [--dump-outputs DIR] [--repeat N] [--json]\n"
    "                 [--generate N]   continue the prompt by N tokens\n"
    "                 [--temperature F] [--top-k N] [--top-p F] [--seed N]\n"
    "                                  sampling for --generate (default greedy)\n"
    "                 [--kv-budget SIZE]  KV-cache bytes per token and the longest\n"
    "                                  context SIZE (e.g. 2GiB) holds, then exit\n"
    "                 [--force-tokens FILE.npy]  teacher forcing: the new tokens\n"
    "                                  of --generate are these ids (a KV-cache\n"
    "                                  model; compare logits with --dump-logits)\n"
    "                 [--threads N]    kernel threads (default: all cores)\n"
    "\n"
    "--generate on a model with a runtime-managed KV cache (quant-compile\n"
    "--kv-cache N) runs lq_generate: the prompt in chunks, then one token per\n"
    "step against the cache; --dump-logits writes the [N, vocab] logits each\n"
    "new token was picked from. On a model compiled for a fixed window of T\n"
    "tokens (no cache) it places the prompt at the start of the window and\n"
    "reads the logits of its last position (causal attention ignores what\n"
    "follows): a full-window prefill per token. Both pick tokens with\n"
    "lq_sample_token, so a seed gives the same tokens either way.\n";

std::string shapeStr(const lq_tensor_t &t) {
  std::string s = "[";
  for (int i = 0; i < t.rank; ++i)
    s += (i ? ", " : "") + std::to_string(t.shape[i]);
  return s + "]";
}

/// Prints a continuation: prompt + new tokens as text with a tokenizer (it
/// was checked to load at start-up), else the new token ids.
void printContinuation(const std::vector<int64_t> &prompt,
                       const std::vector<int64_t> &generated,
                       const std::string &tokenizer) {
  sentencepiece::SentencePieceProcessor sp;
  if (!tokenizer.empty() && sp.Load(tokenizer).ok()) {
    std::vector<int> all(prompt.begin(), prompt.end());
    all.insert(all.end(), generated.begin(), generated.end());
    std::string text;
    sp.Decode(all, &text);
    std::printf("%s\n", text.c_str());
    return;
  }
  for (int64_t t : generated)
    std::printf("%lld ", (long long)t);
  std::printf("\n");
}

/// --generate on a model with a runtime-managed KV cache: lq_generate.
int generateWithCache(lq_model_t *model, const std::vector<int64_t> &prompt,
                      const std::string &tokenizer, int n,
                      lq_generate_options_t options,
                      const std::string &dumpLogits, bool json) {
  if (prompt.empty())
    return fail("--generate needs a prompt (--tokens, --tokens-file or --prompt)");
  options.max_new_tokens = n;
  std::vector<float> logits;
  int64_t vocab = 0;
  if (!dumpLogits.empty()) {
    options.on_logits = [](const float *row, int64_t v, void *user) {
      auto *self = static_cast<std::pair<std::vector<float> *, int64_t *> *>(user);
      self->first->insert(self->first->end(), row, row + v);
      *self->second = v;
    };
  }
  std::pair<std::vector<float> *, int64_t *> sink(&logits, &vocab);
  options.user = &sink;
  std::vector<int64_t> out(static_cast<size_t>(n));
  size_t produced = 0;
  lq_generate_stats_t st{};
  if (lq_generate(model, prompt.data(), prompt.size(), &options, out.data(),
                  &produced, &st) != LQ_RT_OK)
    return fail(lq_rt_last_error());
  if (!dumpLogits.empty()) {
    lq_tensor_t t{};
    t.dtype = LQ_DTYPE_F32;
    t.rank = 2;
    t.shape[0] = int64_t(produced);
    t.shape[1] = vocab;
    t.data = logits.data();
    if (lq_npy_write(dumpLogits.c_str(), &t) != LQ_RT_OK)
      return fail(lq_rt_last_error());
  }
  double prefillTokS = st.prompt_tokens / std::max(st.prefill_seconds, 1e-9);
  double decodeTokS =
      produced > 1 ? (produced - 1) / std::max(st.decode_seconds, 1e-9) : 0.0;
  if (json) {
    std::printf("{\"prompt_tokens\": %lld, \"new_tokens\": %zu, "
                "\"prefill_tok_s\": %.1f, \"decode_tok_s\": %.1f, "
                "\"threads\": %d, \"isa\": \"%s\", \"tokens\": [",
                (long long)st.prompt_tokens, produced, prefillTokS, decodeTokS,
                lq_rt_get_num_threads(), lq_rt_isa());
    for (size_t i = 0; i < produced; ++i)
      std::printf("%s%lld", i ? ", " : "", (long long)out[i]);
    std::printf("]}\n");
    lq_model_free(model);
    return 0;
  }
  out.resize(produced);
  printContinuation(prompt, out, tokenizer);
  std::printf("prompt: %lld tokens in %.3f s (%.1f tok/s); decode: %zu tokens "
              "in %.3f s (%.1f tok/s, KV cache)\n",
              (long long)st.prompt_tokens, st.prefill_seconds, prefillTokS,
              produced > 0 ? produced - 1 : 0, st.decode_seconds, decodeTokS);
  lq_model_free(model);
  return 0;
}

/// int32/int64 ids of shape [T] or [1, T] from a .npy file (errors printed).
bool readIds(const std::string &file, const char *flag,
             std::vector<int64_t> &ids) {
  lq_tensor_t t{};
  if (lq_npy_read(file.c_str(), &t) != LQ_RT_OK) {
    fail(lq_rt_last_error());
    return false;
  }
  if ((t.dtype != LQ_DTYPE_I64 && t.dtype != LQ_DTYPE_I32) || t.rank < 1 ||
      t.rank > 2) {
    lq_tensor_free(&t);
    fail(std::string(flag) + " must hold int32/int64 ids of shape [T] or [B, T]");
    return false;
  }
  for (int64_t i = 0; i < lq_tensor_numel(&t); ++i)
    ids.push_back(t.dtype == LQ_DTYPE_I64 ? static_cast<int64_t *>(t.data)[i]
                                          : static_cast<int32_t *>(t.data)[i]);
  lq_tensor_free(&t);
  return true;
}

bool endsWith(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// --kv-budget: what the runtime-managed KV cache costs per token (codes and
/// scales, as the model stores them) and the longest context a memory
/// budget holds at that rate.
int kvMemory(lq_model_t *model, const std::string &budgetText, bool json) {
  char *end = nullptr;
  double budget = std::strtod(budgetText.c_str(), &end);
  std::string unit = end ? end : "";
  const std::pair<const char *, double> units[] = {
      {"", 1}, {"B", 1}, {"KiB", 1024.0}, {"MiB", 1024.0 * 1024},
      {"GiB", 1024.0 * 1024 * 1024}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}};
  bool known = false;
  for (auto [u, f] : units)
    if (unit == u) {
      budget *= f;
      known = true;
    }
  if (!known || !(budget > 0))
    return fail("--kv-budget '" + budgetText +
                "' is not a size (e.g. 512MiB, 2GiB, 1e9)");
  const size_t n = lq_model_num_caches(model);
  if (n == 0)
    return fail("--kv-budget needs a model with a runtime-managed KV cache "
                "(quant-compile --kv-cache N)");
  // KIVI float windows (`<name>.window`, --quantize-kv-cache residual=R)
  // are a fixed cost, whatever the context.
  double bytes = 0, windowBytes = 0;
  int64_t capacity = -1;
  for (size_t c = 0; c < n; ++c) {
    size_t in, out;
    lq_tensor_t info{};
    if (lq_model_cache(model, c, &in, &out) != LQ_RT_OK ||
        lq_model_input_info(model, in, &info) != LQ_RT_OK)
      return fail(lq_rt_last_error());
    if (info.rank != 4)
      return fail("cache input " + std::to_string(in) + " is not [B, H, C, D]");
    const double b =
        double(lq_tensor_numel(&info)) * double(lq_dtype_size(info.dtype));
    if (endsWith(lq_model_input_name(model, in), ".window")) {
      windowBytes += b;
      continue;
    }
    // The longest per-position tensor (KIVI's key scales hold one row per
    // R positions).
    capacity = std::max<int64_t>(capacity, info.shape[2]);
    bytes += b;
  }
  if (capacity <= 0)
    return fail("the model's KV cache has no per-token storage");
  const double perToken = bytes / double(capacity);
  const double fits = std::max(0.0, std::floor((budget - windowBytes) / perToken));
  if (json)
    std::printf("{\"kv_bytes_per_token\": %.1f, \"capacity\": %lld, "
                "\"cache_bytes\": %.0f, \"window_bytes\": %.0f, "
                "\"budget_bytes\": %.0f, \"max_context\": %.0f}\n",
                perToken, (long long)capacity, bytes + windowBytes,
                windowBytes, budget, fits);
  else
    std::printf("KV cache: %zu tensors, %.1f bytes per token%s; this model "
                "holds %lld tokens (%.2f MiB).\nA budget of %s holds %.0f "
                "tokens of context.\n",
                n, perToken,
                windowBytes > 0
                    ? (" + " + std::to_string(int64_t(windowBytes)) +
                       " bytes of float windows")
                          .c_str()
                    : "",
                (long long)capacity, (bytes + windowBytes) / (1024.0 * 1024.0),
                budgetText.c_str(), fits);
  lq_model_free(model);
  return 0;
}

} // namespace

/// `quant-run model.mlir`: liblq_jit (next to liblq_rt, in ../lib from this
/// program) compiles the model in memory with MLIR's ExecutionEngine.
/// RTLD_DEEPBIND keeps the compiler's protobuf (the ONNX importer's) apart
/// from the copy libsentencepiece carries, which quant-run links.
static int jitLoad(const char *argv0, const std::string &path,
                   const std::vector<std::string> &flags, lq_model_t **model) {
  std::string exe = argv0;
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n > 0)
    exe.assign(buf, size_t(n));
  std::string dir = exe.substr(0, exe.find_last_of('/'));
  std::string lib = dir.substr(0, dir.find_last_of('/')) + "/lib/liblq_jit.so";
  void *h = dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
  if (!h)
    return fail("cannot load the JIT compiler '" + lib + "' for '" + path +
                "': " + dlerror() + " (or compile the model with quant-compile)");
  using LoadFn = int (*)(const char *, const char *const *, int, lq_model_t **,
                         double *);
  auto load = reinterpret_cast<LoadFn>(dlsym(h, "lq_jit_load"));
  if (!load)
    return fail("'" + lib + "' has no lq_jit_load");
  std::vector<const char *> args;
  for (const std::string &f : flags)
    args.push_back(f.c_str());
  double seconds = 0;
  if (load(path.c_str(), args.data(), int(args.size()), model, &seconds) != 0)
    return fail("cannot JIT-compile '" + path + "' (see the errors above)");
  std::fprintf(stderr, "quant-run: JIT start-up %.2f s\n", seconds);
  return 0;
}

int main(int argc, char **argv) {
  std::string modelPath, tokensArg, tokensFile, prompt, tokenizer, dumpLogits,
      dumpOutputs, forceFile, kvBudget;
  std::map<std::string, std::string> inputFiles;
  std::vector<std::string> compileFlags;
  int repeat = 1, generate = 0, threads = 0;
  lq_generate_options_t sampling;
  lq_generate_options_init(&sampling);
  bool json = false, samplingFlags = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char *flag) -> const char * {
      if (i + 1 >= argc) {
        fail(std::string(flag) + " needs a value");
        std::exit(1);
      }
      return argv[++i];
    };
    if (a == "--tokens") tokensArg = value("--tokens");
    else if (a == "--tokens-file") tokensFile = value("--tokens-file");
    else if (a == "--force-tokens") forceFile = value("--force-tokens");
    else if (a == "--kv-budget") kvBudget = value("--kv-budget");
    else if (a == "--prompt") prompt = value("--prompt");
    else if (a == "--tokenizer") tokenizer = value("--tokenizer");
    else if (a == "--dump-logits") dumpLogits = value("--dump-logits");
    else if (a == "--dump-outputs") dumpOutputs = value("--dump-outputs");
    else if (a == "--repeat") repeat = std::atoi(value("--repeat"));
    else if (a == "--generate") generate = std::atoi(value("--generate"));
    else if (a == "--threads") threads = std::atoi(value("--threads"));
    else if (a == "--json") json = true;
    else if (a == "--temperature" || a == "--top-k" || a == "--top-p" ||
             a == "--seed") {
      samplingFlags = true;
      std::string v = value(a.c_str());
      if (a == "--temperature") sampling.temperature = float(std::atof(v.c_str()));
      else if (a == "--top-k") sampling.top_k = std::atoi(v.c_str());
      else if (a == "--top-p") sampling.top_p = float(std::atof(v.c_str()));
      else sampling.seed = std::strtoull(v.c_str(), nullptr, 10);
    }
    else if (a == "--input") {
      std::string spec = value("--input");
      size_t eq = spec.find('=');
      if (eq == std::string::npos || eq == 0)
        return fail("--input '" + spec + "' is not NAME=FILE.npy");
      inputFiles[spec.substr(0, eq)] = spec.substr(eq + 1);
    } else if (a == "--dim" || a == "--input-shape" || a == "--recipe" ||
               a == "--kv-cache" || a == "--kv-format") {
      compileFlags.push_back(a);
      compileFlags.push_back(value(a.c_str()));
    } else if (a == "--help" || a == "-h") {
      std::fputs(usage, stdout);
      return 0;
    } else if (a.rfind("--", 0) == 0) {
      return fail("unknown option '" + a + "'\n" + usage);
    } else if (modelPath.empty()) {
      modelPath = a;
    } else {
      return fail("more than one model given");
    }
  }
  if (modelPath.empty())
    return fail(std::string("no model given\n") + usage);
  if (repeat < 1)
    return fail("--repeat must be >= 1");
  if (threads < 0)
    return fail("--threads must be >= 1");
  if (threads > 0)
    lq_rt_set_num_threads(threads);
  int tokenSources = !tokensArg.empty() + !tokensFile.empty() + !prompt.empty();
  if (tokenSources > 1)
    return fail("give at most one of --tokens, --tokens-file, --prompt");
  if (!prompt.empty() && tokenizer.empty())
    return fail("--prompt needs --tokenizer");

  if (!tokenizer.empty()) { // fail now, not by printing ids instead of text
    sentencepiece::SentencePieceProcessor sp;
    auto status = sp.Load(tokenizer);
    if (!status.ok())
      return fail("cannot load tokenizer '" + tokenizer + "': " + status.ToString());
  }
  lq_model_t *model = nullptr;
  const bool jit = endsWith(modelPath, ".mlir") || endsWith(modelPath, ".onnx") ||
                   endsWith(modelPath, ".onnxtext");
  if (!jit && !compileFlags.empty())
    return fail("--dim/--input-shape/--recipe/--kv-cache/--kv-format compile "
                "a .mlir or .onnx model in memory; '" + modelPath +
                "' is compiled already");
  if (jit) {
    if (int rc = jitLoad(argv[0], modelPath, compileFlags, &model))
      return rc;
  } else if (lq_model_load(modelPath.c_str(), &model) != LQ_RT_OK) {
    return fail(lq_rt_last_error());
  }

  if (!kvBudget.empty())
    return kvMemory(model, kvBudget, json);

  // Token ids from the command line, a file or a prompt.
  std::vector<int64_t> tokens;
  if (!tokensArg.empty()) {
    const char *p = tokensArg.c_str();
    while (*p) {
      char *end;
      long long v = std::strtoll(p, &end, 10);
      if (end == p)
        return fail("--tokens '" + tokensArg + "' is not a comma-separated list");
      tokens.push_back(v);
      p = *end == ',' ? end + 1 : end;
      if (*end && *end != ',')
        return fail("--tokens '" + tokensArg + "' is not a comma-separated list");
    }
  } else if (!tokensFile.empty()) {
    if (!readIds(tokensFile, "--tokens-file", tokens))
      return 1;
  } else if (!prompt.empty()) {
    sentencepiece::SentencePieceProcessor sp;
    auto status = sp.Load(tokenizer);
    if (!status.ok())
      return fail("cannot load tokenizer '" + tokenizer + "': " + status.ToString());
    std::vector<int> ids;
    sp.Encode(prompt, &ids);
    tokens.assign(ids.begin(), ids.end());
  }

  std::vector<int64_t> forced;
  if (!forceFile.empty()) {
    if (generate <= 0 || lq_model_num_caches(model) == 0)
      return fail("--force-tokens needs --generate on a model with a KV cache");
    if (!readIds(forceFile, "--force-tokens", forced))
      return 1;
    sampling.forced_tokens = forced.data();
    sampling.num_forced = forced.size();
  }
  if (generate > 0 && lq_model_num_caches(model) > 0)
    return generateWithCache(model, tokens, tokenizer, generate, sampling,
                             dumpLogits, json);
  if (samplingFlags && generate <= 0)
    return fail("--temperature/--top-k/--top-p/--seed need --generate");
  if (sampling.temperature < 0 || sampling.top_k < 0 ||
      !(sampling.top_p > 0.0f) || sampling.top_p > 1.0f)
    return fail("bad options: --temperature and --top-k must be >= 0, "
                "--top-p in (0, 1]");

  // Inputs: files by name, tokens into the integer input, empty tensors for
  // zero-sized inputs (an empty KV cache).
  size_t nIn = lq_model_num_inputs(model), nOut = lq_model_num_outputs(model);
  std::vector<lq_tensor_t> inputs(nIn);
  std::vector<bool> owned(nIn, false);
  bool tokensUsed = tokens.empty();
  int genInput = -1;
  int64_t numTokens = 0;
  for (size_t i = 0; i < nIn; ++i) {
    const char *name = lq_model_input_name(model, i);
    lq_model_input_info(model, i, &inputs[i]);
    auto it = inputFiles.find(name);
    if (it != inputFiles.end()) {
      lq_tensor_t t{};
      if (lq_npy_read(it->second.c_str(), &t) != LQ_RT_OK)
        return fail(lq_rt_last_error());
      inputs[i] = t;
      owned[i] = true;
      inputFiles.erase(it);
      continue;
    }
    bool isInt = inputs[i].dtype == LQ_DTYPE_I64 || inputs[i].dtype == LQ_DTYPE_I32;
    if (isInt && !tokensUsed) {
      int64_t want = lq_tensor_numel(&inputs[i]);
      if (generate > 0 && int64_t(tokens.size()) < want &&
          inputs[i].rank == 2 && inputs[i].shape[0] == 1) {
        // Generation: the prompt fills the front of the window.
        genInput = int(i);
      } else if (int64_t(tokens.size()) != want)
        return fail("input '" + std::string(name) + "' takes " + shapeStr(inputs[i]) +
                    " = " + std::to_string(want) + " ids, got " +
                    std::to_string(tokens.size()) +
                    " (the model's shapes are fixed at compile time: "
                    "recompile with --dim seq=" + std::to_string(tokens.size()) + ")");
      size_t es = lq_dtype_size(inputs[i].dtype);
      inputs[i].data = std::malloc(want * es);
      for (int64_t k = 0; k < want; ++k) {
        int64_t v = k < int64_t(tokens.size()) ? tokens[k] : 0;
        if (inputs[i].dtype == LQ_DTYPE_I64)
          static_cast<int64_t *>(inputs[i].data)[k] = v;
        else
          static_cast<int32_t *>(inputs[i].data)[k] = int32_t(v);
      }
      owned[i] = true;
      tokensUsed = true;
      numTokens = want;
      continue;
    }
    if (lq_tensor_numel(&inputs[i]) == 0) {
      inputs[i].data = nullptr;
      continue;
    }
    return fail("missing input '" + std::string(name) + "' " +
                lq_dtype_name(inputs[i].dtype) + " " + shapeStr(inputs[i]) +
                " (give --input " + name + "=FILE.npy)");
  }
  if (!inputFiles.empty())
    return fail("the model has no input '" + inputFiles.begin()->first + "'");
  if (!tokensUsed)
    return fail("the model has no integer input for the token ids");

  std::vector<lq_tensor_t> outputs(nOut);
  if (generate > 0) {
    if (genInput < 0 && !tokens.empty()) {
      // The prompt fills the whole window: nothing left to generate into.
      return fail("--generate needs a prompt shorter than the model's window");
    }
    if (genInput < 0 || nOut == 0 || outputs.empty())
      return fail("--generate needs a token-id input and a logits output");
    lq_tensor_t &ids = inputs[genInput];
    int64_t window = ids.shape[1], n = int64_t(tokens.size());
    std::vector<int64_t> generated;
    uint64_t rng = sampling.seed;
    auto t0 = std::chrono::steady_clock::now();
    for (int step = 0; step < generate && n < window; ++step) {
      if (lq_model_run(model, inputs.data(), nIn, outputs.data(), nOut) != LQ_RT_OK)
        return fail(lq_rt_last_error());
      const lq_tensor_t &logits = outputs[0];
      int64_t vocab = logits.shape[logits.rank - 1];
      const float *row = static_cast<float *>(logits.data) + (n - 1) * vocab;
      int64_t next = lq_sample_token(row, vocab, &sampling, &rng);
      for (auto &o : outputs)
        lq_tensor_free(&o);
      if (ids.dtype == LQ_DTYPE_I64)
        static_cast<int64_t *>(ids.data)[n] = next;
      else
        static_cast<int32_t *>(ids.data)[n] = int32_t(next);
      generated.push_back(next);
      ++n;
    }
    double secs = std::chrono::duration<double>(
                      std::chrono::steady_clock::now() - t0).count();
    printContinuation(tokens, generated, tokenizer);
    std::printf("generated %zu tokens in %.3f s (%.1f tok/s, one %lld-token "
                "prefill per token)\n",
                generated.size(), secs, generated.size() / std::max(secs, 1e-9),
                (long long)window);
    for (size_t i = 0; i < nIn; ++i)
      if (owned[i])
        lq_tensor_free(&inputs[i]);
    lq_model_free(model);
    return 0;
  }
  std::vector<double> times;
  for (int r = 0; r < repeat; ++r) {
    if (r > 0)
      for (auto &o : outputs)
        lq_tensor_free(&o);
    auto t0 = std::chrono::steady_clock::now();
    if (lq_model_run(model, inputs.data(), nIn, outputs.data(), nOut) != LQ_RT_OK)
      return fail(lq_rt_last_error());
    times.push_back(std::chrono::duration<double>(
                        std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  double median = times[times.size() / 2];
  double tokS = numTokens > 0 ? double(numTokens) / median : 0.0;

  if (!dumpLogits.empty() && nOut > 0 &&
      lq_npy_write(dumpLogits.c_str(), &outputs[0]) != LQ_RT_OK)
    return fail(lq_rt_last_error());
  if (!dumpOutputs.empty())
    for (size_t o = 0; o < nOut; ++o) {
      std::string path = dumpOutputs + "/" + lq_model_output_name(model, o) + ".npy";
      if (lq_npy_write(path.c_str(), &outputs[o]) != LQ_RT_OK)
        return fail(lq_rt_last_error());
    }

  // The next token the model predicts after the last position.
  long long next = -1;
  if (nOut > 0 && outputs[0].dtype == LQ_DTYPE_F32 && outputs[0].rank >= 1) {
    int64_t v = outputs[0].shape[outputs[0].rank - 1];
    int64_t n = lq_tensor_numel(&outputs[0]);
    const float *last = static_cast<float *>(outputs[0].data) + (n - v);
    next = std::max_element(last, last + v) - last;
  }
  if (json) {
    std::printf("{\"model\": \"%s\", \"tokens\": %lld, \"prefill_s\": %.6f, "
                "\"prefill_tok_s\": %.1f, \"runs\": %d, \"threads\": %d, "
                "\"isa\": \"%s\", \"next_token\": %lld%s}\n",
                modelPath.c_str(), (long long)numTokens, median, tokS, repeat,
                lq_rt_get_num_threads(), lq_rt_isa(), next,
                // One new token against a KV cache is a decode step.
                numTokens == 1 && nIn > 1
                    ? (", \"decode_tok_s\": " + std::to_string(tokS)).c_str()
                    : "");
  } else {
    for (size_t o = 0; o < nOut; ++o)
      std::printf("output %s: %s %s\n", lq_model_output_name(model, o),
                  lq_dtype_name(outputs[o].dtype), shapeStr(outputs[o]).c_str());
    std::printf("next token: %lld\n", next);
    std::printf("prefill: %lld tokens in %.3f ms (%.1f tok/s, median of %d)\n",
                (long long)numTokens, median * 1e3, tokS, repeat);
  }
  for (auto &o : outputs)
    lq_tensor_free(&o);
  for (size_t i = 0; i < nIn; ++i)
    if (owned[i])
      lq_tensor_free(&inputs[i]);
  lq_model_free(model);
  return 0;
}
