// optimizer.cpp — nanochat A's two optimizers behind one call: AdamW (adamw.cpp) for wte and lm_head,
// Muon (muon.cpp) for every transformer.h matrix, with this step's learning rates and momentum from the
// caller (schedules live in TypeScript). Also the optimizer-state table used to checkpoint and resume
// exactly: exp_avg / exp_avg_sq per AdamW parameter, momentum_buffer per Muon parameter, and the step t.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "errors.h"
#include "internal.h"
#include "ops.h"

namespace nc {

int32_t ensure_optim_state(NcModel* m) {
  if (m->opt.p) return NC_OK;
  int64_t total = 0, scratch = 0;
  for (const StateEntry& s : m->states) total = std::max(total, s.offset + s.numel);
  for (const ParamEntry& e : m->params)
    if (e.group == NC_GROUP_MATRIX) scratch = std::max(scratch, muon_scratch_floats(e.shape[0], e.shape[1]));
  if (!m->opt.alloc(total, true) || !m->muon_scratch.alloc(scratch, false)) {
    m->opt.release();
    NC_FAIL(m->ctx, NC_ERR_OUT_OF_MEMORY, "out of memory allocating optimizer state (%.1f MiB)",
            (double)(total + scratch) * 4.0 / 1048576.0);
  }
  return NC_OK;
}

static int32_t validate_step(const NcContext* ctx, const NcOptimStep* s) {
  const double lrs[3] = {s->lr_embedding, s->lr_unembedding, s->lr_matrix};
  for (double lr : lrs)
    NC_REQUIRE(ctx, std::isfinite(lr) && lr >= 0, NC_ERR_INVALID_ARGUMENT, "learning rates must be finite and >= 0");
  NC_REQUIRE(ctx, s->muon_momentum >= 0 && s->muon_momentum < 1, NC_ERR_INVALID_ARGUMENT,
             "muon_momentum must be in [0, 1), got %g", s->muon_momentum);
  NC_REQUIRE(ctx, s->adam_beta1 >= 0 && s->adam_beta1 < 1, NC_ERR_INVALID_ARGUMENT,
             "adam_beta1 must be in [0, 1), got %g", s->adam_beta1);
  NC_REQUIRE(ctx, s->adam_beta2 >= 0 && s->adam_beta2 < 1, NC_ERR_INVALID_ARGUMENT,
             "adam_beta2 must be in [0, 1), got %g", s->adam_beta2);
  NC_REQUIRE(ctx, std::isfinite(s->adam_eps) && s->adam_eps >= 0, NC_ERR_INVALID_ARGUMENT,
             "adam_eps must be finite and >= 0, got %g", s->adam_eps);
  NC_REQUIRE(ctx, std::isfinite(s->weight_decay) && s->weight_decay >= 0, NC_ERR_INVALID_ARGUMENT,
             "weight_decay must be finite and >= 0, got %g", s->weight_decay);
  NC_REQUIRE(ctx, std::isfinite(s->grad_scale) && s->grad_scale >= 0, NC_ERR_INVALID_ARGUMENT,
             "grad_scale must be finite and >= 0 (1 = no scaling), got %g", s->grad_scale);
  for (double r : s->reserved) NC_REQUIRE(ctx, r == 0, NC_ERR_INVALID_ARGUMENT, "NcOptimStep.reserved must be zero");
  return NC_OK;
}

}  // namespace nc

using namespace nc;

#define NC_CHECK_STATE_INDEX(m, index)                                                             \
  NC_REQUIRE((m)->ctx, (index) >= 0 && (index) < (int32_t)(m)->states.size(), NC_ERR_OUT_OF_RANGE, \
             "optimizer state index %d out of range [0, %d)", (int)(index), (int)(m)->states.size())

