//===- cuda_test.cpp - lq_rt_cuda: errors without a GPU, numerics with one -===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// On a machine without a driver or GPU (the development machines and CI),
// every entry point family must fail with "no CUDA device / driver not
// found" (a status, or for the compiled-model and mgpu entry points, which
// have no error channel, one clear line and abort), and bad arguments must be
// rejected before the device is touched. With a GPU the numeric tests
// compare each kernel with a float64 reference on random inputs with odd
// sizes; without one they are SKIPPED (GTEST_SKIP), never passed.
//
//===----------------------------------------------------------------------===//

#include "../src/cuda/qgemv_plan.h"
#include "cuda_checks.h"
#include "cuda_kv_checks.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace {

bool haveDevice() {
  int n = 0;
  return lq_cuda_device_count(&n) == LQ_CUDA_OK && n > 0;
}

#define REQUIRE_GPU()                                                          \
  do {                                                                         \
    if (!haveDevice())                                                         \
      GTEST_SKIP() << "no CUDA device: " << lq_cuda_last_error();              \
  } while (0)

#define REQUIRE_NO_GPU()                                                       \
  do {                                                                         \
    if (haveDevice())                                                          \
      GTEST_SKIP() << "a CUDA device is present";                              \
  } while (0)

std::string lastError() { return lq_cuda_last_error(); }

// Fake device pointers: never dereferenced, since validation or the device
// check fails first.
const void *kP = reinterpret_cast<const void *>(uintptr_t(0x1000));
void *kW = reinterpret_cast<void *>(uintptr_t(0x1000));
const uint8_t *kU8 = static_cast<const uint8_t *>(kP);
const int8_t *kI8 = static_cast<const int8_t *>(kP);
const float *kF = static_cast<const float *>(kP);

//===----------------------------------------------------------------------===//
// Status and device queries
//===----------------------------------------------------------------------===//

TEST(CudaStatus, StringsAreDistinct) {
  std::set<std::string> seen;
  for (int s = LQ_CUDA_OK; s <= LQ_CUDA_ERROR_LIBRARY; ++s) {
    std::string str = lq_cuda_status_string(lq_cuda_status_t(s));
    EXPECT_FALSE(str.empty());
    EXPECT_TRUE(seen.insert(str).second) << str;
  }
  EXPECT_STREQ(lq_cuda_status_string(LQ_CUDA_ERROR_NO_DEVICE),
               "no CUDA device / driver not found");
}

TEST(CudaDevice, CountIsAnErrorOrAtLeastOne) {
  int n = -1;
  lq_cuda_status_t s = lq_cuda_device_count(&n);
  if (s == LQ_CUDA_OK) {
    EXPECT_GE(n, 1);
  } else {
    EXPECT_EQ(s, LQ_CUDA_ERROR_NO_DEVICE);
    EXPECT_EQ(n, 0);
    EXPECT_NE(lastError().find("no CUDA device / driver not found"),
              std::string::npos)
        << lastError();
  }
  EXPECT_EQ(lq_cuda_device_count(nullptr), LQ_CUDA_ERROR_INVALID_ARGUMENT);
}

TEST(CudaDevice, InfoWithoutDriver) {
  REQUIRE_NO_GPU();
  lq_cuda_device_info_t info;
  EXPECT_EQ(lq_cuda_device_info(0, &info), LQ_CUDA_ERROR_NO_DEVICE);
  EXPECT_EQ(lq_cuda_synchronize(nullptr), LQ_CUDA_ERROR_NO_DEVICE);
  EXPECT_EQ(lq_cuda_device_info(0, nullptr), LQ_CUDA_ERROR_INVALID_ARGUMENT);
}

TEST(CudaDevice, InfoWithDriver) {
  REQUIRE_GPU();
  lq_cuda_device_info_t info;
  ASSERT_EQ(lq_cuda_device_info(0, &info), LQ_CUDA_OK) << lastError();
  EXPECT_GE(info.major, 8);
  EXPECT_GT(info.multiprocessors, 0);
  EXPECT_EQ(lq_cuda_device_info(-1, &info), LQ_CUDA_ERROR_INVALID_ARGUMENT);
}

//===----------------------------------------------------------------------===//
// Argument validation (any machine)
//===----------------------------------------------------------------------===//

lq_cuda_status_t qgemm(int64_t M, int64_t N, int64_t K, lq_dtype_t a,
                       lq_format_t f, int bits, int64_t group,
                       const void *A = kP, int64_t lda = -1) {
  return lq_cuda_qgemm_nt(M, N, K, A, a, lda < 0 ? K : lda, kU8, kF, nullptr,
                          f, bits, group, kW, LQ_DTYPE_F32, N, nullptr);
}

TEST(CudaValidation, QuantizedGemm) {
  const auto INV = LQ_CUDA_ERROR_INVALID_ARGUMENT;
  EXPECT_EQ(qgemm(1, 0, 64, LQ_DTYPE_F16, LQ_FORMAT_INT, 4, 32), INV);
  EXPECT_NE(lastError().find("lq_cuda_qgemv_nt"), std::string::npos)
      << lastError();
  EXPECT_EQ(qgemm(1, 8, 64, LQ_DTYPE_F16, LQ_FORMAT_FP8_E4M3, 4, 32), INV);
  EXPECT_NE(lastError().find("unsupported weight format"), std::string::npos);
  EXPECT_NE(lastError().find("fp8_e4m3"), std::string::npos) << lastError();
  // The float formats take exactly their element width.
  EXPECT_EQ(qgemm(1, 8, 64, LQ_DTYPE_F16, LQ_FORMAT_FP8_E5M2, 4, 32), INV);
  EXPECT_EQ(qgemm(1, 8, 64, LQ_DTYPE_F16, LQ_FORMAT_MXFP4, 8, 32), INV);
  EXPECT_EQ(qgemm(100, 8, 64, LQ_DTYPE_F16, LQ_FORMAT_NVFP4, 8, 16), INV);
  EXPECT_NE(lastError().find("lq_cuda_qgemm_tc_nt"), std::string::npos);
  EXPECT_NE(lastError().find("nvfp4"), std::string::npos) << lastError();
  // Formats with no CUDA weight path (the CPU has none either).
  EXPECT_EQ(qgemm(1, 8, 64, LQ_DTYPE_F16, LQ_FORMAT_MXFP6_E2M3, 6, 32), INV);
  EXPECT_NE(lastError().find("mxfp6_e2m3"), std::string::npos);
  EXPECT_EQ(qgemm(1, 8, 64, LQ_DTYPE_F16, LQ_FORMAT_MXFP8_E4M3, 8, 32), INV);
  EXPECT_EQ(qgemm(1, 8, 64, LQ_DTYPE_F16, lq_format_t(42), 4, 32), INV);
  EXPECT_NE(lastError().find("format 42 (unknown)"), std::string::npos)
      << lastError();
  EXPECT_EQ(qgemm(1, 8, 60, LQ_DTYPE_F16, LQ_FORMAT_NVFP4, 4, 15), INV);
  EXPECT_NE(lastError().find("even"), std::string::npos);
  EXPECT_EQ(qgemm(1, 8, 64, LQ_DTYPE_F16, LQ_FORMAT_INT, 3, 32), INV);
  EXPECT_EQ(qgemm(1, 8, 64, LQ_DTYPE_F16, LQ_FORMAT_NF4, 8, 32), INV);
  EXPECT_EQ(qgemm(1, 8, 64, LQ_DTYPE_F16, LQ_FORMAT_INT, 4, 48), INV);
  EXPECT_NE(lastError().find("does not divide"), std::string::npos);
  EXPECT_EQ(qgemm(1, 8, 63, LQ_DTYPE_F16, LQ_FORMAT_INT, 4, 21), INV);
  EXPECT_NE(lastError().find("even"), std::string::npos);
  EXPECT_EQ(qgemm(1, 8, 64, LQ_DTYPE_I8, LQ_FORMAT_INT, 4, 32), INV);
  EXPECT_EQ(qgemm(1, 8, 64, LQ_DTYPE_F16, LQ_FORMAT_INT, 4, 32, nullptr),
            INV);
  EXPECT_EQ(qgemm(1, 8, 64, LQ_DTYPE_F16, LQ_FORMAT_INT, 4, 32, kP, 10), INV);
  EXPECT_EQ(qgemm(100, 8, 64, LQ_DTYPE_F16, LQ_FORMAT_INT, 4, 0, nullptr),
            INV);
  EXPECT_NE(lastError().find("lq_cuda_qgemm_tc_nt"), std::string::npos);
  EXPECT_EQ(lq_cuda_qgemv_nt(9, 8, 64, kP, LQ_DTYPE_F16, 64, kU8, kF, nullptr,
                             LQ_FORMAT_INT, 4, 32, kW, LQ_DTYPE_F16, 8,
                             nullptr),
            INV);
  EXPECT_NE(lastError().find("at most 8"), std::string::npos);
}

