// params.cpp — the cpu backend's side of the parameter table (common/layout.h has the table itself):
// reads and writes of parameters and gradients from the caller, and nanochat A's weight init with the
// documented counter-based RNG (common/rng.h).
#include <omp.h>

#include <cstring>

#include "checks.h"
#include "errors.h"
#include "internal.h"
#include "ops.h"
#include "rng.h"

using namespace nc;

namespace {

// The checks every tensor read/write does: a parameter index and the caller's element count.
int32_t check_param(const NcModel* m, int32_t index, const void* buf, int64_t numel) {
  NC_CHECK_NOT_NULL(m->ctx, buf);
  NC_TRY(check_index(m->ctx, index, (int64_t)m->params.size(), "parameter"));
  const ParamEntry& e = m->params[(size_t)index];
  return check_numel(m->ctx, e.name, e.numel, numel);
}

}  // namespace

extern "C" {

NC_API int32_t nc_model_param_read(const NcModel* m, int32_t index, float* dst, int64_t numel) {
  NC_CHECK_NOT_NULL(nullptr, m);
  NC_TRY(check_param(m, index, dst, numel));
  std::memcpy(dst, m->wp(index), sizeof(float) * (size_t)numel);
  return NC_OK;
}

NC_API int32_t nc_model_param_write(NcModel* m, int32_t index, const float* src, int64_t numel) {
  NC_CHECK_NOT_NULL(nullptr, m);
  NC_TRY(check_param(m, index, src, numel));
  std::memcpy(m->wp(index), src, sizeof(float) * (size_t)numel);
  return NC_OK;
}

NC_API int32_t nc_model_grad_read(NcModel* m, int32_t index, float* dst, int64_t numel) {
  NC_CHECK_NOT_NULL(nullptr, m);
  NC_TRY(check_param(m, index, dst, numel));
  return nc_guard(m->ctx, [&]() -> int32_t {
    NC_TRY(ensure_grads(m));
    std::memcpy(dst, m->gp(index), sizeof(float) * (size_t)numel);
    return NC_OK;
  });
}

NC_API int32_t nc_model_init_weights(NcModel* m, uint64_t seed) {
  NC_CHECK_NOT_NULL(nullptr, m);
  ThreadScope threads(m->ctx);
  for (int i = 0; i < (int)m->params.size(); i++) {
    const double std_ = init_std(*m, i);
    float* p = m->wp(i);
    const int64_t n = m->params[(size_t)i].numel;
    if (std_ == 0.0) {
      std::memset(p, 0, sizeof(float) * (size_t)n);
      continue;
    }
    const uint64_t key = rng_key(seed, (uint64_t)i);
#pragma omp parallel for schedule(static) if (n >= kMinParallelWork)
    for (int64_t k = 0; k < (n + 1) / 2; k++) {
      double z0, z1;
      rng_normal_pair(key, (uint64_t)k, &z0, &z1);
      p[2 * k] = (float)(std_ * z0);
      if (2 * k + 1 < n) p[2 * k + 1] = (float)(std_ * z1);
    }
  }
  return NC_OK;
}

}  // extern "C"
