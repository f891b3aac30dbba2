//===- gpu_check.cu - Check and time lq_rt's CUDA kernels on a GPU -*- CUDA -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Run by bench/gpu-check.sh on a machine with a GPU (needs neither gtest nor
// MLIR). Part 1 runs every kernel against a float64 CPU reference on fresh
// random inputs (odd sizes included) and prints PASS/FAIL per check with its
// relative error ||out-ref||/||ref|| and threshold. Part 2 times, with CUDA
// events (warm-up, median of many batches, inputs rotated over buffers much
// larger than L2 so the cache does not hide DRAM traffic):
//   - the device-to-device copy bandwidth (bytes read + written),
//   - the W4A16 GEMV (batch 1, 4 and 8) at 4096x4096, 4096x14336,
//     14336x4096 as a share of that bandwidth counted on weight bytes (codes +
//     scales), timed with host launches and with CUDA-graph replays, the
//     first (one-row-per-warp) kernel and the previous batch-1 choice next
//     to the automatic choice (with and without programmatic dependent
//     launch), a sweep over the int4 kernels' shapes, two floors for the
//     byte count (a read-only kernel over the same bytes, an empty kernel),
//     and cuBLASLt's f16 GEMV on the same shapes (4x the bytes),
//   - the NVFP4 / MXFP4 / FP8 E4M3 weight-only GEMV at batch 1 (4096x4096,
//     4096x14336) on the same bandwidth scale,
//   - the W4A16 tensor-core GEMM, the NVFP4 / MXFP4 / FP8 weight-only GEMMs,
//     W8A8 and FP8 GEMMs at 4096^3 as a share of the tensor-core rate
//     cuBLASLt reaches at f16 / int8 / fp8 here.
//   - decode attention over a quantized KV cache (gpu_check_kv.inc).
// Prints one markdown table and writes it to $OUT/gpu-check.md if OUT is set.
// Exit status: 0 all checks passed, 1 a check failed, 2 no GPU.
//
//===----------------------------------------------------------------------===//

#include "../tests/cuda_checks.h"
#include "../tests/cuda_kv_checks.h"

#include <cublasLt.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#define CK(x)                                                                  \
  do {                                                                         \
    cudaError_t e_ = (x);                                                      \
    if (e_ != cudaSuccess) {                                                   \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x,          \
                   cudaGetErrorString(e_));                                    \
      std::exit(3);                                                            \
    }                                                                          \
  } while (0)
#define LT(x)                                                                  \
  do {                                                                         \
    cublasStatus_t s_ = (x);                                                   \
    if (s_ != CUBLAS_STATUS_SUCCESS) {                                         \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x,          \
                   cublasLtGetStatusString(s_));                               \
      std::exit(3);                                                            \
    }                                                                          \
  } while (0)
#define LQ(x)                                                                  \
  do {                                                                         \
    lq_cuda_status_t s_ = (x);                                                 \
    if (s_ != LQ_CUDA_OK) {                                                    \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x,          \
                   lq_cuda_last_error());                                      \
      std::exit(3);                                                            \
    }                                                                          \
  } while (0)

// Benchmark hook of qgemv.cu (not in <lq_rt/cuda.h>): which int4 GEMV kernel
// lq_cuda_qgemv_nt runs. kernel 0: automatic; 1: one row per warp (the first
// version); 2: R rows per warp (CUDA cores); 3 / 4: tensor cores (mma.sync)
// with R 16-row tiles per warp, RAW / EXACT dequantization; U loads per
// round, KS warps along K (qgemv.cu's I4Config says which exist); 6 / 7:
// batch 1 with the activations in registers (qgemvI4K; ld.global.cs /
// ld.global.nc.L1::no_allocate weight loads; 8: no-allocate loads with the
// next round prefetched), R rows per round, U groups of R rows per block and
// KS warps per block (0: automatic).
extern "C" void lq_cuda_bench_qgemv_config(int kernel, int R, int U, int KS);
extern "C" void lq_cuda_bench_attention_q_splits(int minTiles,
                                                 int blocksPerSM);
extern "C" void lq_cuda_bench_attention_f32_split(int on);
extern "C" void lq_cuda_bench_attention_dec(int on);
// Programmatic dependent launch of qgemvI4K (sm_90+): 1 on (default), 0 off.
extern "C" void lq_cuda_bench_qgemv_pdl(int on);
extern "C" void lq_cuda_bench_qgemv_l2prefetch(int on);
// Prefill path of lq_cuda_qgemm_tc_nt (qgemm_tc.cu): 0 automatic, 1 the WMMA
// kernel, 2 dequantize + cuBLASLt f16; max_elems: weights per row block.
extern "C" void lq_cuda_bench_qgemm_tc_mode(int mode, int64_t max_elems);

namespace {

std::string table;
void row(const std::string &s) {
  table += s + "\n";
}
std::string fmt(const char *f, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, f);
  std::vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  return buf;
}

//===----------------------------------------------------------------------===//
// Part 1: checks
//===----------------------------------------------------------------------===//

int passed = 0, failed = 0;

void check(const std::string &name, double tol,
           const std::function<double(std::string *)> &run) {
  std::string err;
  const double e = run(&err);
  const bool ok = e < tol; // NaN and inf fail
  (ok ? passed : failed)++;
  std::printf("%s  %-58s rel.err %.2e  (threshold %.0e)%s%s\n",
              ok ? "PASS" : "FAIL", name.c_str(), e, tol,
              err.empty() ? "" : "  ", err.c_str());
  std::fflush(stdout);
}

