// nccl_comm.cpp — the GPU build's device communicator (see nccl_comm.h): NCCL, loaded at run time from
// libnccl.so.2 with cuda_libs.h's search (NANOCHAT_CUDA_LIBS folders, then the loader's: the system's
// NCCL or PyTorch's pip wheel, nvidia/nccl/lib), so the library builds and runs at world_size 1 without it.
//   init     rank 0's ncclGetUniqueId travels over the host (Gloo) communicator; every rank then runs
//            ncclCommInitRankConfig non-blocking and polls ncclCommGetAsyncError until it is ready, or
//            aborts it after the timeout (a rank that never arrives is kTimeout, not a hang);
//   calls    float collectives enqueued on the caller's stream (the model's compute stream), so they
//            order with the kernels around them; kAvg is NCCL's ncclAvg;
//   waiting  synchronize() polls the stream and the communicator's async error: a remote/system error
//            is kPeerFailed, no progress within the timeout kTimeout; both abort the communicator, and
//            every later call is kState (destroy it and restart the job, as with Gloo).
// Only the few NCCL symbols used are declared here (their ABI has been stable since NCCL 2.14); the
// config struct is the 2.14 prefix with its own size and version, which later NCCLs accept.
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "cuda_libs.h"
#include "nccl_comm.h"

namespace nc::cu_backend {
namespace {

using nc::dist::Errc;
using nc::dist::ReduceOp;
using nc::dist::Status;

// ---- the NCCL ABI subset (nccl.h) ----
using ncclComm_t = struct ncclComm*;
struct ncclUniqueId {
  char internal[128];
};
enum ncclResult_t { ncclSuccess = 0, ncclSystemError = 2, ncclRemoteError = 6, ncclInProgress = 7 };
enum ncclRedOp_t { ncclSum = 0, ncclAvg = 4 };
enum ncclDataType_t { ncclFloat32 = 7 };
struct ncclConfig_v21400 {
  size_t size;
  unsigned int magic;
  unsigned int version;
  int blocking, cgaClusterSize, minCTAs, maxCTAs;
  const char* netName;
};
constexpr int kUndefInt = (-2147483647 - 1);  // NCCL_CONFIG_UNDEF_INT

struct NcclApi {
  ncclResult_t (*GetUniqueId)(ncclUniqueId*);
  ncclResult_t (*CommInitRankConfig)(ncclComm_t*, int, ncclUniqueId, int, ncclConfig_v21400*);
  ncclResult_t (*CommGetAsyncError)(ncclComm_t, ncclResult_t*);
  ncclResult_t (*CommAbort)(ncclComm_t);
  ncclResult_t (*CommDestroy)(ncclComm_t);
  ncclResult_t (*CommFinalize)(ncclComm_t);
  ncclResult_t (*AllReduce)(const void*, void*, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t, cudaStream_t);
  ncclResult_t (*ReduceScatter)(const void*, void*, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t, cudaStream_t);
  ncclResult_t (*AllGather)(const void*, void*, size_t, ncclDataType_t, ncclComm_t, cudaStream_t);
  ncclResult_t (*Broadcast)(const void*, void*, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t);
  const char* (*GetErrorString)(ncclResult_t);
};

// Loads libnccl.so.2 once; on failure `error` says what was tried and how to get it.
const NcclApi* nccl_api(std::string* error) {
  static std::once_flag once;
  static NcclApi api{};
  static bool ok = false;
  static std::string why;
  std::call_once(once, [] {
    std::string tried;
    void* h = nc::cuda::open_runtime_library("libnccl.so.2", &tried);
    if (!h) {
      why = "NCCL (libnccl.so.2) could not be loaded; tried " + tried +
            ". world_size > 1 on the cuda backend needs it: install NCCL 2.14+ (Debian/Ubuntu: libnccl2) or "
            "`pip install nvidia-nccl-cu13` (PyTorch brings it), and point NANOCHAT_CUDA_LIBS at its "
            "nvidia/nccl/lib folder";
      return;
    }
    bool all = true;
    auto sym = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(h, name));
      if (!fn) {
        all = false;
        why += std::string(why.empty() ? "" : ", ") + name;
      }
    };
    sym(api.GetUniqueId, "ncclGetUniqueId");
    sym(api.CommInitRankConfig, "ncclCommInitRankConfig");
    sym(api.CommGetAsyncError, "ncclCommGetAsyncError");
    sym(api.CommAbort, "ncclCommAbort");
    sym(api.CommDestroy, "ncclCommDestroy");
    sym(api.CommFinalize, "ncclCommFinalize");
    sym(api.AllReduce, "ncclAllReduce");
    sym(api.ReduceScatter, "ncclReduceScatter");
    sym(api.AllGather, "ncclAllGather");
    sym(api.Broadcast, "ncclBroadcast");
    sym(api.GetErrorString, "ncclGetErrorString");
    if (!all) {
      why = "the libnccl.so.2 found lacks " + why + " (NCCL 2.14 or later is needed)";
      return;
    }
    ok = true;
  });
  if (!ok) *error = why;
  return ok ? &api : nullptr;
}