TEST(CudaValidation, LowPrecisionGemms) {
  const auto INV = LQ_CUDA_ERROR_INVALID_ARGUMENT;
  EXPECT_EQ(lq_cuda_gemm_w8a8(4, 8, 16, kI8, kI8, kF, 3, kF, 1, kW,
                              LQ_DTYPE_F32, 8, nullptr),
            INV);
  EXPECT_NE(lastError().find("activation scales"), std::string::npos);
  EXPECT_EQ(lq_cuda_gemm_w8a8(4, 8, 16, kI8, kI8, kF, 4, kF, 7, kW,
                              LQ_DTYPE_F32, 8, nullptr),
            INV);
  EXPECT_EQ(lq_cuda_gemm_fp8(4, 8, 16, kU8, nullptr, kF, 1, kF, 1, kW,
                             LQ_DTYPE_F32, 8, nullptr),
            INV);
  EXPECT_EQ(lq_cuda_gemm_fp8(4, 8, 16, kU8, kU8, kF, 1, kF, 1, kW,
                             LQ_DTYPE_I32, 8, nullptr),
            INV);
  EXPECT_EQ(lq_cuda_sgemm_nt(4, 8, 16, kF, 8, kF, 16,
                             static_cast<float *>(kW), 8, nullptr),
            INV);
}

TEST(CudaValidation, Hadamard) {
  const auto INV = LQ_CUDA_ERROR_INVALID_ARGUMENT;
  EXPECT_EQ(lq_cuda_hadamard(kP, kW, LQ_DTYPE_F32, 2, 3, nullptr), INV);
  EXPECT_NE(lastError().find("power of two"), std::string::npos);
  EXPECT_EQ(lq_cuda_hadamard(kP, kW, LQ_DTYPE_F32, 2, 65536, nullptr), INV);
  EXPECT_EQ(lq_cuda_hadamard(kP, kW, LQ_DTYPE_F32, 2, 0, nullptr), INV);
  EXPECT_EQ(lq_cuda_hadamard(kP, kW, LQ_DTYPE_I8, 2, 64, nullptr), INV);
  EXPECT_EQ(lq_cuda_hadamard(nullptr, kW, LQ_DTYPE_F32, 2, 64, nullptr), INV);
}

lq_cuda_view4_t view(int64_t a, int64_t b, int64_t c, int64_t d) {
  lq_cuda_view4_t v;
  v.data = static_cast<float *>(kW);
  v.sizes[0] = a, v.sizes[1] = b, v.sizes[2] = c, v.sizes[3] = d;
  v.strides[3] = 1, v.strides[2] = d, v.strides[1] = c * d,
  v.strides[0] = b * c * d;
  return v;
}

TEST(CudaValidation, Attention) {
  const auto INV = LQ_CUDA_ERROR_INVALID_ARGUMENT;
  lq_cuda_view4_t q = view(1, 4, 3, 8), k = view(1, 3, 5, 8),
                  v = view(1, 3, 5, 8), o = view(1, 4, 3, 8);
  EXPECT_EQ(lq_cuda_attention_f32(&q, &k, &v, &o, 1.f, 1, nullptr), INV)
      << "4 query heads over 3 KV heads";
  k = view(1, 2, 5, 8);
  v = view(1, 2, 5, 8);
  o = view(1, 4, 3, 7);
  EXPECT_EQ(lq_cuda_attention_f32(&q, &k, &v, &o, 1.f, 1, nullptr), INV);
  o = view(1, 4, 3, 8);
  EXPECT_EQ(lq_cuda_attention_at_f32(&q, &k, &v, &o, 1.f, 1, 3, nullptr), INV)
      << "position 3 + 3 queries > 5 keys";
  EXPECT_EQ(lq_cuda_attention_f32(nullptr, &k, &v, &o, 1.f, 1, nullptr), INV);
}

//===----------------------------------------------------------------------===//
// No driver: every family reports it (status) or dies saying so (abort)
//===----------------------------------------------------------------------===//

void expectNoDevice(lq_cuda_status_t s) {
  EXPECT_EQ(s, LQ_CUDA_ERROR_NO_DEVICE);
  EXPECT_NE(lastError().find("no CUDA device / driver not found"),
            std::string::npos)
      << lastError();
}

//===----------------------------------------------------------------------===//
// Launch shape of the batch-1 int4 GEMV (host arithmetic, no GPU needed)
//===----------------------------------------------------------------------===//

