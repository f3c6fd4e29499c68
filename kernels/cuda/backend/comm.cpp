// comm.cpp — the communicator of the cuda backend. A world of one rank needs no transport (its
// collectives are exact as they are). With NC_CUDA_DIST (the build links kernels/dist) world_size > 1
// runs data-parallel:
//   id        nc_comm_id_create makes kernels/dist's 128-byte "NCD1" id naming rank 0's bootstrap store
//             (the cpu backend's id). NCCL's own 128-byte ncclUniqueId does not travel in it: every rank
//             joins a Gloo communicator through the store, and rank 0 broadcasts its ncclUniqueId over
//             that (nccl_comm.h), so one id format serves both backends and the launcher.
//   device    the collectives of the optimizer (nccl_comm.cpp: NCCL on the model's compute stream;
//             kernels/emu/nccl_emu.cpp under the emulator: Gloo after draining the stream);
//   host      the double reductions (metrics, stop flags) and the barrier go over Gloo.
// The optimizer step over it is nccl_optim.cpp's: DistAdamW sharded per kernels/dist/shard_plan.h
// (reduce-scatter, this rank's state rows, all-gather) and DistMuon (stacked reduce-scatter, owners
// orthogonalize their matrices, all-gather).
#include <cstring>
#include <memory>
#include <random>

#include "checks.h"
#include "internal.h"

#ifdef NC_CUDA_DIST
#include "abi_comm.h"
#include "dist_status.h"
#include "nccl_comm.h"
#else
namespace {
constexpr char kTag[16] = "nanochat-cuda/1";  // bytes 0..15 of an id made by a build without kernels/dist
}  // namespace
#endif

namespace nc::cu_backend {

int32_t average_grads(NcModel* m) {
  if (!m->comm || !m->comm->impl || m->grads_averaged) return NC_OK;
#ifdef NC_CUDA_DIST
  NC_TRY(timed_collectives(m, [&]() -> int32_t {
    NC_DIST_TRY(m->ctx, m->comm->impl->all_reduce(m->g.as<float>(), (size_t)m->n_weights, nc::dist::ReduceOp::kAvg,
                                                  m->stream));
    return NC_OK;
  }));
  // the caller reads the result next: wait here through the communicator, not with a plain download
  NC_TRY(sync_stream(m, "cudaStreamSynchronize (gradient average)"));
#endif
  m->grads_averaged = true;
  return NC_OK;
}

int32_t sync_stream(NcModel* m, const char* what) {
#ifdef NC_CUDA_DIST
  if (m->comm && m->comm->impl) {
    NC_DIST_TRY(m->ctx, m->comm->impl->synchronize(m->stream));
    return NC_OK;
  }
#endif
  NC_CU(m->ctx, cudaStreamSynchronize(m->stream), what);
  return NC_OK;
}

}  // namespace nc::cu_backend

#ifdef NC_CUDA_DIST
#define NC_COMM_DIST
#endif
#include "comm_hooks.h"

int32_t nc_model_dist_attach(NcModel* m, NcComm* comm) {
  NC_TRY(nc::cu_backend::dist_attach(m, comm));
  m->grads_averaged = false;
  return NC_OK;
}

extern "C" {

NC_API int32_t nc_comm_create(NcContext* ctx, const NcCommId* id, int32_t rank, int32_t world_size,
                              const NcCommOptions* options, NcComm** out_comm) {
  NC_CHECK_NOT_NULL(nullptr, ctx);
  return nc_guard(ctx, [&]() -> int32_t {
    std::unique_ptr<NcComm> comm;
    NC_TRY(nc_comm_begin_create(ctx, id, rank, world_size, options, out_comm, &comm));
#ifdef NC_CUDA_DIST
    NC_TRY(nc::dist_abi::check_comm_id(ctx, id, "cuda"));
    NC_TRY(nc::cu_backend::use_device(ctx));
    std::unique_ptr<nc::dist::Communicator> host;
    NC_TRY(nc::dist_abi::join_host_comm(ctx, id, rank, world_size, options, &host));
    if (world_size > 1) {
      std::unique_ptr<nc::cu_backend::DeviceComm> dev;
      NC_DIST_TRY(ctx, nc::cu_backend::create_device_comm(std::move(host), nc::dist_abi::comm_timeout(options), &dev));
      comm->impl = dev.release();
    }
#else
    NC_REQUIRE(ctx, std::memcmp(id->bytes, kTag, sizeof kTag) == 0, NC_ERR_INVALID_ARGUMENT,
               "the communicator id was not made by nc_comm_id_create of the cuda backend (pass rank 0's id "
               "to every rank unchanged)");
    NC_REQUIRE(ctx, world_size == 1, NC_ERR_UNSUPPORTED,
               "world_size %d: this build of the cuda backend has no collective transport (built without "
               "kernels/dist: -DNC_BUILD_DIST=OFF or the standalone kernels/cuda build) and supports "
               "world_size 1 only; run a single process",
               world_size);
#endif
    ctx->live_comms++;
    *out_comm = comm.release();
    return NC_OK;
  });
}

}  // extern "C"