void runChecks(int cc) {
  using lqref::QKernel;
  const auto F16 = LQ_DTYPE_F16, F32 = LQ_DTYPE_F32;
  struct Q {
    const char *name;
    int64_t M, N, K;
    lq_format_t f;
    int bits;
    int64_t g;
    bool asym;
    lq_dtype_t a, c;
    QKernel k;
    double tol;
  } qs[] = {
      {"gemv int4 sym g128 f16 (half2)", 1, 333, 4096, LQ_FORMAT_INT, 4, 128,
       false, F16, F16, QKernel::Gemv, 5e-3},
      {"gemv int4 asym g64 f16 M=3 (half2)", 3, 257, 1024, LQ_FORMAT_INT, 4,
       64, true, F16, F32, QKernel::Gemv, 5e-3},
      {"gemv int8 sym g32 f16 M=8 (half2)", 8, 100, 512, LQ_FORMAT_INT, 8, 32,
       false, F16, F32, QKernel::Gemv, 5e-3},
      {"gemv int8 asym g256 f16 M=5 (half2)", 5, 77, 768, LQ_FORMAT_INT, 8,
       256, true, F16, F16, QKernel::Gemv, 5e-3},
      {"gemv nf4 g64 f16 M=2 (half2)", 2, 129, 2048, LQ_FORMAT_NF4, 4, 64,
       false, F16, F32, QKernel::Gemv, 5e-3},
      {"gemv int4 sym per-row f32 K=1001 (general)", 1, 101, 1001,
       LQ_FORMAT_INT, 4, 0, false, F32, F32, QKernel::Gemv, 1e-5},
      {"gemv int4 asym g50 f32 M=7 (general)", 7, 45, 250, LQ_FORMAT_INT, 4,
       50, true, F32, F32, QKernel::Gemv, 1e-5},
      {"gemv int8 asym g33 f32 K=99 (general)", 4, 33, 99, LQ_FORMAT_INT, 8,
       33, true, F32, F32, QKernel::Gemv, 1e-5},
      {"gemv nf4 g26 f32 (general)", 6, 31, 130, LQ_FORMAT_NF4, 4, 26, false,
       F32, F32, QKernel::Gemv, 1e-5},
      {"tc gemm int4 sym g128 f16 200x300x512", 200, 300, 512, LQ_FORMAT_INT,
       4, 128, false, F16, F32, QKernel::TensorCore, 3e-3},
      {"tc gemm int4 asym g50 f32 77x130x250", 77, 130, 250, LQ_FORMAT_INT, 4,
       50, true, F32, F32, QKernel::TensorCore, 3e-3},
      {"tc gemm int8 asym g32 f16 129x65x96", 129, 65, 96, LQ_FORMAT_INT, 8,
       32, true, F16, F16, QKernel::TensorCore, 3e-3},
      {"tc gemm nf4 per-row f32 50x200x333", 50, 200, 333, LQ_FORMAT_NF4, 4, 0,
       false, F32, F16, QKernel::TensorCore, 3e-3},
      {"tc gemm int4 g128 f16 1024x1024x1024", 1024, 1024, 1024,
       LQ_FORMAT_INT, 4, 128, false, F16, F16, QKernel::TensorCore, 3e-3},
  };
  uint32_t seed = 100;
  for (const Q &q : qs)
    check(q.name, q.tol, [&](std::string *e) {
      return lqref::checkQGemm(seed++, q.M, q.N, q.K, q.f, q.bits, q.g,
                               q.asym, q.a, q.c, q.k, e);
    });
  // The prefill GEMM's dequantize + cuBLASLt path, forced (also below its
  // automatic M >= 128), in row blocks of 256 rows (the last one partial):
  // int4 / int8 / NF4, symmetric and asymmetric, f16 and f32 outputs; then
  // the WMMA kernel on the shape that now takes the cuBLASLt path.
  const Q dq[] = {
      {"dq gemm int4 asym g40 f32 130x600x520", 130, 600, 520, LQ_FORMAT_INT,
       4, 40, true, F16, F32, QKernel::TensorCore, 3e-3},
      {"dq gemm int4 sym g128 f16 257x1024x1024", 257, 1024, 1024,
       LQ_FORMAT_INT, 4, 128, false, F16, F16, QKernel::TensorCore, 3e-3},
      {"dq gemm int8 sym g32 f16 64x264x256", 64, 264, 256, LQ_FORMAT_INT, 8,
       32, false, F16, F16, QKernel::TensorCore, 3e-3},
      {"dq gemm int8 asym g64 f32 129x392x192", 129, 392, 192, LQ_FORMAT_INT,
       8, 64, true, F16, F32, QKernel::TensorCore, 3e-3},
      {"dq gemm nf4 per-row f32 200x136x776", 200, 136, 776, LQ_FORMAT_NF4, 4,
       0, false, F16, F32, QKernel::TensorCore, 3e-3},
  };
  for (const Q &q : dq) {
    lq_cuda_bench_qgemm_tc_mode(2, 256 * q.K);
    check(q.name, q.tol, [&](std::string *e) {
      return lqref::checkQGemm(seed++, q.M, q.N, q.K, q.f, q.bits, q.g,
                               q.asym, q.a, q.c, q.k, e);
    });
  }
  lq_cuda_bench_qgemm_tc_mode(1, 0);
  check("tc gemm (WMMA forced) int4 g128 f16 1024x1024x1024", 3e-3,
        [&](std::string *e) {
          return lqref::checkQGemm(seed++, 1024, 1024, 1024, LQ_FORMAT_INT, 4,
                                   128, false, F16, F16, QKernel::TensorCore,
                                   e);
        });
  lq_cuda_bench_qgemm_tc_mode(0, 0);
  // The int4 GEMV in each of its kernel shapes (qgemv.cu's bench hook),
  // the one-row kernel (R = -1) and the automatic choice (R = 0) included:
  // odd N (rows past the end of the last block), chunks per row not a
  // multiple of the lanes, a group of 3 chunks (no shift), M < the template's.
  const Q i4[] = {
      {"M=1 333x4096 g128 sym", 1, 333, 4096, LQ_FORMAT_INT, 4, 128, false,
       F16, F16, QKernel::Gemv, 5e-3},
      {"M=1 1001x3040 g32 asym", 1, 1001, 3040, LQ_FORMAT_INT, 4, 32, true,
       F16, F32, QKernel::Gemv, 5e-3},
      {"M=1 77x1440 g96 sym", 1, 77, 1440, LQ_FORMAT_INT, 4, 96, false, F16,
       F32, QKernel::Gemv, 5e-3},
      {"M=1 130x14336 g128 sym", 1, 130, 14336, LQ_FORMAT_INT, 4, 128, false,
       F16, F16, QKernel::Gemv, 5e-3},
      {"M=3 257x1024 g64 asym", 3, 257, 1024, LQ_FORMAT_INT, 4, 64, true, F16,
       F32, QKernel::Gemv, 5e-3},
      {"M=2 99x2048 g128 sym", 2, 99, 2048, LQ_FORMAT_INT, 4, 128, false, F16,
       F16, QKernel::Gemv, 5e-3},
      {"M=5 65x1440 g96 asym", 5, 65, 1440, LQ_FORMAT_INT, 4, 96, true, F16,
       F16, QKernel::Gemv, 5e-3},
      {"M=8 200x4096 g128 sym", 8, 200, 4096, LQ_FORMAT_INT, 4, 128, false,
       F16, F32, QKernel::Gemv, 5e-3},
      {"M=1 250x1408 g128 asym", 1, 250, 1408, LQ_FORMAT_INT, 4, 128, true,
       F16, F16, QKernel::Gemv, 5e-3},
      {"M=7 47x2304 g256 asym", 7, 47, 2304, LQ_FORMAT_INT, 4, 256, true, F16,
       F32, QKernel::Gemv, 5e-3},
      {"M=4 100x1024 per-row sym", 4, 100, 1024, LQ_FORMAT_INT, 4, 0, false,
       F16, F16, QKernel::Gemv, 5e-3},
      {"M=1 300x512 g128 sym", 1, 300, 512, LQ_FORMAT_INT, 4, 128, false, F16,
       F32, QKernel::Gemv, 5e-3},
  };
  // qgemvI4K (kernels 6, 7, 8): automatic shape, one group per block, two
  // warps (several K slices, the last one partial), 16 and 5 warps, three
  // groups per block (rows past N inside a block).
  const int cfgs[][4] = {
      {0, 0, 0, 0}, {1, 0, 0, 0}, {2, 2, 2, 1},  {2, 2, 2, 2}, {2, 2, 2, 8},
      {2, 4, 2, 1}, {2, 4, 2, 4}, {3, 1, 2, 1},  {3, 1, 2, 4}, {3, 1, 2, 8},
      {4, 1, 2, 1}, {4, 1, 2, 8}, {7, 8, 0, 0},  {6, 8, 0, 0}, {7, 4, 0, 0},
      {6, 4, 1, 2}, {7, 8, 1, 2}, {7, 8, 3, 16}, {6, 8, 2, 5}, {7, 4, 3, 1},
      {8, 8, 0, 0}, {8, 4, 0, 0}, {8, 8, 1, 2},  {8, 4, 3, 5}};
  for (auto &cf : cfgs) {
    // R = 4 (CUDA cores) and qgemvI4K exist for batch 1 only (other
    // batches take the automatic choice); the tensor-core kernels need
    // groups of whole 128-code blocks.
    const bool batch1Only = (cf[0] == 2 && cf[1] == 4) || cf[0] >= 6;
    const bool mma = cf[0] >= 3;
    lq_cuda_bench_qgemv_config(cf[0], cf[1], cf[2], cf[3]);
    for (const Q &q : i4) {
      const int64_t g = q.g <= 0 ? q.K : q.g;
      if ((batch1Only && q.M > 1) || (mma && g % 128 != 0))
        continue;
      check(fmt("gemv int4 k%d R=%d U=%d KS=%d %s", cf[0], cf[1], cf[2],
                cf[3], q.name),
            q.tol, [&](std::string *e) {
              return lqref::checkQGemm(seed++, q.M, q.N, q.K, q.f, q.bits,
                                       q.g, q.asym, q.a, q.c, q.k, e);
            });
    }
  }
  // The batch-1 cases of `i4` through qgemvI4K (kernel 7, R = 8) as the
  // bench hooks set it up, named by `variant`.
  auto checkI4KBatch1 = [&](const char *variant) {
    lq_cuda_bench_qgemv_config(7, 8, 0, 0);
    for (const Q &q : i4) {
      if (q.M > 1)
        continue;
      check(fmt("gemv int4 k7 R=8 %s %s", variant, q.name), q.tol,
            [&](std::string *e) {
              return lqref::checkQGemm(seed++, q.M, q.N, q.K, q.f, q.bits,
                                       q.g, q.asym, q.a, q.c, q.k, e);
            });
    }
  };
  // qgemvI4K without programmatic dependent launch.
  lq_cuda_bench_qgemv_pdl(0);
  checkI4KBatch1("no PDL");
  // Dependent GEMVs on one stream (the second reads the first's output):
  // with programmatic dependent launch, then without, then the old kernel.
  const int chainCfgs[][5] = {{7, 8, 0, 0, 1},
                              {6, 4, 1, 2, 1},
                              {8, 8, 1, 2, 1},
                              {7, 8, 0, 0, 0},
                              {2, 2, 2, 1, 1}};
  for (auto &cf : chainCfgs) {
    lq_cuda_bench_qgemv_config(cf[0], cf[1], cf[2], cf[3]);
    lq_cuda_bench_qgemv_pdl(cf[4]);
    check(fmt("gemv int4 chain k%d R=%d U=%d KS=%d PDL=%d 4096->1408->333",
              cf[0], cf[1], cf[2], cf[3], cf[4]),
          5e-3, [&](std::string *e) {
            return lqref::checkGemvChain(seed++, 4096, 1408, 333, 20, e);
          });
  }
  lq_cuda_bench_qgemv_pdl(1);
  // The L2 bulk prefetch experiment: the same answers (it only moves bytes
  // into L2), alone and in a dependent chain.
  lq_cuda_bench_qgemv_l2prefetch(1);
  checkI4KBatch1("L2 prefetch");
  check("gemv int4 chain k7 R=8 L2 prefetch 4096->1408->333", 5e-3,
        [&](std::string *e) {
          return lqref::checkGemvChain(seed++, 4096, 1408, 333, 20, e);
        });
  lq_cuda_bench_qgemv_l2prefetch(0);
  lq_cuda_bench_qgemv_config(0, 0, 0, 0);
  // FP4 E2M1 (NVFP4 groups of 16, MXFP4 groups of 32) and FP8 (per channel,
  // groups of 128) weights through lq_cuda_qgemm_nt's automatic choice: the
  // half2 GEMV at every batch 1..8 (odd N), the WMMA GEMM at M = 77 and
  // dequantize + cuBLASLt at M = 256; then the general f32 GEMV (f32
  // activations, odd K) and the WMMA kernel with f32 activations. Thresholds
  // per format: the half2 paths sum products in f16 over 16-32 elements (FP8
  // as value * 2^-8, E5M2's up to 224), the GEMMs round w and A to f16.
  struct FpFormat {
    const char *name;
    lq_format_t f;
    int bits;
    int64_t g;
    double tolHalf, tolF32, tolTc;
  } fps[] = {
      {"nvfp4 g16", LQ_FORMAT_NVFP4, 4, 16, 5e-3, 1e-5, 3e-3},
      {"mxfp4 g32", LQ_FORMAT_MXFP4, 4, 32, 5e-3, 1e-5, 3e-3},
      {"fp8 e4m3 per-channel", LQ_FORMAT_FP8_E4M3, 8, 0, 5e-3, 1e-5, 3e-3},
      {"fp8 e4m3 g128", LQ_FORMAT_FP8_E4M3, 8, 128, 5e-3, 1e-5, 3e-3},
      {"fp8 e5m2 g128", LQ_FORMAT_FP8_E5M2, 8, 128, 6e-3, 1e-5, 3e-3},
  };
  for (const FpFormat &ff : fps) {
    for (int64_t M : {1, 2, 3, 4, 5, 6, 7, 8, 77, 256}) {
      const bool gemv = M <= 8;
      const int64_t N = gemv ? 333 : 259, K = gemv ? 2048 : 1024;
      check(fmt("%s %s f16 M=%lld %lldx%lld", gemv ? "gemv" : "gemm", ff.name,
                (long long)M, (long long)N, (long long)K),
            gemv ? ff.tolHalf : ff.tolTc, [&](std::string *e) {
              return lqref::checkQGemm(seed++, M, N, K, ff.f, ff.bits, ff.g,
                                       M == 3, F16, M % 2 ? F16 : F32,
                                       QKernel::Auto, e);
            });
    }
    const int64_t Kodd = ff.g == 16 ? 400 : ff.g == 32 ? 416 : 384;
    check(fmt("gemv %s f32 M=3 (general) 101x%lld", ff.name, (long long)Kodd),
          ff.tolF32, [&](std::string *e) {
            return lqref::checkQGemm(seed++, 3, 101, Kodd, ff.f, ff.bits, ff.g,
                                     false, F32, F32, QKernel::Gemv, e);
          });
    check(fmt("tc gemm %s f32 45x99x%lld (WMMA)", ff.name, (long long)Kodd),
          ff.tolTc, [&](std::string *e) {
            return lqref::checkQGemm(seed++, 45, 99, Kodd, ff.f, ff.bits, ff.g,
                                     false, F32, F32, QKernel::TensorCore, e);
          });
  }
  // FP4 at batch 1 runs the int4 batch-1 kernel (qgemvI4K) with E2M1
  // dequantization: its shapes forced through the bench hook (automatic,
  // one group per block, several K slices, rows past N inside a block, 3
  // groups per block) and the one-row-per-warp table kernel (k1), on odd N,
  // NVFP4 (two scales per chunk, also groups of 48) and MXFP4 (g32, g96).
  const int fp4Cfgs[][4] = {{0, 0, 0, 0}, {1, 0, 0, 0}, {7, 8, 0, 0},
                            {8, 4, 0, 0}, {6, 8, 2, 5}, {7, 4, 3, 1},
                            {8, 8, 1, 2}};
  struct Fp4Shape {
    int64_t N, K, g;
    lq_format_t f;
  } fp4Shapes[] = {{333, 4096, 16, LQ_FORMAT_NVFP4},
                   {77, 1440, 48, LQ_FORMAT_NVFP4},
                   {1001, 3040, 32, LQ_FORMAT_MXFP4},
                   {130, 14336, 32, LQ_FORMAT_MXFP4},
                   {99, 1440, 96, LQ_FORMAT_MXFP4}};
  for (auto &cf : fp4Cfgs) {
    lq_cuda_bench_qgemv_config(cf[0], cf[1], cf[2], cf[3]);
    for (const Fp4Shape &sh : fp4Shapes)
      check(fmt("gemv %s g%lld k%d R=%d U=%d KS=%d M=1 %lldx%lld",
                sh.f == LQ_FORMAT_NVFP4 ? "nvfp4" : "mxfp4", (long long)sh.g,
                cf[0], cf[1], cf[2], cf[3], (long long)sh.N,
                (long long)sh.K),
            5e-3, [&](std::string *e) {
              return lqref::checkQGemm(seed++, 1, sh.N, sh.K, sh.f, 4, sh.g,
                                       false, F16, F16, QKernel::Gemv, e);
            });
  }
  lq_cuda_bench_qgemv_config(0, 0, 0, 0);
  check("_mlir_ciface_lq_rt_cuda_linear_q_f32 nvfp4 g16 M=3", 1e-5,
        [](std::string *e) {
          return lqref::checkLinearQCiface(34, 3, 65, 256, LQ_FORMAT_NVFP4, 4,
                                           16, false, e);
        });
  check("_mlir_ciface_lq_rt_cuda_linear_q_f32 fp8 e4m3 M=40 (tc)", 3e-3,
        [](std::string *e) {
          return lqref::checkLinearQCiface(35, 40, 65, 256,
                                           LQ_FORMAT_FP8_E4M3, 8, 0, false, e);
        });
  check("w8a8 per-token/channel f32 128x256x512", 1e-5, [](std::string *e) {
    return lqref::checkLowpGemm(7, false, 128, 256, 512, true, true,
                                LQ_DTYPE_F32, e);
  });
  check("w8a8 per-tensor/channel f16 33x65x70 (fallback)", 1e-3,
        [](std::string *e) {
          return lqref::checkLowpGemm(8, false, 33, 65, 70, false, true,
                                      LQ_DTYPE_F16, e);
        });
  if (cc >= 89) {
    // Hopper's FP8 tensor cores accumulate with reduced precision (about 14
    // bits of mantissa per the DeepSeek-V3 report, 2024, sec. 3.3.2), so
    // cuBLASLt's FP8 GEMM lands near 2e-4 at K=512, not at f32's 1e-7.
    check("fp8 e4m3 per-tensor f32 128x256x512", 1e-3, [](std::string *e) {
      return lqref::checkLowpGemm(9, true, 128, 256, 512, false, false,
                                  LQ_DTYPE_F32, e);
    });
    check("fp8 e4m3 per-token/channel f16 64x96x128", 2e-3,
          [](std::string *e) {
            return lqref::checkLowpGemm(10, true, 64, 96, 128, true, true,
                                        LQ_DTYPE_F16, e);
          });
    check("fp8 e4m3 per-token f32 31x45x50 (fallback)", 1e-4,
          [](std::string *e) {
            return lqref::checkLowpGemm(11, true, 31, 45, 50, true, false,
                                        LQ_DTYPE_F32, e);
          });
  }
  for (int64_t n : {1, 2, 64, 4096, 8192, 32768}) {
    check(fmt("hadamard f32 n=%lld", (long long)n), 1e-5,
          [n](std::string *e) {
            return lqref::checkHadamard(uint32_t(n), 3, n, LQ_DTYPE_F32,
                                        false, e);
          });
    check(fmt("hadamard f16 in place n=%lld", (long long)n), 2e-3,
          [n](std::string *e) {
            return lqref::checkHadamard(uint32_t(n + 1), 2, n, LQ_DTYPE_F16,
                                        true, e);
          });
  }
  // Float attention through attentionQ<kF32> (the default), through its
  // one-block-per-query-row kernel, and with one tile per key split.
  for (int mode = 0; mode < 3; ++mode) {
    lq_cuda_bench_attention_f32_split(mode != 1);
    lq_cuda_bench_attention_q_splits(mode == 2 ? 1 : 0, mode == 2 ? 64 : 0);
    const char *m = mode == 0   ? "split kernel"
                    : mode == 1 ? "one block per row"
                                : "split kernel, 1 tile per split";
    const uint32_t sd = 21 + 100 * uint32_t(mode);
    check(fmt("attention causal GQA 2x4/2x5x9 D16 Dv12 (%s)", m), 1e-5,
          [sd](std::string *e) {
            return lqref::checkAttention(sd, 2, 4, 2, 5, 9, 16, 12, true, -1,
                                         false, e);
          });
    check(fmt("attention full 1x3x7x7 D33 Dv5 (%s)", m), 1e-5,
          [sd](std::string *e) {
            return lqref::checkAttention(sd + 1, 1, 3, 3, 7, 7, 33, 5, false,
                                         -1, false, e);
          });
    check(fmt("attention_at position=5 of 16 keys (%s)", m), 1e-5,
          [sd](std::string *e) {
            return lqref::checkAttention(sd + 2, 1, 4, 1, 2, 16, 8, 8, true, 5,
                                         false, e);
          });
    check(fmt("attention causal S=3000 (%s)", m), 1e-5, [sd](std::string *e) {
      return lqref::checkAttention(sd + 4, 1, 2, 1, 3, 3000, 64, 64, true, -1,
                                   false, e);
    });
    check(fmt("attention D35 Dv32 (K/V tile after 35 query floats) (%s)", m),
          1e-5, [sd](std::string *e) {
            return lqref::checkAttention(sd + 7, 1, 2, 2, 1, 50, 35, 32, true,
                                         -1, false, e);
          });
    check(fmt("attention decode T=2 Hq12/Hkv3 D128 S777 (%s)", m), 3e-5,
          [sd](std::string *e) {
            return lqref::checkAttention(sd + 6, 1, 12, 3, 2, 777, 128, 128,
                                         true, -1, false, e);
          });
    check(fmt("attention decode GQA Hq32/Hkv8 D128 S4096 (%s)", m), 3e-5,
          [sd](std::string *e) {
            return lqref::checkAttention(sd + 5, 1, 32, 8, 1, 4096, 128, 128,
                                         true, -1, false, e);
          });
    check(fmt("_mlir_ciface_lq_rt_cuda_attention_f32 (%s)", m), 1e-5,
          [sd](std::string *e) {
            return lqref::checkAttention(sd + 3, 2, 2, 1, 4, 6, 8, 8, true, -1,
                                         true, e);
          });
  }
  lq_cuda_bench_attention_f32_split(1);
  lq_cuda_bench_attention_q_splits(0, 0);
  check("_mlir_ciface_lq_rt_cuda_linear_f32 5x37x129", 1e-5,
        [](std::string *e) {
          return lqref::checkLinearF32Ciface(31, 5, 37, 129, e);
        });
  check("_mlir_ciface_lq_rt_cuda_linear_q_f32 int4 asym M=3", 1e-5,
        [](std::string *e) {
          return lqref::checkLinearQCiface(32, 3, 65, 256, LQ_FORMAT_INT, 4,
                                           64, true, e);
        });
  check("_mlir_ciface_lq_rt_cuda_linear_q_f32 int8 M=40 (tc)", 3e-3,
        [](std::string *e) {
          return lqref::checkLinearQCiface(33, 40, 65, 256, LQ_FORMAT_INT, 8,
                                           32, false, e);
        });
}

