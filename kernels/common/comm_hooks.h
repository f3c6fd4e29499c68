// comm_hooks.h — the communicator hooks of backend.h for a backend whose NcComm (derived from
// nc::CommBase) owns its transport as `impl` (kernels/dist's Communicator or a class derived from it)
// and whose NcModel keeps its communicator as `comm` and its optimizer state as `opt`. Included once, by
// the backend's comm.cpp after its internal.h; that file defines NC_COMM_DIST first where the build links
// kernels/dist (and makes `impl`'s class complete), and otherwise `kTag`, the 16 bytes naming its ids.
// Also here: nc_comm_id_create and the checks that open nc_comm_create, the same for every backend.
// nc_comm_create itself and nc_model_dist_attach stay the backend's own (their transports differ).
#pragma once

#include <cstring>
#include <memory>
#include <random>

#include "backend.h"
#include "checks.h"

#ifdef NC_COMM_DIST
#include "abi_comm.h"
#endif

nc::CommBase* nc_comm_base(const NcComm* comm) { return const_cast<NcComm*>(comm); }

int32_t nc_comm_host_allreduce_sum(NcComm* comm, double* inout, int64_t n) {
#ifdef NC_COMM_DIST
  return nc::dist_abi::host_allreduce_sum(comm->ctx, comm->impl, inout, n);
#else
  return NC_OK;  // no transport: a world of one rank
#endif
}

int32_t nc_comm_host_barrier(NcComm* comm) {
#ifdef NC_COMM_DIST
  return nc::dist_abi::host_barrier(comm->ctx, comm->impl);
#else
  return NC_OK;  // no transport: a world of one rank
#endif
}

void nc_comm_release(NcComm* comm) {
  comm->ctx->live_comms--;
#ifdef NC_COMM_DIST
  delete comm->impl;
#endif
  delete comm;
}

NcComm** nc_model_comm(const NcModel* m) { return &const_cast<NcModel*>(m)->comm; }
bool nc_model_has_opt_state(const NcModel* m) { return m->opt.p != nullptr; }

extern "C" {

NC_API int32_t nc_comm_id_create(const NcCommOptions* options, NcCommId* out_id) {
  NC_CHECK_NOT_NULL(nullptr, out_id);
  NC_TRY(nc::validate_comm_options(nullptr, options));
  return nc_guard(nullptr, [&]() -> int32_t {
    std::memset(out_id, 0, sizeof *out_id);
#ifdef NC_COMM_DIST
    NC_TRY(nc::dist_abi::create_comm_id(options, out_id));
#else
    std::memcpy(out_id->bytes, kTag, sizeof kTag);
    std::random_device rd;
    for (size_t i = sizeof kTag; i < sizeof out_id->bytes; i += 4) {
      const uint32_t r = rd();
      std::memcpy(out_id->bytes + i, &r, 4);
    }
#endif
    return NC_OK;
  });
}

}  // extern "C"

// nc_comm_create's argument checks (inside its nc_guard), then the new communicator with its rank and world
// size; the backend joins its transport and counts it live.
static int32_t nc_comm_begin_create(NcContext* ctx, const NcCommId* id, int32_t rank, int32_t world_size,
                                    const NcCommOptions* options, NcComm** out_comm,
                                    std::unique_ptr<NcComm>* comm) {
  NC_CHECK_NOT_NULL(ctx, id);
  NC_CHECK_NOT_NULL(ctx, out_comm);
  *out_comm = nullptr;
  NC_TRY(nc::validate_comm_options(ctx, options));
  NC_REQUIRE(ctx, world_size >= 1, NC_ERR_INVALID_ARGUMENT, "world_size must be >= 1, got %d", world_size);
  NC_REQUIRE(ctx, rank >= 0 && rank < world_size, NC_ERR_OUT_OF_RANGE, "rank %d must be in [0, world_size = %d)",
             rank, world_size);
  comm->reset(new NcComm());
  (*comm)->ctx = ctx;
  (*comm)->rank = rank;
  (*comm)->world_size = world_size;
  return NC_OK;
}
