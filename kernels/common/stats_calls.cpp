// stats_calls.cpp — the exported calls that read or reset a model's host-side counters: the loss
// statistics of the backward calls and the profile. Every backend gets them from here (backend.h
// says where its model keeps them).
#include "backend.h"
#include "errors.h"

extern "C" {

NC_API int32_t nc_model_loss_stats(NcModel* m, NcLossStats* out) {
  NC_CHECK_NOT_NULL(nullptr, m);
  NC_CHECK_NOT_NULL(nc_model_context(m), out);
  *out = *nc_model_loss(m);
  return NC_OK;
}

NC_API int32_t nc_model_get_profile(const NcModel* m, NcProfile* out) {
  NC_CHECK_NOT_NULL(nullptr, m);
  NC_CHECK_NOT_NULL(nc_model_context(m), out);
  *out = *nc_model_profile(m);
  return NC_OK;
}

NC_API int32_t nc_model_reset_profile(NcModel* m) {
  NC_CHECK_NOT_NULL(nullptr, m);
  *nc_model_profile(m) = NcProfile{};
  return NC_OK;
}

}  // extern "C"