TEST(CudaGemvPlan, WarpsCoverEachRowInFewSlices) {
  using namespace lq::cuda;
  EXPECT_EQ(i4kWarps(128), 4); // K = 4096: one slice of 4 warps
  EXPECT_EQ(i4kWarps(448), 7); // K = 14336: two slices of 7 warps
  for (int64_t chunks :
       {1, 16, 44, 95, 128, 255, 256, 257, 344, 448, 512, 513, 1000, 4096}) {
    const int w = i4kWarps(chunks);
    const int64_t perSlice = 32 * int64_t(w);
    const int64_t slices = (chunks + perSlice - 1) / perSlice;
    EXPECT_GE(w, 1);
    EXPECT_LE(w, kI4KAutoWarps);
    EXPECT_EQ(slices, std::max<int64_t>(1, (chunks + 255) / 256)) << chunks;
    EXPECT_LT(slices * perSlice - chunks, 32 * slices) << chunks; // idle lanes
  }
}

TEST(CudaGemvPlan, BlocksCoverRowsInOneWave) {
  using namespace lq::cuda;
  // 4096 rows, 4 warps, 6 blocks per SM on 132 SMs: one round per block.
  I4KPlan p = planI4K(4096, 8, 4, 0, 6, 132);
  EXPECT_EQ(p.rowsPerBlock, 8);
  EXPECT_EQ(p.blocks, 512);
  EXPECT_EQ(p.smem, size_t(4 * 8 * 4));
  // 14336 rows: 1792 rounds over 792 resident blocks -> 3 per block.
  p = planI4K(14336, 8, 4, 0, 6, 132);
  EXPECT_EQ(p.rowsPerBlock, 24);
  EXPECT_EQ(p.blocks, 598);
  for (int64_t N : {1, 7, 333, 4096, 14336, 128256})
    for (int R : {4, 8})
      for (int W : {1, 4, 7, 16})
        for (int bps : {1, 3, 6})
          for (int groups : {0, 1, 3, 100}) {
            p = planI4K(N, R, W, groups, bps, 132);
            const std::string at =
                "N=" + std::to_string(N) + " R=" + std::to_string(R) +
                " W=" + std::to_string(W) + " groups=" + std::to_string(groups);
            EXPECT_EQ(p.warps, W) << at;
            EXPECT_EQ(p.rowsPerBlock % R, 0) << at;
            EXPECT_GE(int64_t(p.blocks) * p.rowsPerBlock, N) << at;
            EXPECT_LT(int64_t(p.blocks - 1) * p.rowsPerBlock, N) << at;
            EXPECT_EQ(p.smem, size_t(W) * size_t(p.rowsPerBlock) * 4) << at;
            EXPECT_LE(p.smem, size_t(48) << 10) << at;
            if (groups == 0 && p.rowsPerBlock / R < 64 &&
                p.rowsPerBlock / R < 12288 / (W * R))
              EXPECT_LE(p.blocks, bps * 132) << at; // one wave
          }
}

TEST(CudaGemvPlan, BatchOneChoiceFollowsRun5Sweep) {
  using namespace lq::cuda;
  auto same = [](I4KChoice c, int kernel, int R, int warps) {
    return c.kernel == kernel && c.R == R && c.warps == warps;
  };
  // The three shapes of run 5's sweep (H200, 132 SMs): their fastest points.
  EXPECT_TRUE(same(i4kChoose(4096, 128, 132), 7, 8, 4));  // 47% of copy
  EXPECT_TRUE(same(i4kChoose(4096, 448, 132), 7, 4, 16)); // 62%
  EXPECT_TRUE(same(i4kChoose(14336, 128, 132), 8, 4, 4)); // 66%
  // The prefetching kernel from 64 rows per SM on.
  EXPECT_EQ(i4kChoose(64 * 132 - 1, 128, 132).kernel, 7);
  EXPECT_EQ(i4kChoose(64 * 132, 128, 132).kernel, 8);
  EXPECT_EQ(i4kChoose(128256, 128, 132).kernel, 8); // a vocabulary head
  EXPECT_EQ(i4kChoose(8192, 128, 114).kernel, 8);   // fewer SMs
  for (int64_t N : {1, 7, 333, 4096, 8447, 8448, 14336, 128256})
    for (int64_t chunks : {1, 16, 44, 95, 128, 160, 255, 256, 257, 344, 448,
                           512, 513, 600, 896, 1000, 4096})
      for (int sms : {1, 16, 132}) {
        const I4KChoice c = i4kChoose(N, chunks, sms);
        const std::string at = "N=" + std::to_string(N) +
                               " chunks=" + std::to_string(chunks) +
                               " sms=" + std::to_string(sms);
        EXPECT_GE(c.warps, 1) << at;
        EXPECT_LE(c.warps, kI4KMaxWarps) << at;
        const int64_t perSlice = 32 * int64_t(c.warps);
        const int64_t slices = (chunks + perSlice - 1) / perSlice;
        // As few slices as blocks of kI4KMaxWarps warps allow.
        EXPECT_EQ(slices,
                  (chunks + 32 * kI4KMaxWarps - 1) / (32 * kI4KMaxWarps))
            << at;
        if (slices == 1) { // a power of two, less than twice the lanes needed
          EXPECT_EQ(c.warps & (c.warps - 1), 0) << at;
          EXPECT_LT(16 * c.warps, std::max<int64_t>(32, chunks)) << at;
        } else {
          EXPECT_LT(slices * perSlice - chunks, 32 * slices) << at;
        }
        // Only instantiated launches (launchI4KConfig: kernels 6-8, R 4 / 8).
        EXPECT_TRUE(c.kernel == 7 || c.kernel == 8) << at;
        EXPECT_TRUE(c.R == 4 || c.R == 8) << at;
        EXPECT_EQ(c.kernel == 8, N >= 64 * int64_t(sms)) << at;
        if (c.kernel == 8 || c.warps > 4)
          EXPECT_EQ(c.R, 4) << at;
        const I4KPlan p = planI4K(N, c.R, c.warps, 0, 1, sms);
        EXPECT_GE(int64_t(p.blocks) * p.rowsPerBlock, N) << at;
      }
}

TEST(CudaNoDriver, KernelsReportNoDevice) {
  REQUIRE_NO_GPU();
  expectNoDevice(qgemm(1, 8, 64, LQ_DTYPE_F16, LQ_FORMAT_INT, 4, 32));
  expectNoDevice(qgemm(64, 8, 64, LQ_DTYPE_F32, LQ_FORMAT_NF4, 4, 64));
  expectNoDevice(qgemm(1, 8, 64, LQ_DTYPE_F16, LQ_FORMAT_NVFP4, 4, 16));
  expectNoDevice(qgemm(64, 8, 64, LQ_DTYPE_F16, LQ_FORMAT_MXFP4, 4, 32));
  expectNoDevice(qgemm(3, 8, 64, LQ_DTYPE_F32, LQ_FORMAT_FP8_E4M3, 8, 0));
  expectNoDevice(qgemm(300, 8, 64, LQ_DTYPE_F16, LQ_FORMAT_FP8_E5M2, 8, 16));
  expectNoDevice(lq_cuda_qgemm_tc_nt(2, 8, 64, kP, LQ_DTYPE_F16, 64, kU8, kF,
                                     kF, LQ_FORMAT_INT, 8, 16, kW,
                                     LQ_DTYPE_F16, 8, nullptr));
  expectNoDevice(lq_cuda_gemm_w8a8(4, 8, 16, kI8, kI8, kF, 4, kF, 8, kW,
                                   LQ_DTYPE_F32, 8, nullptr));
  expectNoDevice(lq_cuda_gemm_fp8(4, 8, 16, kU8, kU8, kF, 1, kF, 1, kW,
                                  LQ_DTYPE_F16, 8, nullptr));
  expectNoDevice(lq_cuda_sgemm_nt(4, 8, 16, kF, 16, kF, 16,
                                  static_cast<float *>(kW), 8, nullptr));
  expectNoDevice(lq_cuda_hadamard(kP, kW, LQ_DTYPE_F16, 3, 32768, nullptr));
  lq_cuda_view4_t q = view(1, 4, 3, 8), k = view(1, 2, 5, 8),
                  v = view(1, 2, 5, 8), o = view(1, 4, 3, 8);
  expectNoDevice(lq_cuda_attention_f32(&q, &k, &v, &o, 1.f, 1, nullptr));
}

