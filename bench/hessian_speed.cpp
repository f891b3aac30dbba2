// Times GPTQ's Hessian accumulation H = Σ XᵀX for one K x K linear over
// `calls` calibration calls of M tokens (default: 128 samples of 512 tokens,
// K = 4096: a 65536 x 4096 activation matrix, 2·65536·4096² = 2.2 TFLOP as a
// full GEMM, half as a SYRK), as --calibrate="hessian=true" does per call:
//   new: lq_rt_gram_accumulate (lower-triangle block rows + fold in double),
//        what passes/Calibrate uses;
//   old: the previous code of passes/Calibrate: transpose, full K x K
//        lq_rt_sgemm_nt, fold all K² entries into the double sum.
// Also checks the two agree, and `peak` measures the machine's f32 FMA
// throughput (independent 16-lane FMA chains on every lq_rt thread), the
// ceiling the SYRK's GFLOP/s is to be read against.
// Usage: hessian_speed K M CALLS [new|old|both|peak]
#include "lq_rt/gram.h"
#include "lq_rt/kernels.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include <thread>

#include <sys/resource.h>

/// CPU seconds (user + system, all threads) of this process so far.
static double cpu() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

static double now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// `iters` rounds of 12 independent FMA chains of 16 floats (one AVX-512
/// register each; two AVX2 registers): 384 flops per round, no memory.
__attribute__((noinline)) static float fmaChains(int64_t iters, float seed) {
  typedef float v16 __attribute__((vector_size(64)));
  v16 acc[12], a, b;
  for (int j = 0; j < 16; ++j) {
    a[j] = 0.999f + seed * 1e-6f;
    b[j] = 1e-3f * float(j);
  }
  for (int i = 0; i < 12; ++i)
    acc[i] = a * float(i);
  for (int64_t it = 0; it < iters; ++it)
#pragma clang loop unroll(full)
    for (int i = 0; i < 12; ++i)
      acc[i] = acc[i] * a + b;
  float s = 0;
  for (int i = 0; i < 12; ++i)
    for (int j = 0; j < 16; ++j)
      s += acc[i][j];
  return s;
}

/// f32 FMA GFLOP/s with `threads` threads running fmaChains concurrently.
static double fmaPeak(int threads) {
  const int64_t iters = 200000000 / 12;
  std::vector<std::thread> ts;
  std::vector<float> sink(threads);
  double t0 = now();
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] { sink[t] = fmaChains(iters, float(t)); });
  for (auto &t : ts)
    t.join();
  double t = now() - t0;
  if (sink[0] == 12345.0f) // keep the result alive
    std::printf(" ");
  return double(iters) * 12 * 16 * 2 * threads / t * 1e-9;
}

int main(int argc, char **argv) {
  const int64_t K = argc > 1 ? atoll(argv[1]) : 4096;
  const int64_t M = argc > 2 ? atoll(argv[2]) : 512;
  const int calls = argc > 3 ? atoi(argv[3]) : 128;
  const char *which = argc > 4 ? argv[4] : "both";
  std::mt19937 rng(0);
  std::normal_distribution<float> d(0.0f, 1.0f);
  // A few distinct activation blocks, cycled (generating 65536 x 4096 random
  // floats would take longer than the accumulation).
  std::vector<std::vector<float>> xs(4, std::vector<float>(size_t(M * K)));
  for (auto &x : xs)
    for (float &v : x)
      v = d(rng);
  std::printf("K=%lld, %d calls of M=%lld tokens (%lld rows), %d threads, %s\n",
              (long long)K, calls, (long long)M, (long long)M * calls,
              lq_rt_get_num_threads(), lq_rt_isa());
  if (!strcmp(which, "peak")) {
    for (int t = 1; t <= lq_rt_get_num_threads(); ++t)
      std::printf("f32 FMA peak, %d thread(s): %.1f GFLOP/s\n", t, fmaPeak(t));
    return 0;
  }
  std::vector<double> hNew, hOld;
  if (!strcmp(which, "new") || !strcmp(which, "both")) {
    hNew.assign(size_t(K * K), 0.0);
    double t0 = now(), c0 = cpu();
    for (int c = 0; c < calls; ++c)
      lq_rt_gram_accumulate(M, K, xs[c % 4].data(), K, 1, hNew.data());
    lq_rt_gram_symmetrize(K, hNew.data());
    double t = now() - t0, c1 = cpu() - c0;
    std::printf("new (lq_rt_gram_accumulate, SYRK): %.2f s wall, %.2f CPU s, "
                "%.1f GFLOP/s (useful flops M*K*(K+1) per call)\n",
                t, c1, double(M) * K * (K + 1) * calls / t * 1e-9);
  }
  if (!strcmp(which, "old") || !strcmp(which, "both")) {
    hOld.assign(size_t(K * K), 0.0);
    std::vector<float> transposed(size_t(K * M)), gram(size_t(K * K));
    double t0 = now(), c0 = cpu();
    for (int c = 0; c < calls; ++c) {
      const float *base = xs[c % 4].data();
      for (int64_t m = 0; m < M; ++m)
        for (int64_t k = 0; k < K; ++k)
          transposed[k * M + m] = base[m * K + k];
      lq_rt_sgemm_nt(K, K, M, transposed.data(), M, transposed.data(), M,
                     gram.data(), K);
      for (int64_t i = 0; i < K * K; ++i)
        hOld[i] += gram[i];
    }
    double t = now() - t0, c1 = cpu() - c0;
    std::printf("old (full SGEMM + full fold): %.2f s wall, %.2f CPU s, "
                "%.1f GFLOP/s (2*M*K*K per call)\n",
                t, c1, 2.0 * M * K * K * calls / t * 1e-9);
  }
  if (!hNew.empty() && !hOld.empty()) {
    double maxRel = 0;
    for (int64_t i = 0; i < K * K; ++i)
      maxRel = std::max(maxRel, std::fabs(hNew[i] - hOld[i]) /
                                    (std::fabs(hOld[i]) + double(M) * calls));
    std::printf("max |new - old| / (|old| + rows): %.2e\n", maxRel);
  }
  return 0;
}
