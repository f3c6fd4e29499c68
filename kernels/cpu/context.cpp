// context.cpp — the context handle (device, threads, flags) and the small runtime helpers every call
// uses: aligned buffers, thread-count scoping, wall clock and profiling scopes; and the hooks through
// which the shared code (common/backend.h) sees a context's error slot and a model's layout.
#include <omp.h>
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

#include <cstdlib>
#include <cstring>

#include "backend.h"
#include "checks.h"
#include "errors.h"
#include "internal.h"
#include "lifetime.h"

NcErrorSlot* nc_error_slot(const NcContext* ctx) { return &const_cast<NcContext*>(ctx)->err; }
const nc::ModelLayout* nc_model_layout(const NcModel* m) { return m; }
const NcContext* nc_model_context(const NcModel* m) { return m->ctx; }
NcLossStats* nc_model_loss(const NcModel* m) { return &const_cast<NcModel*>(m)->loss; }
NcProfile* nc_model_profile(const NcModel* m) { return &const_cast<NcModel*>(m)->prof; }
int64_t* nc_model_opt_step(const NcModel* m) { return &const_cast<NcModel*>(m)->opt_step; }
nc::KVCacheState* nc_kvcache_state(const NcKVCache* c) { return const_cast<NcKVCache*>(c); }

bool FloatBuf::alloc(int64_t count, bool zero) {
  release();
  if (count <= 0) return true;
  size_t bytes = ((size_t)count * sizeof(float) + 63) & ~(size_t)63;
  void* mem = std::aligned_alloc(64, bytes);
  if (!mem) return false;
  p = static_cast<float*>(mem);
  n = count;
  if (zero) std::memset(p, 0, bytes);
  return true;
}

void FloatBuf::release() {
  std::free(p);
  p = nullptr;
  n = 0;
}

namespace nc {

#if defined(__x86_64__) || defined(__i386__)
static unsigned get_csr() { return _mm_getcsr(); }
static void set_csr(unsigned v) { _mm_setcsr(v); }
static constexpr unsigned kFtzDaz = 0x8040;  // MXCSR flush-to-zero (bit 15) | denormals-are-zero (bit 6)
#else
static unsigned get_csr() { return 0; }
static void set_csr(unsigned) {}
static constexpr unsigned kFtzDaz = 0;
#endif

// Team size whose worker threads already have FTZ/DAZ, per calling thread (OpenMP pools are per
// master thread).
static thread_local int tl_ftz_team = 0;

ThreadScope::ThreadScope(const NcContext* ctx) : saved_csr(get_csr()), saved_threads(omp_get_max_threads()) {
  if (ctx && ctx->num_threads > 0) omp_set_num_threads(ctx->num_threads);
  if (!kFtzDaz) return;
  set_csr(saved_csr | kFtzDaz);
  const int team = omp_get_max_threads();
  if (team > 1 && tl_ftz_team != team) {
#pragma omp parallel
    set_csr(get_csr() | kFtzDaz);
    tl_ftz_team = team;
  }
}

ThreadScope::~ThreadScope() {
  set_csr(saved_csr);
  if (omp_get_max_threads() != saved_threads) omp_set_num_threads(saved_threads);
}

ProfileScope::ProfileScope(NcModel* m) : prof(nullptr), t0(0) {
  if (m && m->ctx && (m->ctx->flags & NC_CONTEXT_PROFILE)) {
    prof = &m->prof;
    t0 = wall_seconds();
    tl_profile = prof;
  }
}

ProfileScope::~ProfileScope() {
  if (prof) {
    prof->calls += 1;
    prof->total_seconds += wall_seconds() - t0;
    tl_profile = nullptr;
  }
}

PhaseTimer::PhaseTimer(NcProfile* prof, double NcProfile::*field)
    : slot(prof ? &(prof->*field) : nullptr), t0(prof ? wall_seconds() : 0) {}

PhaseTimer::~PhaseTimer() {
  if (slot) *slot += wall_seconds() - t0;
}

}  // namespace nc

using namespace nc;

extern "C" {

NC_API const char* nc_backend_name(void) { return "cpu"; }

NC_API int32_t nc_context_create(const NcContextConfig* config, NcContext** out_ctx) {
  return nc_guard(nullptr, [&]() -> int32_t {
    NC_CHECK_NOT_NULL(nullptr, config);
    NC_CHECK_NOT_NULL(nullptr, out_ctx);
    *out_ctx = nullptr;
    NC_TRY(validate_context_config(config, NC_DEVICE_CPU, 1, "cpu"));
    NcContext* ctx = new (std::nothrow) NcContext();
    NC_REQUIRE(nullptr, ctx != nullptr, NC_ERR_OUT_OF_MEMORY, "out of memory allocating the context");
    ctx->device = config->device;
    ctx->num_threads = config->num_threads;
    ctx->flags = config->flags;
    ctx->seed = config->seed;
    *out_ctx = ctx;
    return NC_OK;
  });
}

NC_API int32_t nc_context_destroy(NcContext* ctx) {
  if (!ctx) return NC_OK;
  NC_TRY(check_context_unused(ctx, ctx->live_models.load(), ctx->live_comms.load()));
  delete ctx;
  return NC_OK;
}

}  // extern "C"
