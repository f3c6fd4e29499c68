// test_head.cu — the loss head and the sampler: softcap + cross-entropy (+ gradient, argmax, weights)
// against the CPU backend's softcap_ce in double, and sample_tokens against a host implementation of
// ABI v2's sampling rule (nanochat.h), which the CPU backend follows too.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "ops.h"
#include "util.h"

using namespace nc_test;
namespace cu = nc::cuda;

namespace {

template <typename T>
std::vector<T> cast_logits(const std::vector<float>& v);
template <>
std::vector<float> cast_logits<float>(const std::vector<float>& v) {
  return v;
}
template <>
std::vector<bf16> cast_logits<bf16>(const std::vector<float>& v) {
  return to_bf16(v);
}

template <typename T>
void check_softcap_ce(int64_t rows, int64_t V, float cap, bool weighted, uint64_t seed) {
  std::vector<float> z = randn_bf16((size_t)(rows * V), seed, 6.0);  // |z| up to ~25: the cap matters
  std::vector<int32_t> targets = rand_ints((size_t)rows, (int32_t)V, seed + 1);
  for (int64_t r = 0; r < rows; r += 5) targets[(size_t)r] = -1;
  std::vector<float> w = randn_f32((size_t)rows, seed + 2);
  const float dscale = 0.37f;
  DeviceBuffer<T> dz(cast_logits<T>(z));
  DeviceBuffer<int32_t> dt(targets), am(rows);
  DeviceBuffer<float> dw(w), losses(rows);
  NC_REQUIRE_CUDA(cu::softcap_ce(dz.p, dt.p, weighted ? (const float*)dw.p : nullptr, losses.p, am.p, rows, V, cap,
                                 dscale, true, nullptr));
  std::vector<double> ref = to_double(z), lref((size_t)rows);
  nc::softcap_ce(ref.data(), targets.data(), rows, V, (double)cap, lref.data(), (double)dscale, true);
  // Loss: fp32 tanh/exp (a few ulps each) summed over V terms, then a log: |err| ~ 1e-6 * log-sum-exp.
  const std::vector<double> lgot = to_double(losses.download());
  const Error le = compare(lgot, lref);
  note("loss_abs", le.max_abs);
  NC_CHECK(le.finite && le.max_abs <= 1e-4) << " loss error " << le.max_abs;
  // Gradient: the CPU's is unweighted; each row scales by its weight. Stored in T: bf16 rounds once
  // (2^-8 of each value), fp32 keeps the ~1e-6 of the fp32 arithmetic.
  if (weighted)
    for (int64_t r = 0; r < rows; r++)
      for (int64_t j = 0; j < V; j++) ref[(size_t)(r * V + j)] *= w[(size_t)r];
  std::vector<T> g = dz.download();
  std::vector<double> gd(g.size());
  for (size_t i = 0; i < g.size(); i++) gd[i] = cu::to_float(g[i]);
  NC_CHECK_CLOSE("dlogits", gd, ref, sizeof(T) == 2 ? 2 * kBf16Unit : 1e-5);
  // Argmax of the capped logits (lowest index on ties), for every row including ignored ones.
  std::vector<int32_t> a = am.download();
  for (int64_t r = 0; r < rows; r++) {
    int64_t best = 0;
    for (int64_t j = 1; j < V; j++)
      if (z[(size_t)(r * V + j)] > z[(size_t)(r * V + best)]) best = j;  // tanh is increasing: same order
    NC_CHECK(a[(size_t)r] == best) << " row " << r << ": argmax " << a[(size_t)r] << " vs " << best;
  }
  for (int64_t r = 0; r < rows; r += 5) NC_CHECK(lgot[(size_t)r] == 0.0) << " ignored row " << r << " has a loss";
}

}  // namespace

NC_TEST(SoftcapCe, Bf16LogitsWithWeightsAndIgnoredRows) { check_softcap_ce<bf16>(23, 1031, 15.0f, true, 20); }
NC_TEST(SoftcapCe, Fp32LogitsWithoutCap) { check_softcap_ce<float>(11, 517, 0.0f, false, 30); }
NC_TEST(SoftcapCe, FullVocabularyRows) { check_softcap_ce<bf16>(3, 65536, 15.0f, false, 40); }

