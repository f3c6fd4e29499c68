// train.cpp — the training calls: the plain and the per-token weighted backward (one body: each row's
// gradient scale is loss_scale / n_valid, or weight / normalizer), the loss statistics they accumulate
// (read once per optimizer step), zero_grad and the gradient norm.
#include <cmath>

#include "errors.h"
#include "internal.h"
#include "ops.h"
#include "train_args.h"

namespace nc {
namespace {

// Forward, the head with the row scales already in ws.dscale, backward. Per-row losses stay in ws.losses.
int32_t forward_backward_rows(NcModel* m, Workspace& ws, const int32_t* inputs, const int32_t* targets, int64_t B,
                              int64_t T) {
  NC_TRY(forward_body(m, ws, inputs, B, T, 0, nullptr));
  head_train(m, ws, targets, B * T);
  return backward_body(m, ws, inputs, B, T);
}

}  // namespace
}  // namespace nc

using namespace nc;

extern "C" {

NC_API int32_t nc_model_zero_grad(NcModel* m) {
  NC_CHECK_NOT_NULL(nullptr, m);
  return nc_guard(m->ctx, [&]() -> int32_t {
    m->loss = NcLossStats{};
    m->grads_averaged = false;
    if (!m->g.p) return ensure_grads(m);  // freshly zeroed
    ThreadScope threads(m->ctx);
    float* g = m->g.p;
    const int64_t n = m->n_weights;
#pragma omp parallel for schedule(static) if (n >= kMinParallelWork)
    for (int64_t i = 0; i < n; i++) g[i] = 0.0f;
    return NC_OK;
  });
}

NC_API int32_t nc_model_forward_backward(NcModel* m, const int32_t* inputs, const int32_t* targets, int32_t B,
                                         int32_t T, float loss_scale) {
  NC_CHECK_NOT_NULL(nullptr, m);
  return nc_guard(m->ctx, [&]() -> int32_t {
    int64_t n_valid = 0;
    NC_TRY(check_forward_backward(m->ctx, m->cfg, inputs, targets, B, T, loss_scale, &n_valid));
    ThreadScope threads(m->ctx);
    ProfileScope profile(m);
    NC_TRY(ensure_grads(m));
    const int64_t N = (int64_t)B * T;
    Workspace& ws = m->train_ws;
    NC_TRY(workspace_ensure(m, ws, N, true));
    if (n_valid == 0) {
      record_loss(m->loss, 0.0, 0);
      return NC_OK;
    }
    uniform_row_scales(targets, N, loss_scale, n_valid, ws.dscale);
    NC_TRY(forward_backward_rows(m, ws, inputs, targets, B, T));
    record_loss(m->loss, mean_loss(ws.losses, N, n_valid), n_valid);
    return NC_OK;
  });
}

NC_API int32_t nc_model_forward_backward_weighted(NcModel* m, const int32_t* inputs, const int32_t* targets,
                                                  const float* weights, int32_t B, int32_t T, double normalizer) {
  NC_CHECK_NOT_NULL(nullptr, m);
  return nc_guard(m->ctx, [&]() -> int32_t {
    int64_t n_valid = 0, n_weighted = 0;
    NC_TRY(check_forward_backward_weighted(m->ctx, m->cfg, inputs, targets, weights, B, T, normalizer, &n_valid,
                                           &n_weighted));
    const int64_t N = (int64_t)B * T;
    ThreadScope threads(m->ctx);
    ProfileScope profile(m);
    NC_TRY(ensure_grads(m));
    Workspace& ws = m->train_ws;
    NC_TRY(workspace_ensure(m, ws, N, true));
    if (n_weighted == 0) {
      record_loss(m->loss, 0.0, 0);
      return NC_OK;
    }
    weighted_row_scales(targets, weights, N, normalizer, ws.dscale);
    NC_TRY(forward_backward_rows(m, ws, inputs, targets, B, T));
    record_loss(m->loss, weighted_loss(targets, weights, ws.losses, N, normalizer), n_weighted);
    return NC_OK;
  });
}

// With one rank the local gradient is the averaged one; a communicator of more ranks averages the
// gradient in place first (once per zero_grad; the optimizer step then skips its own reduction).
NC_API int32_t nc_model_grad_norm(NcModel* m, double* out_norm) {
  NC_CHECK_NOT_NULL(nullptr, m);
  return nc_guard(m->ctx, [&]() -> int32_t {
    NC_CHECK_NOT_NULL(m->ctx, out_norm);
    NC_TRY(ensure_grads(m));
    if (m->dist && !m->grads_averaged) NC_TRY(dist_average_grads(m));
    ThreadScope threads(m->ctx);
    const float* g = m->g.p;
    const int64_t n = m->n_weights;
    double ss = 0;
#pragma omp parallel for reduction(+ : ss) schedule(static) if (n >= kMinParallelWork)
    for (int64_t i = 0; i < n; i++) ss += (double)g[i] * (double)g[i];
    *out_norm = std::sqrt(ss);
    return NC_OK;
  });
}

}  // extern "C"
