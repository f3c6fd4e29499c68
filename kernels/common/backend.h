// backend.h — what every backend provides to the shared code in common/: where a context keeps its
// error slot, the device-independent layout, the context and the host-side counters (loss statistics,
// profile, optimizer step count) of a model, and the device-independent state of a KV cache. Each is one line in the backend
// (its NcContext holds an NcErrorSlot; its NcModel derives from nc::ModelLayout, its NcKVCache from
// nc::KVCacheState, its NcComm from nc::CommBase).
#pragma once

#include "comm_base.h"
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

// The communicator (comm_calls.cpp): its shared part, and what the backend's transport does. The host
// sum and the barrier return NC_OK at once for a world of one rank (no transport: the sum over one rank
// is its own values, and one rank has always arrived). nc_comm_release drops the context's count of live
// communicators and frees the communicator with its transport. comm_hooks.h writes these and the first
// two below for a backend; nc_model_dist_attach is the backend's own.
nc::CommBase* nc_comm_base(const NcComm* comm);
int32_t nc_comm_host_allreduce_sum(NcComm* comm, double* inout, int64_t n);
int32_t nc_comm_host_barrier(NcComm* comm);
void nc_comm_release(NcComm* comm);

// The communicator attached to a model (nc_model_attach_comm): where the model keeps it, whether its
// optimizer state exists yet (then it is too late to attach), and the backend's preparation of the
// optimizer step over comm (null detaches).
NcComm** nc_model_comm(const NcModel* model);
bool nc_model_has_opt_state(const NcModel* model);
int32_t nc_model_dist_attach(NcModel* model, NcComm* comm);
