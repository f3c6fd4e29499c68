// test_sampling.cpp — sampling inside the library (nc_model_prefill_sample / decode_sample): greedy equals
// the argmax of the logits path; at temperature 1 with top-k the tokens drawn over many seeds follow the
// softmax of the top-k logits (chi-square) and never leave the top k; every draw equals the rule and RNG
// of nanochat.h rebuilt here from the text; equal seeds give equal tokens; a row's tokens depend on its
// own seed only; the log-probabilities are log_softmax of the logits; bad settings are refused.
#include "test_util.h"

namespace {

uint64_t mix(uint64_t z) {
  z ^= z >> 30;
  z *= 0xBF58476D1CE4E5B9ULL;
  z ^= z >> 27;
  z *= 0x94D049BB133111EBULL;
  z ^= z >> 31;
  return z;
}

// nanochat.h's sampling rule and RNG, in double, from the header's description.
int32_t rebuilt_sample(const float* l, int V, double temperature, int top_k, uint64_t seed, int64_t pos) {
  std::vector<int32_t> ids((size_t)V);
  for (int i = 0; i < V; i++) ids[(size_t)i] = i;
  if (temperature == 0) {
    return *std::max_element(ids.begin(), ids.end(), [l](int32_t a, int32_t b) { return l[a] < l[b]; });
  }
  if (top_k > 0 && top_k < V) {
    std::stable_sort(ids.begin(), ids.end(), [l](int32_t a, int32_t b) { return l[a] > l[b]; });
    ids.resize((size_t)top_k);
    std::sort(ids.begin(), ids.end());
  }
  double mx = -INFINITY;
  for (int32_t i : ids) mx = std::max(mx, (double)l[i]);
  double S = 0;
  for (int32_t i : ids) S += std::exp(((double)l[i] - mx) / temperature);
  const uint64_t key = mix(seed);
  const double u = (double)(mix(key + (uint64_t)(pos + 1) * 0x9E3779B97F4A7C15ULL) >> 11) * 0x1p-53;
  double run = 0;
  for (int32_t i : ids) {
    run += std::exp(((double)l[i] - mx) / temperature);
    if (run > u * S) return i;
  }
  return ids.back();
}

NcSampling sampling(float temperature, int32_t top_k) {
  NcSampling s;
  std::memset(&s, 0, sizeof s);
  s.temperature = temperature;
  s.top_k = top_k;
  return s;
}

// The 0.999 quantile of chi-square with k degrees of freedom (Wilson-Hilferty, within ~1% here).
double chi2_critical(int k) {
  const double z = 3.090232, a = 2.0 / (9.0 * k);
  return k * std::pow(1 - a + z * std::sqrt(a), 3);
}

struct Fixture {
  Ctx c;
  NcModelConfig cfg = tiny_config();
  Model m{c.ctx, cfg};
  Fixture() { randomize_params(m.m, 91); }
};

}  // namespace

TEST(Sampling, GreedyEqualsArgmaxOfTheLogitsPath) {
  Fixture f;
  const int B = 2, P = 3, V = f.cfg.vocab_size;
  NcKVCache *a = nullptr, *b = nullptr;
  NC_ASSERT_OK(nc_kvcache_create(f.m.m, B, 8, &a));
  NC_ASSERT_OK(nc_kvcache_create(f.m.m, B, 8, &b));
  std::vector<int32_t> prompt = rand_tokens(B * P, V, 92);
  std::vector<float> logits((size_t)B * V), logprobs(B);
  std::vector<int32_t> tok(B);
  const NcSampling greedy = sampling(0.0f, 0);
  NC_ASSERT_OK(nc_model_prefill(f.m.m, a, prompt.data(), B, P, logits.data()));
  NC_ASSERT_OK(nc_model_prefill_sample(f.m.m, b, prompt.data(), B, P, &greedy, nullptr, tok.data(), logprobs.data()));
  for (int step = 0; step < 5; step++) {
    for (int r = 0; r < B; r++) {
      const float* row = logits.data() + (size_t)r * V;
      EXPECT_EQ(tok[(size_t)r], rebuilt_sample(row, V, 0, 0, 0, 0)) << "row " << r << " step " << step;
      double mx = row[0], s = 0;
      for (int j = 0; j < V; j++) mx = std::max(mx, (double)row[j]);
      for (int j = 0; j < V; j++) s += std::exp(row[j] - mx);
      EXPECT_NEAR(logprobs[(size_t)r], row[tok[(size_t)r]] - mx - std::log(s), 1e-5);
    }
    NC_ASSERT_OK(nc_model_decode(f.m.m, a, tok.data(), logits.data()));
    NC_ASSERT_OK(nc_model_decode_sample(f.m.m, b, tok.data(), &greedy, nullptr, tok.data(), logprobs.data()));
  }
  int32_t pa = 0, pb = 0;
  nc_kvcache_pos(a, &pa);
  nc_kvcache_pos(b, &pb);
  EXPECT_EQ(pa, P + 5);
  EXPECT_EQ(pb, P + 5);
  NC_ASSERT_OK(nc_kvcache_destroy(a));
  NC_ASSERT_OK(nc_kvcache_destroy(b));
}

