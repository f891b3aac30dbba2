//===- threads.h - lq_rt's thread pool -----------------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#ifndef LQ_RT_SRC_CORE_THREADS_H
#define LQ_RT_SRC_CORE_THREADS_H

#include <cstdint>

namespace lq_rt {

/// Worker threads used by kernels (including the caller). Defaults to the
/// machine's cores; LQ_NUM_THREADS or lq_rt_set_num_threads override it.
int numThreads();

/// Runs fn(ctx, begin, end) over [0, n) split into contiguous chunks, one per
/// thread, and returns when all are done. The caller and the workers claim
/// chunks from a shared counter, so a worker that is not running gets none
/// (the caller never waits for work that has not started). Workers spin
/// briefly before sleeping: a decode step is many calls of ~10 µs each,
/// where a futex wake-up would cost as much as the work.
void parallelFor(int64_t n, void (*fn)(void *ctx, int64_t begin, int64_t end),
                 void *ctx);

template <typename F> void parallelFor(int64_t n, const F &f) {
  parallelFor(
      n,
      [](void *c, int64_t b, int64_t e) { (*static_cast<const F *>(c))(b, e); },
      const_cast<F *>(&f));
}

} // namespace lq_rt

#endif // LQ_RT_SRC_CORE_THREADS_H
