// context.cpp — the cuda backend's library-level calls: its name, device discovery (the CUDA runtime is
// linked statically and finds the driver at run time, so the library loads on a machine without a GPU
// or driver and says so here), the context on a device ordinal, and the helpers every call uses:
// device memory, CUDA errors as statuses, the calling thread's current device, profiling scopes.
#include <chrono>
#include <cstdio>
#include <cstring>

#include "backend.h"
#include "checks.h"
#include "internal.h"
#include "lifetime.h"

static_assert(sizeof(NcDeviceInfo) == 320, "NcDeviceInfo layout");
static_assert(sizeof(NcContextConfig) == 48, "NcContextConfig layout");
static_assert(sizeof(NcModelConfig) == 64, "NcModelConfig layout");
static_assert(sizeof(NcParamInfo) == 216, "NcParamInfo layout");
static_assert(sizeof(NcOptimStep) == 128, "NcOptimStep layout");
static_assert(sizeof(NcLossStats) == 48, "NcLossStats layout");
static_assert(sizeof(NcSampling) == 32, "NcSampling layout");
static_assert(sizeof(NcProfile) == 128, "NcProfile layout");

NcErrorSlot* nc_error_slot(const NcContext* ctx) { return &const_cast<NcContext*>(ctx)->err; }
const nc::ModelLayout* nc_model_layout(const NcModel* m) { return m; }
const NcContext* nc_model_context(const NcModel* m) { return m->ctx; }
NcLossStats* nc_model_loss(const NcModel* m) { return &const_cast<NcModel*>(m)->loss; }
NcProfile* nc_model_profile(const NcModel* m) { return &const_cast<NcModel*>(m)->prof; }
int64_t* nc_model_opt_step(const NcModel* m) { return &const_cast<NcModel*>(m)->opt_step; }
nc::KVCacheState* nc_kvcache_state(const NcKVCache* c) { return const_cast<NcKVCache*>(c); }

namespace nc::cu_backend {

void DevMem::release() {
  if (p) cudaFree(p);
  p = nullptr;
  bytes = 0;
}

int32_t cuda_error(const NcContext* ctx, cudaError_t e, const char* what, const char* file, int line) {
  (void)cudaGetLastError();  // do not leave it pending for the next call
  const int32_t st = e == cudaErrorMemoryAllocation ? NC_ERR_OUT_OF_MEMORY : NC_ERR_INTERNAL;
  return nc_record_error(ctx, st, file, line, "%s: %s (%s)", what, cudaGetErrorName(e), cudaGetErrorString(e));
}

int32_t status_error(const NcContext* ctx, const nc::cuda::Status& s, const char* file, int line) {
  return nc_record_error(ctx, NC_ERR_INTERNAL, file, line, "%s", s.message.c_str());
}

int32_t dev_alloc(const NcContext* ctx, DevMem& mem, size_t bytes, bool zero, const char* what) {
  mem.release();
  if (bytes == 0) return NC_OK;
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, bytes);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    size_t free_b = 0, total_b = 0;
    (void)cudaMemGetInfo(&free_b, &total_b);
    (void)cudaGetLastError();
    NC_FAIL(ctx, e == cudaErrorMemoryAllocation ? NC_ERR_OUT_OF_MEMORY : NC_ERR_INTERNAL,
            "out of GPU memory allocating %s (%.1f MiB; %.1f MiB free of %.1f MiB): %s; use a smaller batch "
            "(--device-batch-size) or model",
            what, (double)bytes / 1048576.0, (double)free_b / 1048576.0, (double)total_b / 1048576.0,
            cudaGetErrorName(e));
  }
  mem.p = p;
  mem.bytes = bytes;
  if (zero) {
    // cudaMemset runs on the legacy default stream, which the models' non-blocking streams do not wait
    // for: finish it before any kernel can touch the memory (allocations are rare).
    NC_CU(ctx, cudaMemset(p, 0, bytes), "cudaMemset");
    NC_CU(ctx, cudaDeviceSynchronize(), "cudaDeviceSynchronize after cudaMemset");
  }
  return NC_OK;
}

int32_t use_device(const NcContext* ctx) {
  NC_CU(ctx, cudaSetDevice(ctx->device_index), "cudaSetDevice");
  return NC_OK;
}

double wall_seconds() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

ProfileScope::ProfileScope(NcModel* model) : m(model), prof(nullptr), t0(0) {
  if (m && (m->ctx->flags & NC_CONTEXT_PROFILE)) {
    prof = &m->prof;
    t0 = wall_seconds();
  }
}
ProfileScope::~ProfileScope() {
  if (!prof) return;
  (void)cudaStreamSynchronize(m->stream);
  prof->calls += 1;
  prof->total_seconds += wall_seconds() - t0;
}