using CudaNoDriverDeathTest = ::testing::Test;

TEST_F(CudaNoDriverDeathTest, CompiledModelEntryPointsAbortWithMessage) {
  REQUIRE_NO_GPU();
  // "fast" (fork) style: safe here because no driver was ever loaded.
  GTEST_FLAG_SET(death_test_style, "fast");
  float *p = static_cast<float *>(kW);
  LqMemRef2 x = lqref::memref2(p, 2, 16, 16), w = lqref::memref2(p, 8, 16, 16),
            o = lqref::memref2(p, 2, 8, 8), s = lqref::memref2(p, 8, 1, 1);
  LqMemRef2I8 c;
  c.allocated = c.aligned = static_cast<int8_t *>(kW);
  c.offset = 0, c.sizes[0] = 8, c.sizes[1] = 8, c.strides[0] = 8,
  c.strides[1] = 1;
  EXPECT_DEATH(_mlir_ciface_lq_rt_cuda_linear_f32(&x, &w, &o),
               "lq_rt_cuda_linear_f32: no CUDA device / driver not found");
  EXPECT_DEATH(_mlir_ciface_lq_rt_cuda_linear_q_f32(&x, &c, &s, &s, &o, 0, 4,
                                                    16, 0),
               "lq_rt_cuda_linear_q_f32: no CUDA device / driver not found");
  LqMemRef4 q4;
  q4.allocated = q4.aligned = p;
  q4.offset = 0;
  for (int i = 0; i < 4; ++i)
    q4.sizes[i] = 2, q4.strides[i] = int64_t(1) << (3 - i);
  EXPECT_DEATH(_mlir_ciface_lq_rt_cuda_attention_f32(&q4, &q4, &q4, &q4, 1.f,
                                                     1),
               "lq_rt_cuda_attention_f32: no CUDA device / driver not found");
  int64_t slot[3] = {0, 0, 0};
  float cache[8] = {};
  EXPECT_DEATH(_mlir_ciface_lq_rt_cuda_kv_shadow(int64_t(intptr_t(slot)),
                                                 int64_t(intptr_t(cache)),
                                                 sizeof cache, 1),
               "lq_rt_cuda_kv_shadow: no CUDA device / driver not found");
}

TEST_F(CudaNoDriverDeathTest, MgpuEntryPointsAbortWithMessage) {
  REQUIRE_NO_GPU();
  // "fast" (fork) style: safe here because no driver was ever loaded.
  GTEST_FLAG_SET(death_test_style, "fast");
  const char *msg = "no CUDA device / driver not found";
  char blob[16] = {0};
  EXPECT_DEATH(mgpuModuleLoad(blob, sizeof blob),
               std::string("mgpuModuleLoad: ") + msg);
  EXPECT_DEATH(mgpuModuleGetFunction(nullptr, "k"),
               std::string("mgpuModuleGetFunction: ") + msg);
  EXPECT_DEATH(mgpuLaunchKernel(nullptr, 1, 1, 1, 1, 1, 1, 0, nullptr,
                                nullptr, nullptr, 0),
               std::string("mgpuLaunchKernel: ") + msg);
  EXPECT_DEATH(mgpuModuleUnload(nullptr),
               std::string("mgpuModuleUnload: ") + msg);
  EXPECT_DEATH(mgpuStreamCreate(), std::string("mgpuStreamCreate: ") + msg);
  EXPECT_DEATH(mgpuStreamSynchronize(nullptr),
               std::string("mgpuStreamSynchronize: ") + msg);
  EXPECT_DEATH(mgpuStreamDestroy(nullptr),
               std::string("mgpuStreamDestroy: ") + msg);
  EXPECT_DEATH(mgpuStreamWaitEvent(nullptr, nullptr),
               std::string("mgpuStreamWaitEvent: ") + msg);
  EXPECT_DEATH(mgpuEventCreate(), std::string("mgpuEventCreate: ") + msg);
  EXPECT_DEATH(mgpuEventRecord(nullptr, nullptr),
               std::string("mgpuEventRecord: ") + msg);
  EXPECT_DEATH(mgpuEventSynchronize(nullptr),
               std::string("mgpuEventSynchronize: ") + msg);
  EXPECT_DEATH(mgpuEventDestroy(nullptr),
               std::string("mgpuEventDestroy: ") + msg);
  EXPECT_DEATH(mgpuMemAlloc(64, nullptr, false),
               std::string("mgpuMemAlloc: ") + msg);
  EXPECT_DEATH(mgpuMemFree(kW, nullptr), std::string("mgpuMemFree: ") + msg);
  EXPECT_DEATH(mgpuMemcpy(kW, kW, 4, nullptr),
               std::string("mgpuMemcpy: ") + msg);
  EXPECT_DEATH(mgpuMemset32(kW, 0, 4, nullptr),
               std::string("mgpuMemset32: ") + msg);
  EXPECT_DEATH(mgpuMemset16(kW, 0, 4, nullptr),
               std::string("mgpuMemset16: ") + msg);
}

TEST(CudaMgpuDeathTest, JitIsRejectedWithMessage) {
  GTEST_FLAG_SET(death_test_style, haveDevice() ? "threadsafe" : "fast");
  char ptx[] = ".version 8.0";
  EXPECT_DEATH(mgpuModuleLoadJIT(ptx, 2, sizeof ptx),
               "mgpuModuleLoadJIT: PTX JIT is not supported");
}

//===----------------------------------------------------------------------===//
// Numerics (GPU only): float64 references, random inputs, odd sizes
//===----------------------------------------------------------------------===//

struct QCase {
  int64_t M, N, K;
  lq_format_t format;
  int bits;
  int64_t group;
  bool asym;
  lq_dtype_t a, c;
  lqref::QKernel kernel;
  double tol;
};

