//===- generate_test.cpp - lq_generate over a fake KV-cache model --*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#include "lq_rt/lq_rt.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace {

/// What tests/fake_kv_model.c's greedy continuation must be: each new token
/// is (sum of (id + 1) over the whole history) mod 5.
std::vector<int64_t> expectedGreedy(std::vector<int64_t> history, int n) {
  std::vector<int64_t> out;
  for (int i = 0; i < n; ++i) {
    int64_t sum = 0;
    for (int64_t id : history)
      sum += id + 1;
    out.push_back(sum % 5);
    history.push_back(sum % 5);
  }
  return out;
}

struct Model {
  lq_model_t *m = nullptr;
  Model() { EXPECT_EQ(lq_model_load(LQ_FAKE_KV_MODEL, &m), LQ_RT_OK) << lq_rt_last_error(); }
  ~Model() { lq_model_free(m); }
};

TEST(Generate, SignatureNamesTheCache) {
  Model model;
  ASSERT_EQ(lq_model_num_caches(model.m), 1u);
  size_t in = 9, out = 9;
  ASSERT_EQ(lq_model_cache(model.m, 0, &in, &out), LQ_RT_OK);
  EXPECT_STREQ(lq_model_input_name(model.m, in), "past.0");
  EXPECT_STREQ(lq_model_output_name(model.m, out), "present.0");
  EXPECT_NE(lq_model_cache(model.m, 1, &in, &out), LQ_RT_OK);
}

TEST(Generate, GreedyFollowsTheWholeHistory) {
  Model model;
  // Odd prompt lengths: the last chunk of T = 2 is padded.
  for (std::vector<int64_t> prompt : {std::vector<int64_t>{3},
                                      std::vector<int64_t>{1, 4, 2},
                                      std::vector<int64_t>{0, 1, 2, 3}}) {
    lq_generate_options_t o;
    lq_generate_options_init(&o);
    o.max_new_tokens = int32_t(8 - prompt.size() - 1) + 1; // fills the cache
    std::vector<int64_t> out(o.max_new_tokens, -1);
    size_t n = 0;
    lq_generate_stats_t st;
    ASSERT_EQ(lq_generate(model.m, prompt.data(), prompt.size(), &o, out.data(),
                          &n, &st),
              LQ_RT_OK)
        << lq_rt_last_error();
    ASSERT_EQ(n, size_t(o.max_new_tokens));
    EXPECT_EQ(out, expectedGreedy(prompt, o.max_new_tokens));
    EXPECT_EQ(st.prompt_tokens, int64_t(prompt.size()));
    EXPECT_EQ(st.new_tokens, int64_t(n));
  }
}

TEST(Generate, StopTokenAndCallback) {
  Model model;
  std::vector<int64_t> prompt = {1, 4, 2}; // continues 2, 0, 1, ...
  std::vector<int64_t> seen;
  lq_generate_options_t o;
  lq_generate_options_init(&o);
  o.max_new_tokens = 4;
  o.stop_token = expectedGreedy(prompt, 2)[1];
  o.on_token = [](int64_t t, void *u) {
    static_cast<std::vector<int64_t> *>(u)->push_back(t);
  };
  o.user = &seen;
  std::vector<int64_t> out(4);
  size_t n = 0;
  ASSERT_EQ(lq_generate(model.m, prompt.data(), prompt.size(), &o, out.data(),
                        &n, nullptr),
            LQ_RT_OK);
  ASSERT_EQ(n, 2u);
  EXPECT_EQ(seen, expectedGreedy(prompt, 2));
}

TEST(Generate, LogitsCallbackSeesEachPick) {
  Model model;
  std::vector<int64_t> prompt = {0, 1, 2, 3, 4}; // 3 chunks of T = 2
  struct Seen { std::vector<int64_t> argmax; int64_t vocab = 0; } seen;
  lq_generate_options_t o;
  lq_generate_options_init(&o);
  o.max_new_tokens = 3;
  o.on_logits = [](const float *row, int64_t v, void *u) {
    auto *s = static_cast<Seen *>(u);
    s->vocab = v;
    s->argmax.push_back(std::max_element(row, row + v) - row);
  };
  o.user = &seen;
  std::vector<int64_t> out(3);
  size_t n = 0;
  ASSERT_EQ(lq_generate(model.m, prompt.data(), prompt.size(), &o, out.data(),
                        &n, nullptr),
            LQ_RT_OK);
  EXPECT_EQ(seen.vocab, 5);
  EXPECT_EQ(seen.argmax, out); // once per new token, not per prompt chunk
}

TEST(Generate, SamplingIsSeededAndTopKOneIsGreedy) {
  Model model;
  std::vector<int64_t> prompt = {2, 2};
  lq_generate_options_t o;
  lq_generate_options_init(&o);
  o.max_new_tokens = 5;
  o.temperature = 5.0f; // flat enough that draws differ from greedy
  o.seed = 7;
  std::vector<int64_t> a(5), b(5), c(5);
  size_t n = 0;
  ASSERT_EQ(lq_generate(model.m, prompt.data(), 2, &o, a.data(), &n, nullptr), LQ_RT_OK);
  ASSERT_EQ(lq_generate(model.m, prompt.data(), 2, &o, b.data(), &n, nullptr), LQ_RT_OK);
  EXPECT_EQ(a, b);
  for (int64_t t : a)
    EXPECT_TRUE(t >= 0 && t < 5);
  o.top_k = 1;
  ASSERT_EQ(lq_generate(model.m, prompt.data(), 2, &o, c.data(), &n, nullptr), LQ_RT_OK);
  EXPECT_EQ(c, expectedGreedy(prompt, 5));
  o.top_k = 0;
  o.top_p = 1e-6f; // nucleus of one token: greedy again
  ASSERT_EQ(lq_generate(model.m, prompt.data(), 2, &o, c.data(), &n, nullptr), LQ_RT_OK);
  EXPECT_EQ(c, expectedGreedy(prompt, 5));
}

TEST(Generate, RejectsWhatDoesNotFit) {
  Model model;
  std::vector<int64_t> prompt = {1, 2, 3, 4, 0, 1};
  lq_generate_options_t o;
  lq_generate_options_init(&o);
  o.max_new_tokens = 3; // 6 + 2 fed tokens + 1 padding row > 8
  std::vector<int64_t> out(3);
  size_t n = 5;
  EXPECT_EQ(lq_generate(model.m, prompt.data(), prompt.size(), &o, out.data(),
                        &n, nullptr),
            LQ_RT_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(lq_rt_last_error()).find("do not fit"), std::string::npos);
  EXPECT_EQ(n, 0u);
  o.max_new_tokens = 2;
  o.top_p = 0.0f;
  EXPECT_EQ(lq_generate(model.m, prompt.data(), prompt.size(), &o, out.data(),
                        &n, nullptr),
            LQ_RT_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(lq_generate(model.m, prompt.data(), 0, &o, out.data(), &n, nullptr),
            LQ_RT_ERROR_INVALID_ARGUMENT);
}

} // namespace