PhaseTimer::PhaseTimer(NcModel* model, NcProfile* prof, double NcProfile::*field)
    : m(model), slot(prof ? &(prof->*field) : nullptr), t0(0) {
  if (!slot) return;
  (void)cudaStreamSynchronize(m->stream);
  t0 = wall_seconds();
}
PhaseTimer::~PhaseTimer() {
  if (!slot) return;
  (void)cudaStreamSynchronize(m->stream);
  *slot += wall_seconds() - t0;
}

}  // namespace nc::cu_backend

using namespace nc::cu_backend;

namespace {

// The number of GPUs, or a failure saying why there are none (no driver, a driver too old).
int32_t count_devices(int* count) {
  *count = 0;
  const cudaError_t e = cudaGetDeviceCount(count);
  if (e == cudaSuccess) return NC_OK;
  (void)cudaGetLastError();
  *count = 0;
  if (e == cudaErrorNoDevice) return NC_OK;
  NC_FAIL(nullptr, NC_ERR_UNSUPPORTED,
          "no usable CUDA device: cudaGetDeviceCount failed with %s (%s); a GPU with an NVIDIA driver for CUDA 13 "
          "(r580 or newer) is needed",
          cudaGetErrorName(e), cudaGetErrorString(e));
}

}  // namespace

extern "C" {

NC_API const char* nc_backend_name(void) {
#ifdef NC_EMU
  return "cuda_emu";
#else
  return "cuda";
#endif
}

NC_API int32_t nc_device_count(int32_t* out_count) {
  NC_CHECK_NOT_NULL(nullptr, out_count);
  int n = 0;
  const int32_t st = count_devices(&n);
  *out_count = n;
  return st;
}

NC_API int32_t nc_device_info(int32_t index, NcDeviceInfo* out) {
  NC_CHECK_NOT_NULL(nullptr, out);
  int n = 0;
  NC_TRY(count_devices(&n));
  NC_TRY(nc::check_index(nullptr, index, n, "cuda device"));
  std::memset(out, 0, sizeof *out);
  int major = 0, minor = 0, sms = 0;
  NC_CU(nullptr, cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, index), "cudaDeviceGetAttribute");
  NC_CU(nullptr, cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, index), "cudaDeviceGetAttribute");
  NC_CU(nullptr, cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, index), "cudaDeviceGetAttribute");
#ifdef NC_EMU
  std::snprintf(out->name, sizeof out->name, "CUDA emulator on the CPU (sm_%d%d-like, %d SMs)", major, minor, sms);
#else
  cudaDeviceProp prop;
  NC_CU(nullptr, cudaGetDeviceProperties(&prop, index), "cudaGetDeviceProperties");
  std::snprintf(out->name, sizeof out->name, "%s", prop.name);
#endif
  int prev = 0;
  (void)cudaGetDevice(&prev);
  NC_CU(nullptr, cudaSetDevice(index), "cudaSetDevice");
  size_t free_b = 0, total_b = 0;
  const cudaError_t e = cudaMemGetInfo(&free_b, &total_b);
  (void)cudaSetDevice(prev);
  NC_CU(nullptr, e, "cudaMemGetInfo");
  out->device = NC_DEVICE_CUDA;
  out->index = index;
  out->total_memory = (int64_t)total_b;
  out->free_memory = (int64_t)free_b;
  out->compute_capability_major = major;
  out->compute_capability_minor = minor;
  out->cores = sms;
  out->compute_dtypes = 1u << NC_DTYPE_BF16;
  return NC_OK;
}

NC_API int32_t nc_context_create(const NcContextConfig* config, NcContext** out_ctx) {
  return nc_guard(nullptr, [&]() -> int32_t {
    NC_CHECK_NOT_NULL(nullptr, config);
    NC_CHECK_NOT_NULL(nullptr, out_ctx);
    *out_ctx = nullptr;
    int n = 0;
    NC_TRY(count_devices(&n));
    NC_TRY(nc::validate_context_config(config, NC_DEVICE_CUDA, n, nc_backend_name()));
    NcContext* ctx = new (std::nothrow) NcContext();
    NC_REQUIRE(nullptr, ctx != nullptr, NC_ERR_OUT_OF_MEMORY, "out of memory allocating the context");
    ctx->device = config->device;
    ctx->device_index = config->device_index;
    ctx->flags = config->flags;
    ctx->seed = config->seed;
    const int32_t st = use_device(ctx);
    if (st != NC_OK) {
      delete ctx;
      return st;
    }
    *out_ctx = ctx;
    return NC_OK;
  });
}

NC_API int32_t nc_context_destroy(NcContext* ctx) {
  if (!ctx) return NC_OK;
  NC_TRY(nc::check_context_unused(ctx, ctx->live_models.load(), ctx->live_comms.load()));
  delete ctx;
  return NC_OK;
}

}  // extern "C"