TEST(CudaNumerics, QuantizedGemvAndGemm) {
  REQUIRE_GPU();
  using K = lqref::QKernel;
  const auto F16 = LQ_DTYPE_F16, F32 = LQ_DTYPE_F32;
  const QCase cases[] = {
      // half2 GEMV path (aligned, f16 activations)
      {1, 333, 4096, LQ_FORMAT_INT, 4, 128, false, F16, F16, K::Gemv, 5e-3},
      {3, 257, 1024, LQ_FORMAT_INT, 4, 64, true, F16, F32, K::Gemv, 5e-3},
      {8, 100, 512, LQ_FORMAT_INT, 8, 32, false, F16, F32, K::Gemv, 5e-3},
      {5, 77, 768, LQ_FORMAT_INT, 8, 256, true, F16, F16, K::Gemv, 5e-3},
      {2, 129, 2048, LQ_FORMAT_NF4, 4, 64, false, F16, F32, K::Gemv, 5e-3},
      // general f32 GEMV path (odd K, small groups, f32 activations)
      {1, 101, 1001, LQ_FORMAT_INT, 4, 0, false, F32, F32, K::Gemv, 1e-5},
      {7, 45, 250, LQ_FORMAT_INT, 4, 50, true, F32, F32, K::Gemv, 1e-5},
      {4, 33, 99, LQ_FORMAT_INT, 8, 33, true, F32, F32, K::Gemv, 1e-5},
      {6, 31, 130, LQ_FORMAT_NF4, 4, 26, false, F32, F32, K::Gemv, 1e-5},
      // tensor-core GEMM (weights and activations rounded to f16)
      {200, 300, 512, LQ_FORMAT_INT, 4, 128, false, F16, F32, K::TensorCore,
       3e-3},
      {77, 130, 250, LQ_FORMAT_INT, 4, 50, true, F32, F32, K::TensorCore,
       3e-3},
      {129, 65, 96, LQ_FORMAT_INT, 8, 32, true, F16, F16, K::TensorCore, 3e-3},
      {50, 200, 333, LQ_FORMAT_NF4, 4, 0, false, F32, F16, K::TensorCore,
       3e-3},
      {9, 17, 64, LQ_FORMAT_INT, 4, 16, false, F32, F32, K::Auto, 3e-3},
      // prefill from M = 128 on: dequantize to f16 + cuBLASLt
      {256, 264, 512, LQ_FORMAT_INT, 4, 128, true, F16, F16, K::TensorCore,
       3e-3},
      {130, 136, 200, LQ_FORMAT_INT, 8, 40, false, F16, F32, K::Auto, 3e-3},
      // MXFP4 / NVFP4 (E2M1) and FP8 weights: half2 GEMV (NVFP4's group 16
      // splits a chunk), general GEMV, WMMA, dequantize + cuBLASLt. asym:
      // biases given and ignored, as on the CPU.
      {1, 333, 1024, LQ_FORMAT_NVFP4, 4, 16, false, F16, F16, K::Gemv, 5e-3},
      {5, 101, 512, LQ_FORMAT_MXFP4, 4, 32, true, F16, F32, K::Gemv, 5e-3},
      {8, 77, 288, LQ_FORMAT_NVFP4, 4, 48, false, F16, F32, K::Gemv, 5e-3},
      {3, 45, 250, LQ_FORMAT_NVFP4, 4, 50, false, F32, F32, K::Gemv, 1e-5},
      {1, 129, 512, LQ_FORMAT_FP8_E4M3, 8, 0, false, F16, F32, K::Gemv, 5e-3},
      {4, 65, 384, LQ_FORMAT_FP8_E4M3, 8, 128, true, F16, F16, K::Gemv, 5e-3},
      {2, 99, 320, LQ_FORMAT_FP8_E5M2, 8, 16, false, F16, F32, K::Gemv, 5e-3},
      {7, 31, 99, LQ_FORMAT_FP8_E4M3, 8, 33, false, F32, F32, K::Gemv, 1e-5},
      {6, 33, 101, LQ_FORMAT_FP8_E5M2, 8, 0, false, F32, F32, K::Gemv, 1e-5},
      {77, 130, 256, LQ_FORMAT_NVFP4, 4, 16, false, F32, F32, K::TensorCore,
       3e-3},
      {50, 99, 160, LQ_FORMAT_FP8_E4M3, 8, 32, false, F16, F16,
       K::TensorCore, 3e-3},
      {33, 40, 75, LQ_FORMAT_FP8_E5M2, 8, 0, false, F32, F32, K::TensorCore,
       3e-3},
      {256, 264, 512, LQ_FORMAT_MXFP4, 4, 32, false, F16, F32, K::Auto, 3e-3},
      {130, 136, 256, LQ_FORMAT_NVFP4, 4, 16, true, F16, F16, K::Auto, 3e-3},
      {200, 72, 384, LQ_FORMAT_FP8_E4M3, 8, 128, false, F16, F32, K::Auto,
       3e-3},
  };
  uint32_t seed = 1;
  for (const QCase &c : cases) {
    std::string err;
    double e = lqref::checkQGemm(seed++, c.M, c.N, c.K, c.format, c.bits,
                                 c.group, c.asym, c.a, c.c, c.kernel, &err);
    EXPECT_LT(e, c.tol) << "M=" << c.M << " N=" << c.N << " K=" << c.K
                        << " format=" << c.format << " bits=" << c.bits
                        << " group=" << c.group << " asym=" << c.asym << " "
                        << err;
  }
}

// FP8 E4M3's NaN codes (S.1111.111) decode to NaN on the CPU
// (lq_fp8_e4m3fn_to_f32): the output rows of a weight row holding one are
// NaN on every path, the others finite.
TEST(CudaNumerics, Fp8E4M3NanCodes) {
  REQUIRE_GPU();
  const int64_t M = 2, N = 9, K = 64;
  std::mt19937 rng(5);
  for (int path = 0; path < 3; ++path) { // half2 GEMV, f32 GEMV, GEMM
    const lq_dtype_t at = path == 1 ? LQ_DTYPE_F32 : LQ_DTYPE_F16;
    const int64_t rows = path == 2 ? 20 : M;
    lqref::Act a = lqref::randomAct(rng, rows, K, at);
    std::vector<uint8_t> codes(size_t(N * K), 0x38); // 1.0
    codes[size_t(3 * K + 10)] = path == 1 ? 0xFF : 0x7F;
    std::vector<float> scales(size_t(N), 0.5f);
    lqref::DevBuf dA = lqref::upload(a.bytes), dC = lqref::upload(codes),
                  dS = lqref::upload(scales), dOut(size_t(rows * N) * 4);
    const lq_cuda_status_t st = lq_cuda_qgemm_nt(
        rows, N, K, dA.p, at, K, dC.as<uint8_t>(), dS.as<float>(), nullptr,
        LQ_FORMAT_FP8_E4M3, 8, 0, dOut.p, LQ_DTYPE_F32, N, nullptr);
    ASSERT_EQ(st, LQ_CUDA_OK) << lq_cuda_last_error();
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const std::vector<double> out =
        lqref::readBack(dOut.p, size_t(rows * N), LQ_DTYPE_F32);
    for (int64_t m = 0; m < rows; ++m)
      for (int64_t n = 0; n < N; ++n)
        EXPECT_EQ(std::isnan(out[size_t(m * N + n)]), n == 3)
            << "path " << path << " m=" << m << " n=" << n;
  }
}

