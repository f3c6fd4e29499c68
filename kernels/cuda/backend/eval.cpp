// eval.cpp — the calls without gradients on the cuda backend: per-token losses (bits per byte), scores
// (losses + argmax), the full logits (chunk by chunk, downloaded as they are made) and the logits at one
// position per row. They share the inference workspace, which keeps one layer's activations.
#include <algorithm>
#include <vector>

#include "eval_args.h"
#include "internal.h"

namespace nc::cu_backend {
namespace {

// The forward pass over inputs [B, T] into m->eval_ws (head: with the logits chunk).
int32_t eval_forward(NcModel* m, const int32_t* inputs, int64_t B, int64_t T, bool head) {
  Workspace& ws = m->eval_ws;
  NC_TRY(use_device(m->ctx));
  NC_TRY(workspace_ensure(m, ws, B * T, false, head));
  NC_TRY(upload(m, ws.tokens, inputs, sizeof(int32_t) * (size_t)(B * T)));
  return forward_body(m, ws, B, T, 0, nullptr);
}

int32_t scores(NcModel* m, const int32_t* inputs, const int32_t* targets, int32_t B, int32_t T, float* losses,
               int32_t* argmax) {
  NC_CHECK_NOT_NULL(m->ctx, targets);
  NC_CHECK_NOT_NULL(m->ctx, losses);
  NC_TRY(check_eval_batch(m->ctx, m->cfg, inputs, targets, B, T));
  ProfileScope profile(m);
  const int64_t N = (int64_t)B * T;
  NC_TRY(eval_forward(m, inputs, B, T, true));
  Workspace& ws = m->eval_ws;
  NC_TRY(upload(m, ws.targets, targets, sizeof(int32_t) * (size_t)N));
  NC_TRY(head_scores(m, ws, N, argmax != nullptr));
  if (argmax) NC_TRY(download(m, argmax, ws.argmax, sizeof(int32_t) * (size_t)N));
  return download(m, losses, ws.losses, sizeof(float) * (size_t)N);
}

}  // namespace
}  // namespace nc::cu_backend

using namespace nc;
using namespace nc::cu_backend;

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
    ProfileScope profile(m);
    const int64_t N = (int64_t)B * T, V = m->V;
    NC_TRY(eval_forward(m, inputs, B, T, true));
    Workspace& ws = m->eval_ws;
    for (int64_t r0 = 0; r0 < N; r0 += ws.chunk_rows) {
      const int64_t rows = std::min(ws.chunk_rows, N - r0);
      std::vector<int64_t> idx((size_t)rows);
      for (int64_t r = 0; r < rows; r++) idx[(size_t)r] = r0 + r;
      NC_TRY(logits_of_rows(m, ws, idx.data(), rows, ws.logits));
      NC_CU(m->ctx, nc::cuda::softcap_apply<float>(ws.logits, rows * V, m->cfg.softcap, m->stream), "softcap_apply");
      NC_TRY(download(m, out_logits + r0 * V, ws.logits, sizeof(float) * (size_t)(rows * V)));
    }
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
    ProfileScope profile(m);
    NC_TRY(eval_forward(m, at.tokens, B, at.T, true));
    Workspace& ws = m->eval_ws;
    // The logits chunk holds chunk_rows rows; B may be larger.
    const int64_t V = m->V;
    for (int64_t b0 = 0; b0 < B; b0 += ws.chunk_rows) {
      const int64_t nb = std::min(ws.chunk_rows, (int64_t)B - b0);
      NC_TRY(logits_of_rows(m, ws, at.rows.data() + b0, nb, ws.logits));
      NC_CU(m->ctx, nc::cuda::softcap_apply<float>(ws.logits, nb * V, m->cfg.softcap, m->stream), "softcap_apply");
      NC_TRY(download(m, out_logits + b0 * V, ws.logits, sizeof(float) * (size_t)(nb * V)));
    }
    return NC_OK;
  });
}

}  // extern "C"
