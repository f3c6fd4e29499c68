// eval.cpp — the calls without gradients: per-token losses (bits per byte), scores (losses + argmax,
// for CORE and the chat evaluations), the full logits, and the logits at one position per row. They share
// the inference workspace, which keeps one layer's activations.
#include <algorithm>
#include <vector>

#include "errors.h"
#include "eval_args.h"
#include "gemm.h"
#include "internal.h"
#include "ops.h"

namespace nc {
namespace {

// Losses [B*T] and (when argmax is not null) argmax ids [B*T], without gradients.
int32_t scores(NcModel* m, const int32_t* inputs, const int32_t* targets, int32_t B, int32_t T, float* losses,
               int32_t* argmax) {
  NC_CHECK_NOT_NULL(m->ctx, targets);
  NC_CHECK_NOT_NULL(m->ctx, losses);
  NC_TRY(check_eval_batch(m->ctx, m->cfg, inputs, targets, B, T));
  ThreadScope threads(m->ctx);
  ProfileScope profile(m);
  const int64_t N = (int64_t)B * T;
  Workspace& ws = m->eval_ws;
  NC_TRY(workspace_ensure(m, ws, N, false));
  NC_TRY(forward_body(m, ws, inputs, B, T, 0, nullptr));
  head_scores(m, ws, targets, N, losses, argmax);
  return NC_OK;
}

}  // namespace
}  // namespace nc

using namespace nc;

extern "C" {

NC_API int32_t nc_model_forward_scores(NcModel* m, const int32_t* inputs, const int32_t* targets, int32_t B, int32_t T,
                                       float* out_losses, int32_t* out_argmax) {
  NC_CHECK_NOT_NULL(nullptr, m);
  return nc_guard(m->ctx, [&]() { return scores(m, inputs, targets, B, T, out_losses, out_argmax); });
}

NC_API int32_t nc_model_forward_logits(NcModel* m, const int32_t* inputs, int32_t B, int32_t T, float* out_logits) {
  NC_CHECK_NOT_NULL(nullptr, m);
  return nc_guard(m->ctx, [&]() -> int32_t {
    NC_CHECK_NOT_NULL(m->ctx, out_logits);
    NC_TRY(check_eval_batch(m->ctx, m->cfg, inputs, nullptr, B, T));
    ThreadScope threads(m->ctx);
    ProfileScope profile(m);
    const int64_t N = (int64_t)B * T;
    Workspace& ws = m->eval_ws;
    NC_TRY(workspace_ensure(m, ws, N, false, false));
    NC_TRY(forward_body(m, ws, inputs, B, T, 0, nullptr));
    gemm(false, true, N, m->V, m->C, 1.0f, ws.xf, m->C, m->wp(m->idx_lm_head()), m->C, 0.0f, out_logits, m->V);
    softcap_apply(out_logits, N * m->V, m->cfg.softcap);
    return NC_OK;
  });
}

NC_API int32_t nc_model_forward_logits_at(NcModel* m, const int32_t* inputs, int32_t B, int32_t T,
                                          const int32_t* positions, float* out_logits) {
  NC_CHECK_NOT_NULL(nullptr, m);
  return nc_guard(m->ctx, [&]() -> int32_t {
    NC_CHECK_NOT_NULL(m->ctx, positions);
    NC_CHECK_NOT_NULL(m->ctx, out_logits);
    NC_TRY(check_eval_batch(m->ctx, m->cfg, inputs, nullptr, B, T));
    LastPositionBatch at;  // causal attention: positions after the last requested one are not computed
    NC_TRY(pack_to_last_position(m->ctx, inputs, positions, B, T, &at));
    ThreadScope threads(m->ctx);
    ProfileScope profile(m);
    Workspace& ws = m->eval_ws;
    NC_TRY(workspace_ensure(m, ws, B * at.T, false, false));
    NC_TRY(forward_body(m, ws, at.tokens, B, at.T, 0, nullptr));
    logits_of_rows(m, ws.xf, at.rows.data(), B, ws.act4, out_logits);  // act4 holds N*4C >= B*C floats
    return NC_OK;
  });
}

}  // extern "C"
