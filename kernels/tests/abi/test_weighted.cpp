// test_weighted.cpp — the per-token weighted backward (the RL stage's loss, sum of w * CE / normalizer):
// every parameter's gradient against central finite differences of the double reference with weights of
// both signs and zeros; all-ones weights equal the plain backward; zero weights give no gradient;
// negating the weights negates the gradient; bad weights and normalizers are refused.
#include "test_util.h"

std::vector<float> all_grads(NcModel* m);

namespace {

struct Batch {
  std::vector<int32_t> in, tg;
  std::vector<float> w;
};

Batch make_batch(int N, int V, uint64_t seed) {
  Batch b{rand_tokens((size_t)N, V, seed), rand_tokens((size_t)N, V, seed + 1), {}};
  std::vector<double> w = randn((size_t)N, seed + 2);
  for (int i = 0; i < N; i++) b.w.push_back((float)w[(size_t)i]);  // both signs, like advantages
  b.w[2] = 0.0f;
  b.w[7] = 0.0f;
  b.tg[4] = b.tg[12] = -1;  // ignored whatever their weight
  return b;
}

double weighted_loss_ref(const RefModel& ref, const Batch& b, int B, int T, double normalizer) {
  std::vector<double> losses;
  ref.forward(b.in.data(), b.tg.data(), B, T, nullptr, &losses);
  double s = 0;
  for (size_t i = 0; i < losses.size(); i++)
    if (b.tg[i] >= 0) s += (double)b.w[i] * losses[i];
  return s / normalizer;
}

}  // namespace

TEST(Weighted, GradientsMatchFiniteDifferencesOfReference) {
  Ctx c;
  NcModelConfig cfg = tiny_config();
  Model m(c.ctx, cfg);
  randomize_params(m.m, 61, 1.5);
  const int B = 2, T = 8;
  Batch b = make_batch(B * T, cfg.vocab_size, 62);
  const double normalizer = 11.0;
  NC_ASSERT_OK(nc_model_zero_grad(m.m));
  NC_ASSERT_OK(nc_model_forward_backward_weighted(m.m, b.in.data(), b.tg.data(), b.w.data(), B, T, normalizer));
  RefModel ref = ref_from_model(m.m);
  NcLossStats st;
  NC_ASSERT_OK(nc_model_loss_stats(m.m, &st));
  const double want = weighted_loss_ref(ref, b, B, T, normalizer);
  EXPECT_NEAR(st.last_loss, want, tol(1e-5, 1e-2) * std::fabs(want) + 1e-7);
  EXPECT_EQ(st.tokens, 12);  // 16 positions, 2 ignored targets, 2 zero weights
  expect_gradients_match(m.m, ref, [&]() { return weighted_loss_ref(ref, b, B, T, normalizer); });
}

