//===- model.cpp - Load and run models compiled by quant-compile --*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// A model library exports `lq_model_signature` (text, one line per input and
// output: "in <name> <dtype> <d0>x<d1>...", "out ...", optionally
// "range <input> <lo> <hi>" for token ids) and `void lq_model_main(void**)`,
// whose arguments are MLIR memref descriptors: {allocated, aligned, offset,
// sizes[rank], strides[rank]} per input, then one struct holding every
// output's descriptor.
//
//===----------------------------------------------------------------------===//

#include "lq_rt/lq_rt.h"
#include "output_blocks.h"
#include "status.h"

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct Port {
  std::string name;
  lq_dtype_t dtype;
  std::vector<int64_t> shape;
  bool hasRange = false;
  int64_t lo = 0, hi = 0; // valid integer values: [lo, hi)
};

bool parseDtype(const std::string &s, lq_dtype_t *out) {
  static const char *names[] = {"f32", "f16", "bf16", "f64", "i64",
                                "i32", "i16", "i8",   "i1"};
  for (int i = 0; i < 9; ++i)
    if (s == names[i]) {
      *out = static_cast<lq_dtype_t>(i);
      return true;
    }
  return false;
}

std::string shapeString(const int64_t *shape, size_t rank) {
  std::string s = "[";
  for (size_t i = 0; i < rank; ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

/// Whether a descriptor's strides are the dense row-major ones.
bool isRowMajor(const int64_t *sizes, const int64_t *strides, size_t rank) {
  int64_t expect = 1;
  for (size_t k = rank; k-- > 0;) {
    if (sizes[k] != 1 && strides[k] != expect)
      return false;
    expect *= sizes[k];
  }
  return true;
}

} // namespace

struct lq_model {
  void *handle = nullptr;
  /// lq_model_create: releases what keeps `main` alive (a JIT engine).
  void (*release)(void *) = nullptr;
  void *releaseContext = nullptr;
  void (*main)(void **) = nullptr;
  std::vector<Port> inputs, outputs;
  /// "cache <input> <output>" lines: (input index, output index).
  std::vector<std::pair<size_t, size_t>> caches;
  /// "alloc lq_rt": the model allocates with lq_rt's allocator (alloc.cpp),
  /// so its outputs are released with _mlir_memref_to_llvm_free.
  bool lqAllocator = false;
};

static lq_rt_status_t parseSignature(const char *text, lq_model_t *m) {
  std::istringstream in(text);
  std::string line;
  std::vector<std::pair<std::string, std::string>> cacheNames;
  while (std::getline(in, line)) {
    if (line.empty())
      continue;
    std::istringstream ls(line);
    std::string kind, name, dtype, dims;
    ls >> kind >> name;
    if (kind == "range") {
      int64_t lo, hi;
      if (!(ls >> lo >> hi))
        return lq_rt_fail(LQ_RT_ERROR_FORMAT, "bad signature line '%s'",
                          line.c_str());
      for (Port &p : m->inputs)
        if (p.name == name) {
          p.hasRange = true;
          p.lo = lo;
          p.hi = hi;
        }
      continue;
    }
    if (kind == "alloc") {
      if (name != "lq_rt" && name != "libc")
        return lq_rt_fail(LQ_RT_ERROR_FORMAT,
                          "signature line '%s': unknown allocator (this "
                          "runtime knows lq_rt and libc)", line.c_str());
      m->lqAllocator = name == "lq_rt";
      continue;
    }
    if (kind == "cache") {
      std::string out;
      if (!(ls >> out))
        return lq_rt_fail(LQ_RT_ERROR_FORMAT, "bad signature line '%s'",
                          line.c_str());
      cacheNames.emplace_back(name, out);
      continue;
    }
    // Other kinds ("params", "weight_bytes", ...) describe the model for
    // tools like quant-eval; a loader skips what it does not know, so newer
    // compilers can add lines without breaking older runtimes.
    if (kind != "in" && kind != "out")
      continue;
    Port p;
    p.name = name;
    ls >> dtype >> dims;
    if (!parseDtype(dtype, &p.dtype) || dims.empty())
      return lq_rt_fail(LQ_RT_ERROR_FORMAT, "bad signature line '%s'",
                        line.c_str());
    if (dims != "scalar") {
      std::istringstream ds(dims);
      std::string d;
      while (std::getline(ds, d, 'x'))
        p.shape.push_back(std::strtoll(d.c_str(), nullptr, 10));
    }
    if (p.shape.size() > LQ_MAX_RANK)
      return lq_rt_fail(LQ_RT_ERROR_FORMAT, "'%s' has rank %zu > %d",
                        name.c_str(), p.shape.size(), LQ_MAX_RANK);
    (kind == "in" ? m->inputs : m->outputs).push_back(std::move(p));
  }
  auto find = [](const std::vector<Port> &ports, const std::string &name) {
    for (size_t i = 0; i < ports.size(); ++i)
      if (ports[i].name == name)
        return i;
    return ports.size();
  };
  for (auto &[in, out] : cacheNames) {
    size_t i = find(m->inputs, in);
    if (out == "inplace" && i < m->inputs.size()) {
      m->caches.emplace_back(i, LQ_MODEL_CACHE_IN_PLACE);
      continue;
    }
    size_t o = find(m->outputs, out);
    if (i == m->inputs.size() || o == m->outputs.size() ||
        m->inputs[i].shape != m->outputs[o].shape ||
        m->inputs[i].dtype != m->outputs[o].dtype)
      return lq_rt_fail(LQ_RT_ERROR_FORMAT,
                        "signature: cache '%s' -> '%s' does not name an input "
                        "and an output of the same type",
                        in.c_str(), out.c_str());
    m->caches.emplace_back(i, o);
  }
  return LQ_RT_OK;
}

extern "C" {

lq_rt_status_t lq_model_load(const char *path, lq_model_t **model) {
  if (!path || !model)
    return lq_rt_fail(LQ_RT_ERROR_INVALID_ARGUMENT, "null argument");
  *model = nullptr;
  // A model is a file: dlopen would search the library path for a bare
  // name ("model.so"), so a name without a slash is made relative.
  const std::string file =
      std::strchr(path, '/') ? std::string(path) : std::string("./") + path;
  void *h = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h)
    return lq_rt_fail(LQ_RT_ERROR_IO, "cannot load '%s': %s", path, dlerror());
  auto *sig = static_cast<const char *>(dlsym(h, "lq_model_signature"));
  void *main = dlsym(h, "lq_model_main");
  if (!sig || !main) {
    dlclose(h);
    return lq_rt_fail(LQ_RT_ERROR_FORMAT,
                      "'%s' is not an lq model (no lq_model_signature / "
                      "lq_model_main; compile it with quant-compile)",
                      path);
  }
  auto *m = new lq_model;
  m->handle = h;
  m->main = reinterpret_cast<void (*)(void **)>(main);
  if (lq_rt_status_t s = parseSignature(sig, m)) {
    lq_model_free(m);
    return s;
  }
  *model = m;
  return LQ_RT_OK;
}

lq_rt_status_t lq_model_create(void (*main)(void **), const char *signature,
                               void (*release)(void *), void *context,
                               lq_model_t **model) {
  if (!main || !signature || !model)
    return lq_rt_fail(LQ_RT_ERROR_INVALID_ARGUMENT, "null argument");
  *model = nullptr;
  auto *m = new lq_model;
  m->main = main;
  if (lq_rt_status_t s = parseSignature(signature, m)) {
    delete m; // the caller still owns `context` on failure
    return s;
  }
  m->release = release;
  m->releaseContext = context;
  *model = m;
  return LQ_RT_OK;
}

void lq_model_free(lq_model_t *model) {
  if (!model)
    return;
  if (model->release)
    model->release(model->releaseContext);
  if (model->handle)
    dlclose(model->handle);
  delete model;
}

size_t lq_model_num_inputs(const lq_model_t *m) { return m ? m->inputs.size() : 0; }
size_t lq_model_num_outputs(const lq_model_t *m) { return m ? m->outputs.size() : 0; }

size_t lq_model_num_caches(const lq_model_t *m) { return m ? m->caches.size() : 0; }

lq_rt_status_t lq_model_cache(const lq_model_t *m, size_t i, size_t *input,
                              size_t *output) {
  if (!m || !input || !output || i >= m->caches.size())
    return lq_rt_fail(LQ_RT_ERROR_INVALID_ARGUMENT, "no cache %zu", i);
  *input = m->caches[i].first;
  *output = m->caches[i].second;
  return LQ_RT_OK;
}

const char *lq_model_input_name(const lq_model_t *m, size_t i) {
  return m && i < m->inputs.size() ? m->inputs[i].name.c_str() : nullptr;
}
const char *lq_model_output_name(const lq_model_t *m, size_t i) {
  return m && i < m->outputs.size() ? m->outputs[i].name.c_str() : nullptr;
}

static lq_rt_status_t portInfo(const std::vector<Port> &ports, size_t i,
                               lq_tensor_t *info) {
  if (!info || i >= ports.size())
    return lq_rt_fail(LQ_RT_ERROR_INVALID_ARGUMENT, "no port #%zu", i);
  info->dtype = ports[i].dtype;
  info->rank = int32_t(ports[i].shape.size());
  for (size_t d = 0; d < ports[i].shape.size(); ++d)
    info->shape[d] = ports[i].shape[d];
  info->data = nullptr;
  return LQ_RT_OK;
}

lq_rt_status_t lq_model_input_info(const lq_model_t *m, size_t i,
                                   lq_tensor_t *info) {
  if (!m)
    return lq_rt_fail(LQ_RT_ERROR_INVALID_ARGUMENT, "null model");
  return portInfo(m->inputs, i, info);
}

lq_rt_status_t lq_model_output_info(const lq_model_t *m, size_t i,
                                    lq_tensor_t *info) {
  if (!m)
    return lq_rt_fail(LQ_RT_ERROR_INVALID_ARGUMENT, "null model");
  return portInfo(m->outputs, i, info);
}

/// Validates one input against its port, including token-id ranges.
static lq_rt_status_t checkInput(const Port &p, const lq_tensor_t &t) {
  bool same = t.dtype == p.dtype && size_t(t.rank) == p.shape.size();
  for (size_t d = 0; same && d < p.shape.size(); ++d)
    same = t.shape[d] == p.shape[d];
  if (!same) {
    const char *got = lq_dtype_name(t.dtype);
    return lq_rt_fail(LQ_RT_ERROR_INVALID_ARGUMENT,
                      "input '%s': expected %s %s, got %s %s", p.name.c_str(),
                      lq_dtype_name(p.dtype),
                      shapeString(p.shape.data(), p.shape.size()).c_str(),
                      got ? got : "?",
                      shapeString(t.shape, t.rank < 0 ? 0 : size_t(t.rank)).c_str());
  }
  if (!t.data && lq_tensor_numel(&t) > 0)
    return lq_rt_fail(LQ_RT_ERROR_INVALID_ARGUMENT, "input '%s' has no data",
                      p.name.c_str());
  if (p.hasRange) {
    int64_t n = lq_tensor_numel(&t);
    for (int64_t i = 0; i < n; ++i) {
      int64_t v = t.dtype == LQ_DTYPE_I64 ? static_cast<int64_t *>(t.data)[i]
                                          : static_cast<int32_t *>(t.data)[i];
      if (v < p.lo || v >= p.hi)
        return lq_rt_fail(LQ_RT_ERROR_INVALID_ARGUMENT,
                          "input '%s'[%lld] = %lld is outside [%lld, %lld)",
                          p.name.c_str(), (long long)i, (long long)v,
                          (long long)p.lo, (long long)p.hi);
    }
  }
  return LQ_RT_OK;
}

lq_rt_status_t lq_model_run(lq_model_t *m, const lq_tensor_t *inputs,
                            size_t numInputs, lq_tensor_t *outputs,
                            size_t numOutputs) {
  if (!m)
    return lq_rt_fail(LQ_RT_ERROR_INVALID_ARGUMENT, "null model");
  if (numInputs != m->inputs.size() || (numInputs && !inputs))
    return lq_rt_fail(LQ_RT_ERROR_INVALID_ARGUMENT,
                      "the model takes %zu inputs, got %zu", m->inputs.size(),
                      numInputs);
  if (numOutputs != m->outputs.size() || (numOutputs && !outputs))
    return lq_rt_fail(LQ_RT_ERROR_INVALID_ARGUMENT,
                      "the model has %zu outputs, got room for %zu",
                      m->outputs.size(), numOutputs);
  for (size_t i = 0; i < numInputs; ++i)
    if (lq_rt_status_t s = checkInput(m->inputs[i], inputs[i]))
      return s;

  // Memref descriptors: {allocated, aligned, offset, sizes[r], strides[r]}.
  std::vector<std::vector<int64_t>> inDesc(numInputs);
  std::vector<void *> args;
  for (size_t i = 0; i < numInputs; ++i) {
    const Port &p = m->inputs[i];
    size_t r = p.shape.size();
    std::vector<int64_t> &d = inDesc[i];
    d.assign(3 + 2 * r, 0);
    std::memcpy(&d[0], &inputs[i].data, sizeof(void *));
    std::memcpy(&d[1], &inputs[i].data, sizeof(void *));
    int64_t stride = 1;
    for (size_t k = r; k-- > 0;) {
      d[3 + k] = p.shape[k];
      d[3 + r + k] = stride;
      stride *= p.shape[k];
    }
    args.push_back(d.data());
  }
  size_t words = 0;
  for (const Port &p : m->outputs)
    words += 3 + 2 * p.shape.size();
  std::vector<int64_t> result(words, 0);
  args.push_back(result.data());
  m->main(args.data());

  // Each output's buffer is handed over when it can be (see below); else it
  // is copied (any strides) into a fresh contiguous block and the model's
  // buffer freed, unless it is a constant (MLIR marks globals with
  // 0xdeadbeef) or one of the inputs. Output blocks come from lq_rt's
  // allocator (output_blocks.h): no malloc / page faults per call.
  std::vector<char *> allocatedOf(numOutputs);
  for (size_t o = 0, off = 0; o < numOutputs; off += 3 + 2 * m->outputs[o].shape.size(), ++o)
    std::memcpy(&allocatedOf[o], &result[off], sizeof(void *));
  size_t off = 0;
  lq_rt_status_t status = LQ_RT_OK;
  for (size_t o = 0; o < numOutputs; ++o) {
    const Port &p = m->outputs[o];
    size_t r = p.shape.size();
    char *allocated, *aligned;
    std::memcpy(&allocated, &result[off], sizeof(void *));
    std::memcpy(&aligned, &result[off + 1], sizeof(void *));
    int64_t offset = result[off + 2];
    const int64_t *sizes = &result[off + 3], *strides = &result[off + 3 + r];
    lq_tensor_t &t = outputs[o];
    t.dtype = p.dtype;
    t.rank = int32_t(r);
    for (size_t k = 0; k < r; ++k)
      t.shape[k] = sizes[k];
    size_t es = lq_dtype_size(p.dtype);
    int64_t n = lq_tensor_numel(&t);
    bool isInput = false;
    for (size_t i = 0; i < numInputs; ++i)
      isInput |= allocated == static_cast<char *>(inputs[i].data);
    bool shared = false; // another output returns the same buffer
    for (size_t q = 0; q < numOutputs; ++q)
      shared |= q != o && allocatedOf[q] == allocated;
    const bool owned = allocated && allocated != reinterpret_cast<char *>(0xdeadbeef) &&
                       !isInput;
    // The model's own block, row-major from its start: the output is that
    // block, no copy.
    if (m->lqAllocator && owned && !shared && allocated == aligned && offset == 0 &&
        n > 0 && isRowMajor(sizes, strides, r)) {
      lq_rt::adoptOutput(allocated);
      t.data = allocated;
      off += 3 + 2 * r;
      continue;
    }
    t.data = lq_rt::allocateOutput(n > 0 ? size_t(n) * es : 1);
    if (!t.data) {
      status = lq_rt_fail(LQ_RT_ERROR_OUT_OF_MEMORY, "cannot allocate output");
    } else if (isRowMajor(sizes, strides, r)) {
      std::memcpy(t.data, aligned + offset * es, size_t(n) * es);
    } else {
      std::vector<int64_t> idx(r, 0);
      for (int64_t i = 0; i < n; ++i) {
        int64_t src = offset;
        for (size_t k = 0; k < r; ++k)
          src += idx[k] * strides[k];
        std::memcpy(static_cast<char *>(t.data) + i * es, aligned + src * es, es);
        for (size_t k = r; k-- > 0;) {
          if (++idx[k] < sizes[k])
            break;
          idx[k] = 0;
        }
      }
    }
    bool seenBefore = false;
    for (size_t q = 0; q < o; ++q)
      seenBefore |= allocatedOf[q] == allocated;
    if (owned && !seenBefore) {
      if (m->lqAllocator)
        _mlir_memref_to_llvm_free(allocated);
      else
        std::free(allocated);
    }
    off += 3 + 2 * r;
  }
  return status;
}

} // extern "C"
