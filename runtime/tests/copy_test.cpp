//===- copy_test.cpp - lq_rt_copy_f32 vs an element loop -----------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#include "lq_rt/kernels.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace {

/// A view of `sizes` inside a buffer whose dimensions are padded by `pad`
/// (so rows are strided), dimensions ordered by `perm` from outermost.
lq_rt_view4_t viewIn(std::vector<float> &buf, const int64_t sizes[4], const int64_t pad[4],
                     const int perm[4]) {
  lq_rt_view4_t v;
  int64_t stride = 1;
  for (int j = 3; j >= 0; --j) {
    const int i = perm[j];
    v.strides[i] = stride;
    stride *= sizes[i] + pad[i];
  }
  buf.assign(size_t(stride) + 3, -1.0f);
  v.data = buf.data() + 3; // an offset, as a subview has
  for (int i = 0; i < 4; ++i)
    v.sizes[i] = sizes[i];
  return v;
}

float &at(const lq_rt_view4_t &v, int64_t a, int64_t b, int64_t c, int64_t d) {
  return v.data[a * v.strides[0] + b * v.strides[1] + c * v.strides[2] + d * v.strides[3]];
}

TEST(CopyF32, MatchesElementLoopOnStridedViews) {
  std::mt19937 rng(11);
  const int identity[4] = {0, 1, 2, 3}, lastInner[4] = {0, 1, 3, 2};
  struct Case {
    int64_t sizes[4], srcPad[4], dstPad[4];
    const int *dstPerm;
  };
  const Case cases[] = {
      // A KV cache's past [1, 4, 127, 64] into present rows [:, :, :127]:
      // dense [127, 64] blocks, 130 KB (split between threads).
      {{1, 4, 127, 64}, {0, 0, 0, 0}, {0, 0, 1, 0}, identity},
      {{2, 3, 5, 7}, {1, 0, 2, 0}, {0, 2, 0, 3}, identity},     // rows of 7
      {{3, 1, 40, 600}, {0, 0, 0, 5}, {0, 0, 3, 0}, identity},  // 288 KB, strided rows
      {{2, 3, 33, 17}, {0, 0, 0, 0}, {0, 0, 0, 0}, lastInner},  // transposed: element loop
      {{1, 1, 1, 9}, {0, 0, 0, 0}, {0, 0, 0, 4}, identity},     // one row
      {{1, 2, 1, 40000}, {0, 0, 0, 0}, {0, 0, 0, 0}, identity}, // dense, 320 KB: split
  };
  const int saved = lq_rt_get_num_threads();
  for (const Case &c : cases)
    for (int threads : {1, 3}) { // 3: the large copies split between threads
    lq_rt_set_num_threads(threads);
    std::vector<float> sb, db;
    lq_rt_view4_t s = viewIn(sb, c.sizes, c.srcPad, identity);
    lq_rt_view4_t d = viewIn(db, c.sizes, c.dstPad, c.dstPerm);
    std::uniform_real_distribution<float> u(-1, 1);
    for (float &x : sb)
      x = u(rng);
    // A size-1 dimension's stride is never used: make it odd.
    for (int i = 0; i < 4; ++i)
      if (c.sizes[i] == 1)
        s.strides[i] = 12345;
    const std::vector<float> before = db;
    ASSERT_EQ(lq_rt_copy_f32(&s, &d), 0);
    // Every element of the view copied; everything else untouched.
    std::vector<bool> inView(db.size(), false);
    for (int64_t a = 0; a < c.sizes[0]; ++a)
      for (int64_t b = 0; b < c.sizes[1]; ++b)
        for (int64_t e = 0; e < c.sizes[2]; ++e)
          for (int64_t f = 0; f < c.sizes[3]; ++f) {
            ASSERT_EQ(at(d, a, b, e, f), at(s, a, b, e, f)) << a << "," << b << "," << e << "," << f;
            inView[size_t(&at(d, a, b, e, f) - db.data())] = true;
          }
    for (size_t i = 0; i < db.size(); ++i)
      if (!inView[i])
        ASSERT_EQ(db[i], before[i]) << "wrote outside the view at " << i;
    }
  lq_rt_set_num_threads(saved);
}

TEST(CopyF32, RejectsMismatchedSizesAndAcceptsEmpty) {
  float a[8] = {1, 2, 3, 4, 5, 6, 7, 8}, b[8] = {};
  lq_rt_view4_t s{a, {1, 1, 2, 4}, {8, 8, 4, 1}}, d{b, {1, 1, 4, 2}, {8, 8, 2, 1}};
  EXPECT_EQ(lq_rt_copy_f32(&s, &d), -1);
  EXPECT_EQ(b[0], 0.0f);
  d.sizes[2] = 2; // same sizes now, but negative ones
  d.sizes[3] = 4;
  d.strides[2] = 4;
  s.sizes[1] = d.sizes[1] = -1;
  EXPECT_EQ(lq_rt_copy_f32(&s, &d), -1);
  s.sizes[1] = d.sizes[1] = 1;
  s.sizes[2] = d.sizes[2] = 0;
  d.sizes[3] = 4;
  EXPECT_EQ(lq_rt_copy_f32(&s, &d), 0);
  EXPECT_EQ(b[0], 0.0f);
}

} // namespace
