// lifetime.h — the checks before a handle is destroyed, the same on every backend: a context outlives
// its models and communicators, a model its KV caches (NC_ERR_STATE naming how many are still live).
#pragma once

#include <cstdint>

#include "nanochat.h"

namespace nc {

int32_t check_context_unused(const NcContext* ctx, int32_t live_models, int32_t live_comms);
int32_t check_model_unused(const NcContext* ctx, int32_t live_caches);

}  // namespace nc
