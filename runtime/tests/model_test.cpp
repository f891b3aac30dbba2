//===- model_test.cpp - lq_rt model loading and .npy files ---------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Running a compiled model is tested end to end in test/Integration (it needs
// quant-compile); here: the error paths and the .npy codec.
//
//===----------------------------------------------------------------------===//

#include "lq_rt/lq_rt.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include <dlfcn.h>
#include <unistd.h>

namespace {

std::string tempPath(const char *name) {
  return std::string(::testing::TempDir()) + name;
}

TEST(Npy, RoundTripsEveryDtype) {
  const lq_dtype_t dtypes[] = {LQ_DTYPE_F32, LQ_DTYPE_F16, LQ_DTYPE_F64,
                               LQ_DTYPE_I64, LQ_DTYPE_I32, LQ_DTYPE_I16,
                               LQ_DTYPE_I8,  LQ_DTYPE_BOOL};
  for (lq_dtype_t dt : dtypes) {
    unsigned char bytes[2 * 3 * 8];
    for (size_t i = 0; i < sizeof(bytes); ++i)
      bytes[i] = (unsigned char)(i * 7 + 1);
    if (dt == LQ_DTYPE_BOOL)
      for (auto &b : bytes)
        b &= 1;
    lq_tensor_t t = {dt, 2, {2, 3}, bytes};
    std::string path = tempPath("rt.npy");
    ASSERT_EQ(lq_npy_write(path.c_str(), &t), LQ_RT_OK) << lq_rt_last_error();
    lq_tensor_t back{};
    ASSERT_EQ(lq_npy_read(path.c_str(), &back), LQ_RT_OK) << lq_rt_last_error();
    EXPECT_EQ(back.dtype, dt);
    ASSERT_EQ(back.rank, 2);
    EXPECT_EQ(back.shape[0], 2);
    EXPECT_EQ(back.shape[1], 3);
    EXPECT_EQ(std::memcmp(back.data, bytes, 6 * lq_dtype_size(dt)), 0);
    lq_tensor_free(&back);
    EXPECT_EQ(back.data, nullptr);
  }
}

TEST(Npy, RankZeroAndOne) {
  float v = 3.5f;
  lq_tensor_t s = {LQ_DTYPE_F32, 0, {}, &v};
  std::string path = tempPath("scalar.npy");
  ASSERT_EQ(lq_npy_write(path.c_str(), &s), LQ_RT_OK);
  lq_tensor_t back{};
  ASSERT_EQ(lq_npy_read(path.c_str(), &back), LQ_RT_OK);
  EXPECT_EQ(back.rank, 0);
  EXPECT_EQ(*static_cast<float *>(back.data), 3.5f);
  lq_tensor_free(&back);
  int64_t ids[3] = {1, 2, 3};
  lq_tensor_t one = {LQ_DTYPE_I64, 1, {3}, ids};
  ASSERT_EQ(lq_npy_write(path.c_str(), &one), LQ_RT_OK);
  ASSERT_EQ(lq_npy_read(path.c_str(), &back), LQ_RT_OK);
  EXPECT_EQ(back.rank, 1);
  EXPECT_EQ(back.shape[0], 3);
  EXPECT_EQ(static_cast<int64_t *>(back.data)[2], 3);
  lq_tensor_free(&back);
}

TEST(Npy, RejectsBadFiles) {
  lq_tensor_t t{};
  EXPECT_EQ(lq_npy_read("/nonexistent/x.npy", &t), LQ_RT_ERROR_IO);
  EXPECT_NE(std::string(lq_rt_last_error()).find("cannot open"),
            std::string::npos);
  std::string path = tempPath("bad.npy");
  FILE *f = std::fopen(path.c_str(), "wb");
  std::fputs("hello, not numpy", f);
  std::fclose(f);
  EXPECT_EQ(lq_npy_read(path.c_str(), &t), LQ_RT_ERROR_FORMAT);
  // A valid header followed by too little data.
  int32_t v[4] = {1, 2, 3, 4};
  lq_tensor_t four = {LQ_DTYPE_I32, 1, {4}, v};
  ASSERT_EQ(lq_npy_write(path.c_str(), &four), LQ_RT_OK);
  f = std::fopen(path.c_str(), "r+b");
  std::fseek(f, 0, SEEK_END);
  long size = std::ftell(f);
  std::fclose(f);
  ASSERT_EQ(truncate(path.c_str(), size - 4), 0);
  EXPECT_EQ(lq_npy_read(path.c_str(), &t), LQ_RT_ERROR_FORMAT);
  EXPECT_EQ(t.data, nullptr);
}

TEST(Model, LoadErrorsAreReported) {
  lq_model_t *m = reinterpret_cast<lq_model_t *>(1);
  EXPECT_EQ(lq_model_load("/nonexistent/model.so", &m), LQ_RT_ERROR_IO);
  EXPECT_EQ(m, nullptr);
  EXPECT_NE(std::string(lq_rt_last_error()).find("cannot load"),
            std::string::npos);
  // A real shared library that is not an lq model (libm, by its path: a
  // model path is a file, never looked up on the library path).
  Dl_info info{};
  ASSERT_NE(dladdr(reinterpret_cast<void *>(&cosf), &info), 0);
  ASSERT_NE(info.dli_fname, nullptr);
  EXPECT_EQ(lq_model_load(info.dli_fname, &m), LQ_RT_ERROR_FORMAT);
  EXPECT_NE(std::string(lq_rt_last_error()).find("not an lq model"),
            std::string::npos);
  EXPECT_EQ(lq_model_load("libm.so.6", &m), LQ_RT_ERROR_IO);
  EXPECT_EQ(lq_model_load(nullptr, &m), LQ_RT_ERROR_INVALID_ARGUMENT);
}

TEST(Model, NullModelIsAnErrorNotACrash) {
  lq_tensor_t t{};
  EXPECT_EQ(lq_model_run(nullptr, &t, 1, &t, 1), LQ_RT_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(lq_model_num_inputs(nullptr), 0u);
  EXPECT_EQ(lq_model_input_name(nullptr, 0), nullptr);
  lq_model_free(nullptr);
}

} // namespace

// The allocator compiled models use (alloc.cpp): aligned blocks, reused
// after a free, never handing out one block twice.
TEST(Allocator, AlignsReusesAndKeepsBlocksApart) {
  void *a = _mlir_memref_to_llvm_alloc(1000);
  void *b = _mlir_memref_to_llvm_alloc(1000);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a, b);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % 64, 0u);
  std::memset(a, 1, 1000);
  std::memset(b, 2, 1000);
  EXPECT_EQ(static_cast<unsigned char *>(a)[999], 1);
  _mlir_memref_to_llvm_free(a);
  // The freed block comes back for the same size...
  void *c = _mlir_memref_to_llvm_alloc(1000);
  EXPECT_EQ(c, a);
  // ...but never a block smaller than asked for, nor one far larger.
  void *big = _mlir_memref_to_llvm_alloc(1 << 20);
  std::memset(big, 3, 1 << 20);
  _mlir_memref_to_llvm_free(big);
  void *small = _mlir_memref_to_llvm_alloc(64);
  EXPECT_NE(small, big);
  void *again = _mlir_memref_to_llvm_alloc((1 << 20) - 100);
  EXPECT_EQ(again, big);
  // Alignments above a cache line.
  for (size_t align : {128, 4096}) {
    void *p = _mlir_memref_to_llvm_aligned_alloc(align, 3000);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % align, 0u) << align;
    _mlir_memref_to_llvm_free(p);
  }
  _mlir_memref_to_llvm_free(nullptr);
  for (void *p : {b, c, small, again})
    _mlir_memref_to_llvm_free(p);
}