// Many rows of one prompt, one seed each, sampled at the same position: the empirical distribution over
// the seeds against softmax of the (top-k) logits, and every draw against the rebuilt rule.
void expect_distribution(float temperature, int top_k, int rounds) {
  Fixture f;
  const int R = 32, P = 3, V = f.cfg.vocab_size;
  NcKVCache* cache = nullptr;
  NC_ASSERT_OK(nc_kvcache_create(f.m.m, R, P, &cache));
  std::vector<int32_t> one = rand_tokens(P, V, 93), prompt;
  for (int r = 0; r < R; r++) prompt.insert(prompt.end(), one.begin(), one.end());
  std::vector<float> logits((size_t)R * V);
  NC_ASSERT_OK(nc_model_prefill(f.m.m, cache, prompt.data(), R, P, logits.data()));
  const float* l = logits.data();  // every row has the same logits
  std::vector<double> p((size_t)V, 0.0);
  std::vector<int32_t> order((size_t)V);
  for (int i = 0; i < V; i++) order[(size_t)i] = i;
  std::stable_sort(order.begin(), order.end(), [l](int32_t a, int32_t b) { return l[a] > l[b]; });
  const int K = top_k > 0 ? top_k : V;
  double S = 0;
  for (int i = 0; i < K; i++) S += std::exp((l[order[(size_t)i]] - l[order[0]]) / temperature);
  for (int i = 0; i < K; i++) p[(size_t)order[(size_t)i]] = std::exp((l[order[(size_t)i]] - l[order[0]]) / temperature) / S;
  const NcSampling s = sampling(temperature, top_k);
  std::vector<int64_t> counts((size_t)V, 0);
  std::vector<uint64_t> seeds((size_t)R);
  std::vector<int32_t> tok((size_t)R);
  int mismatches = 0;
  for (int round = 0; round < rounds; round++) {
    for (int r = 0; r < R; r++) seeds[(size_t)r] = 1000003ULL * (uint64_t)round + (uint64_t)r;
    NC_ASSERT_OK(nc_kvcache_reset(cache));
    NC_ASSERT_OK(nc_model_prefill_sample(f.m.m, cache, prompt.data(), R, P, &s, seeds.data(), tok.data(), nullptr));
    for (int r = 0; r < R; r++) {
      counts[(size_t)tok[(size_t)r]]++;
      mismatches += tok[(size_t)r] != rebuilt_sample(l + (size_t)r * V, V, temperature, top_k, seeds[(size_t)r], P);
    }
  }
  EXPECT_EQ(mismatches, 0) << "draws that differ from nanochat.h's rule and RNG";
  const double n = (double)R * rounds;
  // chi-square over bins with an expected count >= 5 (the rest pooled into one bin)
  double chi2 = 0, pooled_p = 0, pooled_obs = 0;
  int bins = 0;
  for (int i = 0; i < V; i++) {
    if (p[(size_t)i] == 0) {
      EXPECT_EQ(counts[(size_t)i], 0) << "token " << i << " is outside the top " << top_k;
      continue;
    }
    if (p[(size_t)i] * n < 5) {
      pooled_p += p[(size_t)i];
      pooled_obs += (double)counts[(size_t)i];
      continue;
    }
    const double e = p[(size_t)i] * n;
    chi2 += (counts[(size_t)i] - e) * (counts[(size_t)i] - e) / e;
    bins++;
  }
  if (pooled_p * n >= 5) {
    chi2 += (pooled_obs - pooled_p * n) * (pooled_obs - pooled_p * n) / (pooled_p * n);
    bins++;
  }
  ASSERT_GE(bins, 3) << "the logits are too peaked for a distribution test";
  EXPECT_LT(chi2, chi2_critical(bins - 1)) << bins << " bins";
  std::printf("[ info ] temperature %.2f top_k %d: chi2 %.2f over %d bins (0.999 critical %.2f)\n", temperature,
              top_k, chi2, bins, chi2_critical(bins - 1));
  NC_ASSERT_OK(nc_kvcache_destroy(cache));
}