//===----------------------------------------------------------------------===//
// Part 2: timings
//===----------------------------------------------------------------------===//

__global__ void fillBytes(uint32_t *p, size_t words, uint32_t seed) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < words;
       i += size_t(gridDim.x) * blockDim.x) {
    uint32_t x = uint32_t(i) * 2654435761u ^ seed;
    x ^= x >> 13;
    x *= 0x5bd1e995u;
    x ^= x >> 15;
    p[i] = x;
  }
}
/// Random values in [lo, hi) as f32 (f16 = false) or f16.
__global__ void fillReal(void *p, size_t n, bool f16, float lo, float hi,
                         uint32_t seed) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n;
       i += size_t(gridDim.x) * blockDim.x) {
    uint32_t x = uint32_t(i) * 2654435761u ^ seed;
    x ^= x >> 13;
    x *= 0x5bd1e995u;
    x ^= x >> 15;
    const float v = lo + (hi - lo) * float(x >> 8) * (1.f / 16777216.f);
    if (f16)
      static_cast<__half *>(p)[i] = __float2half(v);
    else
      static_cast<float *>(p)[i] = v;
  }
}
/// The floor of a batch-1 GEMV: read a (na 16-byte words) and b (nb) once,
/// 16-byte loads that bypass L1 (as qgemvI4K's), four in flight per
/// thread; nothing is written unless the xor of everything is a magic value.
__device__ __forceinline__ uint4 ldNoAlloc(const uint4 *p) {
  uint4 v;
  asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(p));
  return v;
}
__global__ void readOnly(const uint4 *a, size_t na, const uint4 *b, size_t nb,
                         uint32_t *sink) {
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  uint32_t x = 0;
  for (; i + 3 * stride < na; i += 4 * stride) {
    uint4 v[4];
#pragma unroll
    for (int u = 0; u < 4; ++u)
      v[u] = ldNoAlloc(a + i + u * stride);
#pragma unroll
    for (int u = 0; u < 4; ++u)
      x ^= v[u].x ^ v[u].y ^ v[u].z ^ v[u].w;
  }
  for (; i < na; i += stride) {
    const uint4 v = ldNoAlloc(a + i);
    x ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  for (i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < nb; i += stride) {
    const uint4 v = ldNoAlloc(b + i);
    x ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  if (x == 0x9E3779B9u)
    *sink = x;
}
__global__ void emptyKernel() {}

/// E4M3 codes with no NaN (exponent 1111 avoided).
__global__ void fixFp8(uint8_t *p, size_t n) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n;
       i += size_t(gridDim.x) * blockDim.x)
    if ((p[i] & 0x78) == 0x78)
      p[i] &= 0xF7;
}

