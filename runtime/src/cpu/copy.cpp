//===- copy.cpp - Strided f32 copies split between threads ----------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// A model that returns its KV cache as a new value (present = concat(past,
// new), as ONNX decoders do) copies every layer's cache once per decode
// step. Compiled as loops of memcpy, that copy ran on the calling thread
// while the pool's other threads waited (~9% of a 2-thread step of a
// 768-wide 12-layer model); here the rows are split between them.
//
//===----------------------------------------------------------------------===//

#include "../core/threads.h"
#include "lq_rt/kernels.h"

#include <cstring>

namespace {

/// Copies of at least this many bytes are split between threads: below it,
/// one memcpy costs less than handing parts to the pool.
constexpr int64_t kThreadedBytes = 64 << 10;

struct Copy {
  const lq_rt_view4_t *src, *dst;
  int lead;      // dimensions [0, lead) are looped over
  int64_t block; // elements of the dense trailing block (1: element loop)
};

/// Rows [r0, r1) of the leading dimensions, row-major.
void copyRows(const Copy &c, int64_t r0, int64_t r1) {
  const lq_rt_view4_t &s = *c.src, &d = *c.dst;
  for (int64_t r = r0; r < r1; ++r) {
    int64_t so = 0, dof = 0, rest = r;
    for (int i = c.lead - 1; i >= 0; --i) {
      const int64_t idx = rest % s.sizes[i];
      rest /= s.sizes[i];
      so += idx * s.strides[i];
      dof += idx * d.strides[i];
    }
    if (c.block > 1) {
      std::memcpy(d.data + dof, s.data + so, size_t(c.block) * sizeof(float));
      continue;
    }
    // No dense block: the last dimension element by element.
    for (int64_t k = 0; k < s.sizes[3]; ++k)
      d.data[dof + k * d.strides[3]] = s.data[so + k * s.strides[3]];
  }
}

} // namespace

extern "C" int lq_rt_copy_f32(const lq_rt_view4_t *src, const lq_rt_view4_t *dst) {
  int64_t n = 1;
  for (int i = 0; i < 4; ++i) {
    if (src->sizes[i] != dst->sizes[i] || src->sizes[i] < 0)
      return -1;
    n *= src->sizes[i];
  }
  if (n == 0)
    return 0;
  // The longest suffix laid out dense in both views (unit strides where a
  // dense block has them; size-1 dimensions match any stride).
  Copy c{src, dst, 4, 1};
  while (c.lead > 0) {
    const int i = c.lead - 1;
    const bool dense = src->sizes[i] == 1 ||
                       (src->strides[i] == c.block && dst->strides[i] == c.block);
    if (!dense)
      break;
    c.block *= src->sizes[i];
    --c.lead;
  }
  if (c.lead == 0) { // one dense block, cut into pieces for the threads
    auto body = [&](int64_t b, int64_t e) {
      std::memcpy(dst->data + b, src->data + b, size_t(e - b) * sizeof(float));
    };
    if (n * int64_t(sizeof(float)) >= kThreadedBytes)
      lq_rt::parallelFor(n, body);
    else
      body(0, n);
    return 0;
  }
  if (c.block == 1)
    c.lead = 3; // rows of the last dimension, strided
  int64_t rows = 1;
  for (int i = 0; i < c.lead; ++i)
    rows *= src->sizes[i];
  auto body = [&](int64_t r0, int64_t r1) { copyRows(c, r0, r1); };
  if (n * int64_t(sizeof(float)) >= kThreadedBytes && rows > 1)
    lq_rt::parallelFor(rows, body);
  else
    body(0, rows);
  return 0;
}
