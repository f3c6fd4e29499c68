// optim_args.cpp — the optimizer-state calls' argument checks (optim_args.h).
#include "optim_args.h"

#include "checks.h"
#include "errors.h"

namespace nc {

int32_t check_state_copy(const NcContext* ctx, const ModelLayout& layout, int32_t index, const void* buf,
                         const char* buf_name, int64_t numel, const StateEntry** out) {
  NC_REQUIRE(ctx, buf != nullptr, NC_ERR_INVALID_ARGUMENT, "%s must not be NULL", buf_name);
  NC_TRY(check_index(ctx, index, (int64_t)layout.states.size(), "optimizer state"));
  const StateEntry& s = layout.states[(size_t)index];
  NC_TRY(check_numel(ctx, s.name, s.numel, numel));
  *out = &s;
  return NC_OK;
}

}  // namespace nc
