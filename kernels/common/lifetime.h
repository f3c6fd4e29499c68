// lifetime.h — the checks before a model is created and before a handle is destroyed, the same on every
// backend: a valid config of a compute dtype the backend runs; a context outlives its models and
// communicators, a model its KV caches (NC_ERR_STATE naming how many are still live).
#pragma once

#include <cstdint>

#include "nanochat.h"

namespace nc {

// nc_model_create's arguments: out_model not NULL (set to NULL here), a valid config whose compute dtype
// is in supported_mask (1 << NC_DTYPE_*; the refusal names `backend`).
int32_t check_model_create(const NcContext* ctx, const NcModelConfig* config, NcModel** out_model,
                           uint32_t supported_mask, const char* backend);

int32_t check_context_unused(const NcContext* ctx, int32_t live_models, int32_t live_comms);
int32_t check_model_unused(const NcContext* ctx, int32_t live_caches);

}  // namespace nc
