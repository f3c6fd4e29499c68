// optim_calls.cpp — the exported calls that read or set the optimizer's step count t, which lives on
// the host on every backend (backend.h says where its model keeps it).
#include "backend.h"
#include "errors.h"

extern "C" {

NC_API int32_t nc_model_optim_get_step(const NcModel* m, int64_t* out_step) {
  NC_CHECK_NOT_NULL(nullptr, m);
  NC_CHECK_NOT_NULL(nc_model_context(m), out_step);
  *out_step = *nc_model_opt_step(m);
  return NC_OK;
}

NC_API int32_t nc_model_optim_set_step(NcModel* m, int64_t step) {
  NC_CHECK_NOT_NULL(nullptr, m);
  NC_REQUIRE(nc_model_context(m), step >= 0, NC_ERR_INVALID_ARGUMENT, "step must be >= 0, got %lld",
             (long long)step);
  *nc_model_opt_step(m) = step;
  return NC_OK;
}

}  // extern "C"