// Batch-1 int4 GEMVs back to back, the second reading the first's output:
// the batch-1 kernel loads weights before waiting on the previous kernel
// (programmatic dependent launch on sm_90+) and must still see its output.
TEST(CudaNumerics, DependentInt4Gemvs) {
  REQUIRE_GPU();
  std::string err;
  const double e = lqref::checkGemvChain(7, 4096, 1408, 333, 10, &err);
  EXPECT_LT(e, 5e-3) << err;
}

TEST(CudaNumerics, W8A8AndFp8) {
  REQUIRE_GPU();
  std::string err;
  EXPECT_LT(lqref::checkLowpGemm(11, false, 128, 256, 512, true, true,
                                 LQ_DTYPE_F32, &err), 1e-5) << err;
  EXPECT_LT(lqref::checkLowpGemm(12, false, 33, 65, 70, false, true,
                                 LQ_DTYPE_F16, &err), 1e-3) << err;
  lq_cuda_device_info_t info;
  ASSERT_EQ(lq_cuda_device_info(0, &info), LQ_CUDA_OK);
  if (info.major * 10 + info.minor < 89)
    GTEST_SKIP() << "FP8 needs sm_89+";
  // Hopper's FP8 MMA accumulates with reduced precision (about 14 mantissa
  // bits, DeepSeek-V3 report sec. 3.3.2): ~2e-4 measured at K=512 on an H200.
  EXPECT_LT(lqref::checkLowpGemm(13, true, 128, 256, 512, false, false,
                                 LQ_DTYPE_F32, &err), 1e-3) << err;
  EXPECT_LT(lqref::checkLowpGemm(14, true, 64, 96, 128, true, true,
                                 LQ_DTYPE_F16, &err), 2e-3) << err;
  EXPECT_LT(lqref::checkLowpGemm(15, true, 31, 45, 50, true, false,
                                 LQ_DTYPE_F32, &err), 1e-4) << err;
}

TEST(CudaNumerics, Hadamard) {
  REQUIRE_GPU();
  std::string err;
  for (int64_t n : {1, 2, 64, 4096, 8192, 32768}) {
    EXPECT_LT(lqref::checkHadamard(uint32_t(n), 3, n, LQ_DTYPE_F32, false,
                                   &err), 1e-5) << n << " " << err;
    EXPECT_LT(lqref::checkHadamard(uint32_t(n + 1), 2, n, LQ_DTYPE_F16, true,
                                   &err), 2e-3) << n << " " << err;
  }
}

TEST(CudaNumerics, Attention) {
  REQUIRE_GPU();
  std::string err;
  EXPECT_LT(lqref::checkAttention(21, 2, 4, 2, 5, 9, 16, 12, true, -1, false,
                                  &err), 1e-5) << err;
  EXPECT_LT(lqref::checkAttention(22, 1, 3, 3, 7, 7, 33, 5, false, -1, false,
                                  &err), 1e-5) << err;
  EXPECT_LT(lqref::checkAttention(23, 1, 4, 1, 2, 16, 8, 8, true, 5, false,
                                  &err), 1e-5) << err;
  EXPECT_LT(lqref::checkAttention(24, 2, 2, 1, 4, 6, 8, 8, true, -1, true,
                                  &err), 1e-5) << err;
}

TEST(CudaNumerics, CompiledModelEntryPoints) {
  REQUIRE_GPU();
  std::string err;
  EXPECT_LT(lqref::checkLinearF32Ciface(31, 5, 37, 129, &err), 1e-5) << err;
  EXPECT_LT(lqref::checkLinearQCiface(32, 3, 65, 256, LQ_FORMAT_INT, 4, 64,
                                      true, &err), 1e-5) << err;
  EXPECT_LT(lqref::checkLinearQCiface(33, 40, 65, 256, LQ_FORMAT_INT, 8, 32,
                                      false, &err), 3e-3) << err;
}

TEST(CudaNumerics, MgpuMemoryStreamsEvents) {
  REQUIRE_GPU();
  mgpuSetDefaultDevice(0);
  void *st = mgpuStreamCreate();
  void *ev = mgpuEventCreate();
  const size_t n = 1001;
  auto *d32 = static_cast<uint32_t *>(mgpuMemAlloc(n * 4, st, false));
  auto *d16 = static_cast<uint16_t *>(mgpuMemAlloc(n * 2, st, false));
  ASSERT_NE(d32, nullptr);
  mgpuMemset32(d32, 0xdeadbeefu, n, st);
  mgpuMemset16(d16, 0xbeef, n, st);
  std::vector<uint32_t> h32(n, 0);
  std::vector<uint16_t> h16(n, 0);
  mgpuMemcpy(h32.data(), d32, n * 4, st);
  mgpuMemcpy(h16.data(), d16, n * 2, st);
  mgpuEventRecord(ev, st);
  mgpuEventSynchronize(ev);
  void *st2 = mgpuStreamCreate();
  mgpuStreamWaitEvent(st2, ev);
  mgpuStreamSynchronize(st2);
  for (size_t i = 0; i < n; ++i) {
    ASSERT_EQ(h32[i], 0xdeadbeefu) << i;
    ASSERT_EQ(h16[i], 0xbeef) << i;
  }
  mgpuMemFree(d32, st);
  mgpuMemFree(d16, st);
  mgpuEventDestroy(ev);
  mgpuStreamDestroy(st2);
  mgpuStreamDestroy(st);
}

// The contract lq-gpu-device-buffers' stream-ordered mode relies on: the
// stream mgpuStreamCreate gives is the legacy default stream, which
// lq_rt_cuda's kernels use; buffers freed and allocated again in stream
// order (the pool hands the same memory back) keep the order of the work
// around them; managed buffers are freed through the same entry point.
TEST(CudaNumerics, MgpuStreamOrderedPool) {
  REQUIRE_GPU();
  mgpuSetDefaultDevice(0);
  void *st = mgpuStreamCreate();
  EXPECT_EQ(st, nullptr);
  const size_t n = 1 << 20;
  std::vector<uint32_t> h(n, 0);
  for (uint32_t round = 0; round < 8; ++round) {
    auto *a = static_cast<uint32_t *>(mgpuMemAlloc(n * 4, st, false));
    ASSERT_NE(a, nullptr);
    mgpuMemset32(a, 0x1000u + round, n, st);
    auto *b = static_cast<uint32_t *>(mgpuMemAlloc(n * 4, st, false));
    mgpuMemcpy(b, a, n * 4, st); // device to device, after the memset
    mgpuMemFree(a, st);          // in stream order: after the copy read it
    auto *c = static_cast<uint32_t *>(mgpuMemAlloc(n * 4, st, false));
    mgpuMemset32(c, 0xffffffffu, n, st); // may reuse a's memory
    mgpuMemcpy(h.data(), b, n * 4, st);
    mgpuStreamSynchronize(st);
    for (size_t i = 0; i < n; i += 4099)
      ASSERT_EQ(h[i], 0x1000u + round) << "round " << round << " at " << i;
    mgpuMemFree(b, st);
    mgpuMemFree(c, st);
  }
  auto *m = static_cast<uint32_t *>(mgpuMemAlloc(64, st, true));
  ASSERT_NE(m, nullptr);
  m[3] = 7; // managed memory: the host may touch it
  EXPECT_EQ(m[3], 7u);
  mgpuMemFree(m, st);
  mgpuStreamSynchronize(st);
  mgpuStreamDestroy(st);
}

