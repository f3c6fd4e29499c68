// comm.cpp — the communicator of the cpu backend. With NC_CPU_DIST (the default build, kernels/dist
// over Gloo) an id is kernels/dist's 128-byte "NCD1" id naming rank 0's bootstrap store, and a
// communicator of world_size > 1 is a Gloo TCP full mesh with every call bounded by the options'
// timeout. A world of one rank needs no transport: its collectives are exact as they are (a sum over
// one rank is the value itself). Models attach to a communicator; their gradient norm and optimizer step
// then reduce over it (dist_optim.cpp).
#include <cstring>
#include <memory>
#include <random>

#include "checks.h"
#include "errors.h"
#include "internal.h"

#ifdef NC_CPU_DIST
#include "abi_comm.h"
#else
namespace {
constexpr char kTag[16] = "nanochat-cpu/1";  // bytes 0..15 of an id made by a build without Gloo
}  // namespace
#endif

#ifdef NC_CPU_DIST
#define NC_COMM_DIST
#endif
#include "comm_hooks.h"

int32_t nc_model_dist_attach(NcModel* m, NcComm* comm) {
  return nc::dist_attach(m, comm && comm->world_size > 1 ? comm : nullptr);
}

extern "C" {

NC_API int32_t nc_comm_create(NcContext* ctx, const NcCommId* id, int32_t rank, int32_t world_size,
                              const NcCommOptions* options, NcComm** out_comm) {
  NC_CHECK_NOT_NULL(nullptr, ctx);
  return nc_guard(ctx, [&]() -> int32_t {
    std::unique_ptr<NcComm> comm;
    NC_TRY(nc_comm_begin_create(ctx, id, rank, world_size, options, out_comm, &comm));
#ifdef NC_CPU_DIST
    NC_TRY(nc::dist_abi::check_comm_id(ctx, id, "cpu"));
    std::unique_ptr<nc::dist::Communicator> impl;
    NC_TRY(nc::dist_abi::join_host_comm(ctx, id, rank, world_size, options, &impl));
    if (world_size > 1) comm->impl = impl.release();
#else
    NC_REQUIRE(ctx, std::memcmp(id->bytes, kTag, sizeof kTag) == 0, NC_ERR_INVALID_ARGUMENT,
               "the communicator id was not made by nc_comm_id_create of the cpu backend (pass rank 0's id "
               "to every rank unchanged)");
    NC_REQUIRE(ctx, world_size == 1, NC_ERR_UNSUPPORTED,
               "world_size %d: this build of the cpu backend has no collective transport (configured with "
               "-DNC_BUILD_DIST=OFF or without libgloo-dev) and supports world_size 1 only",
               world_size);
#endif
    ctx->live_comms++;
    *out_comm = comm.release();
    return NC_OK;
  });
}

}  // extern "C"