void *devRandom(size_t bytes, uint32_t seed) {
  void *p = nullptr;
  CK(cudaMalloc(&p, (bytes + 3) & ~size_t(3)));
  fillBytes<<<1024, 256>>>(static_cast<uint32_t *>(p), (bytes + 3) / 4, seed);
  CK(cudaGetLastError());
  return p;
}
void *devReal(size_t n, bool f16, float lo, float hi, uint32_t seed) {
  void *p = nullptr;
  CK(cudaMalloc(&p, n * (f16 ? 2 : 4)));
  fillReal<<<1024, 256>>>(p, n, f16, lo, hi, seed);
  CK(cudaGetLastError());
  return p;
}

cudaStream_t stream;
cudaEvent_t ev0, ev1;

/// Median time in microseconds of one call of `launch(i)`, i rotating over
/// the buffers: `reps` batches of `batch` back-to-back calls between events.
double timeUs(const std::function<void(int)> &launch, int warm, int reps,
              int batch) {
  int i = 0;
  for (int w = 0; w < warm; ++w)
    launch(i++);
  CK(cudaStreamSynchronize(stream));
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    CK(cudaEventRecord(ev0, stream));
    for (int b = 0; b < batch; ++b)
      launch(i++);
    CK(cudaEventRecord(ev1, stream));
    CK(cudaEventSynchronize(ev1));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, ev0, ev1));
    t.push_back(1000.0 * ms / batch);
  }
  CK(cudaGetLastError());
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