extern "C" {

NC_API int32_t nc_model_optim_step(NcModel* m, const NcOptimStep* step) {
  NC_CHECK_NOT_NULL(nullptr, m);
  return nc_guard(m->ctx, [&]() -> int32_t {
    NC_CHECK_NOT_NULL(m->ctx, step);
    NC_TRY(validate_step(m->ctx, step));
    ThreadScope threads(m->ctx);
    ProfileScope profile(m);
    PhaseTimer timer(profile.prof, &NcProfile::optimizer_seconds);
    NC_TRY(ensure_grads(m));
    NC_TRY(ensure_optim_state(m));
    const int64_t t = m->opt_step + 1;
    for (size_t si = 0; si < m->states.size();) {
      const StateEntry& s = m->states[si];
      const ParamEntry& e = m->params[(size_t)s.param_index];
      float* p = m->wp(s.param_index);
      const float* g = m->gp(s.param_index);
      if (e.group == NC_GROUP_MATRIX) {
        muon_update(p, g, m->opt.p + s.offset, e.shape[0], e.shape[1], step->lr_matrix, step->muon_momentum,
                    step->grad_scale, m->muon_scratch.p);
        si += 1;
      } else {
        AdamHyper h;
        h.lr = e.group == NC_GROUP_EMBEDDING ? step->lr_embedding : step->lr_unembedding;
        h.beta1 = step->adam_beta1;
        h.beta2 = step->adam_beta2;
        h.eps = step->adam_eps;
        h.weight_decay = step->weight_decay;
        h.grad_scale = step->grad_scale;
        h.t = t;
        adamw_update(p, g, m->opt.p + s.offset, m->opt.p + m->states[si + 1].offset, e.numel, h);
        si += 2;
      }
    }
    m->opt_step = t;
    return NC_OK;
  });
}

NC_API int32_t nc_model_optim_num_states(const NcModel* m, int32_t* out_count) {
  NC_CHECK_NOT_NULL(nullptr, m);
  NC_CHECK_NOT_NULL(m->ctx, out_count);
  *out_count = (int32_t)m->states.size();
  return NC_OK;
}

NC_API int32_t nc_model_optim_state_info(const NcModel* m, int32_t index, NcParamInfo* info) {
  NC_CHECK_NOT_NULL(nullptr, m);
  NC_CHECK_NOT_NULL(m->ctx, info);
  NC_CHECK_STATE_INDEX(m, index);
  const StateEntry& s = m->states[(size_t)index];
  fill_param_info(info, s.name.c_str(), m->params[(size_t)s.param_index], s.param_index);
  return NC_OK;
}

NC_API int32_t nc_model_optim_state_read(NcModel* m, int32_t index, float* dst, int64_t numel) {
  NC_CHECK_NOT_NULL(nullptr, m);
  NC_CHECK_NOT_NULL(m->ctx, dst);
  NC_CHECK_STATE_INDEX(m, index);
  const StateEntry& s = m->states[(size_t)index];
  NC_REQUIRE(m->ctx, numel == s.numel, NC_ERR_INVALID_ARGUMENT, "%s has %lld elements, caller passed %lld",
             s.name.c_str(), (long long)s.numel, (long long)numel);
  return nc_guard(m->ctx, [&]() -> int32_t {
    NC_TRY(ensure_optim_state(m));
    std::memcpy(dst, m->opt.p + s.offset, sizeof(float) * (size_t)numel);
    return NC_OK;
  });
}

NC_API int32_t nc_model_optim_state_write(NcModel* m, int32_t index, const float* src, int64_t numel) {
  NC_CHECK_NOT_NULL(nullptr, m);
  NC_CHECK_NOT_NULL(m->ctx, src);
  NC_CHECK_STATE_INDEX(m, index);
  const StateEntry& s = m->states[(size_t)index];
  NC_REQUIRE(m->ctx, numel == s.numel, NC_ERR_INVALID_ARGUMENT, "%s has %lld elements, caller passed %lld",
             s.name.c_str(), (long long)s.numel, (long long)numel);
  return nc_guard(m->ctx, [&]() -> int32_t {
    NC_TRY(ensure_optim_state(m));
    std::memcpy(m->opt.p + s.offset, src, sizeof(float) * (size_t)numel);
    return NC_OK;
  });
}

NC_API int32_t nc_model_optim_get_step(const NcModel* m, int64_t* out_step) {
  NC_CHECK_NOT_NULL(nullptr, m);
  NC_CHECK_NOT_NULL(m->ctx, out_step);
  *out_step = m->opt_step;
  return NC_OK;
}

NC_API int32_t nc_model_optim_set_step(NcModel* m, int64_t step) {
  NC_CHECK_NOT_NULL(nullptr, m);
  NC_REQUIRE(m->ctx, step >= 0, NC_ERR_INVALID_ARGUMENT, "step must be >= 0, got %lld", (long long)step);
  m->opt_step = step;
  return NC_OK;
}

}  // extern "C"
