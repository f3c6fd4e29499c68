// test_losses.cpp — losses stay in the library and are read once per optimizer step: over several
// micro-batches (different shapes, ignored targets, one with none valid) the statistics hold the sum of
// the per-micro-batch losses that version 1 returned one by one (the mean CE of each micro-batch, here
// from the independent double reference), the call and token counts, the last loss; zero_grad clears them.
#include "test_util.h"

TEST(LossStats, ReadOncePerStepEqualsTheSumOfMicroBatchLosses) {
  Ctx c;
  NcModelConfig cfg = tiny_config();
  Model m(c.ctx, cfg);
  randomize_params(m.m, 71);
  RefModel ref = ref_from_model(m.m);
  struct Micro {
    int B, T;
    std::vector<int32_t> in, tg;
  };
  std::vector<Micro> micro;
  for (int k = 0; k < 4; k++) {
    const int B = k == 1 ? 1 : 2, T = k == 2 ? 5 : 8;
    Micro mb{B, T, rand_tokens((size_t)B * T, cfg.vocab_size, 72 + k), rand_tokens((size_t)B * T, cfg.vocab_size, 82 + k)};
    if (k == 0) mb.tg[3] = mb.tg[9] = -1;
    if (k == 3) mb.tg.assign(mb.tg.size(), -1);  // no valid target: loss 0
    micro.push_back(mb);
  }
  NC_ASSERT_OK(nc_model_zero_grad(m.m));
  NcLossStats st;
  NC_ASSERT_OK(nc_model_loss_stats(m.m, &st));
  EXPECT_EQ(st.calls, 0);
  double want_sum = 0;
  int64_t want_tokens = 0;
  for (const Micro& mb : micro) {
    NC_ASSERT_OK(nc_model_forward_backward(m.m, mb.in.data(), mb.tg.data(), mb.B, mb.T, 0.25f));
    want_sum += ref.forward(mb.in.data(), mb.tg.data(), mb.B, mb.T);  // version 1's returned loss
    for (int32_t t : mb.tg) want_tokens += t >= 0;
  }
  NC_ASSERT_OK(nc_model_loss_stats(m.m, &st));
  EXPECT_NEAR(st.loss_sum, want_sum, tol(1e-5, 2e-3) * want_sum);
  EXPECT_EQ(st.calls, 4);
  EXPECT_EQ(st.tokens, want_tokens);
  EXPECT_EQ(st.last_loss, 0.0);  // the last micro-batch had no valid target
  // reading does not reset; zero_grad does
  NcLossStats again;
  NC_ASSERT_OK(nc_model_loss_stats(m.m, &again));
  EXPECT_EQ(again.loss_sum, st.loss_sum);
  NC_ASSERT_OK(nc_model_zero_grad(m.m));
  NC_ASSERT_OK(nc_model_loss_stats(m.m, &again));
  EXPECT_EQ(again.loss_sum, 0.0);
  EXPECT_EQ(again.calls, 0);
  EXPECT_EQ(again.tokens, 0);
  // evaluation calls do not count
  std::vector<float> losses(16);
  NC_ASSERT_OK(nc_model_forward_losses(m.m, micro[0].in.data(), micro[0].tg.data(), 2, 8, losses.data()));
  NC_ASSERT_OK(nc_model_loss_stats(m.m, &again));
  EXPECT_EQ(again.calls, 0);
  EXPECT_EQ(nc_model_loss_stats(m.m, nullptr), NC_ERR_INVALID_ARGUMENT);
}