/// Like timeUs, but the batch of `batch` calls is captured once into a CUDA
/// graph and its replays are timed: the launch cost on the host (which
/// bounds back-to-back launches of a few-microsecond kernel) drops out and
/// what remains is the kernels and the gaps between them on the device.
double timeGraphUs(const std::function<void(int)> &launch, int reps,
                   int batch) {
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  CK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeRelaxed));
  for (int b = 0; b < batch; ++b)
    launch(b);
  CK(cudaStreamEndCapture(stream, &graph));
  CK(cudaGraphInstantiate(&exec, graph, 0));
  for (int w = 0; w < 3; ++w)
    CK(cudaGraphLaunch(exec, stream));
  CK(cudaStreamSynchronize(stream));
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    CK(cudaEventRecord(ev0, stream));
    CK(cudaGraphLaunch(exec, stream));
    CK(cudaEventRecord(ev1, stream));
    CK(cudaEventSynchronize(ev1));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, ev0, ev1));
    t.push_back(1000.0 * ms / batch);
  }
  CK(cudaGetLastError());
  CK(cudaGraphExecDestroy(exec));
  CK(cudaGraphDestroy(graph));
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

/// One cuBLASLt matmul set up once (descriptors, algorithm), then run many
/// times: row-major D[M][N] = A[M][K] . B[N][K]^T (the "TN" layout).
struct LtRun {
  cublasLtHandle_t h;
  cublasLtMatmulDesc_t desc;
  cublasLtMatrixLayout_t la, lb, lc;
  cublasLtMatmulAlgo_t algo;
  void *ws;
  size_t wsBytes = 32u << 20;
  const void *alpha, *beta;
  LtRun(cublasLtHandle_t handle, cudaDataType_t ab, cudaDataType_t c,
        cublasComputeType_t ct, cudaDataType_t st, int64_t M, int64_t N,
        int64_t K, const void *alphaP, const void *betaP)
      : h(handle), alpha(alphaP), beta(betaP) {
    LT(cublasLtMatmulDescCreate(&desc, ct, st));
    cublasOperation_t T = CUBLAS_OP_T, Nn = CUBLAS_OP_N;
    LT(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &T,
                                      sizeof T));
    LT(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &Nn,
                                      sizeof Nn));
    LT(cublasLtMatrixLayoutCreate(&la, ab, K, N, K));
    LT(cublasLtMatrixLayoutCreate(&lb, ab, K, M, K));
    LT(cublasLtMatrixLayoutCreate(&lc, c, N, M, N));
    cublasLtMatmulPreference_t pref;
    LT(cublasLtMatmulPreferenceCreate(&pref));
    LT(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &wsBytes,
        sizeof wsBytes));
    cublasLtMatmulHeuristicResult_t r;
    int found = 0;
    LT(cublasLtMatmulAlgoGetHeuristic(h, desc, la, lb, lc, lc, pref, 1, &r,
                                      &found));
    if (!found) {
      std::fprintf(stderr, "cuBLASLt found no algorithm\n");
      std::exit(3);
    }
    algo = r.algo;
    cublasLtMatmulPreferenceDestroy(pref);
    CK(cudaMalloc(&ws, wsBytes));
  }
  void run(const void *A, const void *B, void *D) {
    LT(cublasLtMatmul(h, desc, alpha, B, la, A, lb, beta, D, lc, D, lc, &algo,
                      ws, wsBytes, stream));
  }
};

// Attention over a quantized KV cache: runKvChecks, runKvTimings.
#include "gpu_check_kv.inc"