NC_TEST(SoftcapCe, LossOnlyLeavesLogitsAndApplyCaps) {
  const int64_t rows = 4, V = 300;
  std::vector<float> z = randn_bf16((size_t)(rows * V), 50, 8.0);
  std::vector<int32_t> targets = rand_ints((size_t)rows, (int32_t)V, 51);
  DeviceBuffer<bf16> dz(to_bf16(z));
  DeviceBuffer<int32_t> dt(targets);
  DeviceBuffer<float> losses(rows), zf(z);
  NC_REQUIRE_CUDA(cu::softcap_ce(dz.p, dt.p, nullptr, losses.p, nullptr, rows, V, 15.0f, 1.0f, false, nullptr));
  NC_CHECK(to_double(dz.download()) == to_double(z)) << " grad=false modified the logits";
  NC_REQUIRE_CUDA(cu::softcap_apply(zf.p, rows * V, 15.0f, nullptr));
  std::vector<double> ref = to_double(z);
  nc::softcap_apply(ref.data(), rows * V, 15.0);
  NC_CHECK_CLOSE("softcap_apply", to_double(zf.download()), ref, 1e-6);  // fp32 tanh: a few ulps of 15
}

// ---- sampling ------------------------------------------------------------------------------------
namespace {

float capped(float x, float cap) { return cap > 0.0f ? cap * std::tanh(x / cap) : x; }

// ABI v2's sampling rule (nanochat.h), written plainly: candidates walked in ascending id.
int32_t sample_reference(const std::vector<float>& raw, float temperature, int top_k, float cap, uint64_t seed,
                         int64_t pos, float* logprob) {
  const int64_t V = (int64_t)raw.size();
  std::vector<float> l((size_t)V);
  for (int64_t j = 0; j < V; j++) l[(size_t)j] = capped(raw[(size_t)j], cap);
  const int64_t amax = std::max_element(l.begin(), l.end()) - l.begin();  // first of the largest
  const double lmax = l[(size_t)amax];
  double all = 0;
  for (float x : l) all += std::exp((double)x - lmax);
  int32_t token = (int32_t)amax;
  if (temperature > 0.0f) {
    std::vector<int64_t> ids((size_t)V);
    std::iota(ids.begin(), ids.end(), 0);
    if (top_k > 0 && top_k < V) {
      std::stable_sort(ids.begin(), ids.end(), [&](int64_t a, int64_t b) { return l[(size_t)a] > l[(size_t)b]; });
      ids.resize((size_t)top_k);
      std::sort(ids.begin(), ids.end());
    }
    const double u = cu::sample_uniform(seed, pos), inv_t = 1.0 / (double)temperature;
    std::vector<double> q;
    double total = 0;
    for (int64_t j : ids) total += q.emplace_back(std::exp(((double)l[(size_t)j] - lmax) * inv_t));
    double run = 0;
    for (size_t c = 0; c < ids.size(); c++) {
      if (q[c] == 0.0) continue;
      token = (int32_t)ids[c];
      run += q[c];
      if (run > u * total) break;
    }
  }
  *logprob = (float)((double)l[(size_t)token] - lmax - std::log(all));
  return token;
}

void check_sampler(int64_t B, int64_t V, float temperature, int top_k, float cap, bool with_ties, uint64_t seed) {
  std::vector<float> z = randn_bf16((size_t)(B * V), seed, 2.0);
  if (with_ties)  // coarse values: many exact ties, also at the top-k boundary
    for (float& x : z) x = std::round(x * 2.0f) / 2.0f;
  std::vector<uint64_t> seeds((size_t)B);
  for (int64_t b = 0; b < B; b++) seeds[(size_t)b] = seed * 1000003ull + (uint64_t)b;
  const int64_t pos = 17;
  DeviceBuffer<bf16> dz(to_bf16(z));
  DeviceBuffer<uint64_t> ds(seeds);
  DeviceBuffer<int32_t> out(B);
  DeviceBuffer<float> lp(B);
  NC_REQUIRE_CUDA(cu::sample_tokens(out.p, lp.p, (const bf16*)dz.p, B, V, temperature, top_k, cap, ds.p, pos, nullptr));
  std::vector<int32_t> got = out.download();
  std::vector<float> got_lp = lp.download();
  int mismatches = 0;
  double lp_err = 0;
  for (int64_t b = 0; b < B; b++) {
    const std::vector<float> row(z.begin() + b * V, z.begin() + (b + 1) * V);
    float ref_lp = 0;
    mismatches += got[(size_t)b] != sample_reference(row, temperature, top_k, cap, seeds[(size_t)b], pos, &ref_lp);
    lp_err = std::max(lp_err, (double)std::fabs(got_lp[(size_t)b] - ref_lp));
  }
  // Same logits, same rule, same uniform: the same token unless u * S falls within rounding of a
  // boundary (probability ~1e-12 here).
  NC_CHECK(mismatches == 0) << " " << mismatches << " of " << B << " rows differ (T=" << temperature
                            << ", top_k=" << top_k << ")";
  // log-probability: a log-sum-exp over V in double from fp32 logits: ~1e-6 absolute.
  NC_CHECK(lp_err <= 1e-5) << " logprob error " << lp_err;
}

}  // namespace

