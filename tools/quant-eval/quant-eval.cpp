//===- quant-eval.cpp - Perplexity, KL and top-1 of candidates -----*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// quant-eval --reference REF --candidate CAND [--candidate CAND ...]
//            (--tokenizer tok.model --text FILE | --tokens-file ids.npy)
//            [--window 256] [--stride N] [--max-windows N]
//            [--json FILE] [--svg FILE] [--dump-tokens FILE.npy]
//
// Measures what quantization cost: the perplexity of every model on the same
// text, and for every candidate the KL divergence of its next-token
// distribution from the reference's and how often their top tokens agree.
// Like quant-run it sits on lq_rt alone (no MLIR); `.onnx`/`.mlir` models are
// compiled first by running quant-compile as a subprocess.
//
//===----------------------------------------------------------------------===//

#include "lq_rt/lq_rt.h"

#include <sentencepiece_processor.h>

#include <dirent.h>
#include <dlfcn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace {

const char *usage = R"(usage: quant-eval --reference MODEL --candidate MODEL [--candidate MODEL ...]
                  (--tokenizer tok.model --text FILE | --tokens-file ids.npy)
                  [--window N] [--stride N] [--max-windows N]
                  [--json FILE] [--svg FILE] [--dump-tokens FILE.npy]
                  [--compile-arg ARG]... [-q]

Scores every model on the same windows of text: perplexity, and for each
candidate against the reference KL(P_ref || P_cand) per scored position (mean,
99th percentile, max), top-1 agreement (same argmax), bits per weight and
weight bytes. A candidate's name is its file name.

Models: a shared library written by quant-compile (.so), or an .onnx/.onnxtext/
.mlir file, which quant-eval compiles first with the quant-compile found next
to it (ONNX: --dim batch=1 --dim seq=WINDOW; --compile-arg adds arguments to
every such compile). A model must take token ids [1, WINDOW] (other inputs
empty, e.g. a KV cache with past_seq = 0) and return logits [1, WINDOW, V].

Protocol (the default, that of models/pd-llama-6m/README.md):
  --text is read line by line; each line is encoded without its newline (no
  BOS) and followed by the tokenizer's EOS, so an empty line is just EOS; the
  lines are concatenated. --tokens-file gives that stream directly (int32/int64
  .npy, flattened).
  The stream is cut into consecutive windows of --window tokens (default 256);
  the last partial window is dropped. Every window runs from an empty cache.
  Positions 1..WINDOW-1 of a window are scored: each is predicted from the
  positions before it in the same window.
  --stride S < WINDOW starts a window every S tokens; the first window scores
  positions 1..WINDOW-1 and every later one only its last S positions, so each
  token is scored once with at least WINDOW-S tokens of context.
  perplexity = exp(mean negative log-likelihood over the scored positions);
  KL and top-1 are taken over the same positions, in double precision with a
  stable log-softmax.
--max-windows N stops after the first N windows.
--dump-tokens FILE.npy writes the token stream (int64 [N]), so the windows can
be checked elsewhere; -q drops the progress lines.

Output: a table on stdout, progress on stderr, --json FILE (one object per
candidate: name, ppl, kl_mean, kl_p99, kl_max, top1, bpw, bytes, ...; the
reference's ppl), --svg FILE (KL mean, log scale, vs bits per weight).
Bits per weight = 8 * weight_bytes / params, from the `params` and
`weight_bytes` lines quant-compile writes into the model's signature.

--attribute PIPELINE (per-layer attribution): the reference must be an .onnx
or .mlir file. For every lq.linear i of its graph (quant-compile
--list-linears) one candidate is compiled with the quant-opt PIPELINE in
which "{layer}" is replaced by i, e.g.
  --attribute 'func.func(quantize-weights{bits=4 only-index={layer}})'
so only that layer is quantized; the candidates are evaluated as usual and a
second table ranks the layers by their KL mean and their share of the sum.
(Calibration is a quant-opt/quant-compile stage: --calibrate in quant-opt,
--calibration-text in quant-compile.)
)";

bool gQuiet = false;

int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int fail(const char *fmt, ...) {
  std::fprintf(stderr, "quant-eval: error: ");
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "\n");
  return 1;
}

std::string shapeStr(const lq_tensor_t &t) {
  std::string s = "[";
  for (int i = 0; i < t.rank; ++i)
    s += (i ? ", " : "") + std::to_string(t.shape[i]);
  return s + "]";
}

std::string baseName(const std::string &path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool endsWith(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// The directory quant-compile outputs go to; removed at exit.
std::string gTempDir;
void removeTempDir() {
  if (gTempDir.empty())
    return;
  if (DIR *d = opendir(gTempDir.c_str())) {
    while (dirent *e = readdir(d))
      if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, ".."))
        unlink((gTempDir + "/" + e->d_name).c_str());
    closedir(d);
  }
  rmdir(gTempDir.c_str());
}

std::string selfDir() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0)
    return ".";
  std::string p(buf, n);
  size_t slash = p.find_last_of('/');
  return slash == std::string::npos ? "." : p.substr(0, slash);
}

