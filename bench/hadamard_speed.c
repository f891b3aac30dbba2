// Throughput of lq_rt_hadamard_f32 (fast Walsh-Hadamard, <lq_rt/hadamard.h>)
// at decode (1 row) and prefill (128 rows) sizes, per ISA, single thread.
// Reported as GB/s of the in-place read+write traffic (8 bytes per value)
// and ns per call.  Build and run: bench/hadamard_speed.sh [BUILD_DIR]
#include <lq_rt/hadamard.h>
#include <lq_rt/kernels.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

int main(void) {
  const long sizes[][2] = {{4096, 0}, {11008, 0}, {14336, 0}, {768, 0}, {4096, 128}};
  const char *isas[] = {"avx512", "avx2", "scalar"};
  lq_rt_set_num_threads(1);
  printf("| isa | n | block | rows | ns/call | GB/s (r+w) |\n|---|---|---|---|---|---|\n");
  for (int i = 0; i < 3; ++i) {
    if (!lq_rt_force_isa(isas[i]))
      continue;
    for (int s = 0; s < 5; ++s)
      for (long rows = 1; rows <= 128; rows *= 128) {
        long n = sizes[s][0], block = sizes[s][1];
        float *x = malloc(sizeof(float) * n * rows);
        for (long j = 0; j < n * rows; ++j)
          x[j] = (float)(j % 7) - 3.0f;
        long reps = 200000000 / (n * rows) + 1;
        lq_rt_hadamard_f32(rows, n, block, x, n);
        double t0 = now();
        for (long r = 0; r < reps; ++r)
          lq_rt_hadamard_f32(rows, n, block, x, n);
        double dt = (now() - t0) / reps;
        printf("| %s | %ld | %ld | %ld | %.0f | %.1f |\n", isas[i], n,
               block ? block : n, rows, dt * 1e9, 8.0 * n * rows / dt / 1e9);
        free(x);
      }
  }
  return 0;
}