class NcclComm final : public DeviceComm {
 public:
  NcclComm(const NcclApi* api, std::unique_ptr<nc::dist::Communicator> host, std::chrono::milliseconds timeout)
      : api_(api), host_(std::move(host)), timeout_(timeout) {}
  // A healthy communicator is finalized (waiting at most the timeout) and destroyed; otherwise aborted.
  ~NcclComm() override {
    if (!comm_) return;
    ncclResult_t state = api_->CommFinalize(comm_);
    const auto deadline = std::chrono::steady_clock::now() + timeout_;
    while (state == ncclSuccess || state == ncclInProgress) {
      if (api_->CommGetAsyncError(comm_, &state) != ncclSuccess) state = ncclSystemError;
      if (state != ncclInProgress) break;
      if (std::chrono::steady_clock::now() > deadline) break;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    if (state == ncclSuccess)
      api_->CommDestroy(comm_);
    else
      api_->CommAbort(comm_);
  }

  Status init() {
    ncclUniqueId id{};
    if (host_->rank() == 0) DIST_TRY(check(api_->GetUniqueId(&id), "ncclGetUniqueId"));
    static_assert(sizeof id % sizeof(float) == 0, "the id travels as floats (bytes copied, never summed)");
    DIST_TRY(host_->broadcast(reinterpret_cast<float*>(id.internal), sizeof id / sizeof(float), 0, nullptr));
    ncclConfig_v21400 config{sizeof(ncclConfig_v21400), 0xcafebeef, 21400, 0, kUndefInt, kUndefInt, kUndefInt, nullptr};
    ncclResult_t r = api_->CommInitRankConfig(&comm_, host_->world_size(), id, host_->rank(), &config);
    if (r != ncclSuccess && r != ncclInProgress) {
      comm_ = nullptr;
      return check(r, "ncclCommInitRankConfig");
    }
    return await_ready("ncclCommInitRankConfig (every rank joining)");
  }

  int rank() const override { return host_->rank(); }
  int world_size() const override { return host_->world_size(); }
  const char* transport() const override { return "nccl"; }

  Status all_reduce(float* data, size_t count, ReduceOp op, void* stream) override {
    DIST_TRY(usable());
    return enqueued(api_->AllReduce(data, data, count, ncclFloat32, op_of(op), comm_, as_stream(stream)),
                    "ncclAllReduce");
  }
  Status all_reduce_f64(double* data, size_t count, ReduceOp op) override {
    return host_->all_reduce_f64(data, count, op);
  }
  Status reduce_scatter(float* in, float* out, size_t count, ReduceOp op, void* stream) override {
    DIST_TRY(usable());
    // NCCL's in-place form is out == in + rank*count; any other overlap is not allowed
    return enqueued(api_->ReduceScatter(in, out, count, ncclFloat32, op_of(op), comm_, as_stream(stream)),
                    "ncclReduceScatter");
  }
  Status all_gather(const float* in, float* out, size_t count, void* stream) override {
    DIST_TRY(usable());
    return enqueued(api_->AllGather(in, out, count, ncclFloat32, comm_, as_stream(stream)), "ncclAllGather");
  }
  Status broadcast(float* data, size_t count, int root, void* stream) override {
    DIST_TRY(usable());
    return enqueued(api_->Broadcast(data, data, count, ncclFloat32, root, comm_, as_stream(stream)),
                    "ncclBroadcast");
  }
  Status barrier() override { return host_->barrier(); }

  Status synchronize(void* stream) override {
    DIST_TRY(usable());
    const auto deadline = std::chrono::steady_clock::now() + timeout_;
    for (;;) {
      const cudaError_t e = cudaStreamQuery(as_stream(stream));
      if (e == cudaSuccess) return Status::Ok();
      if (e != cudaErrorNotReady) {
        abort();
        return DIST_ERROR(Errc::kInternal, "the compute stream failed under NCCL collectives: %s",
                          cudaGetErrorString(e));
      }
      DIST_TRY(async_error("a collective"));
      if (std::chrono::steady_clock::now() > deadline) return timed_out("a collective");
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }

 private:
  static cudaStream_t as_stream(void* s) { return static_cast<cudaStream_t>(s); }
  static ncclRedOp_t op_of(ReduceOp op) { return op == ReduceOp::kAvg ? ncclAvg : ncclSum; }

  Status usable() const {
    if (failed_)
      return DIST_ERROR(Errc::kState, "the NCCL communicator failed earlier; destroy it and restart the job");
    return Status::Ok();
  }
  // Marks the communicator failed and aborts it now: NCCL kernels waiting on a dead peer then leave the
  // stream, so later stream waits (profiling, downloads) return instead of hanging.
  void abort() {
    failed_ = true;
    if (comm_) api_->CommAbort(comm_);
    comm_ = nullptr;
  }
  Status check(ncclResult_t r, const char* what) {
    if (r == ncclSuccess) return Status::Ok();
    abort();
    const Errc code = (r == ncclRemoteError || r == ncclSystemError) ? Errc::kPeerFailed : Errc::kInternal;
    return DIST_ERROR(code, "%s failed on rank %d: %s", what, host_->rank(), api_->GetErrorString(r));
  }
  // A non-blocking communicator may answer ncclInProgress for an enqueued call: wait for it to settle.
  Status enqueued(ncclResult_t r, const char* what) {
    if (r == ncclInProgress) return await_ready(what);
    return check(r, what);
  }
  Status async_error(const char* what) {
    ncclResult_t state = ncclSuccess;
    const ncclResult_t q = api_->CommGetAsyncError(comm_, &state);
    if (q != ncclSuccess) return check(q, "ncclCommGetAsyncError");
    if (state != ncclSuccess && state != ncclInProgress) return check(state, what);
    return Status::Ok();
  }
  Status timed_out(const char* what) {
    abort();
    return DIST_ERROR(Errc::kTimeout, "%s on rank %d made no progress within %lld ms (a peer died or hung); the NCCL "
                      "communicator was aborted", what, host_->rank(), (long long)timeout_.count());
  }
  Status await_ready(const char* what) {
    const auto deadline = std::chrono::steady_clock::now() + timeout_;
    for (;;) {
      ncclResult_t state = ncclInProgress;
      const ncclResult_t q = api_->CommGetAsyncError(comm_, &state);
      if (q != ncclSuccess) return check(q, "ncclCommGetAsyncError");
      if (state == ncclSuccess) return Status::Ok();
      if (state != ncclInProgress) return check(state, what);
      if (std::chrono::steady_clock::now() > deadline) return timed_out(what);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }

  const NcclApi* api_;
  std::unique_ptr<nc::dist::Communicator> host_;
  std::chrono::milliseconds timeout_;
  ncclComm_t comm_ = nullptr;
  bool failed_ = false;
};

}  // namespace

Status create_device_comm(std::unique_ptr<nc::dist::Communicator> host, std::chrono::milliseconds timeout,
                          std::unique_ptr<DeviceComm>* out) {
  std::string why;
  const NcclApi* api = nccl_api(&why);
  if (!api) return DIST_ERROR(Errc::kInvalidArgument, "%s", why.c_str());
  std::unique_ptr<NcclComm> c(new NcclComm(api, std::move(host), timeout));
  DIST_TRY(c->init());
  *out = std::move(c);
  return Status::Ok();
}

}  // namespace nc::cu_backend
