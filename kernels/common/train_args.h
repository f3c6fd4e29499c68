// train_args.h — the device-independent part of the training calls (plain and per-token weighted
// backward): their argument checks, the per-row gradient scales the head is given, the loss the call
// reports from its per-row losses, and the loss statistics it accumulates. Every backend uses these
// around its own forward/backward pass.
#pragma once

#include <cstdint>

#include "nanochat.h"

namespace nc {

// nc_model_forward_backward's arguments: inputs and targets not NULL, the batch shape, token ids and
// targets, a finite loss_scale; *n_valid = targets != -1.
int32_t check_forward_backward(const NcContext* ctx, const NcModelConfig& cfg, const int32_t* inputs,
                               const int32_t* targets, int32_t B, int32_t T, float loss_scale, int64_t* n_valid);
// nc_model_forward_backward_weighted's: the same batch checks, weights not NULL and finite, normalizer
// finite and > 0; *n_weighted = positions with a target and a nonzero weight.
int32_t check_forward_backward_weighted(const NcContext* ctx, const NcModelConfig& cfg, const int32_t* inputs,
                                        const int32_t* targets, const float* weights, int32_t B, int32_t T,
                                        double normalizer, int64_t* n_valid, int64_t* n_weighted);

// Row scales [n] of the plain call: loss_scale / n_valid where there is a target, else 0.
void uniform_row_scales(const int32_t* targets, int64_t n, float loss_scale, int64_t n_valid, float* out);
// Row scales [n] of the weighted call: weight / normalizer where there is a target, else 0.
void weighted_row_scales(const int32_t* targets, const float* weights, int64_t n, double normalizer, float* out);

// The reported loss: the mean over the n_valid targets (losses are 0 where there is none) ...
double mean_loss(const float* losses, int64_t n, int64_t n_valid);
// ... or the weighted sum over the positions with a target, divided by normalizer.
double weighted_loss(const int32_t* targets, const float* weights, const float* losses, int64_t n,
                     double normalizer);

// Adds one call's loss over `tokens` counted positions to the statistics read once per optimizer step.
void record_loss(NcLossStats& stats, double loss, int64_t tokens);

}  // namespace nc
