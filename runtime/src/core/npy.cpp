//===- npy.cpp - NumPy .npy files ---------------------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Format 1.0/2.0: "\x93NUMPY", version, header length, then a Python dict
// literal {'descr': '<f4', 'fortran_order': False, 'shape': (1, 8), }.
//
//===----------------------------------------------------------------------===//

#include "status.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

struct Descr {
  const char *text;
  lq_dtype_t dtype;
};

const Descr descrs[] = {
    {"<f4", LQ_DTYPE_F32}, {"<f2", LQ_DTYPE_F16}, {"<f8", LQ_DTYPE_F64},
    {"<i8", LQ_DTYPE_I64}, {"<i4", LQ_DTYPE_I32}, {"<i2", LQ_DTYPE_I16},
    {"|i1", LQ_DTYPE_I8},  {"|u1", LQ_DTYPE_I8},  {"|b1", LQ_DTYPE_BOOL},
};

struct File {
  FILE *f;
  ~File() {
    if (f)
      std::fclose(f);
  }
};

} // namespace

extern "C" {

lq_rt_status_t lq_npy_read(const char *path, lq_tensor_t *out) {
  if (!path || !out)
    return lq_rt_fail(LQ_RT_ERROR_INVALID_ARGUMENT, "null argument");
  out->data = nullptr;
  File file{std::fopen(path, "rb")};
  if (!file.f)
    return lq_rt_fail(LQ_RT_ERROR_IO, "cannot open '%s'", path);
  unsigned char magic[8];
  if (std::fread(magic, 1, 8, file.f) != 8 ||
      std::memcmp(magic, "\x93NUMPY", 6) != 0)
    return lq_rt_fail(LQ_RT_ERROR_FORMAT, "'%s' is not a .npy file", path);
  size_t headerLen = 0;
  if (magic[6] == 1) {
    unsigned char b[2];
    if (std::fread(b, 1, 2, file.f) != 2)
      return lq_rt_fail(LQ_RT_ERROR_FORMAT, "'%s': truncated header", path);
    headerLen = b[0] | (b[1] << 8);
  } else {
    unsigned char b[4];
    if (std::fread(b, 1, 4, file.f) != 4)
      return lq_rt_fail(LQ_RT_ERROR_FORMAT, "'%s': truncated header", path);
    headerLen = b[0] | (b[1] << 8) | (b[2] << 16) | (size_t(b[3]) << 24);
  }
  if (headerLen > 65536)
    return lq_rt_fail(LQ_RT_ERROR_FORMAT, "'%s': header too long", path);
  std::string header(headerLen, '\0');
  if (std::fread(&header[0], 1, headerLen, file.f) != headerLen)
    return lq_rt_fail(LQ_RT_ERROR_FORMAT, "'%s': truncated header", path);
  if (header.find("'fortran_order': True") != std::string::npos)
    return lq_rt_fail(LQ_RT_ERROR_FORMAT, "'%s': Fortran order is not supported",
                      path);
  size_t d = header.find("'descr':");
  size_t q1 = header.find('\'', d + 8), q2 = header.find('\'', q1 + 1);
  if (d == std::string::npos || q1 == std::string::npos || q2 == std::string::npos)
    return lq_rt_fail(LQ_RT_ERROR_FORMAT, "'%s': no 'descr'", path);
  std::string descr = header.substr(q1 + 1, q2 - q1 - 1);
  bool found = false;
  for (const Descr &x : descrs)
    if (descr == x.text) {
      out->dtype = x.dtype;
      found = true;
    }
  if (!found)
    return lq_rt_fail(LQ_RT_ERROR_FORMAT, "'%s': unsupported dtype '%s'", path,
                      descr.c_str());
  size_t s = header.find("'shape':");
  size_t open = header.find('(', s), close = header.find(')', open);
  if (s == std::string::npos || open == std::string::npos ||
      close == std::string::npos)
    return lq_rt_fail(LQ_RT_ERROR_FORMAT, "'%s': no 'shape'", path);
  out->rank = 0;
  const char *p = header.c_str() + open + 1, *end = header.c_str() + close;
  while (p < end) {
    while (p < end && (*p == ' ' || *p == ','))
      ++p;
    if (p >= end)
      break;
    char *next;
    long long v = std::strtoll(p, &next, 10);
    if (next == p || v < 0 || out->rank >= LQ_MAX_RANK)
      return lq_rt_fail(LQ_RT_ERROR_FORMAT, "'%s': bad shape", path);
    out->shape[out->rank++] = v;
    p = next;
  }
  int64_t n = lq_tensor_numel(out);
  size_t bytes = size_t(n) * lq_dtype_size(out->dtype);
  out->data = std::malloc(bytes ? bytes : 1);
  if (!out->data)
    return lq_rt_fail(LQ_RT_ERROR_OUT_OF_MEMORY, "cannot allocate %zu bytes",
                      bytes);
  if (std::fread(out->data, 1, bytes, file.f) != bytes) {
    lq_tensor_free(out);
    return lq_rt_fail(LQ_RT_ERROR_FORMAT, "'%s': %lld elements expected, file "
                      "is shorter", path, (long long)n);
  }
  return LQ_RT_OK;
}

lq_rt_status_t lq_npy_write(const char *path, const lq_tensor_t *t) {
  if (!path || !t || t->rank < 0 || t->rank > LQ_MAX_RANK)
    return lq_rt_fail(LQ_RT_ERROR_INVALID_ARGUMENT, "bad tensor");
  const char *descr = nullptr;
  for (const Descr &x : descrs)
    if (x.dtype == t->dtype && !descr)
      descr = x.text;
  if (!descr)
    return lq_rt_fail(LQ_RT_ERROR_INVALID_ARGUMENT,
                      "dtype %s cannot be written as .npy",
                      lq_dtype_name(t->dtype));
  std::string header = std::string("{'descr': '") + descr +
                       "', 'fortran_order': False, 'shape': (";
  for (int32_t i = 0; i < t->rank; ++i)
    header += std::to_string(t->shape[i]) + (t->rank == 1 || i + 1 < t->rank ? ", " : "");
  header += "), }";
  while ((10 + header.size() + 1) % 64)
    header += ' ';
  header += '\n';
  File file{std::fopen(path, "wb")};
  if (!file.f)
    return lq_rt_fail(LQ_RT_ERROR_IO, "cannot write '%s'", path);
  unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                           (unsigned char)(header.size() & 0xff),
                           (unsigned char)(header.size() >> 8)};
  size_t bytes = size_t(lq_tensor_numel(t)) * lq_dtype_size(t->dtype);
  if (std::fwrite(pre, 1, 10, file.f) != 10 ||
      std::fwrite(header.data(), 1, header.size(), file.f) != header.size() ||
      std::fwrite(t->data, 1, bytes, file.f) != bytes)
    return lq_rt_fail(LQ_RT_ERROR_IO, "cannot write '%s'", path);
  return LQ_RT_OK;
}

} // extern "C"
