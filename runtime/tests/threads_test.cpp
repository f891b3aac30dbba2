//===- threads_test.cpp - lq_rt's thread pool ------------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Every index of every job runs exactly once, whatever the pool size: more
// threads than cores (workers that wake after a job's parts were all
// claimed, or during the next job), jobs smaller than the pool, and many
// short jobs back to back as a decode step issues them. A part that calls
// parallelFor again, and a pool resized while another thread's jobs run,
// neither deadlock nor touch a freed pool.
//
//===----------------------------------------------------------------------===//

#include "../src/core/threads.h"
#include "lq_rt/kernels.h"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>
#include <vector>

namespace {

TEST(ThreadPool, EveryIndexOfEveryJobRunsOnce) {
  const int restore = lq_rt_get_num_threads();
  std::mt19937 rng(5);
  for (int threads : {1, 2, 3, 8}) {
    lq_rt_set_num_threads(threads);
    ASSERT_EQ(lq_rt_get_num_threads(), threads);
    for (int job = 0; job < 3000; ++job) {
      const int64_t n = 1 + int64_t(rng() % 11);
      std::vector<std::atomic<int>> hits(size_t(n + 1));
      std::atomic<int> badRange{0};
      lq_rt::parallelFor(n, [&](int64_t begin, int64_t end) {
        if (begin < 0 || end > n || begin >= end)
          badRange.fetch_add(1);
        for (int64_t i = begin; i < end && i <= n; ++i)
          hits[size_t(i)].fetch_add(1);
      });
      ASSERT_EQ(badRange.load(), 0) << "threads " << threads << " job " << job;
      for (int64_t i = 0; i < n; ++i)
        ASSERT_EQ(hits[size_t(i)].load(), 1)
            << "threads " << threads << " job " << job << " index " << i;
    }
  }
  lq_rt_set_num_threads(restore);
}

TEST(ThreadPool, ResultsAreVisibleToTheCaller) {
  const int restore = lq_rt_get_num_threads();
  lq_rt_set_num_threads(4);
  for (int job = 0; job < 500; ++job) {
    std::vector<int64_t> out(64, -1); // plain writes, read after the join
    lq_rt::parallelFor(int64_t(out.size()), [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        out[size_t(i)] = i * job;
    });
    for (int64_t i = 0; i < 64; ++i)
      ASSERT_EQ(out[size_t(i)], i * job);
  }
  lq_rt_set_num_threads(restore);
}

TEST(ThreadPool, NestedParallelForRunsInline) {
  const int restore = lq_rt_get_num_threads();
  for (int threads : {2, 4}) {
    lq_rt_set_num_threads(threads);
    for (int job = 0; job < 200; ++job) {
      const int64_t outer = 7, inner = 5;
      std::vector<std::atomic<int>> hits(size_t(outer * inner));
      lq_rt::parallelFor(outer, [&](int64_t b, int64_t e) {
        for (int64_t o = b; o < e; ++o)
          lq_rt::parallelFor(inner, [&](int64_t ib, int64_t ie) {
            for (int64_t i = ib; i < ie; ++i)
              hits[size_t(o * inner + i)].fetch_add(1);
          });
      });
      for (int64_t i = 0; i < outer * inner; ++i)
        ASSERT_EQ(hits[size_t(i)].load(), 1) << "threads " << threads << " job " << job;
    }
  }
  lq_rt_set_num_threads(restore);
}

TEST(ThreadPool, ResizingWhileAnotherThreadRunsJobs) {
  const int restore = lq_rt_get_num_threads();
  std::atomic<bool> stop{false};
  std::atomic<int> wrong{0}, jobs{0};
  std::thread runner([&] {
    std::vector<int64_t> out(97);
    while (!stop.load()) {
      const int j = jobs.fetch_add(1);
      lq_rt::parallelFor(int64_t(out.size()), [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i)
          out[size_t(i)] = i + j;
      });
      for (int64_t i = 0; i < int64_t(out.size()); ++i)
        if (out[size_t(i)] != i + j)
          wrong.fetch_add(1);
    }
  });
  for (int r = 0; r < 300 || jobs.load() < 1000; ++r)
    lq_rt_set_num_threads(1 + r % 4);
  stop.store(true);
  runner.join();
  EXPECT_EQ(wrong.load(), 0);
  lq_rt_set_num_threads(restore);
}

} // namespace