/// Runs `args` with stdout sent to stderr (the table owns stdout); returns the
/// exit status, or -1 when it could not start.
int runProcess(const std::vector<std::string> &args) {
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    dup2(STDERR_FILENO, STDOUT_FILENO);
    std::vector<char *> argv;
    for (const std::string &a : args)
      argv.push_back(const_cast<char *>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) < 0)
    return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string quoteArg(const std::string &a) {
  if (a.find_first_of(" \t'\"\\$") == std::string::npos && !a.empty())
    return a;
  std::string q = "'";
  for (char c : a)
    q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

/// One model under evaluation and what it has scored so far.
struct Model {
  std::string path, name, soPath;
  lq_model_t *handle = nullptr;
  std::vector<lq_tensor_t> inputs; // dtype/shape; token ids filled per window
  size_t idInput = 0, logitsOutput = 0;
  int64_t vocab = 0;
  long long params = -1, weightBytes = -1; // -1: not in the signature
  // Scores.
  double nllSum = 0;
  std::vector<double> kl; // one per scored position (candidates)
  long long top1 = 0;
};

/// `params N` / `weight_bytes N` from the signature quant-compile embeds.
/// lq_rt does not expose the signature text, so read the symbol directly.
void readWeightLines(Model &m) {
  const std::string file = m.soPath.find('/') == std::string::npos
                               ? "./" + m.soPath
                               : m.soPath;
  void *h = dlopen(file.c_str(), RTLD_LAZY | RTLD_LOCAL);
  if (!h)
    return;
  if (auto *sig = static_cast<const char *>(dlsym(h, "lq_model_signature"))) {
    const char *p = sig;
    while (*p) {
      const char *end = std::strchr(p, '\n');
      std::string line = end ? std::string(p, end) : std::string(p);
      long long v;
      char kind[32];
      if (std::sscanf(line.c_str(), "%31s %lld", kind, &v) == 2) {
        if (!std::strcmp(kind, "params"))
          m.params = v;
        else if (!std::strcmp(kind, "weight_bytes"))
          m.weightBytes = v;
      }
      if (!end)
        break;
      p = end + 1;
    }
  }
  dlclose(h);
}

/// Compiles (if needed), loads and checks one model. Returns 0 or 1 (error
/// printed).
int loadModel(Model &m, int64_t window, int index,
              const std::vector<std::string> &compileArgs) {
  m.name = baseName(m.path);
  m.soPath = m.path;
  struct stat st;
  if (stat(m.path.c_str(), &st) != 0)
    return fail("cannot open model '%s'", m.path.c_str());
  bool isOnnx = endsWith(m.path, ".onnx") || endsWith(m.path, ".onnxtext");
  if (isOnnx || endsWith(m.path, ".mlir")) {
    std::string qc = selfDir() + "/quant-compile";
    if (access(qc.c_str(), X_OK) != 0)
      return fail("cannot compile '%s': no quant-compile next to quant-eval "
                  "('%s')",
                  m.path.c_str(), qc.c_str());
    if (gTempDir.empty()) {
      const char *tmp = std::getenv("TMPDIR");
      std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") +
                         "/quant-eval-XXXXXX";
      std::vector<char> buf(tmpl.begin(), tmpl.end());
      buf.push_back(0);
      if (!mkdtemp(buf.data()))
        return fail("cannot create a temporary directory '%s': %s",
                    tmpl.c_str(), std::strerror(errno));
      gTempDir = buf.data();
      std::atexit(removeTempDir);
    }
    m.soPath = gTempDir + "/" + std::to_string(index) + "-" + m.name + ".so";
    std::vector<std::string> args = {qc, m.path};
    if (isOnnx) {
      args.insert(args.end(), {"--dim", "batch=1", "--dim",
                               "seq=" + std::to_string(window)});
    }
    args.insert(args.end(), compileArgs.begin(), compileArgs.end());
    args.insert(args.end(), {"-o", m.soPath});
    std::string cmd;
    for (const std::string &a : args)
      cmd += (cmd.empty() ? "" : " ") + quoteArg(a);
    std::fprintf(stderr, "quant-eval: compiling '%s': %s\n", m.path.c_str(),
                 cmd.c_str());
    int rc = runProcess(args);
    if (rc != 0)
      return fail("compiling '%s' failed (quant-compile exited with %d)",
                  m.path.c_str(), rc);
  }
  if (lq_model_load(m.soPath.c_str(), &m.handle) != LQ_RT_OK)
    return fail("model '%s': %s", m.path.c_str(), lq_rt_last_error());
  readWeightLines(m);

  // Inputs: one integer input takes the window's ids; every other input
  // must be empty (an empty KV cache).
  size_t nIn = lq_model_num_inputs(m.handle);
  m.inputs.resize(nIn);
  bool haveIds = false;
  for (size_t i = 0; i < nIn; ++i) {
    lq_tensor_t &t = m.inputs[i];
    lq_model_input_info(m.handle, i, &t);
    const char *in = lq_model_input_name(m.handle, i);
    bool isInt = t.dtype == LQ_DTYPE_I64 || t.dtype == LQ_DTYPE_I32;
    if (isInt && !haveIds) {
      if (t.rank != 2 || t.shape[0] != 1 || t.shape[1] != window)
        return fail("model '%s' takes '%s' %s, not [1, %lld] (--window "
                    "%lld): compile it with --dim batch=1 --dim seq=%lld",
                    m.path.c_str(), in, shapeStr(t).c_str(),
                    (long long)window, (long long)window, (long long)window);
      t.data = std::calloc(window, lq_dtype_size(t.dtype));
      m.idInput = i;
      haveIds = true;
      continue;
    }
    if (lq_tensor_numel(&t) != 0)
      return fail("model '%s' has input '%s' %s %s that quant-eval cannot "
                  "fill: it feeds token ids [1, %lld] and empty caches",
                  m.path.c_str(), in, lq_dtype_name(t.dtype),
                  shapeStr(t).c_str(), (long long)window);
    t.data = nullptr;
  }
  if (!haveIds)
    return fail("model '%s' has no integer input for the token ids",
                m.path.c_str());

  // Output: `logits` (or the first output), f32 [1, window, V].
  size_t nOut = lq_model_num_outputs(m.handle);
  if (nOut == 0)
    return fail("model '%s' has no outputs", m.path.c_str());
  for (size_t o = 0; o < nOut; ++o)
    if (!std::strcmp(lq_model_output_name(m.handle, o), "logits"))
      m.logitsOutput = o;
  lq_tensor_t out{};
  lq_model_output_info(m.handle, m.logitsOutput, &out);
  if (out.dtype != LQ_DTYPE_F32 || out.rank != 3 || out.shape[0] != 1 ||
      out.shape[1] != window || out.shape[2] < 1)
    return fail("model '%s' returns '%s' %s %s; quant-eval needs f32 logits "
                "[1, %lld, vocab]",
                m.path.c_str(), lq_model_output_name(m.handle, m.logitsOutput),
                lq_dtype_name(out.dtype), shapeStr(out).c_str(),
                (long long)window);
  m.vocab = out.shape[2];
  return 0;
}

/// Runs `m` on `ids` (window tokens); `logits` gets [window * vocab] floats.
int runWindow(Model &m, const int64_t *ids, int64_t window,
              std::vector<float> &logits) {
  lq_tensor_t &in = m.inputs[m.idInput];
  for (int64_t k = 0; k < window; ++k) {
    if (in.dtype == LQ_DTYPE_I64)
      static_cast<int64_t *>(in.data)[k] = ids[k];
    else
      static_cast<int32_t *>(in.data)[k] = int32_t(ids[k]);
  }
  size_t nOut = lq_model_num_outputs(m.handle);
  std::vector<lq_tensor_t> outs(nOut);
  if (lq_model_run(m.handle, m.inputs.data(), m.inputs.size(), outs.data(),
                   nOut) != LQ_RT_OK)
    return fail("model '%s': %s", m.path.c_str(), lq_rt_last_error());
  const float *p = static_cast<const float *>(outs[m.logitsOutput].data);
  logits.assign(p, p + window * m.vocab);
  for (lq_tensor_t &o : outs)
    lq_tensor_free(&o);
  return 0;
}

/// log-softmax of one row, in double: x - (max + log(sum(exp(x - max)))).
void logSoftmax(const float *x, int64_t n, double *out) {
  double mx = x[0];
  for (int64_t v = 1; v < n; ++v)
    mx = std::max(mx, double(x[v]));
  double s = 0;
  for (int64_t v = 0; v < n; ++v)
    s += std::exp(double(x[v]) - mx);
  double lse = mx + std::log(s);
  for (int64_t v = 0; v < n; ++v)
    out[v] = double(x[v]) - lse;
}

int64_t argmax(const float *x, int64_t n) {
  return std::max_element(x, x + n) - x;
}

std::string fmtDuration(double s) {
  char buf[32];
  long long t = (long long)(s + 0.5);
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", t / 3600, t / 60 % 60);
  else if (t >= 60)
    std::snprintf(buf, sizeof buf, "%lldm%02llds", t / 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%llds", t);
  return buf;
}

std::string jsonString(const std::string &s) {
  std::string o = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\')
      o += '\\', o += char(c);
    else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      o += buf;
    } else
      o += char(c);
  }
  return o + "\"";
}

