//===- threads.cpp - lq_rt's thread pool ---------------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#include "threads.h"

#include "lq_rt/kernels.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace lq_rt {
namespace {

class Pool {
public:
  explicit Pool(int threads) : size(threads < 1 ? 1 : threads) {
    for (int i = 1; i < size; ++i)
      workers.emplace_back([this, i] { loop(i); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      stop = true;
      ++generation;
    }
    cv.notify_all();
    for (auto &t : workers)
      t.join();
  }

  void run(int64_t n, void (*fn)(void *, int64_t, int64_t), void *ctx) {
    int parts = int(std::min<int64_t>(size, n));
    if (parts <= 1) {
      fn(ctx, 0, n);
      return;
    }
    std::lock_guard<std::mutex> serialize(runMutex);
    job = {fn, ctx, n, parts};
    pending.store(parts - 1, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(mutex);
      generation.fetch_add(1, std::memory_order_release);
    }
    cv.notify_all();
    chunk(0);
    while (pending.load(std::memory_order_acquire) != 0)
      std::this_thread::yield();
  }

  int size;

private:
  struct Job {
    void (*fn)(void *, int64_t, int64_t);
    void *ctx;
    int64_t n;
    int parts;
  };

  void chunk(int i) {
    if (i >= job.parts)
      return;
    int64_t begin = job.n * i / job.parts, end = job.n * (i + 1) / job.parts;
    job.fn(job.ctx, begin, end);
  }

  void loop(int index) {
    uint64_t seen = 0;
    while (true) {
      // Spin for a while, then sleep until the next generation.
      auto spinUntil = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
      while (generation.load(std::memory_order_acquire) == seen &&
             std::chrono::steady_clock::now() < spinUntil)
        ;
      if (generation.load(std::memory_order_acquire) == seen) {
        std::unique_lock<std::mutex> lock(mutex);
        cv.wait(lock, [&] { return generation.load() != seen; });
      }
      seen = generation.load(std::memory_order_acquire);
      if (stop)
        return;
      if (index < job.parts) {
        chunk(index);
        pending.fetch_sub(1, std::memory_order_acq_rel);
      }
    }
  }

  std::vector<std::thread> workers;
  std::mutex mutex, runMutex;
  std::condition_variable cv;
  std::atomic<uint64_t> generation{0};
  std::atomic<int> pending{0};
  bool stop = false;
  Job job{};
};

int defaultThreads() {
  if (const char *env = std::getenv("LQ_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0)
      return n;
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw ? int(hw) : 1;
}

std::mutex poolMutex;
Pool *pool = nullptr;

Pool &getPool() {
  std::lock_guard<std::mutex> lock(poolMutex);
  if (!pool)
    pool = new Pool(defaultThreads());
  return *pool;
}

} // namespace

int numThreads() { return getPool().size; }

void parallelFor(int64_t n, void (*fn)(void *, int64_t, int64_t), void *ctx) {
  if (n <= 0)
    return;
  getPool().run(n, fn, ctx);
}

} // namespace lq_rt

extern "C" {

void lq_rt_set_num_threads(int n) {
  std::lock_guard<std::mutex> lock(lq_rt::poolMutex);
  delete lq_rt::pool;
  lq_rt::pool = new lq_rt::Pool(n < 1 ? 1 : n);
}

int lq_rt_get_num_threads(void) { return lq_rt::numThreads(); }

} // extern "C"
