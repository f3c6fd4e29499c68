// lifetime.cpp — the shared checks before a handle is destroyed (see lifetime.h).
#include "lifetime.h"

#include "errors.h"
#include "layout.h"

namespace nc {

int32_t check_model_create(const NcContext* ctx, const NcModelConfig* config, NcModel** out_model,
                           uint32_t supported_mask, const char* backend) {
  NC_CHECK_NOT_NULL(ctx, out_model);
  *out_model = nullptr;
  NC_TRY(validate_config(ctx, config));
  return require_compute_dtype(ctx, *config, supported_mask, backend);
}

int32_t check_context_unused(const NcContext* ctx, int32_t live_models, int32_t live_comms) {
  NC_REQUIRE(ctx, live_models == 0, NC_ERR_STATE, "context still has %d live model(s); destroy them first",
             live_models);
  NC_REQUIRE(ctx, live_comms == 0, NC_ERR_STATE, "context still has %d live communicator(s); destroy them first",
             live_comms);
  return NC_OK;
}

int32_t check_model_unused(const NcContext* ctx, int32_t live_caches) {
  NC_REQUIRE(ctx, live_caches == 0, NC_ERR_STATE, "model still has %d live KV cache(s); destroy them first",
             live_caches);
  return NC_OK;
}

}  // namespace nc
