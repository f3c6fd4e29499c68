// comm.cpp — the communicator slot of the cuda backend. This build has no collective transport (NCCL
// is the distributed work's next step), so, like the cpu backend, it supports world_size 1: the
// collectives are then exact (a sum over one rank is the value itself) and every rank holds all
// optimizer state. world_size > 1 is NC_ERR_UNSUPPORTED with the same advice as the cpu backend.
#include <cstring>
#include <random>

#include "checks.h"
#include "internal.h"

namespace {

constexpr char kTag[16] = "nanochat-cuda/1";  // bytes 0..15 of an id made here

}  // namespace

extern "C" {

NC_API int32_t nc_comm_id_create(const NcCommOptions* options, NcCommId* out_id) {
  NC_CHECK_NOT_NULL(nullptr, out_id);
  NC_TRY(nc::validate_comm_options(nullptr, options));
  return nc_guard(nullptr, [&]() -> int32_t {
    std::memset(out_id, 0, sizeof *out_id);
    std::memcpy(out_id->bytes, kTag, sizeof kTag);
    std::random_device rd;
    for (size_t i = sizeof kTag; i < sizeof out_id->bytes; i += 4) {
      const uint32_t r = rd();
      std::memcpy(out_id->bytes + i, &r, 4);
    }
    return NC_OK;
  });
}

NC_API int32_t nc_comm_create(NcContext* ctx, const NcCommId* id, int32_t rank, int32_t world_size,
                              const NcCommOptions* options, NcComm** out_comm) {
  NC_CHECK_NOT_NULL(nullptr, ctx);
  return nc_guard(ctx, [&]() -> int32_t {
    NC_CHECK_NOT_NULL(ctx, id);
    NC_CHECK_NOT_NULL(ctx, out_comm);
    *out_comm = nullptr;
    NC_TRY(nc::validate_comm_options(ctx, options));
    NC_REQUIRE(ctx, std::memcmp(id->bytes, kTag, sizeof kTag) == 0, NC_ERR_INVALID_ARGUMENT,
               "the communicator id was not made by nc_comm_id_create of the cuda backend (pass rank 0's id "
               "to every rank unchanged)");
    NC_REQUIRE(ctx, world_size >= 1, NC_ERR_INVALID_ARGUMENT, "world_size must be >= 1, got %d", world_size);
    NC_REQUIRE(ctx, rank >= 0 && rank < world_size, NC_ERR_OUT_OF_RANGE, "rank %d must be in [0, world_size = %d)",
               rank, world_size);
    NC_REQUIRE(ctx, world_size == 1, NC_ERR_UNSUPPORTED,
               "world_size %d: this build of the cuda backend has no collective transport and supports "
               "world_size 1 only (one process); run a single process",
               world_size);
    NcComm* comm = new NcComm();
    comm->ctx = ctx;
    comm->rank = rank;
    comm->world_size = world_size;
    ctx->live_comms++;
    *out_comm = comm;
    return NC_OK;
  });
}

NC_API int32_t nc_comm_destroy(NcComm* comm) {
  if (!comm) return NC_OK;
  const int32_t attached = comm->attached.load();
  NC_REQUIRE(comm->ctx, attached == 0, NC_ERR_STATE,
             "the communicator is attached to %d model(s); destroy or detach them first", attached);
  comm->ctx->live_comms--;
  delete comm;
  return NC_OK;
}

NC_API int32_t nc_comm_get_rank(const NcComm* comm, int32_t* out_rank, int32_t* out_world_size) {
  NC_CHECK_NOT_NULL(nullptr, comm);
  NC_CHECK_NOT_NULL(comm->ctx, out_rank);
  NC_CHECK_NOT_NULL(comm->ctx, out_world_size);
  *out_rank = comm->rank;
  *out_world_size = comm->world_size;
  return NC_OK;
}

NC_API int32_t nc_comm_allreduce_sum(NcComm* comm, double* inout, int64_t n) {
  NC_CHECK_NOT_NULL(nullptr, comm);
  NC_REQUIRE(comm->ctx, n >= 0, NC_ERR_INVALID_ARGUMENT, "n must be >= 0, got %lld", (long long)n);
  NC_REQUIRE(comm->ctx, n == 0 || inout != nullptr, NC_ERR_INVALID_ARGUMENT, "inout must not be NULL");
  return NC_OK;  // the sum over the one rank is its own values
}

NC_API int32_t nc_comm_barrier(NcComm* comm) {
  NC_CHECK_NOT_NULL(nullptr, comm);
  return NC_OK;  // one rank has always arrived
}

NC_API int32_t nc_model_attach_comm(NcModel* m, NcComm* comm) {
  NC_CHECK_NOT_NULL(nullptr, m);
  NC_REQUIRE(m->ctx, comm == nullptr || comm->ctx == m->ctx, NC_ERR_INVALID_ARGUMENT,
             "the communicator belongs to another context than the model");
  NC_REQUIRE(m->ctx, m->opt.p == nullptr, NC_ERR_STATE,
             "the optimizer state already exists: attach the communicator before the first optimizer step or "
             "state read/write");
  if (m->comm) m->comm->attached--;
  m->comm = comm;
  if (comm) comm->attached++;
  return NC_OK;
}

}  // extern "C"
