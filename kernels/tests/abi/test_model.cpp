// test_model.cpp — the whole model through the C ABI: parameter counts and table, init statistics and
// the documented RNG, forward against the independent double reference (reference.cpp), and the
// gradients of every parameter against central finite differences of that reference.
//
// Gradient tolerance: our gradients are computed in fp32 (relative rounding ~1e-6 per op, a few dozen
// ops deep), the numerical ones in double with step 1e-5 (error ~1e-9). So each tensor must agree to
// 2e-4 of its largest gradient entry; a missing or wrong term shows up as O(1) relative error.
#include "test_util.h"

namespace {

NcModelConfig depth_config(int depth, int vocab = 65536, int seq = 2048) {
  NcModelConfig c;
  std::memset(&c, 0, sizeof c);
  c.vocab_size = vocab;
  c.n_layer = depth;
  c.n_embd = depth * 64;
  c.n_head = (c.n_embd + 127) / 128;
  c.n_kv_head = c.n_head;
  c.sequence_len = seq;
  c.max_batch = 32;
  c.rotary_base = 10000.0f;
  c.softcap = 15.0f;
  return c;
}

}  // namespace

std::vector<float> all_grads(NcModel* m);

TEST(ParamCounts, NanochatDepthsFromConfigOnly) {
  NcParamCounts pc;
  NcModelConfig d20 = depth_config(20);
  NC_ASSERT_OK(nc_count_params(&d20, &pc));
  EXPECT_EQ(pc.transformer, 393216000);
  EXPECT_EQ(pc.wte, 83886080);
  EXPECT_EQ(pc.lm_head, 83886080);
  EXPECT_EQ(pc.total, 560988160);
  EXPECT_EQ(pc.num_tensors, 2 + 6 * 20);
  EXPECT_NEAR(pc.flops_per_token, 3.4918e9, 0.0001e9);
  NcModelConfig d26 = depth_config(26), d32 = depth_config(32);
  NC_ASSERT_OK(nc_count_params(&d26, &pc));
  EXPECT_EQ(pc.total, 1081999360);
  EXPECT_NEAR(pc.flops_per_token, 6.9009e9, 0.0001e9);
  NC_ASSERT_OK(nc_count_params(&d32, &pc));
  EXPECT_EQ(pc.total, 1879048192);
  EXPECT_NEAR(pc.flops_per_token, 1.20796e10, 0.00001e10);
}

TEST(ParamTable, NamesShapesAndCountsAgree) {
  Ctx c;
  NcModelConfig cfg = tiny_config();
  Model m(c.ctx, cfg);
  int32_t n = 0;
  NC_ASSERT_OK(nc_model_num_params(m.m, &n));
  ASSERT_EQ(n, 2 + 6 * cfg.n_layer);
  NcParamCounts pc;
  NC_ASSERT_OK(nc_count_params(&cfg, &pc));
  const int64_t C = 16, D = 4;
  struct Want {
    const char* name;
    int64_t r, c;
    int group;
  } want[] = {{"transformer.wte.weight", 37, C, NC_GROUP_EMBEDDING},
              {"transformer.h.0.attn.c_q.weight", 4 * D, C, NC_GROUP_MATRIX},
              {"transformer.h.0.attn.c_k.weight", 2 * D, C, NC_GROUP_MATRIX},
              {"transformer.h.0.attn.c_v.weight", 2 * D, C, NC_GROUP_MATRIX},
              {"transformer.h.0.attn.c_proj.weight", C, C, NC_GROUP_MATRIX},
              {"transformer.h.0.mlp.c_fc.weight", 4 * C, C, NC_GROUP_MATRIX},
              {"transformer.h.0.mlp.c_proj.weight", C, 4 * C, NC_GROUP_MATRIX}};
  int64_t total = 0;
  for (int i = 0; i < n; i++) {
    NcParamInfo info;
    NC_ASSERT_OK(nc_model_param_info(m.m, i, &info));
    EXPECT_EQ(info.ndim, 2);
    EXPECT_EQ(info.dtype, NC_DTYPE_F32);
    EXPECT_EQ(info.param_index, i);
    EXPECT_EQ(info.numel, info.shape[0] * info.shape[1]);
    total += info.numel;
    if (i < 7) {
      EXPECT_STREQ(info.name, want[i].name);
      EXPECT_EQ(info.shape[0], want[i].r);
      EXPECT_EQ(info.shape[1], want[i].c);
      EXPECT_EQ(info.group, want[i].group);
    }
  }
  NcParamInfo last;
  NC_ASSERT_OK(nc_model_param_info(m.m, n - 1, &last));
  EXPECT_STREQ(last.name, "lm_head.weight");
  EXPECT_EQ(last.group, NC_GROUP_UNEMBEDDING);
  EXPECT_EQ(total, pc.total);
  // write / read round trip
  std::vector<float> v((size_t)last.numel);
  for (size_t i = 0; i < v.size(); i++) v[i] = (float)i * 0.5f;
  NC_ASSERT_OK(nc_model_param_write(m.m, n - 1, v.data(), last.numel));
  std::vector<float> back(v.size());
  NC_ASSERT_OK(nc_model_param_read(m.m, n - 1, back.data(), last.numel));
  EXPECT_EQ(v, back);
}

