//===- status.cpp - Errors and tensor helpers ---------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#include "output_blocks.h"
#include "status.h"

#include <cstdarg>
#include <cstdio>
#include <cstdlib>

static thread_local char lastError[1024] = "";

lq_rt_status_t lq_rt_fail(lq_rt_status_t status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(lastError, sizeof(lastError), fmt, ap);
  va_end(ap);
  return status;
}

extern "C" {

const char *lq_rt_last_error(void) { return lastError; }

size_t lq_dtype_size(lq_dtype_t dtype) {
  switch (dtype) {
  case LQ_DTYPE_F32: case LQ_DTYPE_I32: return 4;
  case LQ_DTYPE_F16: case LQ_DTYPE_BF16: case LQ_DTYPE_I16: return 2;
  case LQ_DTYPE_F64: case LQ_DTYPE_I64: return 8;
  case LQ_DTYPE_I8: case LQ_DTYPE_BOOL: return 1;
  }
  return 0;
}

const char *lq_dtype_name(lq_dtype_t dtype) {
  switch (dtype) {
  case LQ_DTYPE_F32: return "f32";
  case LQ_DTYPE_F16: return "f16";
  case LQ_DTYPE_BF16: return "bf16";
  case LQ_DTYPE_F64: return "f64";
  case LQ_DTYPE_I64: return "i64";
  case LQ_DTYPE_I32: return "i32";
  case LQ_DTYPE_I16: return "i16";
  case LQ_DTYPE_I8: return "i8";
  case LQ_DTYPE_BOOL: return "i1";
  }
  return nullptr;
}

int64_t lq_tensor_numel(const lq_tensor_t *t) {
  int64_t n = 1;
  for (int32_t i = 0; t && i < t->rank && i < LQ_MAX_RANK; ++i)
    n *= t->shape[i];
  return n;
}

void lq_tensor_free(lq_tensor_t *t) {
  if (!t)
    return;
  lq_rt::freeTensorData(t->data); // an output block, or malloc'ed
  t->data = nullptr;
}

} // extern "C"