void runTimings(const lq_cuda_device_info_t &info) {
  const size_t l2 = size_t(info.l2_cache);
  cublasLtHandle_t lt;
  LT(cublasLtCreate(&lt));

  // Copy bandwidth: 1 GiB device to device, counting read + write.
  const size_t copyBytes = size_t(1) << 30;
  void *src = devRandom(copyBytes, 1), *dst = nullptr;
  CK(cudaMalloc(&dst, copyBytes));
  const double copyUs = timeUs(
      [&](int) {
        CK(cudaMemcpyAsync(dst, src, copyBytes, cudaMemcpyDeviceToDevice,
                           stream));
      },
      2, 10, 1);
  const double copyBW = 2.0 * copyBytes / (copyUs * 1e-6) / 1e9; // GB/s
  CK(cudaFree(src));
  CK(cudaFree(dst));
  row("| what | shape | time (us) | rate | reference | ratio |");
  row("|---|---|---|---|---|---|");
  row(fmt("| D2D copy (read+write) | 1 GiB | %.1f | %.0f GB/s | - | - |",
          copyUs, copyBW));
  runKvTimings(info, copyBW);

  // W4A16 GEMV, batch 1, group 128, f16 activations and outputs.
  const int64_t shapes[3][2] = {{4096, 4096}, {4096, 14336}, {14336, 4096}};
  for (auto &sh : shapes) {
    const int64_t N = sh[0], K = sh[1], G = K / 128;
    const size_t codeBytes = size_t(N * K / 2), scaleBytes = size_t(N * G * 4);
    const size_t wBytes = codeBytes + scaleBytes;
    const int nbuf = int(std::max<size_t>(3, (4 * l2) / wBytes + 1));
    std::vector<void *> codes(static_cast<size_t>(nbuf)),
        scales(static_cast<size_t>(nbuf));
    for (int i = 0; i < nbuf; ++i) {
      codes[size_t(i)] = devRandom(codeBytes, 10 + uint32_t(i));
      scales[size_t(i)] = devReal(size_t(N * G), false, 0.005f, 0.02f,
                                  20 + uint32_t(i));
    }
    void *x = devReal(size_t(K) * 8, true, -1.f, 1.f, 3); // up to M = 8
    void *y = nullptr;
    CK(cudaMalloc(&y, size_t(N) * 2 * 8));
    auto qgemv = [&](int M) {
      return [&, M](int i) {
        const size_t b = size_t(i % nbuf);
        LQ(lq_cuda_qgemv_nt(M, N, K, x, LQ_DTYPE_F16, K,
                            static_cast<uint8_t *>(codes[b]),
                            static_cast<float *>(scales[b]), nullptr,
                            LQ_FORMAT_INT, 4, 128, y, LQ_DTYPE_F16, N,
                            stream));
      };
    };
    auto pct = [&](double t) { return 100 * wBytes / (t * 1e-6) / 1e9 / copyBW; };
    // Old kernel (one row per warp) and the automatic choice, both timed
    // with host launches (as before) and with graph replays.
    lq_cuda_bench_qgemv_config(1, 0, 0, 0);
    const double oldUs = timeUs(qgemv(1), 20, 30, 4 * nbuf);
    const double oldGUs = timeGraphUs(qgemv(1), 20, 4 * nbuf);
    lq_cuda_bench_qgemv_config(0, 0, 0, 0);
    const double us = timeUs(qgemv(1), 20, 30, 4 * nbuf);
    const double gUs = timeGraphUs(qgemv(1), 20, 4 * nbuf);
    const double bw = wBytes / (us * 1e-6) / 1e9;
    // The automatic choice without programmatic dependent launch, and the
    // previous automatic choice at batch 1 (qgemvI4 R=2 U=2 KS=1).
    lq_cuda_bench_qgemv_pdl(0);
    const double gNoPdlUs = timeGraphUs(qgemv(1), 20, 4 * nbuf);
    const double noPdlUs = timeUs(qgemv(1), 20, 30, 4 * nbuf);
    lq_cuda_bench_qgemv_pdl(1);
    // The experiment of an L2 bulk prefetch of each block's rows before the
    // PDL wait (off by default until it measures faster).
    lq_cuda_bench_qgemv_l2prefetch(1);
    const double gL2Us = timeGraphUs(qgemv(1), 20, 4 * nbuf);
    lq_cuda_bench_qgemv_l2prefetch(0);
    lq_cuda_bench_qgemv_config(2, 2, 2, 1);
    const double prevGUs = timeGraphUs(qgemv(1), 20, 4 * nbuf);
    // Floors for this byte count: a kernel that only reads the same codes
    // and scales (one wave of 256-thread blocks), and an empty kernel, both
    // in graph replays.
    uint32_t *sink = nullptr;
    CK(cudaMalloc(&sink, 4));
    const double readUs = timeGraphUs(
        [&](int i) {
          const size_t b = size_t(i % nbuf);
          readOnly<<<unsigned(info.multiprocessors * 8), 256, 0, stream>>>(
              static_cast<const uint4 *>(codes[b]), codeBytes / 16,
              static_cast<const uint4 *>(scales[b]), scaleBytes / 16, sink);
        },
        20, 4 * nbuf);
    const double emptyUs = timeGraphUs(
        [&](int) { emptyKernel<<<1, 32, 0, stream>>>(); }, 20, 4 * nbuf);
    CK(cudaFree(sink));
    std::printf("floor N=%lld K=%lld: read-only kernel %.2f us graph (%.0f%% "
                "of copy), empty kernel %.2f us graph\n",
                (long long)N, (long long)K, readUs, pct(readUs), emptyUs);
    // Every kernel shape at batch 1 (graph replays), for the notes; the
    // batch-1 kernel (6, 7, 8) with and without programmatic dependent launch.
    const int sweep[][4] = {
        {2, 2, 2, 1}, {2, 4, 2, 2},  {3, 1, 2, 8},  {7, 8, 0, 0}, {6, 8, 0, 0},
        {7, 4, 0, 0}, {6, 4, 0, 0},  {7, 8, 1, 0},  {7, 8, 2, 0}, {7, 8, 0, 4},
        {7, 4, 0, 4}, {7, 8, 0, 16}, {7, 4, 0, 16}, {8, 8, 0, 0}, {8, 4, 0, 0},
        {8, 4, 0, 4}, {8, 4, 1, 0},  {7, 8, 1, 4},  {7, 4, 1, 4}, {7, 8, 0, 2}};
    for (auto &cf : sweep) {
      lq_cuda_bench_qgemv_config(cf[0], cf[1], cf[2], cf[3]);
      const double t = timeGraphUs(qgemv(1), 20, 4 * nbuf);
      const bool batch1Only = (cf[0] == 2 && cf[1] == 4) || cf[0] >= 6;
      const double t8 = batch1Only ? 0.0 : timeGraphUs(qgemv(8), 20, 4 * nbuf);
      double tn = 0.0;
      if (cf[0] >= 6) {
        lq_cuda_bench_qgemv_pdl(0);
        tn = timeGraphUs(qgemv(1), 20, 4 * nbuf);
        lq_cuda_bench_qgemv_pdl(1);
      }
      std::printf("sweep N=%lld K=%lld kernel %d R=%d U=%d KS=%d: M=1 %.2f us "
                  "graph (%.0f%% of copy), M=8 %.2f us (%.0f%%), M=1 no PDL "
                  "%.2f us (%.0f%%)\n",
                  (long long)N, (long long)K, cf[0], cf[1], cf[2], cf[3], t,
                  pct(t), t8, pct(t8), tn, pct(tn));
    }
    std::printf("sweep N=%lld K=%lld M=1 old: %.2f us graph (%.0f%%), %.2f us "
                "launched (%.0f%%); auto: %.2f graph (%.0f%%), %.2f launched "
                "(%.0f%%)\n",
                (long long)N, (long long)K, oldGUs, pct(oldGUs), oldUs,
                pct(oldUs), gUs, pct(gUs), us, pct(us));
    // Batches 4 and 8 (same weight bytes; graph replays).
    double bt[2][2];
    for (int j = 0; j < 2; ++j) {
      lq_cuda_bench_qgemv_config(1, 0, 0, 0);
      bt[j][0] = timeGraphUs(qgemv(4 << j), 20, 4 * nbuf);
      lq_cuda_bench_qgemv_config(0, 0, 0, 0);
      bt[j][1] = timeGraphUs(qgemv(4 << j), 20, 4 * nbuf);
    }
    fflush(stdout);
    for (int i = 0; i < nbuf; ++i) {
      CK(cudaFree(codes[size_t(i)]));
      CK(cudaFree(scales[size_t(i)]));
    }
    // cuBLASLt f16 GEMV on the same shape (f16 weights: 4x the bytes).
    const size_t hBytes = size_t(N * K * 2);
    const int hbuf = int(std::max<size_t>(2, (4 * l2) / hBytes + 1));
    std::vector<void *> wh(static_cast<size_t>(hbuf));
    for (int i = 0; i < hbuf; ++i)
      wh[size_t(i)] = devReal(size_t(N * K), true, -0.05f, 0.05f,
                              30 + uint32_t(i));
    const float one = 1.f, zero = 0.f;
    LtRun gemv(lt, CUDA_R_16F, CUDA_R_16F, CUBLAS_COMPUTE_32F, CUDA_R_32F, 1,
               N, K, &one, &zero);
    const double cus = timeUs(
        [&](int i) { gemv.run(x, wh[size_t(i % hbuf)], y); }, 20, 30,
        4 * hbuf);
    const double cbw = hBytes / (cus * 1e-6) / 1e9;
    for (auto p : wh)
      CK(cudaFree(p));
    CK(cudaFree(x));
    CK(cudaFree(y));
    row(fmt("| W4A16 GEMV int4 g128, old one-row kernel | N=%lld K=%lld M=1 "
            "| %.2f (graph %.2f) | %.0f GB/s of weights | copy %.0f GB/s | "
            "%.0f%% (graph %.0f%%) |",
            (long long)N, (long long)K, oldUs, oldGUs,
            wBytes / (oldUs * 1e-6) / 1e9, copyBW, pct(oldUs), pct(oldGUs)));
    row(fmt("| W4A16 GEMV int4 g128 (lq) | N=%lld K=%lld M=1 | %.2f (graph "
            "%.2f) | %.0f GB/s of weights | copy %.0f GB/s | **%.0f%%** "
            "(graph **%.0f%%**) |",
            (long long)N, (long long)K, us, gUs, bw, copyBW, pct(us),
            pct(gUs)));
    row(fmt("| W4A16 GEMV int4 g128: previous choice (qgemvI4 R=2) / lq "
            "without PDL | N=%lld K=%lld M=1 | graph %.2f / %.2f (launched "
            "%.2f) | - | copy %.0f GB/s | %.0f%% / %.0f%% (launched %.0f%%) |",
            (long long)N, (long long)K, prevGUs, gNoPdlUs, noPdlUs, copyBW,
            pct(prevGUs), pct(gNoPdlUs), pct(noPdlUs)));
    row(fmt("| W4A16 GEMV int4 g128 (lq) with an L2 bulk prefetch of each "
            "block's rows before the PDL wait (experiment) | N=%lld K=%lld "
            "M=1 | graph %.2f | %.0f GB/s of weights | copy %.0f GB/s | "
            "%.0f%% (%.2fx lq) |",
            (long long)N, (long long)K, gL2Us, wBytes / (gL2Us * 1e-6) / 1e9,
            copyBW, pct(gL2Us), gUs / gL2Us));
    row(fmt("| floors: read-only kernel over the same bytes / empty kernel | "
            "N=%lld K=%lld | graph %.2f / %.2f | %.0f GB/s | copy %.0f GB/s | "
            "%.0f%% (lq graph is %.0f%% of the read-only kernel's rate) |",
            (long long)N, (long long)K, readUs, emptyUs,
            wBytes / (readUs * 1e-6) / 1e9, copyBW, pct(readUs),
            100 * readUs / gUs));
    for (int j = 0; j < 2; ++j)
      row(fmt("| W4A16 GEMV int4 g128, old / lq | N=%lld K=%lld M=%d | graph "
              "%.2f / %.2f | - | copy %.0f GB/s | %.0f%% / %.0f%% |",
              (long long)N, (long long)K, 4 << j, bt[j][0], bt[j][1], copyBW,
              pct(bt[j][0]), pct(bt[j][1])));
    row(fmt("| f16 GEMV (cuBLASLt) | N=%lld K=%lld M=1 | %.2f | %.0f GB/s "
            "of weights | copy %.0f GB/s | %.0f%% (lq is %.2fx faster) |",
            (long long)N, (long long)K, cus, cbw, copyBW, 100 * cbw / copyBW,
            cus / us));
  }

  // NVFP4 (g16) / MXFP4 (g32) / FP8 E4M3 (per channel) GEMV at batch 1,
  // f16 activations and outputs, as a share of the copy bandwidth counted on
  // weight bytes (codes + f32 scales), like the int4 rows above. A failing
  // call prints its error in the row instead of ending the program.
  struct FpTimed {
    const char *name;
    lq_format_t f;
    int bits;
    int64_t g;
  } fpt[] = {{"NVFP4 g16", LQ_FORMAT_NVFP4, 4, 16},
             {"MXFP4 g32", LQ_FORMAT_MXFP4, 4, 32},
             {"FP8 E4M3 per-channel", LQ_FORMAT_FP8_E4M3, 8, 0}};
  const int64_t fpShapes[2][2] = {{4096, 4096}, {4096, 14336}};
  for (const FpTimed &ft : fpt)
    for (auto &sh : fpShapes) {
      const int64_t N = sh[0], K = sh[1], G = ft.g > 0 ? K / ft.g : 1;
      const size_t codeBytes = size_t(N * K * ft.bits / 8),
                   scaleBytes = size_t(N * G * 4);
      const size_t wBytes = codeBytes + scaleBytes;
      const int nbuf = int(std::max<size_t>(3, (4 * l2) / wBytes + 1));
      std::vector<void *> codes(static_cast<size_t>(nbuf)),
          scales(static_cast<size_t>(nbuf));
      for (int i = 0; i < nbuf; ++i) {
        codes[size_t(i)] = devRandom(codeBytes, 110 + uint32_t(i));
        if (ft.bits == 8)
          fixFp8<<<1024, 256>>>(static_cast<uint8_t *>(codes[size_t(i)]),
                                codeBytes);
        scales[size_t(i)] = devReal(size_t(N * G), false, 0.005f, 0.02f,
                                    120 + uint32_t(i));
      }
      void *x = devReal(size_t(K), true, -1.f, 1.f, 4);
      void *y = nullptr;
      CK(cudaMalloc(&y, size_t(N) * 2));
      std::string err;
      auto gemv = [&](int i) {
        const size_t b = size_t(i % nbuf);
        const lq_cuda_status_t st = lq_cuda_qgemv_nt(
            1, N, K, x, LQ_DTYPE_F16, K, static_cast<uint8_t *>(codes[b]),
            static_cast<float *>(scales[b]), nullptr, ft.f, ft.bits, ft.g, y,
            LQ_DTYPE_F16, N, stream);
        if (st != LQ_CUDA_OK && err.empty())
          err = lq_cuda_last_error();
      };
      gemv(0);
      CK(cudaStreamSynchronize(stream));
      double us = 0, gUs = 0, oneRowUs = 0;
      if (err.empty()) {
        us = timeUs(gemv, 20, 30, 4 * nbuf);
        gUs = timeGraphUs(gemv, 20, 4 * nbuf);
        if (ft.bits == 4) { // the one-row-per-warp table kernel (k1)
          lq_cuda_bench_qgemv_config(1, 0, 0, 0);
          oneRowUs = timeGraphUs(gemv, 20, 4 * nbuf);
          lq_cuda_bench_qgemv_config(0, 0, 0, 0);
        }
      }
      auto pct = [&](double t) {
        return 100 * wBytes / (t * 1e-6) / 1e9 / copyBW;
      };
      if (err.empty())
        row(fmt("| %s GEMV (lq) | N=%lld K=%lld M=1 | %.2f (graph %.2f) | "
                "%.0f GB/s of weights | copy %.0f GB/s | **%.0f%%** (graph "
                "**%.0f%%**) |",
                ft.name, (long long)N, (long long)K, us, gUs,
                wBytes / (us * 1e-6) / 1e9, copyBW, pct(us), pct(gUs)));
      else
        row(fmt("| %s GEMV (lq) | N=%lld K=%lld M=1 | error: %s | - | - | - |",
                ft.name, (long long)N, (long long)K, err.c_str()));
      std::printf("%s GEMV N=%lld K=%lld M=1: %.2f us launched, %.2f us graph "
                  "(%.0f%% of copy)",
                  ft.name, (long long)N, (long long)K, us, gUs, pct(gUs));
      if (oneRowUs > 0)
        std::printf("; one-row table kernel %.2f us graph (%.0f%%)", oneRowUs,
                    pct(oneRowUs));
      std::printf(" %s\n", err.c_str());
      std::fflush(stdout);
      for (int i = 0; i < nbuf; ++i) {
        CK(cudaFree(codes[size_t(i)]));
        CK(cudaFree(scales[size_t(i)]));
      }
      CK(cudaFree(x));
      CK(cudaFree(y));
    }

  // GEMMs at 4096^3.
  const int64_t S = 4096;
  const double flops = 2.0 * S * S * S;
  auto tflops = [&](double us) { return flops / (us * 1e-6) / 1e12; };
  const int sets = 2;
  const float one = 1.f, zero = 0.f;
  const int32_t ione = 1, izero = 0;
  void *out = nullptr;
  CK(cudaMalloc(&out, size_t(S * S) * 4));

  // f16 reference (cuBLASLt) and the W4A16 tensor-core GEMM.
  std::vector<void *> a16(sets), b16(sets), codes(sets), scales(sets);
  for (int i = 0; i < sets; ++i) {
    a16[size_t(i)] = devReal(size_t(S * S), true, -1.f, 1.f, 40 + uint32_t(i));
    b16[size_t(i)] = devReal(size_t(S * S), true, -0.05f, 0.05f,
                             50 + uint32_t(i));
    codes[size_t(i)] = devRandom(size_t(S * S / 2), 60 + uint32_t(i));
    scales[size_t(i)] = devReal(size_t(S * S / 128), false, 0.005f, 0.02f,
                                70 + uint32_t(i));
  }
  LtRun f16gemm(lt, CUDA_R_16F, CUDA_R_16F, CUBLAS_COMPUTE_32F, CUDA_R_32F, S,
                S, S, &one, &zero);
  const double f16us = timeUs(
      [&](int i) { f16gemm.run(a16[size_t(i % sets)], b16[size_t(i % sets)],
                               out); },
      3, 15, 2);
  // The W4A16 GEMM at M = 4096 and 512 (N = K = 4096): the WMMA kernel
  // and the automatic path (dequantize + cuBLASLt f16 from M = 128 on).
  auto w4gemm = [&](int64_t M) {
    return [&, M](int i) {
      const size_t b = size_t(i % sets);
      LQ(lq_cuda_qgemm_tc_nt(M, S, S, a16[b], LQ_DTYPE_F16, S,
                             static_cast<uint8_t *>(codes[b]),
                             static_cast<float *>(scales[b]), nullptr,
                             LQ_FORMAT_INT, 4, 128, out, LQ_DTYPE_F16, S,
                             stream));
    };
  };
  lq_cuda_bench_qgemm_tc_mode(1, 0);
  const double w4us = timeUs(w4gemm(S), 3, 15, 2);
  const double w4us512 = timeUs(w4gemm(512), 3, 15, 2);
  lq_cuda_bench_qgemm_tc_mode(0, 0);
  const double dqus = timeUs(w4gemm(S), 3, 15, 2);
  const double dqus512 = timeUs(w4gemm(512), 3, 15, 2);
  // cuBLASLt f16 at M = 512 (the first 512 rows of the same A).
  LtRun f16gemm512(lt, CUDA_R_16F, CUDA_R_16F, CUBLAS_COMPUTE_32F, CUDA_R_32F,
                   512, S, S, &one, &zero);
  const double f16us5 = timeUs(
      [&](int i) {
        f16gemm512.run(a16[size_t(i % sets)], b16[size_t(i % sets)], out);
      },
      3, 15, 2);
  const double flops512 = 2.0 * 512 * S * S;
  auto tflops512 = [&](double us) { return flops512 / (us * 1e-6) / 1e12; };
  row(fmt("| f16 GEMM (cuBLASLt, tensor-core reference) | 4096^3 | %.1f | "
          "%.0f TFLOP/s | - | - |",
          f16us, tflops(f16us)));
  row(fmt("| W4A16 GEMM int4 g128 (lq, WMMA kernel) | 4096^3 | %.1f | %.0f "
          "TFLOP/s | f16 %.0f TFLOP/s | **%.0f%%** |",
          w4us, tflops(w4us), tflops(f16us), 100 * f16us / w4us));
  row(fmt("| W4A16 GEMM int4 g128 (lq: dequantize + cuBLASLt f16) | 4096^3 | "
          "%.1f | %.0f TFLOP/s | f16 %.0f TFLOP/s | **%.0f%%** |",
          dqus, tflops(dqus), tflops(f16us), 100 * f16us / dqus));
  row(fmt("| f16 GEMM (cuBLASLt) / W4A16 WMMA / W4A16 dequantize + cuBLASLt "
          "| M=512 N=K=4096 | %.1f / %.1f / %.1f | %.0f / %.0f / %.0f "
          "TFLOP/s | f16 | %.0f%% / **%.0f%%** |",
          f16us5, w4us512, dqus512, tflops512(f16us5), tflops512(w4us512),
          tflops512(dqus512), 100 * f16us5 / w4us512, 100 * f16us5 / dqus512));
  // NVFP4 / MXFP4 / FP8 E4M3 weights at 4096^3 (the automatic path:
  // dequantize + cuBLASLt f16), on the same activations; the int4 codes'
  // random bytes serve as FP4 codes, fresh bytes as FP8 codes.
  for (const FpTimed &ft : fpt) {
    const int64_t G = ft.g > 0 ? S / ft.g : 1;
    std::vector<void *> fc(sets), fs(sets);
    for (int i = 0; i < sets; ++i) {
      fc[size_t(i)] = devRandom(size_t(S * S * ft.bits / 8), 130 + uint32_t(i));
      if (ft.bits == 8)
        fixFp8<<<1024, 256>>>(static_cast<uint8_t *>(fc[size_t(i)]),
                              size_t(S * S));
      fs[size_t(i)] = devReal(size_t(S * G), false, 0.005f, 0.02f,
                              140 + uint32_t(i));
    }
    std::string err;
    auto gemm = [&](int i) {
      const size_t b = size_t(i % sets);
      const lq_cuda_status_t st = lq_cuda_qgemm_nt(
          S, S, S, a16[b], LQ_DTYPE_F16, S, static_cast<uint8_t *>(fc[b]),
          static_cast<float *>(fs[b]), nullptr, ft.f, ft.bits, ft.g, out,
          LQ_DTYPE_F16, S, stream);
      if (st != LQ_CUDA_OK && err.empty())
        err = lq_cuda_last_error();
    };
    gemm(0);
    CK(cudaStreamSynchronize(stream));
    const double us = err.empty() ? timeUs(gemm, 3, 15, 2) : 0.0;
    if (err.empty())
      row(fmt("| %s GEMM (lq: dequantize + cuBLASLt f16) | 4096^3 | %.1f | "
              "%.0f TFLOP/s | f16 %.0f TFLOP/s | **%.0f%%** |",
              ft.name, us, tflops(us), tflops(f16us), 100 * f16us / us));
    else
      row(fmt("| %s GEMM (lq) | 4096^3 | error: %s | - | - | - |", ft.name,
              err.c_str()));
    for (int i = 0; i < sets; ++i) {
      CK(cudaFree(fc[size_t(i)]));
      CK(cudaFree(fs[size_t(i)]));
    }
  }
  for (int i = 0; i < sets; ++i) {
    CK(cudaFree(a16[size_t(i)]));
    CK(cudaFree(b16[size_t(i)]));
    CK(cudaFree(codes[size_t(i)]));
    CK(cudaFree(scales[size_t(i)]));
  }

  // int8: cuBLASLt int32-out reference, lq W8A8 with per-token/channel scales.
  std::vector<void *> a8(sets), b8(sets);
  for (int i = 0; i < sets; ++i) {
    a8[size_t(i)] = devRandom(size_t(S * S), 80 + uint32_t(i));
    b8[size_t(i)] = devRandom(size_t(S * S), 90 + uint32_t(i));
  }
  void *sa = devReal(size_t(S), false, 0.001f, 0.01f, 5);
  void *sb = devReal(size_t(S), false, 0.001f, 0.01f, 6);
  LtRun i8gemm(lt, CUDA_R_8I, CUDA_R_32I, CUBLAS_COMPUTE_32I, CUDA_R_32I, S,
               S, S, &ione, &izero);
  const double i8us = timeUs(
      [&](int i) { i8gemm.run(a8[size_t(i % sets)], b8[size_t(i % sets)],
                              out); },
      3, 15, 2);
  const double w8us = timeUs(
      [&](int i) {
        const size_t b = size_t(i % sets);
        LQ(lq_cuda_gemm_w8a8(S, S, S, static_cast<int8_t *>(a8[b]),
                             static_cast<int8_t *>(b8[b]),
                             static_cast<float *>(sa), S,
                             static_cast<float *>(sb), S, out, LQ_DTYPE_F16,
                             S, stream));
      },
      3, 15, 2);
  row(fmt("| int8 GEMM (cuBLASLt IMMA, int32 out, reference) | 4096^3 | %.1f "
          "| %.0f TOP/s | - | - |",
          i8us, tflops(i8us)));
  row(fmt("| W8A8 GEMM per-token/channel -> f16 (lq: IMMA + epilogue) | "
          "4096^3 | %.1f | %.0f TOP/s | int8 %.0f TOP/s | **%.0f%%** |",
          w8us, tflops(w8us), tflops(i8us), 100 * i8us / w8us));

  if (info.major * 10 + info.minor >= 89) {
    for (int i = 0; i < sets; ++i) {
      fixFp8<<<1024, 256>>>(static_cast<uint8_t *>(a8[size_t(i)]),
                            size_t(S * S));
      fixFp8<<<1024, 256>>>(static_cast<uint8_t *>(b8[size_t(i)]),
                            size_t(S * S));
    }
    CK(cudaGetLastError());
    LtRun f8gemm(lt, CUDA_R_8F_E4M3, CUDA_R_16F, CUBLAS_COMPUTE_32F,
                 CUDA_R_32F, S, S, S, &one, &zero);
    const double f8us = timeUs(
        [&](int i) { f8gemm.run(a8[size_t(i % sets)], b8[size_t(i % sets)],
                                out); },
        3, 15, 2);
    const double lf8us = timeUs(
        [&](int i) {
          const size_t b = size_t(i % sets);
          LQ(lq_cuda_gemm_fp8(S, S, S, static_cast<uint8_t *>(a8[b]),
                              static_cast<uint8_t *>(b8[b]),
                              static_cast<float *>(sa), 1,
                              static_cast<float *>(sb), 1, out, LQ_DTYPE_F16,
                              S, stream));
        },
        3, 15, 2);
    const double lf8cus = timeUs(
        [&](int i) {
          const size_t b = size_t(i % sets);
          LQ(lq_cuda_gemm_fp8(S, S, S, static_cast<uint8_t *>(a8[b]),
                              static_cast<uint8_t *>(b8[b]),
                              static_cast<float *>(sa), S,
                              static_cast<float *>(sb), S, out, LQ_DTYPE_F16,
                              S, stream));
        },
        3, 15, 2);
    row(fmt("| FP8 E4M3 GEMM (cuBLASLt, f16 out, reference) | 4096^3 | %.1f "
            "| %.0f TFLOP/s | - | - |",
            f8us, tflops(f8us)));
    row(fmt("| FP8 GEMM per-tensor -> f16 (lq via cuBLASLt) | 4096^3 | %.1f "
            "| %.0f TFLOP/s | fp8 %.0f TFLOP/s | **%.0f%%** |",
            lf8us, tflops(lf8us), tflops(f8us), 100 * f8us / lf8us));
    row(fmt("| FP8 GEMM per-token/channel -> f16 (lq: cuBLASLt + epilogue) | "
            "4096^3 | %.1f | %.0f TFLOP/s | fp8 %.0f TFLOP/s | **%.0f%%** |",
            lf8cus, tflops(lf8cus), tflops(f8us), 100 * f8us / lf8cus));
  }
  for (int i = 0; i < sets; ++i) {
    CK(cudaFree(a8[size_t(i)]));
    CK(cudaFree(b8[size_t(i)]));
  }
  CK(cudaFree(sa));
  CK(cudaFree(sb));
  CK(cudaFree(out));
  cublasLtDestroy(lt);
}

} // namespace

