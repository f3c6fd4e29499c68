// test_scores.cpp — the scoring calls evaluation uses, checked against nc_model_forward_logits:
// nc_model_forward_scores (per-token cross-entropy = CE of the logits, argmax = argmax of the logits,
// also across the head's chunk boundary) and nc_model_forward_logits_at (= the requested rows of the
// full logits), plus their bad inputs.
#include "test_util.h"

namespace {

// CE of one row of softcapped logits, in double.
double ce(const float* z, int V, int target) {
  double mx = z[0];
  for (int j = 1; j < V; j++) mx = std::max(mx, (double)z[j]);
  double sum = 0;
  for (int j = 0; j < V; j++) sum += std::exp((double)z[j] - mx);
  return mx + std::log(sum) - (double)z[target];
}

int argmax_of(const float* z, int V) {
  int best = 0;
  for (int j = 1; j < V; j++)
    if (z[j] > z[best]) best = j;
  return best;
}

// Checks scores of B rows of T tokens against per-row forward_logits.
void expect_scores_match_logits(NcModel* m, const NcModelConfig& cfg, int B, int T, uint64_t seed) {
  const int V = cfg.vocab_size;
  std::vector<int32_t> in = rand_tokens((size_t)B * T, V, seed), tg = rand_tokens((size_t)B * T, V, seed + 1);
  for (size_t i = 0; i < tg.size(); i += 7) tg[i] = -1;
  std::vector<float> losses((size_t)B * T, -1.0f);
  std::vector<int32_t> amax((size_t)B * T, -1);
  NC_ASSERT_OK(nc_model_forward_scores(m, in.data(), tg.data(), B, T, losses.data(), amax.data()));
  std::vector<float> logits((size_t)T * V);
  int mismatched = 0;
  double worst = 0;
  for (int b = 0; b < B; b++) {
    NC_ASSERT_OK(nc_model_forward_logits(m, in.data() + (size_t)b * T, 1, T, logits.data()));
    for (int t = 0; t < T; t++) {
      const size_t i = (size_t)b * T + t;
      const float* z = logits.data() + (size_t)t * V;
      if (tg[i] < 0) {
        EXPECT_EQ(losses[i], 0.0f) << "ignored target at " << i;
      } else {
        const double want = ce(z, V, tg[i]);
        worst = std::max(worst, std::fabs(losses[i] - want) / std::max(1.0, want));
      }
      mismatched += amax[i] != argmax_of(z, V);
    }
  }
  EXPECT_LT(worst, 1e-5);
  EXPECT_EQ(mismatched, 0);
  // same losses as nc_model_forward_losses, and out_argmax may be NULL
  std::vector<float> losses2((size_t)B * T), losses3((size_t)B * T);
  NC_ASSERT_OK(nc_model_forward_losses(m, in.data(), tg.data(), B, T, losses2.data()));
  NC_ASSERT_OK(nc_model_forward_scores(m, in.data(), tg.data(), B, T, losses3.data(), nullptr));
  EXPECT_LT(rel_err(cast_vec<double>(losses), cast_vec<double>(losses2)), 1e-6);
  EXPECT_EQ(losses, losses3);
}

}  // namespace

TEST(Scores, LossesAndArgmaxMatchTheLogits) {
  Ctx c;
  NcModelConfig cfg = tiny_config();
  Model m(c.ctx, cfg);
  randomize_params(m.m, 41, 1.5);
  expect_scores_match_logits(m.m, cfg, 2, 8, 42);
  expect_scores_match_logits(m.m, cfg, 1, 3, 43);  // smaller calls reuse the buffers
}

// At vocab 65536 the head works 512 rows at a time: 2 x 300 rows cross a chunk boundary mid-row-pair.
TEST(Scores, ChunkedHeadMatchesTheLogits) {
  Ctx c;
  NcModelConfig cfg = tiny_config();
  cfg.vocab_size = 65536;
  cfg.sequence_len = 300;
  Model m(c.ctx, cfg);
  randomize_params(m.m, 44);
  expect_scores_match_logits(m.m, cfg, 2, 300, 45);
}