// lq_rt_cuda_kv_shadow (device-kv-caches): the device buffer of a host
// cache is made and uploaded once, kept while the host buffer is the same
// (device writes survive, the host copy is not consulted), uploaded again
// for a refresh (a step at position 0) and for another host buffer.
TEST(CudaNumerics, KvShadowKeepsTheCacheOnTheDevice) {
  REQUIRE_GPU();
  int64_t slot[3] = {0, 0, 0};
  std::vector<float> a(1000, 1.f), b(1000, 3.f), h(1000, 0.f);
  auto shadow = [&](std::vector<float> &host, int refresh) {
    return reinterpret_cast<float *>(_mlir_ciface_lq_rt_cuda_kv_shadow(
        int64_t(intptr_t(slot)), int64_t(intptr_t(host.data())),
        int64_t(host.size() * 4), refresh));
  };
  float *d = shadow(a, 0);
  ASSERT_NE(d, nullptr);
  ASSERT_EQ(cudaMemcpy(h.data(), d, 4000, cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(h[999], 1.f); // uploaded
  const float two = 2.f;
  ASSERT_EQ(cudaMemcpy(d + 5, &two, 4, cudaMemcpyHostToDevice), cudaSuccess);
  a[5] = 9.f; // the host buffer is only the cache's name now
  EXPECT_EQ(shadow(a, 0), d);
  ASSERT_EQ(cudaMemcpy(h.data(), d, 4000, cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(h[5], 2.f); // the device's contents survive
  EXPECT_EQ(shadow(a, 1), d);
  ASSERT_EQ(cudaMemcpy(h.data(), d, 4000, cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(h[5], 9.f); // refreshed from the host
  float *e = shadow(b, 0);
  ASSERT_EQ(cudaMemcpy(h.data(), e, 4000, cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(h[0], 3.f); // another buffer: uploaded
  cudaFree(e);
}

TEST(CudaMgpuDeathTest, WrongImageNamesTheGpu) {
  REQUIRE_GPU();
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  char blob[64] = "definitely not a cubin";
  EXPECT_DEATH(mgpuModuleLoad(blob, sizeof blob), "mgpuModuleLoad: .*sm_");
}

//===----------------------------------------------------------------------===//
// Attention over a quantized KV cache (lq_cuda_attention_at_q)
//===----------------------------------------------------------------------===//

/// A valid int8 per-token view [1, 2, 5, 8] at fake device pointers.
lq_cuda_qview4_t qkv(int64_t Hkv = 2, int64_t S = 5, int64_t D = 8) {
  lq_cuda_qview4_t x{};
  x.codes = kU8;
  x.scales = kP;
  x.sizes[0] = 1, x.sizes[1] = Hkv, x.sizes[2] = S, x.sizes[3] = D;
  x.strides[3] = 1, x.strides[2] = D, x.strides[1] = S * D,
  x.strides[0] = Hkv * S * D;
  x.scale_sizes[0] = 1, x.scale_sizes[1] = Hkv, x.scale_sizes[2] = S,
  x.scale_sizes[3] = 1;
  x.scale_strides[3] = 1, x.scale_strides[2] = 1, x.scale_strides[1] = S,
  x.scale_strides[0] = Hkv * S;
  x.format = LQ_FORMAT_INT, x.bits = 8;
  return x;
}

TEST(CudaValidation, QuantizedAttention) {
  const auto INV = LQ_CUDA_ERROR_INVALID_ARGUMENT;
  lq_cuda_view4_t q = view(1, 4, 3, 8), o = view(1, 4, 3, 8);
  auto expectInvalid = [&](const lq_cuda_qview4_t &k,
                           const lq_cuda_qview4_t &v, const char *what,
                           int64_t position = 2,
                           const lq_cuda_view4_t *out = nullptr) {
    EXPECT_EQ(lq_cuda_attention_at_q(&q, &k, &v, out ? out : &o, 1.f, 1,
                                     position, nullptr),
              INV)
        << what;
    EXPECT_NE(lastError().find("lq_cuda_attention_at_q: "), std::string::npos)
        << lastError();
    EXPECT_NE(lastError().find(what), std::string::npos) << lastError();
  };
  const lq_cuda_qview4_t good = qkv();
  lq_cuda_qview4_t k = good;
  k.bits = 4, k.format = LQ_FORMAT_FP8_E4M3;
  expectInvalid(k, good, "keys: unsupported format/bits");
  k = good, k.format = LQ_FORMAT_NF4;
  expectInvalid(good, k, "values: unsupported format/bits");
  k = good, k.format = LQ_FORMAT_NVFP4; // 8 bits
  expectInvalid(k, good, "unsupported format/bits");
  k = good, k.scales = nullptr;
  expectInvalid(k, good, "null codes or scales");
  k = good, k.scale_type = 3;
  expectInvalid(k, good, "unknown scale_type");
  k = good, k.scale_sizes[2] = 2; // 2 does not divide S = 5
  expectInvalid(k, good, "scale blocks must divide S and D");
  k = good, k.scale_sizes[1] = 3;
  expectInvalid(k, good, "scale_sizes[0] / [1]");
  k = good, k.bits = 4; // int4, D = 8, 3 channels per group does not divide
  k.scale_sizes[3] = 3;
  expectInvalid(k, good, "scale blocks must divide");
  lq_cuda_qview4_t k6 = qkv(2, 5, 6);
  k6.bits = 4, k6.scale_sizes[3] = 2; // groups of 3 channels: odd
  lq_cuda_view4_t q6 = view(1, 4, 3, 6);
  EXPECT_EQ(lq_cuda_attention_at_q(&q6, &k6, &good, &o, 1.f, 1, 2, nullptr),
            INV);
  EXPECT_NE(lastError().find("even D and channel groups"), std::string::npos)
      << lastError();
  k = qkv(3);
  expectInvalid(k, k, "inconsistent shapes"); // 4 query heads over 3
  k = qkv(2, 6);
  expectInvalid(k, good, "inconsistent shapes"); // K and V lengths differ
  lq_cuda_view4_t o7 = view(1, 4, 3, 7);
  expectInvalid(good, good, "inconsistent shapes", 2, &o7);
  expectInvalid(good, good, "negative position", -1);
  EXPECT_EQ(lq_cuda_attention_at_q(nullptr, &good, &good, &o, 1.f, 1, 0,
                                    nullptr),
            INV);
  EXPECT_NE(lastError().find("null view"), std::string::npos) << lastError();
}

TEST(CudaNoDriver, QuantizedAttentionReportsNoDevice) {
  REQUIRE_NO_GPU();
  lq_cuda_view4_t q = view(1, 4, 3, 8), o = view(1, 4, 3, 8);
  lq_cuda_qview4_t k = qkv(), v = qkv();
  // Every format the CPU kernel takes passes validation.
  expectNoDevice(lq_cuda_attention_at_q(&q, &k, &v, &o, 1.f, 1, 2, nullptr));
  k.bits = v.bits = 4;
  k.scale_sizes[3] = v.scale_sizes[3] = 4; // int4, groups of 2 channels
  expectNoDevice(lq_cuda_attention_at_q(&q, &k, &v, &o, 1.f, 0, 0, nullptr));
  k.format = v.format = LQ_FORMAT_NVFP4;
  k.scale_type = v.scale_type = LQ_CUDA_SCALE_E4M3;
  k.global_scale = v.global_scale = 0.5f;
  expectNoDevice(lq_cuda_attention_at_q(&q, &k, &v, &o, 1.f, 1, 2, nullptr));
  k = qkv(), v = qkv();
  k.format = LQ_FORMAT_FP8_E5M2, k.scale_type = LQ_CUDA_SCALE_F16;
  k.scale_sizes[0] = k.scale_sizes[2] = 1, k.scale_sizes[3] = 8; // channel
  v.format = LQ_FORMAT_FP8_E4M3;
  expectNoDevice(lq_cuda_attention_at_q(&q, &k, &v, &o, 1.f, 1, 2, nullptr));
}

TEST_F(CudaNoDriverDeathTest, QuantizedAttentionEntryPointAbortsWithMessage) {
  REQUIRE_NO_GPU();
  GTEST_FLAG_SET(death_test_style, "fast");
  float *p = static_cast<float *>(kW);
  LqMemRef4 q4, s4;
  LqMemRef4U8 c4;
  q4.allocated = q4.aligned = p;
  s4.allocated = s4.aligned = p;
  c4.allocated = c4.aligned = static_cast<uint8_t *>(kW);
  q4.offset = s4.offset = c4.offset = 0;
  for (int i = 0; i < 4; ++i) {
    q4.sizes[i] = c4.sizes[i] = 2, s4.sizes[i] = i == 3 ? 1 : 2;
    q4.strides[i] = c4.strides[i] = int64_t(1) << (3 - i);
    s4.strides[i] = i == 3 ? 1 : int64_t(1) << (2 - i);
  }
  EXPECT_DEATH(_mlir_ciface_lq_rt_cuda_attention_at_q_i8(
                   &q4, &c4, &s4, &c4, &s4, &q4, 1.f, 1, 0, LQ_FORMAT_INT, 8),
               "lq_rt_cuda_attention_at_q_i8: no CUDA device / driver not "
               "found");
  EXPECT_DEATH(_mlir_ciface_lq_rt_cuda_attention_at_q_i8(
                   &q4, &c4, &s4, &c4, &s4, &q4, 1.f, 1, 0, LQ_FORMAT_NF4, 4),
               "lq_rt_cuda_attention_at_q_i8: lq_cuda_attention_at_q: keys: "
               "unsupported format");
}

TEST(CudaNumerics, QuantizedAttention) {
  REQUIRE_GPU();
  using lqref::KVCase;
  using lqref::KVGran;
  const auto TOK = KVGran::PerToken, HEAD = KVGran::PerHead,
             CH = KVGran::PerChannel;
  const auto F32 = LQ_CUDA_SCALE_F32, F16 = LQ_CUDA_SCALE_F16,
             E4 = LQ_CUDA_SCALE_E4M3;
  const KVCase cases[] = {
      {LQ_FORMAT_INT, 8, F32, TOK, TOK, 0},
      {LQ_FORMAT_INT, 8, F16, CH, TOK, 16},
      {LQ_FORMAT_INT, 4, F32, TOK, HEAD, 32},
      {LQ_FORMAT_INT, 4, F32, CH, CH, 0},
      {LQ_FORMAT_FP8_E4M3, 8, F32, HEAD, TOK, 0},
      {LQ_FORMAT_FP8_E5M2, 8, F16, TOK, TOK, 0},
      {LQ_FORMAT_NVFP4, 4, E4, TOK, TOK, 16},
  };
  std::string err;
  uint32_t seed = 60;
  for (const KVCase &c : cases) {
    // Decode with GQA over a long cache (splits), prefill T = 5 at a
    // position, odd lengths and head dimensions, padded rows.
    EXPECT_LT(lqref::checkAttentionQ(seed++, 1, 8, 2, 1, 700, 64, 64, true,
                                     -1, c, 0, false, &err),
              1e-5) << c.fmt << "/" << c.bits << " " << err;
    EXPECT_LT(lqref::checkAttentionQ(seed++, 2, 6, 3, 5, 41, 32, 48, true, 17,
                                     c, 4, false, &err),
              1e-5) << c.fmt << "/" << c.bits << " " << err;
    EXPECT_LT(lqref::checkAttentionQ(seed++, 1, 3, 1, 5, 37, 32, 32, false, 9,
                                     c, 1, false, &err),
              1e-5) << c.fmt << "/" << c.bits << " " << err;
  }
  const KVCase i8{LQ_FORMAT_INT, 8, F32, TOK, TOK, 0};
  EXPECT_LT(lqref::checkAttentionQ(90, 1, 4, 2, 1, 33, 7, 5, true, 20, i8, 3,
                                   false, &err), 1e-5) << err;
  EXPECT_LT(lqref::checkAttentionQ(91, 1, 4, 2, 3, 64, 16, 16, true, -1, i8, 0,
                                   true, &err), 1e-5) << err;
  // Tiles too wide for the register staging: the looping decoder.
  EXPECT_LT(lqref::checkAttentionQ(93, 1, 4, 2, 5, 70, 48, 40, true, 60, i8, 1,
                                   false, &err), 1e-5) << err;
  EXPECT_LT(lqref::checkAttentionQ(94, 1, 2, 1, 1, 40, 256, 256, true, -1, i8,
                                   0, false, &err), 1e-5) << err;
  EXPECT_LT(lqref::checkAttentionQ(92, 1, 4, 2, 1, 64, 32, 32, true, 40,
                                   cases[6], 0, true, &err), 1e-5) << err;
}

} // namespace
