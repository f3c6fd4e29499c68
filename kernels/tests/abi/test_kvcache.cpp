// test_kvcache.cpp — inference with the KV cache: prefill then token-by-token decode must reproduce the
// full forward's logits at every position (rotary positions come from the cache position), in one
// chunk or several, and after broadcasting a batch-1 prefill into a larger cache.
#include "test_util.h"

namespace {

struct Fixture {
  Ctx c;
  NcModelConfig cfg = tiny_config();
  Model m{c.ctx, cfg};
  std::vector<int32_t> tokens;
  std::vector<float> full;  // [B*T*V] from nc_model_forward_logits
  static constexpr int B = 2, T = 8;
  Fixture() {
    randomize_params(m.m, 77);
    tokens = rand_tokens(B * T, cfg.vocab_size, 78);
    full.resize((size_t)B * T * cfg.vocab_size);
    EXPECT_EQ(nc_model_forward_logits(m.m, tokens.data(), B, T, full.data()), NC_OK);
  }
  // full logits of row b, position t
  const float* at(int b, int t) const { return full.data() + ((size_t)b * T + t) * cfg.vocab_size; }
};

void expect_close(const float* got, const float* want, int V, const char* what, int t) {
  double err = 0;
  for (int j = 0; j < V; j++) err = std::max(err, (double)std::fabs(got[j] - want[j]));
  EXPECT_LT(err, 1e-4) << what << " at position " << t;
}

}  // namespace

TEST(KVCache, PrefillThenDecodeMatchesFullForward) {
  Fixture f;
  const int V = f.cfg.vocab_size, B = Fixture::B, T = Fixture::T;
  NcKVCache* cache = nullptr;
  NC_ASSERT_OK(nc_kvcache_create(f.m.m, B, T, &cache));
  const int P = 3;
  std::vector<int32_t> prompt((size_t)B * P);
  for (int b = 0; b < B; b++)
    for (int t = 0; t < P; t++) prompt[(size_t)(b * P + t)] = f.tokens[(size_t)(b * T + t)];
  std::vector<float> out((size_t)B * V);
  NC_ASSERT_OK(nc_model_prefill(f.m.m, cache, prompt.data(), B, P, out.data()));
  for (int b = 0; b < B; b++) expect_close(out.data() + b * V, f.at(b, P - 1), V, "prefill", P - 1);
  int32_t pos = 0;
  NC_ASSERT_OK(nc_kvcache_pos(cache, &pos));
  EXPECT_EQ(pos, P);
  for (int t = P; t < T; t++) {
    std::vector<int32_t> step = {f.tokens[(size_t)t], f.tokens[(size_t)(T + t)]};
    NC_ASSERT_OK(nc_model_decode(f.m.m, cache, step.data(), out.data()));
    for (int b = 0; b < B; b++) expect_close(out.data() + b * V, f.at(b, t), V, "decode", t);
  }
  // the cache is full now
  std::vector<int32_t> one = {1, 2};
  EXPECT_EQ(nc_model_decode(f.m.m, cache, one.data(), out.data()), NC_ERR_OUT_OF_RANGE);
  EXPECT_NE(std::string(nc_last_error(f.c.ctx)).find("KV cache full"), std::string::npos);
  // reset and prefill everything in two chunks (the second one attends to the cached prefix)
  NC_ASSERT_OK(nc_kvcache_reset(cache));
  std::vector<int32_t> c1, c2;
  for (int b = 0; b < B; b++) {
    for (int t = 0; t < 5; t++) c1.push_back(f.tokens[(size_t)(b * T + t)]);
    for (int t = 5; t < T; t++) c2.push_back(f.tokens[(size_t)(b * T + t)]);
  }
  NC_ASSERT_OK(nc_model_prefill(f.m.m, cache, c1.data(), B, 5, out.data()));
  for (int b = 0; b < B; b++) expect_close(out.data() + b * V, f.at(b, 4), V, "chunk 1", 4);
  NC_ASSERT_OK(nc_model_prefill(f.m.m, cache, c2.data(), B, T - 5, out.data()));
  for (int b = 0; b < B; b++) expect_close(out.data() + b * V, f.at(b, T - 1), V, "chunk 2", T - 1);
  NC_ASSERT_OK(nc_kvcache_destroy(cache));
}

TEST(KVCache, BroadcastPrefillIntoLargerBatch) {
  Fixture f;
  const int V = f.cfg.vocab_size, T = Fixture::T;
  NcKVCache *one = nullptr, *many = nullptr;
  NC_ASSERT_OK(nc_kvcache_create(f.m.m, 1, T, &one));
  NC_ASSERT_OK(nc_kvcache_create(f.m.m, 2, 4 * T, &many));  // longer than sequence_len is fine (rotary 10x)
  // Two rows that share a 4-token prompt, then continue differently.
  std::vector<int32_t> rows(f.tokens.begin(), f.tokens.begin() + T);  // row 0
  std::vector<int32_t> both = rows;
  both.insert(both.end(), rows.begin(), rows.begin() + 4);
  both.insert(both.end(), f.tokens.begin() + T + 4, f.tokens.end());  // row 1: row 0's prefix, then other tokens
  std::vector<float> full((size_t)2 * T * V);
  NC_ASSERT_OK(nc_model_forward_logits(f.m.m, both.data(), 2, T, full.data()));
  std::vector<float> out((size_t)2 * V);
  NC_ASSERT_OK(nc_model_prefill(f.m.m, one, both.data(), 1, 4, out.data()));
  NC_ASSERT_OK(nc_kvcache_copy(many, one));
  int32_t pos = 0;
  nc_kvcache_pos(many, &pos);
  EXPECT_EQ(pos, 4);
  for (int t = 4; t < T; t++) {
    std::vector<int32_t> step = {both[(size_t)t], both[(size_t)(T + t)]};
    NC_ASSERT_OK(nc_model_decode(f.m.m, many, step.data(), out.data()));
    for (int b = 0; b < 2; b++) expect_close(out.data() + b * V, full.data() + ((size_t)b * T + t) * V, V, "decode", t);
  }
  EXPECT_EQ(nc_model_destroy(f.m.m), NC_ERR_STATE);  // caches still alive
  NC_ASSERT_OK(nc_kvcache_destroy(one));
  NC_ASSERT_OK(nc_kvcache_destroy(many));
}
