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
#include <memory>
#include <thread>
#include <vector>

namespace lq_rt {
namespace {

/// A spin-wait hint (x86 PAUSE): frees the core's resources for the other
/// hyper-thread and saves power while a flag is polled.
inline void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/// A fixed set of workers that run parts of one job at a time.
///
/// Parts are claimed, not assigned: the caller and the workers take part
/// indices from one counter until none is left, so a worker that is not
/// running when a job is published (a busy or oversubscribed machine, where
/// a 2-thread decode step fell to 1/20 of its 1-thread speed waiting for a
/// descheduled worker at every GEMV) simply gets no part, and the caller
/// never waits for work that has not started. A decode step runs ~50 short
/// jobs, so publishing one costs an atomic store while the workers spin;
/// the mutex and the futex wake-up are paid only when some have gone to
/// sleep.
class Pool {
public:
  explicit Pool(int threads) : size(threads < 1 ? 1 : threads) {
    for (int i = 1; i < size; ++i)
      workers.emplace_back([this] { loop(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      stop.store(true, std::memory_order_relaxed);
      generation.fetch_add(1, std::memory_order_seq_cst);
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
    const uint64_t g = generation.load(std::memory_order_relaxed) + 1;
    // A seqlock publishes the job: ticket 0 while the fields are written,
    // then (tag(generation) << 32 | next part).
    job.ticket.store(0, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    job.fn.store(fn, std::memory_order_relaxed);
    job.ctx.store(ctx, std::memory_order_relaxed);
    job.n.store(n, std::memory_order_relaxed);
    job.parts.store(parts, std::memory_order_relaxed);
    job.done.store(0, std::memory_order_relaxed);
    job.ticket.store(tag(g) << 32, std::memory_order_release);
    if (sleeping.load(std::memory_order_seq_cst) == 0) {
      generation.fetch_add(1, std::memory_order_seq_cst);
      if (sleeping.load(std::memory_order_seq_cst) != 0) {
        std::lock_guard<std::mutex> lock(mutex);
        cv.notify_all();
      }
    } else {
      {
        std::lock_guard<std::mutex> lock(mutex);
        generation.fetch_add(1, std::memory_order_seq_cst);
      }
      cv.notify_all();
    }
    const Job j{fn, ctx, n, parts};
    work(j, g);
    // Parts still running on workers: short, so spin (a sched_yield per
    // check cost ~1 us), yielding only if they take long.
    for (int spins = 0; job.done.load(std::memory_order_acquire) != parts; ++spins)
      if (spins < 1000)
        cpuRelax();
      else
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
  /// The published job. Workers may read it while the caller writes the
  /// next one (a worker that wakes late), hence atomics and the seqlock.
  struct SharedJob {
    std::atomic<void (*)(void *, int64_t, int64_t)> fn{nullptr};
    std::atomic<void *> ctx{nullptr};
    std::atomic<int64_t> n{0};
    std::atomic<int> parts{0};
    std::atomic<int> done{0};
    std::atomic<uint64_t> ticket{0}; // tag(generation) << 32 | next part
  };

  /// The generation in the ticket's high 32 bits: never 0 (the seqlock's
  /// "being written"), wrapping after 2^32 - 1 jobs.
  static uint64_t tag(uint64_t g) { return g % 0xffffffffu + 1; }

  /// Claims and runs parts of job `j` of generation `g` until none is left.
  void work(const Job &j, uint64_t g) {
    uint64_t t = job.ticket.load(std::memory_order_relaxed);
    while ((t >> 32) == tag(g) && int64_t(t & 0xffffffffu) < j.parts) {
      if (!job.ticket.compare_exchange_weak(t, t + 1, std::memory_order_acq_rel,
                                            std::memory_order_relaxed))
        continue;
      const int64_t i = int64_t(t & 0xffffffffu);
      j.fn(j.ctx, j.n * i / j.parts, j.n * (i + 1) / j.parts);
      job.done.fetch_add(1, std::memory_order_acq_rel);
      t = job.ticket.load(std::memory_order_relaxed);
    }
  }

  void loop() {
    uint64_t seen = 0;
    while (true) {
      // Spin for ~200 us (the clock read once per 256 checks), then sleep
      // until the next generation.
      auto spinUntil = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
      for (unsigned i = 1; generation.load(std::memory_order_acquire) == seen; ++i) {
        cpuRelax();
        if (i % 256 == 0 && std::chrono::steady_clock::now() >= spinUntil)
          break;
      }
      if (generation.load(std::memory_order_acquire) == seen) {
        std::unique_lock<std::mutex> lock(mutex);
        sleeping.fetch_add(1, std::memory_order_seq_cst);
        cv.wait(lock, [&] { return generation.load() != seen; });
        sleeping.fetch_sub(1, std::memory_order_seq_cst);
      }
      seen = generation.load(std::memory_order_acquire);
      if (stop.load(std::memory_order_relaxed))
        return;
      // Read the job of generation `seen` (retry if the caller is writing
      // it; skip it if a later one replaced it: its parts were done).
      const uint64_t t0 = job.ticket.load(std::memory_order_acquire);
      if ((t0 >> 32) != tag(seen))
        continue;
      const Job j{job.fn.load(std::memory_order_relaxed),
                  job.ctx.load(std::memory_order_relaxed),
                  job.n.load(std::memory_order_relaxed),
                  job.parts.load(std::memory_order_relaxed)};
      std::atomic_thread_fence(std::memory_order_acquire);
      if ((job.ticket.load(std::memory_order_relaxed) >> 32) != tag(seen))
        continue;
      work(j, seen);
    }
  }

  std::vector<std::thread> workers;
  std::mutex mutex, runMutex;
  std::condition_variable cv;
  std::atomic<uint64_t> generation{0};
  std::atomic<int> sleeping{0}; // workers blocked on cv
  std::atomic<bool> stop{false}; // read by workers outside the mutex
  SharedJob job;
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

/// The current pool, shared: lq_rt_set_num_threads replaces it while
/// another thread may be inside a job, and the old pool is destroyed (its
/// workers joined) only when the last job holding it returns. The holder is
/// created on first use (safe from other static initializers) and never
/// destroyed: joining workers during static destruction (exit() from any
/// thread) could wait on a job that will never finish.
std::mutex poolMutex;
std::shared_ptr<Pool> &poolHolder() {
  static auto *holder = new std::shared_ptr<Pool>;
  return *holder;
}

std::shared_ptr<Pool> getPool() {
  std::lock_guard<std::mutex> lock(poolMutex);
  std::shared_ptr<Pool> &pool = poolHolder();
  if (!pool)
    pool = std::make_shared<Pool>(defaultThreads());
  return pool;
}

/// Set while this thread runs a part of a job (as the caller or a worker).
/// A kernel that calls parallelFor from inside a part runs the inner loop
/// inline: the pool runs one job at a time, and waiting for it there would
/// wait on the job this thread is part of.
thread_local bool inPart = false;

struct PartScope {
  bool outer = inPart;
  PartScope() { inPart = true; }
  ~PartScope() { inPart = outer; }
};

/// noexcept: a kernel part that throws (bad_alloc) ends the program here
/// rather than unwinding the caller out of a job its workers still run.
void runPart(void *c, int64_t b, int64_t e) noexcept {
  auto *inner = static_cast<std::pair<void (*)(void *, int64_t, int64_t), void *> *>(c);
  PartScope scope;
  inner->first(inner->second, b, e);
}

} // namespace

int numThreads() { return getPool()->size; }

void parallelFor(int64_t n, void (*fn)(void *, int64_t, int64_t), void *ctx) {
  if (n <= 0)
    return;
  if (inPart) {
    fn(ctx, 0, n);
    return;
  }
  std::pair<void (*)(void *, int64_t, int64_t), void *> inner{fn, ctx};
  getPool()->run(n, runPart, &inner);
}

} // namespace lq_rt

extern "C" {

void lq_rt_set_num_threads(int n) {
  auto fresh = std::make_shared<lq_rt::Pool>(n < 1 ? 1 : n);
  std::shared_ptr<lq_rt::Pool> old;
  {
    std::lock_guard<std::mutex> lock(lq_rt::poolMutex);
    old = std::move(lq_rt::poolHolder());
    lq_rt::poolHolder() = std::move(fresh);
  }
  // `old` is released here, outside the lock; a job still running on it
  // keeps it alive until that job returns.
}

int lq_rt_get_num_threads(void) { return lq_rt::numThreads(); }

} // extern "C"
