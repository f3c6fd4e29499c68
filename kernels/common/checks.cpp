// checks.cpp — the shared argument checks (see checks.h).
#include "checks.h"

#include <cmath>
#include <cstring>

#include "errors.h"

namespace nc {

int32_t check_batch(const NcContext* ctx, const NcModelConfig& cfg, int32_t B, int32_t T) {
  NC_REQUIRE(ctx, B >= 1 && B <= cfg.max_batch, NC_ERR_OUT_OF_RANGE, "B = %d must be in [1, max_batch = %d]", B,
             cfg.max_batch);
  NC_REQUIRE(ctx, T >= 1 && T <= cfg.sequence_len, NC_ERR_OUT_OF_RANGE, "T = %d must be in [1, sequence_len = %d]", T,
             cfg.sequence_len);
  return NC_OK;
}

int32_t check_tokens(const NcContext* ctx, const NcModelConfig& cfg, const int32_t* tokens, int64_t n,
                     const char* what) {
  for (int64_t i = 0; i < n; i++) {
    NC_REQUIRE(ctx, tokens[i] >= 0 && tokens[i] < cfg.vocab_size, NC_ERR_OUT_OF_RANGE,
               "%s[%lld] = %d is not a token id in [0, %d)", what, (long long)i, tokens[i], cfg.vocab_size);
  }
  return NC_OK;
}

int32_t check_targets(const NcContext* ctx, const NcModelConfig& cfg, const int32_t* targets, int64_t n,
                      int64_t* n_valid) {
  int64_t valid = 0;
  for (int64_t i = 0; i < n; i++) {
    NC_REQUIRE(ctx, targets[i] >= -1 && targets[i] < cfg.vocab_size, NC_ERR_OUT_OF_RANGE,
               "targets[%lld] = %d is neither -1 nor a token id in [0, %d)", (long long)i, targets[i], cfg.vocab_size);
    valid += targets[i] >= 0;
  }
  *n_valid = valid;
  return NC_OK;
}

int32_t check_weights(const NcContext* ctx, const float* weights, const int32_t* targets, int64_t n,
                      int64_t* n_weighted) {
  int64_t count = 0;
  for (int64_t i = 0; i < n; i++) {
    NC_REQUIRE(ctx, std::isfinite(weights[i]), NC_ERR_INVALID_ARGUMENT, "weights[%lld] = %g must be finite",
               (long long)i, (double)weights[i]);
    count += targets[i] >= 0 && weights[i] != 0.0f;
  }
  *n_weighted = count;
  return NC_OK;
}

int32_t check_positions(const NcContext* ctx, const int32_t* positions, int32_t B, int32_t T, int32_t* last) {
  int32_t mx = 0;
  for (int32_t b = 0; b < B; b++) {
    NC_REQUIRE(ctx, positions[b] >= 0 && positions[b] < T, NC_ERR_OUT_OF_RANGE,
               "positions[%d] = %d must be in [0, T = %d)", b, positions[b], T);
    mx = positions[b] > mx ? positions[b] : mx;
  }
  *last = mx;
  return NC_OK;
}

int32_t check_index(const NcContext* ctx, int32_t index, int64_t count, const char* what) {
  NC_REQUIRE(ctx, index >= 0 && index < count, NC_ERR_OUT_OF_RANGE, "%s index %d out of range [0, %lld)", what, index,
             (long long)count);
  return NC_OK;
}

int32_t check_numel(const NcContext* ctx, const std::string& name, int64_t want, int64_t got) {
  NC_REQUIRE(ctx, got == want, NC_ERR_INVALID_ARGUMENT, "%s has %lld elements, caller passed %lld", name.c_str(),
             (long long)want, (long long)got);
  return NC_OK;
}

int32_t validate_context_config(const NcContextConfig* cfg, int32_t device, int32_t device_count,
                                const char* backend) {
  const char* kinds[] = {"NC_DEVICE_CPU (0)", "NC_DEVICE_CUDA (1)"};
  NC_REQUIRE(nullptr, cfg->device == device, NC_ERR_UNSUPPORTED,
             "device %d is not available in the %s backend (it runs on %s); load the library of that device", cfg->device,
             backend, kinds[device]);
  NC_REQUIRE(nullptr, cfg->device_index >= 0 && cfg->device_index < device_count, NC_ERR_OUT_OF_RANGE,
             "device_index %d: the %s backend has %d device(s) (indices 0..%d)", cfg->device_index, backend,
             device_count, device_count - 1);
  NC_REQUIRE(nullptr, cfg->num_threads >= 0 && cfg->num_threads <= 4096, NC_ERR_INVALID_ARGUMENT,
             "num_threads must be in [0, 4096], got %d", cfg->num_threads);
  NC_REQUIRE(nullptr, (cfg->flags & ~(uint32_t)NC_CONTEXT_PROFILE) == 0, NC_ERR_INVALID_ARGUMENT,
             "unknown context flags 0x%x", cfg->flags);
  for (int64_t r : cfg->reserved)
    NC_REQUIRE(nullptr, r == 0, NC_ERR_INVALID_ARGUMENT, "NcContextConfig.reserved must be zero");
  return NC_OK;
}

int32_t validate_optim_step(const NcContext* ctx, const NcOptimStep* s) {
  NC_CHECK_NOT_NULL(ctx, s);
  const double lrs[3] = {s->lr_embedding, s->lr_unembedding, s->lr_matrix};
  for (double lr : lrs)
    NC_REQUIRE(ctx, std::isfinite(lr) && lr >= 0, NC_ERR_INVALID_ARGUMENT, "learning rates must be finite and >= 0");
  NC_REQUIRE(ctx, s->muon_momentum >= 0 && s->muon_momentum < 1, NC_ERR_INVALID_ARGUMENT,
             "muon_momentum must be in [0, 1), got %g", s->muon_momentum);
  NC_REQUIRE(ctx, s->adam_beta1 >= 0 && s->adam_beta1 < 1, NC_ERR_INVALID_ARGUMENT,
             "adam_beta1 must be in [0, 1), got %g", s->adam_beta1);
  NC_REQUIRE(ctx, s->adam_beta2 >= 0 && s->adam_beta2 < 1, NC_ERR_INVALID_ARGUMENT,
             "adam_beta2 must be in [0, 1), got %g", s->adam_beta2);
  NC_REQUIRE(ctx, std::isfinite(s->adam_eps) && s->adam_eps >= 0, NC_ERR_INVALID_ARGUMENT,
             "adam_eps must be finite and >= 0, got %g", s->adam_eps);
  NC_REQUIRE(ctx, std::isfinite(s->weight_decay) && s->weight_decay >= 0, NC_ERR_INVALID_ARGUMENT,
             "weight_decay must be finite and >= 0, got %g", s->weight_decay);
  NC_REQUIRE(ctx, std::isfinite(s->grad_scale) && s->grad_scale >= 0, NC_ERR_INVALID_ARGUMENT,
             "grad_scale must be finite and >= 0 (1 = no scaling), got %g", s->grad_scale);
  for (double r : s->reserved) NC_REQUIRE(ctx, r == 0, NC_ERR_INVALID_ARGUMENT, "NcOptimStep.reserved must be zero");
  return NC_OK;
}

int32_t validate_sampling(const NcContext* ctx, const NcSampling* s, const uint64_t* seeds) {
  NC_CHECK_NOT_NULL(ctx, s);
  NC_REQUIRE(ctx, std::isfinite(s->temperature) && s->temperature >= 0.0f, NC_ERR_INVALID_ARGUMENT,
             "temperature must be finite and >= 0 (0 = greedy), got %g", (double)s->temperature);
  NC_REQUIRE(ctx, s->top_k >= 0, NC_ERR_INVALID_ARGUMENT, "top_k must be >= 0 (0 = no top-k), got %d", s->top_k);
  for (int64_t r : s->reserved) NC_REQUIRE(ctx, r == 0, NC_ERR_INVALID_ARGUMENT, "NcSampling.reserved must be zero");
  NC_REQUIRE(ctx, seeds != nullptr || s->temperature == 0.0f, NC_ERR_INVALID_ARGUMENT,
             "seeds must not be NULL when temperature > 0");
  return NC_OK;
}

int32_t validate_comm_options(const NcContext* ctx, const NcCommOptions* o) {
  if (!o) return NC_OK;
  NC_REQUIRE(ctx, std::memchr(o->advertise_host, 0, sizeof o->advertise_host) != nullptr, NC_ERR_INVALID_ARGUMENT,
             "NcCommOptions.advertise_host is not NUL-terminated within its 256 bytes");
  NC_REQUIRE(ctx, std::memchr(o->transport_host, 0, sizeof o->transport_host) != nullptr, NC_ERR_INVALID_ARGUMENT,
             "NcCommOptions.transport_host is not NUL-terminated within its 256 bytes");
  NC_REQUIRE(ctx, o->timeout_ms >= 0, NC_ERR_INVALID_ARGUMENT, "timeout_ms must be >= 0 (0 = 5 minutes), got %lld",
             (long long)o->timeout_ms);
  NC_REQUIRE(ctx, o->reserved == 0, NC_ERR_INVALID_ARGUMENT, "NcCommOptions.reserved must be zero");
  return NC_OK;
}

int32_t check_cache_append(const NcContext* ctx, int32_t batch, int32_t max_len, int32_t pos, int32_t B, int32_t T) {
  NC_REQUIRE(ctx, B == batch, NC_ERR_INVALID_ARGUMENT, "B = %d must equal the cache batch %d", B, batch);
  NC_REQUIRE(ctx, T >= 1, NC_ERR_OUT_OF_RANGE, "T = %d must be >= 1", T);
  NC_REQUIRE(ctx, (int64_t)pos + T <= max_len, NC_ERR_OUT_OF_RANGE,
             "KV cache full: position %d + %d tokens exceeds max_len %d", pos, T, max_len);
  return NC_OK;
}

}  // namespace nc