int main(int argc, char **argv) {
  const bool checksOnly = argc > 1 && std::string(argv[1]) == "--checks-only";
  lq_cuda_device_info_t info;
  if (lq_cuda_device_info(0, &info) != LQ_CUDA_OK) {
    std::fprintf(stderr, "gpu_check: %s\n", lq_cuda_last_error());
    return 2;
  }
  std::printf("GPU: %s (sm_%d%d, %d SMs, %.0f MB L2, %.1f GB), driver %d, "
              "runtime %d\n",
              info.name, info.major, info.minor, info.multiprocessors,
              info.l2_cache / 1e6, info.global_memory / 1e9,
              info.driver_version, info.runtime_version);
  runChecks(info.major * 10 + info.minor);
  runKvChecks();
  std::printf("checks: %d passed, %d failed\n", passed, failed);
  if (!checksOnly) {
    CK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    CK(cudaEventCreate(&ev0));
    CK(cudaEventCreate(&ev1));
    runTimings(info);
  }
  std::string header =
      fmt("GPU: %s (sm_%d%d, %d SMs, %.0f MB L2), driver %d, CUDA runtime "
          "%d. Checks: %d passed, %d failed.\n\n",
          info.name, info.major, info.minor, info.multiprocessors,
          info.l2_cache / 1e6, info.driver_version, info.runtime_version,
          passed, failed);
  const std::string doc = header + table;
  std::printf("\n%s", doc.c_str());
  if (const char *outDir = std::getenv("OUT")) {
    std::string path = std::string(outDir) + "/gpu-check.md";
    if (FILE *f = std::fopen(path.c_str(), "w")) {
      std::fputs(doc.c_str(), f);
      std::fclose(f);
    }
  }
  return failed ? 1 : 0;
}