TEST(Weighted, OnesEqualThePlainLossZerosGiveNothingSignsFlip) {
  Ctx c;
  NcModelConfig cfg = tiny_config();
  Model m(c.ctx, cfg);
  randomize_params(m.m, 63);
  const int B = 2, T = 8, N = B * T;
  Batch b = make_batch(N, cfg.vocab_size, 64);
  int n_valid = 0;
  for (int32_t t : b.tg) n_valid += t >= 0;
  const float loss_scale = 0.25f;
  // plain
  NC_ASSERT_OK(nc_model_zero_grad(m.m));
  NC_ASSERT_OK(nc_model_forward_backward(m.m, b.in.data(), b.tg.data(), B, T, loss_scale));
  NcLossStats plain;
  NC_ASSERT_OK(nc_model_loss_stats(m.m, &plain));
  std::vector<float> g_plain = all_grads(m.m);
  // all ones, normalizer = n_valid / loss_scale
  std::vector<float> ones((size_t)N, 1.0f);
  NC_ASSERT_OK(nc_model_zero_grad(m.m));
  NC_ASSERT_OK(
      nc_model_forward_backward_weighted(m.m, b.in.data(), b.tg.data(), ones.data(), B, T, n_valid / loss_scale));
  NcLossStats weighted;
  NC_ASSERT_OK(nc_model_loss_stats(m.m, &weighted));
  EXPECT_LT(rel_err(cast_vec<double>(all_grads(m.m)), cast_vec<double>(g_plain)), 1e-6);
  // the plain loss is unscaled, the weighted one is what it says: sum(CE) / (n_valid / loss_scale)
  EXPECT_NEAR(weighted.last_loss, plain.last_loss * loss_scale, 1e-6 * plain.last_loss);
  EXPECT_EQ(weighted.tokens, plain.tokens);
  // zero weights: no gradient, no loss, no tokens
  std::vector<float> zeros((size_t)N, 0.0f);
  NC_ASSERT_OK(nc_model_zero_grad(m.m));
  NC_ASSERT_OK(nc_model_forward_backward_weighted(m.m, b.in.data(), b.tg.data(), zeros.data(), B, T, 3.0));
  double norm = -1;
  NC_ASSERT_OK(nc_model_grad_norm(m.m, &norm));
  EXPECT_EQ(norm, 0.0);
  NcLossStats none;
  NC_ASSERT_OK(nc_model_loss_stats(m.m, &none));
  EXPECT_EQ(none.loss_sum, 0.0);
  EXPECT_EQ(none.tokens, 0);
  EXPECT_EQ(none.calls, 1);
  // negated weights (negative advantages) give the negated gradient
  NC_ASSERT_OK(nc_model_zero_grad(m.m));
  NC_ASSERT_OK(nc_model_forward_backward_weighted(m.m, b.in.data(), b.tg.data(), b.w.data(), B, T, 5.0));
  std::vector<float> g_pos = all_grads(m.m);
  std::vector<float> neg = b.w;
  for (float& e : neg) e = -e;
  NC_ASSERT_OK(nc_model_zero_grad(m.m));
  NC_ASSERT_OK(nc_model_forward_backward_weighted(m.m, b.in.data(), b.tg.data(), neg.data(), B, T, 5.0));
  std::vector<float> g_neg = all_grads(m.m);
  for (float& e : g_neg) e = -e;
  EXPECT_LT(rel_err(cast_vec<double>(g_neg), cast_vec<double>(g_pos)), 1e-6);
}

TEST(Weighted, BadWeightsAndNormalizers) {
  Ctx c;
  NcModelConfig cfg = tiny_config();
  Model m(c.ctx, cfg);
  randomize_params(m.m, 65);
  Batch b = make_batch(16, cfg.vocab_size, 66);
  const std::string needle_nan = "weights[3] = nan must be finite";
  b.w[3] = NAN;
  EXPECT_EQ(nc_model_forward_backward_weighted(m.m, b.in.data(), b.tg.data(), b.w.data(), 2, 8, 1.0),
            NC_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(nc_last_error(c.ctx)).find(needle_nan), std::string::npos) << nc_last_error(c.ctx);
  b.w[3] = 1.0f;
  for (double bad : {0.0, -2.0, (double)NAN, (double)INFINITY}) {
    EXPECT_EQ(nc_model_forward_backward_weighted(m.m, b.in.data(), b.tg.data(), b.w.data(), 2, 8, bad),
              NC_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(nc_last_error(c.ctx)).find("normalizer"), std::string::npos) << nc_last_error(c.ctx);
  }
  EXPECT_EQ(nc_model_forward_backward_weighted(m.m, b.in.data(), b.tg.data(), nullptr, 2, 8, 1.0),
            NC_ERR_INVALID_ARGUMENT);
  b.tg[0] = 99;
  EXPECT_EQ(nc_model_forward_backward_weighted(m.m, b.in.data(), b.tg.data(), b.w.data(), 2, 8, 1.0),
            NC_ERR_OUT_OF_RANGE);
  // nothing was accumulated by the refused calls
  NcLossStats st;
  NC_ASSERT_OK(nc_model_loss_stats(m.m, &st));
  EXPECT_EQ(st.calls, 0);
}