TEST(Init, StatisticsZerosAndDocumentedRng) {
  Ctx c;
  NcModelConfig cfg = tiny_config();
  cfg.vocab_size = 512;
  cfg.n_embd = 128;
  cfg.n_head = 4;
  cfg.n_kv_head = 1;  // GQA: c_k, c_v have fan_out < fan_in, so their std is smaller
  Model m(c.ctx, cfg);
  NC_ASSERT_OK(nc_model_init_weights(m.m, 1234));
  int32_t n = 0;
  nc_model_num_params(m.m, &n);
  for (int i = 0; i < n; i++) {
    NcParamInfo info;
    nc_model_param_info(m.m, i, &info);
    std::vector<float> p((size_t)info.numel);
    nc_model_param_read(m.m, i, p.data(), info.numel);
    double s = 0, ss = 0;
    for (float e : p) {
      s += e;
      ss += (double)e * e;
    }
    const double mean = s / p.size(), sd = std::sqrt(ss / p.size() - mean * mean);
    const std::string name = info.name;
    double want;
    if (name == "transformer.wte.weight")
      want = 1.0;
    else if (name == "lm_head.weight" || name.find("c_proj") != std::string::npos)
      want = 0.0;
    else {
      const double fan_out = (double)info.shape[0], fan_in = (double)info.shape[1];
      want = 1.0 / std::sqrt(fan_in) * std::min(1.0, std::sqrt(fan_out / fan_in));
    }
    if (want == 0.0) {
      for (float e : p) ASSERT_EQ(e, 0.0f) << name;
    } else {
      // n >= 8192 samples: the sample std is within ~1.5% (2 sigma) of the true one
      EXPECT_NEAR(sd / want, 1.0, 0.03) << name << " numel " << p.size();
      EXPECT_NEAR(mean / want, 0.0, 0.05) << name;
    }
  }
  // The documented RNG, re-implemented here from the header text, reproduces wte's first elements.
  auto mix = [](uint64_t z) {
    z ^= z >> 30;
    z *= 0xBF58476D1CE4E5B9ULL;
    z ^= z >> 27;
    z *= 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return z;
  };
  const uint64_t seed = 1234, key = mix(seed ^ mix(0 + 1));
  auto u = [&](uint64_t j) { return (double)(mix(key + (j + 1) * 0x9E3779B97F4A7C15ULL) >> 11) * 0x1p-53; };
  std::vector<float> wte((size_t)(512 * 128));
  nc_model_param_read(m.m, 0, wte.data(), (int64_t)wte.size());
  for (uint64_t k = 0; k < 4; k++) {
    const double r = std::sqrt(-2.0 * std::log(1.0 - u(2 * k))), a = 2.0 * M_PI * u(2 * k + 1);
    EXPECT_EQ(wte[2 * k], (float)(r * std::cos(a)));
    EXPECT_EQ(wte[2 * k + 1], (float)(r * std::sin(a)));
  }
  // same seed -> same weights; another seed -> different
  Model m2(c.ctx, cfg);
  nc_model_init_weights(m2.m, 1234);
  std::vector<float> w2(wte.size());
  nc_model_param_read(m2.m, 0, w2.data(), (int64_t)w2.size());
  EXPECT_EQ(wte, w2);
  nc_model_init_weights(m2.m, 1235);
  nc_model_param_read(m2.m, 0, w2.data(), (int64_t)w2.size());
  EXPECT_NE(wte, w2);
}

