// train_args.cpp — the shared checks and host-side arithmetic of the training calls (see train_args.h).
#include "train_args.h"

#include <cmath>

#include "checks.h"
#include "errors.h"

namespace nc {
namespace {

int32_t check_train_batch(const NcContext* ctx, const NcModelConfig& cfg, const int32_t* inputs,
                          const int32_t* targets, int32_t B, int32_t T, int64_t* n_valid) {
  NC_CHECK_NOT_NULL(ctx, inputs);
  NC_CHECK_NOT_NULL(ctx, targets);
  NC_TRY(check_batch(ctx, cfg, B, T));
  const int64_t N = (int64_t)B * T;
  NC_TRY(check_tokens(ctx, cfg, inputs, N, "inputs"));
  return check_targets(ctx, cfg, targets, N, n_valid);
}

}  // namespace

int32_t check_forward_backward(const NcContext* ctx, const NcModelConfig& cfg, const int32_t* inputs,
                               const int32_t* targets, int32_t B, int32_t T, float loss_scale, int64_t* n_valid) {
  NC_TRY(check_train_batch(ctx, cfg, inputs, targets, B, T, n_valid));
  NC_REQUIRE(ctx, std::isfinite(loss_scale), NC_ERR_INVALID_ARGUMENT, "loss_scale must be finite");
  return NC_OK;
}

int32_t check_forward_backward_weighted(const NcContext* ctx, const NcModelConfig& cfg, const int32_t* inputs,
                                        const int32_t* targets, const float* weights, int32_t B, int32_t T,
                                        double normalizer, int64_t* n_valid, int64_t* n_weighted) {
  NC_TRY(check_train_batch(ctx, cfg, inputs, targets, B, T, n_valid));
  NC_CHECK_NOT_NULL(ctx, weights);
  NC_TRY(check_weights(ctx, weights, targets, (int64_t)B * T, n_weighted));
  NC_REQUIRE(ctx, std::isfinite(normalizer) && normalizer > 0, NC_ERR_INVALID_ARGUMENT,
             "normalizer must be finite and > 0, got %g", normalizer);
  return NC_OK;
}

void uniform_row_scales(const int32_t* targets, int64_t n, float loss_scale, int64_t n_valid, float* out) {
  const float s = n_valid > 0 ? loss_scale / (float)n_valid : 0.0f;
  for (int64_t i = 0; i < n; i++) out[i] = targets[i] >= 0 ? s : 0.0f;
}

void weighted_row_scales(const int32_t* targets, const float* weights, int64_t n, double normalizer, float* out) {
  for (int64_t i = 0; i < n; i++) out[i] = targets[i] >= 0 ? (float)(weights[i] / normalizer) : 0.0f;
}

double mean_loss(const float* losses, int64_t n, int64_t n_valid) {
  double sum = 0;
  for (int64_t i = 0; i < n; i++) sum += losses[i];
  return sum / (double)n_valid;
}

double weighted_loss(const int32_t* targets, const float* weights, const float* losses, int64_t n,
                     double normalizer) {
  double sum = 0;
  for (int64_t i = 0; i < n; i++)
    if (targets[i] >= 0) sum += (double)weights[i] * losses[i];
  return sum / normalizer;
}

void record_loss(NcLossStats& stats, double loss, int64_t tokens) {
  stats.loss_sum += loss;
  stats.last_loss = loss;
  stats.calls += 1;
  stats.tokens += tokens;
}

}  // namespace nc
