// eval.cpp — the calls without gradients: per-token losses (bits per byte), scores (losses + argmax,
// for CORE and the chat evaluations), the full logits, and the logits at one position per row. They share
// the inference workspace, which keeps one layer's activations.
#include <algorithm>
#include <cstring>
#include <vector>

#include "checks.h"
#include "errors.h"
#include "gemm.h"
#include "internal.h"
#include "ops.h"

namespace nc {
namespace {

int32_t check_eval_batch(NcModel* m, const int32_t* inputs, const int32_t* targets, int32_t B, int32_t T) {
  NC_CHECK_NOT_NULL(m->ctx, inputs);
  NC_TRY(check_batch(m->ctx, m->cfg, B, T));
  NC_TRY(check_tokens(m->ctx, m->cfg, inputs, (int64_t)B * T, "inputs"));
  if (!targets) return NC_OK;
  int64_t n_valid = 0;
  return check_targets(m->ctx, m->cfg, targets, (int64_t)B * T, &n_valid);
}

// Losses [B*T] and (when argmax is not null) argmax ids [B*T], without gradients.
int32_t scores(NcModel* m, const int32_t* inputs, const int32_t* targets, int32_t B, int32_t T, float* losses,
               int32_t* argmax) {
  NC_CHECK_NOT_NULL(m->ctx, targets);
  NC_CHECK_NOT_NULL(m->ctx, losses);
  NC_TRY(check_eval_batch(m, inputs, targets, B, T));
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

NC_API int32_t nc_model_forward_losses(NcModel* m, const int32_t* inputs, const int32_t* targets, int32_t B, int32_t T,
                                       float* out_losses) {
  NC_CHECK_NOT_NULL(nullptr, m);
  return nc_guard(m->ctx, [&]() { return scores(m, inputs, targets, B, T, out_losses, nullptr); });
}

NC_API int32_t nc_model_forward_scores(NcModel* m, const int32_t* inputs, const int32_t* targets, int32_t B, int32_t T,
                                       float* out_losses, int32_t* out_argmax) {
  NC_CHECK_NOT_NULL(nullptr, m);
  return nc_guard(m->ctx, [&]() { return scores(m, inputs, targets, B, T, out_losses, out_argmax); });
}

NC_API int32_t nc_model_forward_logits(NcModel* m, const int32_t* inputs, int32_t B, int32_t T, float* out_logits) {
  NC_CHECK_NOT_NULL(nullptr, m);
  return nc_guard(m->ctx, [&]() -> int32_t {
    NC_CHECK_NOT_NULL(m->ctx, out_logits);
    NC_TRY(check_eval_batch(m, inputs, nullptr, B, T));
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
    NC_TRY(check_eval_batch(m, inputs, nullptr, B, T));
    int32_t last = 0;
    NC_TRY(check_positions(m->ctx, positions, B, T, &last));
    // Causal attention: positions after the last requested one change nothing, so they are not computed.
    const int64_t Tp = (int64_t)last + 1;
    std::vector<int32_t> packed;
    const int32_t* tokens = inputs;
    if (Tp < T) {
      packed.resize((size_t)(B * Tp));
      for (int64_t b = 0; b < B; b++)
        std::memcpy(packed.data() + b * Tp, inputs + b * T, sizeof(int32_t) * (size_t)Tp);
      tokens = packed.data();
    }
    ThreadScope threads(m->ctx);
    ProfileScope profile(m);
    Workspace& ws = m->eval_ws;
    NC_TRY(workspace_ensure(m, ws, B * Tp, false, false));
    NC_TRY(forward_body(m, ws, tokens, B, Tp, 0, nullptr));
    std::vector<int64_t> rows((size_t)B);
    for (int64_t b = 0; b < B; b++) rows[(size_t)b] = b * Tp + positions[b];
    logits_of_rows(m, ws.xf, rows.data(), B, ws.act4, out_logits);  // act4 holds N*4C >= B*C floats
    return NC_OK;
  });
}

}  // extern "C"