TEST(Model, ForwardMatchesDoubleReference) {
  Ctx c;
  NcModelConfig cfg = tiny_config();
  Model m(c.ctx, cfg);
  randomize_params(m.m, 7);
  const int B = 2, T = 8, V = cfg.vocab_size;
  std::vector<int32_t> in = rand_tokens(B * T, V, 1), tg = rand_tokens(B * T, V, 2);
  tg[3] = -1;
  tg[11] = -1;
  RefModel ref = ref_from_model(m.m);
  std::vector<double> ref_logits, ref_losses;
  const double ref_loss = ref.forward(in.data(), tg.data(), B, T, &ref_logits, &ref_losses);

  std::vector<float> logits((size_t)B * T * V), losses((size_t)B * T);
  NC_ASSERT_OK(nc_model_forward_logits(m.m, in.data(), B, T, logits.data()));
  NC_ASSERT_OK(nc_model_forward_losses(m.m, in.data(), tg.data(), B, T, losses.data()));
  // bf16: measured 0.0073 (logits), 0.0020 (losses)
  EXPECT_LT(rel_err(cast_vec<double>(logits), ref_logits), tol(1e-5, 3e-2));
  EXPECT_LT(rel_err(cast_vec<double>(losses), ref_losses), tol(1e-5, 1e-2));
  EXPECT_EQ(losses[3], 0.0f);
  float loss = 0;
  NC_ASSERT_OK(fwd_bwd(m.m, in.data(), tg.data(), B, T, 1.0f, &loss));
  EXPECT_NEAR(loss, ref_loss, tol(1e-5, 2e-3) * ref_loss);
  // smaller B and T use the same buffers
  NC_ASSERT_OK(nc_model_forward_logits(m.m, in.data(), 1, 5, logits.data()));
  std::vector<double> ref_small;
  ref.forward(in.data(), nullptr, 1, 5, &ref_small);
  logits.resize(ref_small.size());
  EXPECT_LT(rel_err(cast_vec<double>(logits), ref_small), tol(1e-5, 3e-2));
}

TEST(Model, GradientsMatchFiniteDifferencesOfReference) {
  Ctx c;
  NcModelConfig cfg = tiny_config();
  Model m(c.ctx, cfg);
  randomize_params(m.m, 8, 1.5);
  const int B = 2, T = 8, V = cfg.vocab_size;
  std::vector<int32_t> in = rand_tokens(B * T, V, 3), tg = rand_tokens(B * T, V, 4);
  tg[0] = tg[9] = tg[10] = -1;
  const float loss_scale = 0.5f;
  NC_ASSERT_OK(nc_model_zero_grad(m.m));
  float loss = 0;
  NC_ASSERT_OK(fwd_bwd(m.m, in.data(), tg.data(), B, T, loss_scale, &loss));
  RefModel ref = ref_from_model(m.m);
  expect_gradients_match(m.m, ref, [&]() { return loss_scale * ref.forward(in.data(), tg.data(), B, T); });
}

TEST(Model, GradientsAccumulateAndZero) {
  Ctx c;
  NcModelConfig cfg = tiny_config();
  Model m(c.ctx, cfg);
  randomize_params(m.m, 9);
  std::vector<int32_t> in = rand_tokens(16, cfg.vocab_size, 5), tg = rand_tokens(16, cfg.vocab_size, 6);
  float loss = 0;
  NC_ASSERT_OK(fwd_bwd(m.m, in.data(), tg.data(), 2, 8, 1.0f, &loss));
  std::vector<float> g1 = all_grads(m.m);
  NC_ASSERT_OK(fwd_bwd(m.m, in.data(), tg.data(), 2, 8, 1.0f, &loss));
  std::vector<float> g2 = all_grads(m.m);
  for (float& e : g1) e *= 2;  // every parameter, lm_head and wte included, accumulates
  EXPECT_LT(rel_err(cast_vec<double>(g2), cast_vec<double>(g1)), 1e-6);
  double norm = 0;
  NC_ASSERT_OK(nc_model_grad_norm(m.m, &norm));
  EXPECT_GT(norm, 0);
  NC_ASSERT_OK(nc_model_zero_grad(m.m));
  NC_ASSERT_OK(nc_model_grad_norm(m.m, &norm));
  EXPECT_EQ(norm, 0);
  // all targets ignored: loss 0, no gradient
  std::vector<int32_t> none(16, -1);
  NC_ASSERT_OK(fwd_bwd(m.m, in.data(), none.data(), 2, 8, 1.0f, &loss));
  EXPECT_EQ(loss, 0.0f);
  NC_ASSERT_OK(nc_model_grad_norm(m.m, &norm));
  EXPECT_EQ(norm, 0);
}