NC_TEST(Sampling, GreedyTopKAndFullVocabularyMatchTheProcedure) {
  check_sampler(16, 1000, 0.0f, 50, 15.0f, true, 1);     // greedy, ties: lowest index
  check_sampler(16, 1000, 0.8f, 1, 15.0f, false, 2);     // top_k 1 is greedy too
  check_sampler(64, 1000, 1.0f, 50, 15.0f, true, 3);     // top-k with ties at the boundary
  check_sampler(64, 3000, 0.7f, 1024, 0.0f, false, 4);   // the largest top_k
  check_sampler(64, 1000, 1.3f, 0, 15.0f, false, 5);     // the whole vocabulary
  check_sampler(8, 65536, 1.0f, 0, 15.0f, false, 6);     // ... at nanochat's vocabulary size
  check_sampler(8, 65536, 0.9f, 200, 15.0f, false, 7);
}

NC_TEST(Sampling, FrequenciesFollowTheSoftmax) {
  // 2000 rows of the same 5 logits with different seeds: token frequencies within 4 standard errors of
  // softmax(l / T) restricted to the top 4.
  const int64_t B = 2000, V = 5;
  const std::vector<float> logits = {1.0f, 0.5f, 2.0f, -1.0f, 0.0f};
  std::vector<float> z;
  for (int64_t b = 0; b < B; b++) z.insert(z.end(), logits.begin(), logits.end());
  std::vector<uint64_t> seeds((size_t)B);
  for (int64_t b = 0; b < B; b++) seeds[(size_t)b] = 0x1234567ull + (uint64_t)b * 7919ull;
  DeviceBuffer<float> dz(z);
  DeviceBuffer<uint64_t> ds(seeds);
  DeviceBuffer<int32_t> out(B);
  const float T = 0.8f;
  NC_REQUIRE_CUDA(cu::sample_tokens(out.p, (float*)nullptr, (const float*)dz.p, B, V, T, 4, 0.0f, ds.p, 0, nullptr));
  std::vector<int32_t> got = out.download();
  std::vector<double> p(V, 0.0);
  double total = 0;
  for (int j = 0; j < V; j++)
    if (j != 3) total += p[(size_t)j] = std::exp((logits[(size_t)j] - 2.0) / T);
  for (int j = 0; j < V; j++) {
    const double expect = p[(size_t)j] / total;
    const double seen = (double)std::count(got.begin(), got.end(), j) / (double)B;
    const double se = std::sqrt(expect * (1 - expect) / (double)B);
    NC_CHECK(std::fabs(seen - expect) <= 4 * se + 1e-12) << " token " << j << ": " << seen << " vs " << expect;
  }
}

NC_TEST(Sampling, RejectsBadArguments) {
  DeviceBuffer<float> z(100);
  DeviceBuffer<int32_t> out(1);
  DeviceBuffer<uint64_t> seeds(1);
  NC_CHECK(cu::sample_tokens(out.p, (float*)nullptr, (const float*)z.p, 1, 100, 1.0f, 50, 0.0f,
                             (const uint64_t*)nullptr, 0, nullptr) == cudaErrorInvalidValue)
      << " sampling without seeds";
  DeviceBuffer<float> big(5000);
  NC_CHECK(cu::sample_tokens(out.p, (float*)nullptr, (const float*)big.p, 1, 5000, 1.0f, cu::kMaxTopK + 1, 0.0f,
                             seeds.p, 0, nullptr) == cudaErrorInvalidValue)
      << " top_k above the limit";
}
