// sampling.cpp — choosing the next token inside the library (nanochat's sample_next_token), by the rule
// written in nanochat.h so that any backend, and a test, picks the same token from the same logits:
//   temperature 0: argmax (lowest id on ties);
//   else the candidates (the top_k by logit, ties to the lower id, or every token), weights
//   q = exp((l - max) / temperature), and a walk in ascending token id summing q until the sum exceeds
//   u * S, with u the documented per-row, per-position uniform (common/rng.h).
// Top-k keeps a small sorted list while scanning the row once (k is 50 in nanochat). Over the whole
// vocabulary the weights are summed per block of 1024 (vectorized), the walk then finds the block and
// recomputes only its weights, so a 65,536-wide row costs about two vectorized passes.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "fastmath.h"
#include "ops.h"
#include "rng.h"

namespace nc {

namespace {

constexpr int64_t kBlock = 1024;

NC_HOT_CLONES float row_max(const float* l, int64_t n) {
  float mx = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : mx)
  for (int64_t j = 0; j < n; j++) mx = std::max(mx, l[j]);
  return mx;
}

// sum of exp((l - mx) * scale) over n values.
NC_HOT_CLONES float exp_sum(const float* l, int64_t n, float mx, float scale) {
  float sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < n; j++) sum += nc_exp((l[j] - mx) * scale);
  return sum;
}

int32_t argmax_row(const float* l, int64_t V) {
  int64_t best = 0;
  for (int64_t j = 1; j < V; j++)
    if (l[j] > l[best]) best = j;
  return (int32_t)best;
}

// The k largest logits by (value descending, id ascending): a list of at most k ids sorted by value,
// filled in id order, so an equal value met later never displaces an earlier one. Returns ids ascending.
void top_k_ids(const float* l, int64_t V, int64_t k, std::vector<int32_t>& ids) {
  ids.clear();
  for (int64_t j = 0; j < V; j++) {
    const float v = l[j];
    if ((int64_t)ids.size() == k) {
      if (!(v > l[ids.back()])) continue;
      ids.pop_back();
    }
    auto at = std::upper_bound(ids.begin(), ids.end(), v, [l](float x, int32_t id) { return x > l[id]; });
    ids.insert(at, (int32_t)j);
  }
  std::sort(ids.begin(), ids.end());
}

int32_t sample_top_k(const float* l, int64_t V, int64_t k, float inv_t, double u) {
  std::vector<int32_t> ids;
  ids.reserve((size_t)k);
  top_k_ids(l, V, k, ids);
  float mx = -std::numeric_limits<float>::infinity();
  for (int32_t id : ids) mx = std::max(mx, l[id]);
  std::vector<float> q(ids.size());
  double total = 0;
  for (size_t i = 0; i < ids.size(); i++) total += (q[i] = nc_exp((l[ids[i]] - mx) * inv_t));
  const double r = u * total;
  double run = 0;
  int32_t last = ids.front();
  for (size_t i = 0; i < ids.size(); i++) {
    if (q[i] == 0.0f) continue;
    last = ids[i];
    run += q[i];
    if (run > r) return ids[i];
  }
  return last;
}

int32_t sample_all(const float* l, int64_t V, float inv_t, double u) {
  const float mx = row_max(l, V);
  const int64_t nblocks = (V + kBlock - 1) / kBlock;
  std::vector<double> block_sum((size_t)nblocks);
  double total = 0;
  for (int64_t b = 0; b < nblocks; b++)
    total += (block_sum[(size_t)b] = exp_sum(l + b * kBlock, std::min(kBlock, V - b * kBlock), mx, inv_t));
  const double r = u * total;
  double run = 0;
  int64_t b = 0;
  while (b + 1 < nblocks && run + block_sum[(size_t)b] <= r) run += block_sum[(size_t)b++];
  int32_t last = -1;
  for (int64_t j = b * kBlock; j < V; j++) {
    const float q = nc_exp((l[j] - mx) * inv_t);
    if (q == 0.0f) continue;
    last = (int32_t)j;
    run += q;
    if (run > r) return (int32_t)j;
  }
  return last >= 0 ? last : argmax_row(l, V);  // only reachable through rounding at the very end
}

}  // namespace

void sample_rows(const float* logits, int64_t rows, int64_t V, float temperature, int32_t top_k, const uint64_t* seeds,
                 int64_t pos, int32_t* out_tokens, float* out_logprobs) {
#pragma omp parallel for schedule(static) if (rows > 1 && rows * V >= kMinParallelWork)
  for (int64_t r = 0; r < rows; r++) {
    const float* l = logits + r * V;
    int32_t token;
    if (temperature == 0.0f) {
      token = argmax_row(l, V);
    } else {
      const double u = sample_uniform(seeds[r], pos);
      token = top_k > 0 && top_k < V ? sample_top_k(l, V, top_k, 1.0f / temperature, u)
                                     : sample_all(l, V, 1.0f / temperature, u);
    }
    out_tokens[r] = token;
    if (out_logprobs) {
      const float mx = row_max(l, V);
      out_logprobs[r] = l[token] - mx - std::log(exp_sum(l, V, mx, 1.0f));
    }
  }
}

}  // namespace nc
