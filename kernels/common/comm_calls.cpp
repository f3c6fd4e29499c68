// comm_calls.cpp — the exported communicator calls that every backend does the same way: destroy, its
// rank, the host double sum, the barrier and attaching it to a model. Creating one stays in the backend's
// comm.cpp; the transport of a world of more than one rank and the optimizer step over it are the
// backend's (backend.h).
#include "backend.h"
#include "comm_base.h"
#include "errors.h"

extern "C" {

NC_API int32_t nc_comm_destroy(NcComm* comm) {
  if (!comm) return NC_OK;
  const nc::CommBase* c = nc_comm_base(comm);
  const int32_t attached = c->attached.load();
  NC_REQUIRE(c->ctx, attached == 0, NC_ERR_STATE,
             "the communicator is attached to %d model(s); destroy or detach them first", attached);
  nc_comm_release(comm);
  return NC_OK;
}

NC_API int32_t nc_comm_get_rank(const NcComm* comm, int32_t* out_rank, int32_t* out_world_size) {
  NC_CHECK_NOT_NULL(nullptr, comm);
  const nc::CommBase* c = nc_comm_base(comm);
  NC_CHECK_NOT_NULL(c->ctx, out_rank);
  NC_CHECK_NOT_NULL(c->ctx, out_world_size);
  *out_rank = c->rank;
  *out_world_size = c->world_size;
  return NC_OK;
}

NC_API int32_t nc_comm_allreduce_sum(NcComm* comm, double* inout, int64_t n) {
  NC_CHECK_NOT_NULL(nullptr, comm);
  const NcContext* ctx = nc_comm_base(comm)->ctx;
  NC_REQUIRE(ctx, n >= 0, NC_ERR_INVALID_ARGUMENT, "n must be >= 0, got %lld", (long long)n);
  NC_REQUIRE(ctx, n == 0 || inout != nullptr, NC_ERR_INVALID_ARGUMENT, "inout must not be NULL");
  return nc_comm_host_allreduce_sum(comm, inout, n);
}

NC_API int32_t nc_comm_barrier(NcComm* comm) {
  NC_CHECK_NOT_NULL(nullptr, comm);
  return nc_comm_host_barrier(comm);
}

NC_API int32_t nc_model_attach_comm(NcModel* m, NcComm* comm) {
  NC_CHECK_NOT_NULL(nullptr, m);
  const NcContext* ctx = nc_model_context(m);
  NC_REQUIRE(ctx, comm == nullptr || nc_comm_base(comm)->ctx == ctx, NC_ERR_INVALID_ARGUMENT,
             "the communicator belongs to another context than the model");
  NC_REQUIRE(ctx, !nc_model_has_opt_state(m), NC_ERR_STATE,
             "the optimizer state already exists: attach the communicator before the first optimizer step or "
             "state read/write");
  return nc_guard(ctx, [&]() -> int32_t {
    NC_TRY(nc_model_dist_attach(m, comm));
    NcComm** slot = nc_model_comm(m);
    if (*slot) nc_comm_base(*slot)->attached--;
    *slot = comm;
    if (comm) nc_comm_base(comm)->attached++;
    return NC_OK;
  });
}

}  // extern "C"