TEST(Sampling, TopKAtTemperatureOneMatchesSoftmaxOfTheTopK) { expect_distribution(1.0f, 5, 125); }
TEST(Sampling, FullVocabularyAtLowerTemperatureMatchesSoftmax) { expect_distribution(0.7f, 0, 125); }

TEST(Sampling, EqualSeedsEqualTokensAndRowsAreIndependent) {
  Fixture f;
  const int P = 3, V = f.cfg.vocab_size, steps = 6;
  std::vector<int32_t> one = rand_tokens(P, V, 94);
  const NcSampling s = sampling(1.0f, 0);
  // generates `steps` tokens per row from the same prompt with the given seeds
  auto generate = [&](std::vector<uint64_t> seeds) {
    const int B = (int)seeds.size();
    NcKVCache* cache = nullptr;
    EXPECT_EQ(nc_kvcache_create(f.m.m, B, P + steps, &cache), NC_OK);
    std::vector<int32_t> prompt, tok((size_t)B);
    for (int b = 0; b < B; b++) prompt.insert(prompt.end(), one.begin(), one.end());
    std::vector<std::vector<int32_t>> rows((size_t)B);
    EXPECT_EQ(nc_model_prefill_sample(f.m.m, cache, prompt.data(), B, P, &s, seeds.data(), tok.data(), nullptr), NC_OK);
    for (int t = 0; t < steps; t++) {
      for (int b = 0; b < B; b++) rows[(size_t)b].push_back(tok[(size_t)b]);
      if (t + 1 < steps) {
        EXPECT_EQ(nc_model_decode_sample(f.m.m, cache, tok.data(), &s, seeds.data(), tok.data(), nullptr), NC_OK);
      }
    }
    nc_kvcache_destroy(cache);
    return rows;
  };
  const auto a = generate({5, 6}), b = generate({5, 6}), c = generate({5, 7}), alone = generate({6});
  EXPECT_EQ(a, b);                 // same seeds, same tokens
  EXPECT_EQ(c[0], a[0]);           // changing row 1's seed leaves row 0 alone
  EXPECT_NE(c[1], a[1]);           // and changes row 1
  EXPECT_EQ(alone[0], a[1]);       // a row's tokens do not depend on the batch it is in
  EXPECT_NE(a[0], a[1]);           // two seeds, two streams
}

TEST(Sampling, BadSettingsAreRefused) {
  Fixture f;
  NcKVCache* cache = nullptr;
  NC_ASSERT_OK(nc_kvcache_create(f.m.m, 1, 8, &cache));
  std::vector<int32_t> prompt = {1, 2};
  int32_t tok = -1;
  uint64_t seed = 1;
  auto expect_refused = [&](NcSampling s, const uint64_t* seeds, const char* needle) {
    EXPECT_EQ(nc_model_prefill_sample(f.m.m, cache, prompt.data(), 1, 2, &s, seeds, &tok, nullptr),
              NC_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(nc_last_error(f.c.ctx)).find(needle), std::string::npos) << nc_last_error(f.c.ctx);
  };
  expect_refused(sampling(-1.0f, 0), &seed, "temperature");
  expect_refused(sampling(NAN, 0), &seed, "temperature");
  expect_refused(sampling(1.0f, -3), &seed, "top_k");
  expect_refused(sampling(1.0f, 0), nullptr, "seeds");
  NcSampling reserved = sampling(1.0f, 0);
  reserved.reserved[0] = 1;
  expect_refused(reserved, &seed, "reserved");
  const NcSampling ok = sampling(1.0f, 5);
  EXPECT_EQ(nc_model_prefill_sample(f.m.m, cache, prompt.data(), 1, 2, nullptr, &seed, &tok, nullptr),
            NC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nc_model_prefill_sample(f.m.m, cache, prompt.data(), 1, 2, &ok, &seed, nullptr, nullptr),
            NC_ERR_INVALID_ARGUMENT);
  int32_t pos = -1;
  nc_kvcache_pos(cache, &pos);
  EXPECT_EQ(pos, 0);  // refused calls appended nothing
  NC_ASSERT_OK(nc_model_prefill_sample(f.m.m, cache, prompt.data(), 1, 2, &ok, &seed, &tok, nullptr));
  EXPECT_TRUE(tok >= 0 && tok < f.cfg.vocab_size);
  std::vector<int32_t> bad = {37};
  EXPECT_EQ(nc_model_decode_sample(f.m.m, cache, bad.data(), &ok, &seed, &tok, nullptr), NC_ERR_OUT_OF_RANGE);
  NC_ASSERT_OK(nc_kvcache_destroy(cache));
}
