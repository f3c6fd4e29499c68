// test_train.cpp — the end-to-end check that everything fits together: a tiny model with nanochat's
// init overfits one batch with Muon + AdamW to near-zero loss within a few hundred steps.
#include "test_util.h"

TEST(Train, TinyModelOverfitsOneBatch) {
  Ctx c;
  NcModelConfig cfg = tiny_config();
  cfg.n_embd = 32;
  cfg.sequence_len = 16;
  Model m(c.ctx, cfg);
  NC_ASSERT_OK(nc_model_init_weights(m.m, 42));
  const int B = 2, T = 16;
  std::vector<int32_t> seq = rand_tokens(B * (T + 1), cfg.vocab_size, 43), in, tg;
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++) {
      in.push_back(seq[(size_t)(b * (T + 1) + t)]);
      tg.push_back(seq[(size_t)(b * (T + 1) + t + 1)]);
    }
  NcOptimStep st = default_optim_step();
  st.lr_unembedding = 0.02;  // a tiny model learns faster with larger rates than nanochat's d20
  st.lr_matrix = 0.04;
  float loss = 0, first = 0;
  int step = 0;
  for (; step < 400; step++) {
    st.muon_momentum = 0.85 + 0.10 * std::min(1.0, step / 300.0);  // nanochat's momentum warmup
    NC_ASSERT_OK(nc_model_zero_grad(m.m));
    NC_ASSERT_OK(fwd_bwd(m.m, in.data(), tg.data(), B, T, 1.0f, &loss));
    if (step == 0) first = loss;
    if (loss < 0.01f) break;
    NC_ASSERT_OK(nc_model_optim_step(m.m, &st));
  }
  std::printf("[ info ] overfit: loss %.4f -> %.4f in %d steps\n", first, loss, step);
  EXPECT_NEAR(first, std::log(37.0f), 0.01f);  // zero lm_head at init: uniform predictions
  EXPECT_LT(loss, 0.05f);
}
