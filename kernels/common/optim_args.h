// optim_args.h — the device-independent part of the optimizer-state calls: the argument checks of
// nc_model_optim_state_read / _write, the same on every backend before it copies the row.
#pragma once

#include <cstdint>

#include "layout.h"
#include "nanochat.h"

namespace nc {

// nc_model_optim_state_read/_write's arguments: buf (named `buf_name` in the message) not NULL, index a
// row of the state table and numel that row's length; *out = the row.
int32_t check_state_copy(const NcContext* ctx, const ModelLayout& layout, int32_t index, const void* buf,
                         const char* buf_name, int64_t numel, const StateEntry** out);

}  // namespace nc
