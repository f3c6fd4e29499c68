// checks.h — argument checks every backend runs before touching its device, with the same messages
// everywhere: batch shapes, token ids, targets, weights, positions, tensor indices and numel, the
// context config, optimizer hyperparameters, sampling settings and KV-cache appends. Each returns NC_OK
// or records the error on `ctx` and returns its status.
#pragma once

#include <cstdint>
#include <string>

#include "layout.h"
#include "nanochat.h"

namespace nc {

// 1 <= B <= max_batch, 1 <= T <= sequence_len.
int32_t check_batch(const NcContext* ctx, const NcModelConfig& cfg, int32_t B, int32_t T);
// Every id in [0, vocab); `what` names the array in the message ("inputs", "tokens").
int32_t check_tokens(const NcContext* ctx, const NcModelConfig& cfg, const int32_t* tokens, int64_t n,
                     const char* what);
// Every target -1 or a token id; *n_valid = targets != -1.
int32_t check_targets(const NcContext* ctx, const NcModelConfig& cfg, const int32_t* targets, int64_t n,
                      int64_t* n_valid);
// Finite weights; *n_weighted = positions with a target and a nonzero weight.
int32_t check_weights(const NcContext* ctx, const float* weights, const int32_t* targets, int64_t n,
                      int64_t* n_weighted);
// 0 <= positions[b] < T for every row; *last = the largest.
int32_t check_positions(const NcContext* ctx, const int32_t* positions, int32_t B, int32_t T, int32_t* last);
// 0 <= index < count; `what` names the table.
int32_t check_index(const NcContext* ctx, int32_t index, int64_t count, const char* what);
// The caller's buffer length equals the tensor's.
int32_t check_numel(const NcContext* ctx, const std::string& name, int64_t want, int64_t got);

// The device-independent fields of a context config: flags, threads, reserved fields, and that the
// device is `device` (the backend's kind, NC_ERR_UNSUPPORTED otherwise) with an index in [0, count).
int32_t validate_context_config(const NcContextConfig* cfg, int32_t device, int32_t device_count,
                                const char* backend);
int32_t validate_optim_step(const NcContext* ctx, const NcOptimStep* step);
int32_t validate_sampling(const NcContext* ctx, const NcSampling* s, const uint64_t* seeds);
// NULL or: both hosts NUL-terminated, timeout_ms >= 0, reserved zero.
int32_t validate_comm_options(const NcContext* ctx, const NcCommOptions* o);
// A prefill of T tokens per row into a cache of `batch` rows at `pos` of `max_len`.
int32_t check_cache_append(const NcContext* ctx, int32_t batch, int32_t max_len, int32_t pos, int32_t B, int32_t T);

}  // namespace nc