std::string xmlString(const std::string &s) {
  std::string o;
  for (char c : s) {
    if (c == '&') o += "&amp;";
    else if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '"') o += "&quot;";
    else o += c;
  }
  return o;
}

std::string num(double v, const char *fmt = "%.10g") {
  if (!std::isfinite(v))
    return "null";
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

/// Linear-interpolated percentile of sorted values (NumPy's default).
double percentile(const std::vector<double> &sorted, double q) {
  if (sorted.empty())
    return NAN;
  double pos = q / 100.0 * double(sorted.size() - 1);
  size_t lo = size_t(pos);
  size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - double(lo)) * (sorted[hi] - sorted[lo]);
}

double bpwOf(const Model &m) {
  return m.params > 0 && m.weightBytes >= 0
             ? 8.0 * double(m.weightBytes) / double(m.params)
             : NAN;
}

struct Summary {
  double ppl, klMean, klP99, klMax, top1;
};

/// The quality-size plot: KL mean (log scale) against bits per weight.
std::string svgPlot(const Model &ref, double refPpl,
                    const std::vector<Model> &cands,
                    const std::vector<Summary> &sums) {
  const double W = 640, H = 420, L = 80, R = 30, T = 50, B = 60;
  double xmin = 1e30, xmax = -1e30, kmin = 1e30, kmax = -1e30;
  auto addX = [&](double x) {
    if (std::isfinite(x))
      xmin = std::min(xmin, x), xmax = std::max(xmax, x);
  };
  addX(bpwOf(ref));
  for (size_t i = 0; i < cands.size(); ++i) {
    addX(bpwOf(cands[i]));
    if (sums[i].klMean > 0)
      kmin = std::min(kmin, sums[i].klMean), kmax = std::max(kmax, sums[i].klMean);
  }
  // Bits per weight on a log2 axis: 2..8-bit candidates next to a 32-bit
  // reference stay readable.
  if (xmin > xmax)
    xmin = 4, xmax = 32;
  xmin = std::floor(std::log2(std::max(xmin, 0.25)) - 0.25);
  xmax = std::ceil(std::log2(std::max(xmax, 0.25)) + 0.25);
  double ylo = -6, yhi = 0;
  if (kmin <= kmax)
    ylo = std::floor(std::log10(kmin)), yhi = std::ceil(std::log10(kmax));
  if (yhi <= ylo)
    yhi = ylo + 1;
  // A candidate with KL exactly 0 sits one decade below the lowest tick.
  double yZero = ylo - 1;
  auto px = [&](double bpw) {
    return L + (std::log2(bpw) - xmin) / (xmax - xmin) * (W - L - R);
  };
  auto py = [&](double ly) {
    return T + (yhi - ly) / (yhi - yZero) * (H - T - B);
  };
  std::string s;
  char buf[512];
  auto add = [&](const char *fmt, auto... args) {
    std::snprintf(buf, sizeof buf, fmt, args...);
    s += buf;
  };
  add("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
      "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n",
      W, H, W, H);
  add("<rect width=\"%.0f\" height=\"%.0f\" fill=\"white\"/>\n", W, H);
  add("<text x=\"%.0f\" y=\"24\" text-anchor=\"middle\" font-size=\"14\">"
      "quality vs size: KL(P_ref || P_cand) per token, reference %s</text>\n",
      W / 2, xmlString(ref.name).c_str());
  // Axes.
  add("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n",
      L, H - B, W - R, H - B);
  add("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n",
      L, T, L, H - B);
  for (double e = xmin; e <= xmax + 1e-9; e += 1) {
    double x = std::exp2(e);
    add("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n",
        px(x), T, px(x), H - B);
    add("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n", px(x),
        H - B + 16, x);
  }
  for (double k = ylo; k <= yhi + 1e-9; k += 1) {
    add("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n",
        L, py(k), W - R, py(k));
    add("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">1e%g</text>\n", L - 6,
        py(k) + 4, k);
  }
  add("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">0</text>\n", L - 6,
      py(yZero) + 4);
  add("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">bits per weight (log scale)</text>\n",
      (L + W - R) / 2, H - 18);
  add("<text transform=\"translate(18 %.1f) rotate(-90)\" text-anchor=\"middle\">"
      "mean KL divergence (nats, log scale)</text>\n",
      (T + H - B) / 2);
  if (std::isfinite(bpwOf(ref))) {
    add("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\" "
        "stroke-dasharray=\"4 3\"/>\n",
        px(bpwOf(ref)), T, px(bpwOf(ref)), H - B);
    s += "<text x=\"" + num(px(bpwOf(ref)) - 4, "%.1f") + "\" y=\"" +
         num(T + 12, "%.1f") + "\" text-anchor=\"end\" fill=\"#555\">reference " +
         xmlString(ref.name) + " (ppl " + num(refPpl, "%.3f") + ")</text>\n";
  }
  for (size_t i = 0; i < cands.size(); ++i) {
    double x = bpwOf(cands[i]);
    if (!std::isfinite(x))
      continue;
    double ly = sums[i].klMean > 0 ? std::log10(sums[i].klMean) : yZero;
    add("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#1f77b4\"/>\n", px(x),
        py(ly));
    s += "<text x=\"" + num(px(x) + 6, "%.1f") + "\" y=\"" +
         num(py(ly) - 6, "%.1f") + "\">" + xmlString(cands[i].name) +
         "</text>\n";
  }
  s += "</svg>\n";
  return s;
}

} // namespace