namespace {

std::vector<float> all_grads_impl(NcModel* m) {
  std::vector<float> out;
  int32_t n = 0;
  nc_model_num_params(m, &n);
  for (int i = 0; i < n; i++) {
    NcParamInfo info;
    nc_model_param_info(m, i, &info);
    std::vector<float> g((size_t)info.numel);
    nc_model_grad_read(m, i, g.data(), info.numel);
    out.insert(out.end(), g.begin(), g.end());
  }
  return out;
}

}  // namespace

std::vector<float> all_grads(NcModel* m) { return all_grads_impl(m); }

// With vocab 65536 the head materializes 512 rows of logits at a time, so B*T = 768 takes two chunks.
// One call over both rows must equal two accumulated single-row calls whose loss_scale re-weights
// each row's mean by its share of the valid targets.
TEST(Model, HeadChunksAndAccumulationAgree) {
  Ctx c;
  NcModelConfig cfg = tiny_config();
  cfg.vocab_size = 65536;
  cfg.sequence_len = 384;
  Model m(c.ctx, cfg);
  randomize_params(m.m, 11);
  const int T = 384;
  std::vector<int32_t> in = rand_tokens(2 * T, cfg.vocab_size, 12), tg = rand_tokens(2 * T, cfg.vocab_size, 13);
  for (int i = 0; i < 200; i++) tg[(size_t)(i * 3)] = -1;  // 200 ignored, unevenly split between the rows
  int valid[2] = {0, 0};
  for (int i = 0; i < 2 * T; i++) valid[i / T] += tg[(size_t)i] >= 0;
  float loss_all, loss_row[2];
  NC_ASSERT_OK(fwd_bwd(m.m, in.data(), tg.data(), 2, T, 1.0f, &loss_all));
  std::vector<float> g_all = all_grads(m.m);
  NC_ASSERT_OK(nc_model_zero_grad(m.m));
  for (int b = 0; b < 2; b++) {
    const float scale = (float)valid[b] / (float)(valid[0] + valid[1]);
    NC_ASSERT_OK(fwd_bwd(m.m, in.data() + b * T, tg.data() + b * T, 1, T, scale, &loss_row[b]));
  }
  std::vector<float> g_acc = all_grads(m.m);
  const double mean = ((double)loss_row[0] * valid[0] + (double)loss_row[1] * valid[1]) / (valid[0] + valid[1]);
  EXPECT_NEAR(loss_all, mean, 1e-5 * mean);
  EXPECT_LT(rel_err(cast_vec<double>(g_acc), cast_vec<double>(g_all)), 1e-5);
}

// Large enough that every kernel takes its multithreaded path (the tiny tests above run serially, see
// kMinParallelWork): 1 and 2 threads must agree, and both must match the reference forward.
TEST(Model, MultithreadedPathsMatchSingleThreadAndReference) {
  NcModelConfig cfg = tiny_config();
  cfg.vocab_size = 300;
  cfg.n_embd = 64;
  cfg.sequence_len = 128;
  cfg.max_batch = 4;
  const int B = 4, T = 128, N = B * T;
  std::vector<int32_t> in = rand_tokens(N, cfg.vocab_size, 7), tg = rand_tokens(N, cfg.vocab_size, 8);
  for (int i = 0; i < N; i += 17) tg[(size_t)i] = -1;
  float loss[2];
  std::vector<float> grads[2];
  RefModel ref;
  for (int k = 0; k < 2; k++) {
    Ctx c(k + 1);
    Model m(c.ctx, cfg);
    randomize_params(m.m, 10);
    if (k == 0) ref = ref_from_model(m.m);
    NC_ASSERT_OK(fwd_bwd(m.m, in.data(), tg.data(), B, T, 1.0f, &loss[k]));
    int32_t n = 0;
    nc_model_num_params(m.m, &n);
    for (int i = 0; i < n; i++) {
      NcParamInfo info;
      nc_model_param_info(m.m, i, &info);
      std::vector<float> g((size_t)info.numel);
      nc_model_grad_read(m.m, i, g.data(), info.numel);
      grads[k].insert(grads[k].end(), g.begin(), g.end());
    }
  }
  const double ref_loss = ref.forward(in.data(), tg.data(), B, T);
  EXPECT_NEAR(loss[0], ref_loss, tol(1e-5, 2e-3) * ref_loss);
  EXPECT_NEAR(loss[1], ref_loss, tol(1e-5, 2e-3) * ref_loss);
  EXPECT_LT(rel_err(cast_vec<double>(grads[1]), cast_vec<double>(grads[0])), 1e-5);
}