TEST(Scores, LogitsAtEqualRowsOfTheFullLogits) {
  Ctx c;
  NcModelConfig cfg = tiny_config();
  Model m(c.ctx, cfg);
  randomize_params(m.m, 46, 1.5);
  const int B = 2, T = 8, V = cfg.vocab_size;
  std::vector<int32_t> in = rand_tokens(B * T, V, 47);
  std::vector<float> full((size_t)B * T * V), at((size_t)B * V);
  NC_ASSERT_OK(nc_model_forward_logits(m.m, in.data(), B, T, full.data()));
  for (std::vector<int32_t> pos : {std::vector<int32_t>{5, 2}, {7, 7}, {0, 0}, {0, 7}}) {
    NC_ASSERT_OK(nc_model_forward_logits_at(m.m, in.data(), B, T, pos.data(), at.data()));
    for (int b = 0; b < B; b++) {
      const float* want = full.data() + ((size_t)b * T + pos[(size_t)b]) * V;
      double err = 0;
      for (int j = 0; j < V; j++) err = std::max(err, (double)std::fabs(at[(size_t)b * V + j] - want[j]));
      EXPECT_LT(err, 1e-5) << "row " << b << " position " << pos[(size_t)b];
    }
  }
}

TEST(Scores, BadPositionsTargetsAndPointers) {
  Ctx c;
  NcModelConfig cfg = tiny_config();
  Model m(c.ctx, cfg);
  randomize_params(m.m, 48);
  std::vector<int32_t> in = rand_tokens(16, cfg.vocab_size, 49), tg = rand_tokens(16, cfg.vocab_size, 50);
  std::vector<float> out(2 * 37), losses(16);
  std::vector<int32_t> amax(16);
  std::vector<int32_t> pos = {3, 8};  // 8 == T
  EXPECT_EQ(nc_model_forward_logits_at(m.m, in.data(), 2, 8, pos.data(), out.data()), NC_ERR_OUT_OF_RANGE);
  EXPECT_NE(std::string(nc_last_error(c.ctx)).find("positions[1] = 8"), std::string::npos) << nc_last_error(c.ctx);
  pos = {-1, 0};
  EXPECT_EQ(nc_model_forward_logits_at(m.m, in.data(), 2, 8, pos.data(), out.data()), NC_ERR_OUT_OF_RANGE);
  EXPECT_NE(std::string(nc_last_error(c.ctx)).find("positions[0] = -1"), std::string::npos);
  EXPECT_EQ(nc_model_forward_logits_at(m.m, in.data(), 2, 8, nullptr, out.data()), NC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nc_model_forward_logits_at(m.m, in.data(), 3, 8, pos.data(), out.data()), NC_ERR_OUT_OF_RANGE);
  tg[4] = 37;
  EXPECT_EQ(nc_model_forward_scores(m.m, in.data(), tg.data(), 2, 8, losses.data(), amax.data()), NC_ERR_OUT_OF_RANGE);
  EXPECT_NE(std::string(nc_last_error(c.ctx)).find("targets[4] = 37"), std::string::npos);
  tg[4] = -1;
  EXPECT_EQ(nc_model_forward_scores(m.m, in.data(), tg.data(), 2, 8, nullptr, amax.data()), NC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nc_model_forward_scores(m.m, in.data(), tg.data(), 2, 9, losses.data(), amax.data()), NC_ERR_OUT_OF_RANGE);
  // every target ignored: losses 0, argmax still computed
  std::vector<int32_t> none(16, -1);
  NC_ASSERT_OK(nc_model_forward_scores(m.m, in.data(), none.data(), 2, 8, losses.data(), amax.data()));
  for (int i = 0; i < 16; i++) {
    EXPECT_EQ(losses[(size_t)i], 0.0f);
    EXPECT_TRUE(amax[(size_t)i] >= 0 && amax[(size_t)i] < 37);
  }
}
