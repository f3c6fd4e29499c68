// backend.h — what every backend provides to the shared code in common/: where a context keeps its
// error slot, the device-independent layout, the context and the host-side counters (loss statistics,
// profile, optimizer step count) of a model, and the device-independent state of a KV cache. Each is one line in the backend
// (its NcContext holds an NcErrorSlot; its NcModel derives from nc::ModelLayout, its NcKVCache from
// nc::KVCacheState).
#pragma once

#include "errors.h"
#include "kvcache_args.h"
#include "layout.h"

NcErrorSlot* nc_error_slot(const NcContext* ctx);
const nc::ModelLayout* nc_model_layout(const NcModel* model);
const NcContext* nc_model_context(const NcModel* model);
NcLossStats* nc_model_loss(const NcModel* model);
NcProfile* nc_model_profile(const NcModel* model);
int64_t* nc_model_opt_step(const NcModel* model);
nc::KVCacheState* nc_kvcache_state(const NcKVCache* cache);