int main(int argc, char **argv) {
  std::string refPath, tokenizerPath, textPath, tokensFile, jsonPath, svgPath,
      dumpTokens;
  std::vector<std::string> candPaths, compileArgs;
  std::vector<std::vector<std::string>> candArgs; // per candidate
  std::vector<std::string> candNames;
  std::string attribute;
  long long window = 256, stride = 0, maxWindows = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string inlineValue;
    bool hasInline = false;
    if (a.rfind("--", 0) == 0 && a.find('=') != std::string::npos) {
      inlineValue = a.substr(a.find('=') + 1);
      a = a.substr(0, a.find('='));
      hasInline = true;
    }
    auto value = [&]() -> std::string {
      if (hasInline)
        return inlineValue;
      if (i + 1 >= argc) {
        fail("%s needs a value", a.c_str());
        std::exit(1);
      }
      return argv[++i];
    };
    auto integer = [&]() -> long long {
      std::string v = value();
      char *end;
      long long n = std::strtoll(v.c_str(), &end, 10);
      if (v.empty() || *end) {
        fail("%s '%s' is not an integer", a.c_str(), v.c_str());
        std::exit(1);
      }
      return n;
    };
    if (a == "--reference") refPath = value();
    else if (a == "--candidate") candPaths.push_back(value());
    else if (a == "--tokenizer") tokenizerPath = value();
    else if (a == "--text") textPath = value();
    else if (a == "--tokens-file") tokensFile = value();
    else if (a == "--window") window = integer();
    else if (a == "--stride") stride = integer();
    else if (a == "--max-windows") maxWindows = integer();
    else if (a == "--json") jsonPath = value();
    else if (a == "--svg") svgPath = value();
    else if (a == "--dump-tokens") dumpTokens = value();
    else if (a == "--compile-arg") compileArgs.push_back(value());
    else if (a == "-q" || a == "--quiet") gQuiet = true;
    else if (a == "--help" || a == "-h") {
      std::fputs(usage, stdout);
      return 0;
    } else if (a == "--attribute") {
      attribute = value();
    } else if (a == "--calibrate") {
      return fail("--calibrate is a compiler stage: use quant-opt "
                  "--calibrate or quant-compile --calibration-text (see --help)");
    } else {
      return fail("unknown argument '%s' (see --help)", argv[i]);
    }
  }
  if (refPath.empty())
    return fail("no --reference model (see --help)");
  if (!attribute.empty()) {
    if (!(endsWith(refPath, ".onnx") || endsWith(refPath, ".onnxtext") ||
          endsWith(refPath, ".mlir")))
      return fail("--attribute needs the reference as an .onnx or .mlir file, "
                  "got '%s'", refPath.c_str());
    if (attribute.find("{layer}") == std::string::npos)
      return fail("--attribute pipeline has no '{layer}' placeholder");
    std::string cmd = quoteArg(selfDir() + "/quant-compile") + " -q " +
                      quoteArg(refPath) + " --list-linears";
    if (!endsWith(refPath, ".mlir"))
      cmd += " --dim batch=1 --dim seq=" + std::to_string(window);
    for (const std::string &c : compileArgs)
      cmd += " " + quoteArg(c);
    FILE *pipe = popen(cmd.c_str(), "r");
    if (!pipe)
      return fail("cannot run '%s'", cmd.c_str());
    char line[1024];
    while (std::fgets(line, sizeof(line), pipe)) {
      long long idx;
      char name[768], shape[64];
      if (std::sscanf(line, "%lld %767s %63s", &idx, name, shape) != 3)
        continue;
      std::string p = attribute;
      p.replace(p.find("{layer}"), 7, std::to_string(idx));
      candPaths.push_back(refPath);
      candArgs.push_back({"--pipeline", p});
      candNames.push_back("L" + std::to_string(idx) + " " + name);
    }
    if (pclose(pipe) != 0 || candPaths.empty())
      return fail("listing the linears of '%s' failed", refPath.c_str());
  }
  if (candPaths.empty())
    return fail("no --candidate model (see --help)");
  if (window < 2)
    return fail("--window must be >= 2, got %lld", window);
  if (stride == 0)
    stride = window;
  if (stride < 1 || stride > window)
    return fail("--stride must be in [1, --window = %lld], got %lld", window,
                stride);
  if (maxWindows < 0)
    return fail("--max-windows must be >= 0, got %lld", maxWindows);
  if (!tokensFile.empty() && (!textPath.empty() || !tokenizerPath.empty()))
    return fail("give either --tokens-file or --tokenizer with --text, not both");
  if (tokensFile.empty() && textPath.empty())
    return fail("no evaluation text: give --tokenizer FILE --text FILE or "
                "--tokens-file FILE.npy");
  if (!textPath.empty() && tokenizerPath.empty())
    return fail("--text '%s' needs --tokenizer (the model's SentencePiece "
                "model)",
                textPath.c_str());
  if (textPath.empty() && !tokenizerPath.empty())
    return fail("--tokenizer needs --text");

  // 1. The token stream.
  std::vector<int64_t> tokens;
  int64_t pieces = -1;
  std::string protocolSource;
  if (!textPath.empty()) {
    sentencepiece::SentencePieceProcessor sp;
    auto status = sp.Load(tokenizerPath);
    if (!status.ok())
      return fail("cannot load tokenizer '%s': %s", tokenizerPath.c_str(),
                  status.ToString().c_str());
    int eos = sp.eos_id();
    if (eos < 0)
      return fail("tokenizer '%s' has no EOS piece", tokenizerPath.c_str());
    pieces = sp.GetPieceSize();
    std::ifstream in(textPath, std::ios::binary);
    if (!in)
      return fail("cannot open text '%s'", textPath.c_str());
    std::string line;
    std::vector<int> ids;
    long long lines = 0;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r')
        line.pop_back();
      ids.clear();
      if (!line.empty())
        sp.Encode(line, &ids);
      tokens.insert(tokens.end(), ids.begin(), ids.end());
      tokens.push_back(eos);
      ++lines;
    }
    protocolSource = "text '" + textPath + "' (" + std::to_string(lines) +
                     " lines), each line encoded with '" + tokenizerPath +
                     "' without BOS and followed by EOS (" +
                     std::to_string(eos) + ")";
  } else {
    lq_tensor_t t{};
    if (lq_npy_read(tokensFile.c_str(), &t) != LQ_RT_OK)
      return fail("%s", lq_rt_last_error());
    if (t.dtype != LQ_DTYPE_I64 && t.dtype != LQ_DTYPE_I32) {
      lq_tensor_free(&t);
      return fail("--tokens-file '%s' holds %s; it must hold int32/int64 "
                  "token ids",
                  tokensFile.c_str(), lq_dtype_name(t.dtype));
    }
    for (int64_t k = 0; k < lq_tensor_numel(&t); ++k)
      tokens.push_back(t.dtype == LQ_DTYPE_I64 ? static_cast<int64_t *>(t.data)[k]
                                               : static_cast<int32_t *>(t.data)[k]);
    lq_tensor_free(&t);
    protocolSource = "token ids '" + tokensFile + "'";
  }
  if (!dumpTokens.empty()) {
    lq_tensor_t t{};
    t.dtype = LQ_DTYPE_I64;
    t.rank = 1;
    t.shape[0] = int64_t(tokens.size());
    t.data = tokens.data();
    if (lq_npy_write(dumpTokens.c_str(), &t) != LQ_RT_OK)
      return fail("%s", lq_rt_last_error());
  }
  int64_t N = int64_t(tokens.size());
  if (N < window)
    return fail("%s has %lld tokens, fewer than one window of %lld",
                textPath.empty() ? ("--tokens-file '" + tokensFile + "'").c_str()
                                 : ("text '" + textPath + "'").c_str(),
                (long long)N, window);
  int64_t numWindows = (N - window) / stride + 1;
  if (maxWindows > 0)
    numWindows = std::min<int64_t>(numWindows, maxWindows);

  // 2. Models.
  Model ref;
  ref.path = refPath;
  if (loadModel(ref, window, 0, compileArgs))
    return 1;
  std::vector<Model> cands(candPaths.size());
  for (size_t c = 0; c < cands.size(); ++c) {
    cands[c].path = candPaths[c];
    std::vector<std::string> args = compileArgs;
    if (c < candArgs.size())
      args.insert(args.end(), candArgs[c].begin(), candArgs[c].end());
    if (loadModel(cands[c], window, int(c + 1), args))
      return 1;
    if (c < candNames.size())
      cands[c].name = candNames[c];
  }
  if (pieces >= 0 && ref.vocab != pieces)
    return fail("vocab mismatch: reference '%s' returns %lld logits per "
                "position, tokenizer '%s' has %lld pieces",
                ref.path.c_str(), (long long)ref.vocab, tokenizerPath.c_str(),
                (long long)pieces);
  for (Model &c : cands)
    if (c.vocab != ref.vocab)
      return fail("vocab mismatch: candidate '%s' returns %lld logits per "
                  "position, reference '%s' %lld",
                  c.path.c_str(), (long long)c.vocab, ref.path.c_str(),
                  (long long)ref.vocab);
  for (int64_t k = 0; k < numWindows * stride - stride + window; ++k)
    if (tokens[k] < 0 || tokens[k] >= ref.vocab)
      return fail("token %lld is %lld, outside the vocab [0, %lld)",
                  (long long)k, (long long)tokens[k], (long long)ref.vocab);

  // 3. Score.
  const int64_t V = ref.vocab;
  std::vector<float> refLogits, candLogits;
  std::vector<double> refLogp, refP, candLogp(V);
  std::vector<int64_t> refTop;
  long long scored = 0;
  bool tty = isatty(STDERR_FILENO);
  auto t0 = std::chrono::steady_clock::now();
  double lastPrint = -1e9;
  auto checkFinite = [&](const Model &m, const std::vector<float> &l,
                         int64_t w) -> int {
    for (int64_t k = 0; k < window * V; ++k)
      if (!std::isfinite(l[k]))
        return fail("model '%s' returned %s logits in window %lld (tokens "
                    "%lld..%lld) at position %lld (vocab entry %lld)",
                    m.path.c_str(), std::isnan(l[k]) ? "NaN" : "Inf",
                    (long long)w, (long long)(w * stride),
                    (long long)(w * stride + window - 1), (long long)(k / V),
                    (long long)(k % V));
    return 0;
  };
  for (int64_t w = 0; w < numWindows; ++w) {
    const int64_t *ids = tokens.data() + w * stride;
    // Scored positions: 1..window-1 in the first (or every non-overlapping)
    // window, the last `stride` positions in later overlapping ones.
    int64_t first = (w == 0 || stride == window) ? 1 : window - stride;
    int64_t rows = window - first;
    if (runWindow(ref, ids, window, refLogits) || checkFinite(ref, refLogits, w))
      return 1;
    refLogp.resize(rows * V);
    refP.resize(rows * V);
    refTop.resize(rows);
    for (int64_t r = 0; r < rows; ++r) {
      int64_t t = first + r; // predicted position; logits row t - 1
      const float *row = refLogits.data() + (t - 1) * V;
      double *lp = refLogp.data() + r * V;
      logSoftmax(row, V, lp);
      for (int64_t v = 0; v < V; ++v)
        refP[r * V + v] = std::exp(lp[v]);
      refTop[r] = argmax(row, V);
      ref.nllSum -= lp[ids[t]];
    }
    for (Model &c : cands) {
      if (runWindow(c, ids, window, candLogits) ||
          checkFinite(c, candLogits, w))
        return 1;
      for (int64_t r = 0; r < rows; ++r) {
        int64_t t = first + r;
        const float *row = candLogits.data() + (t - 1) * V;
        logSoftmax(row, V, candLogp.data());
        const double *lp = refLogp.data() + r * V, *p = refP.data() + r * V;
        double kl = 0;
        for (int64_t v = 0; v < V; ++v)
          kl += p[v] * (lp[v] - candLogp[v]);
        // Rounding can leave a tiny negative sum; KL itself is >= 0.
        c.kl.push_back(std::max(0.0, kl));
        c.nllSum -= candLogp[ids[t]];
        c.top1 += argmax(row, V) == refTop[r];
      }
    }
    scored += rows;
    double el = std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                              t0).count();
    bool last = w + 1 == numWindows;
    if (!gQuiet && (last || el - lastPrint >= (tty ? 0.2 : 10.0))) {
      lastPrint = el;
      double tokS = double((w + 1) * window) / std::max(el, 1e-9);
      double eta = el / double(w + 1) * double(numWindows - w - 1);
      std::fprintf(stderr,
                   "%squant-eval: window %lld/%lld, %.0f tok/s per model "
                   "(%zu models), ETA %s%s",
                   tty ? "\r" : "", (long long)(w + 1), (long long)numWindows,
                   tokS * double(1 + cands.size()), 1 + cands.size(),
                   fmtDuration(eta).c_str(), tty ? "   " : "\n");
      if (tty && last)
        std::fputc('\n', stderr);
    }
  }
  double seconds = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - t0).count();

  // 4. Report.
  auto ppl = [&](const Model &m) { return std::exp(m.nllSum / double(scored)); };
  std::vector<Summary> sums;
  for (Model &c : cands) {
    std::vector<double> sorted = c.kl;
    std::sort(sorted.begin(), sorted.end());
    double mean = 0;
    for (double k : c.kl)
      mean += k;
    mean /= double(c.kl.size());
    sums.push_back({ppl(c), mean, percentile(sorted, 99), sorted.back(),
                    double(c.top1) / double(scored)});
  }
  // The protocol, stated with the figures it produced.
  std::printf("protocol: %s: %lld tokens\n", protocolSource.c_str(),
              (long long)N);
  if (stride == window)
    std::printf("  %lld windows%s of %lld tokens, consecutive and "
                "non-overlapping (last partial window dropped), each run from "
                "an empty cache\n  scored: positions 1..%lld of every window, "
                "%lld in all\n",
                (long long)numWindows,
                maxWindows > 0 && numWindows == maxWindows ? " (--max-windows)"
                                                           : "",
                window, window - 1, scored);
  else
    std::printf("  %lld windows%s of %lld tokens starting every %lld tokens "
                "(--stride), each run from an empty cache\n  scored: positions "
                "1..%lld of the first window and the last %lld of every other, "
                "%lld in all\n",
                (long long)numWindows,
                maxWindows > 0 && numWindows == maxWindows ? " (--max-windows)"
                                                           : "",
                window, stride, window - 1, stride, scored);
  std::printf("  ppl = exp(mean NLL); KL(P_ref || P_cand) in nats and top-1 "
              "agreement over the same positions\n\n");
  size_t nameW = std::max<size_t>(5, ref.name.size() + 6);
  for (Model &c : cands)
    nameW = std::max(nameW, c.name.size());
  auto bpwText = [](const Model &m) {
    return std::isfinite(bpwOf(m)) ? num(bpwOf(m), "%.2f") : std::string("n/a");
  };
  auto bytesText = [](const Model &m) {
    return m.weightBytes >= 0 ? std::to_string(m.weightBytes) : std::string("n/a");
  };
  std::printf("%-*s %10s %11s %11s %11s %8s %6s %12s\n", int(nameW), "model",
              "ppl", "KL mean", "KL p99", "KL max", "top-1", "bpw", "bytes");
  std::printf("%-*s %10.4f %11s %11s %11s %8s %6s %12s\n", int(nameW),
              (ref.name + " (ref)").c_str(), ppl(ref), "-", "-", "-", "-",
              bpwText(ref).c_str(), bytesText(ref).c_str());
  for (size_t i = 0; i < cands.size(); ++i)
    std::printf("%-*s %10.4f %11.4e %11.4e %11.4e %8.4f %6s %12s\n", int(nameW),
                cands[i].name.c_str(), sums[i].ppl, sums[i].klMean,
                sums[i].klP99, sums[i].klMax, sums[i].top1,
                bpwText(cands[i]).c_str(), bytesText(cands[i]).c_str());
  if (!attribute.empty()) {
    // Rank the layers by the divergence each one causes alone.
    std::vector<size_t> order(cands.size());
    for (size_t i = 0; i < order.size(); ++i)
      order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return sums[a].klMean > sums[b].klMean;
    });
    double total = 0;
    for (size_t i = 0; i < cands.size(); ++i)
      total += sums[i].klMean;
    std::printf("\nper-layer attribution (%s), sorted by KL mean:\n",
                attribute.c_str());
    std::printf("%-*s %11s %7s %9s\n", int(nameW), "layer", "KL mean",
                "share", "cum.");
    double cum = 0;
    for (size_t i : order) {
      double share = total > 0 ? sums[i].klMean / total : 0;
      cum += share;
      std::printf("%-*s %11.4e %6.1f%% %8.1f%%\n", int(nameW),
                  cands[i].name.c_str(), sums[i].klMean, 100 * share, 100 * cum);
    }
  }
  std::fflush(stdout);
  if (!gQuiet)
    std::fprintf(stderr, "quant-eval: %lld windows x %zu models in %.1f s\n",
                 (long long)numWindows, 1 + cands.size(), seconds);

  auto writeFile = [](const std::string &path, const std::string &text) {
    FILE *f = std::fopen(path.c_str(), "w");
    if (!f)
      return fail("cannot write '%s': %s", path.c_str(), std::strerror(errno));
    std::fwrite(text.data(), 1, text.size(), f);
    return std::fclose(f) == 0 ? 0 : fail("cannot write '%s'", path.c_str());
  };
  if (!jsonPath.empty()) {
    auto intOrNull = [](long long v) {
      return v >= 0 ? std::to_string(v) : std::string("null");
    };
    std::string j = "{\n";
    j += "  \"protocol\": {\"source\": " + jsonString(protocolSource) +
         ", \"tokens\": " + std::to_string(N) +
         ", \"window\": " + std::to_string(window) +
         ", \"stride\": " + std::to_string(stride) +
         ", \"windows\": " + std::to_string(numWindows) +
         ", \"scored_tokens\": " + std::to_string(scored) + "},\n";
    j += "  \"reference\": {\"name\": " + jsonString(ref.name) +
         ", \"path\": " + jsonString(ref.path) + ", \"ppl\": " + num(ppl(ref)) +
         ", \"nll\": " + num(ref.nllSum / double(scored)) +
         ", \"bpw\": " + num(bpwOf(ref)) +
         ", \"bytes\": " + intOrNull(ref.weightBytes) +
         ", \"params\": " + intOrNull(ref.params) + "},\n";
    j += "  \"reference_ppl\": " + num(ppl(ref)) + ",\n";
    j += "  \"seconds\": " + num(seconds, "%.3f") + ",\n";
    j += "  \"candidates\": [";
    for (size_t i = 0; i < cands.size(); ++i) {
      const Model &c = cands[i];
      j += std::string(i ? "," : "") + "\n    {\"name\": " + jsonString(c.name) +
           ", \"path\": " + jsonString(c.path) + ", \"ppl\": " + num(sums[i].ppl) +
           ", \"nll\": " + num(c.nllSum / double(scored)) +
           ", \"kl_mean\": " + num(sums[i].klMean) +
           ", \"kl_p99\": " + num(sums[i].klP99) +
           ", \"kl_max\": " + num(sums[i].klMax) +
           ", \"top1\": " + num(sums[i].top1) + ", \"bpw\": " + num(bpwOf(c)) +
           ", \"bytes\": " + intOrNull(c.weightBytes) +
           ", \"params\": " + intOrNull(c.params) + "}";
    }
    j += "\n  ]\n}\n";
    if (writeFile(jsonPath, j))
      return 1;
  }
  if (!svgPath.empty()) {
    std::string svg = svgPlot(ref, ppl(ref), cands, sums);
    if (writeFile(svgPath, svg))
      return 1;
  }
  for (Model *m : [&] {
         std::vector<Model *> all = {&ref};
         for (Model &c : cands)
           all.push_back(&c);
         return all;
       }()) {
    std::free(m->inputs[m->idInput].data);
    lq_model_free(m->handle);
  }
  return 0;
}
