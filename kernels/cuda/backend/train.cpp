// train.cpp — the training calls of the cuda backend: the plain and the per-token weighted backward
// (one body: each row's gradient scale is loss_scale / n_valid, or weight / normalizer, uploaded with
// the tokens), the loss statistics (per-row losses come back once per call and are summed in double on
// the host), zero_grad and the gradient norm.
#include <cmath>
#include <vector>

#include "checks.h"
#include "internal.h"

namespace nc::cu_backend {
namespace {

int32_t check_train_batch(NcModel* m, const int32_t* inputs, const int32_t* targets, int32_t B, int32_t T,
                          int64_t* n_valid) {
  NC_CHECK_NOT_NULL(m->ctx, inputs);
  NC_CHECK_NOT_NULL(m->ctx, targets);
  NC_TRY(check_batch(m->ctx, m->cfg, B, T));
  const int64_t N = (int64_t)B * T;
  NC_TRY(check_tokens(m->ctx, m->cfg, inputs, N, "inputs"));
  return check_targets(m->ctx, m->cfg, targets, N, n_valid);
}

void record_loss(NcModel* m, double loss, int64_t tokens) {
  m->loss.loss_sum += loss;
  m->loss.last_loss = loss;
  m->loss.calls += 1;
  m->loss.tokens += tokens;
}

// Uploads the batch and the row scales, runs forward, head and backward, and returns the per-row
// losses in `losses`.
int32_t forward_backward_rows(NcModel* m, const int32_t* inputs, const int32_t* targets, const std::vector<float>& scale,
                              int64_t B, int64_t T, std::vector<float>& losses) {
  const int64_t N = B * T;
  Workspace& ws = m->train_ws;
  NC_TRY(upload(m, ws.tokens, inputs, sizeof(int32_t) * (size_t)N));
  NC_TRY(upload(m, ws.targets, targets, sizeof(int32_t) * (size_t)N));
  NC_TRY(upload(m, ws.dscale, scale.data(), sizeof(float) * (size_t)N));
  NC_TRY(forward_body(m, ws, B, T, 0, nullptr));
  NC_TRY(head_train(m, ws, N));
  NC_TRY(backward_body(m, ws, B, T));
  losses.resize((size_t)N);
  return download(m, losses.data(), ws.losses, sizeof(float) * (size_t)N);
}

// Shared by both calls: checks done, the row scales computed; empty batches record a zero loss.
int32_t run_backward(NcModel* m, const int32_t* inputs, const int32_t* targets, int32_t B, int32_t T,
                     const std::vector<float>& scale, int64_t counted, std::vector<float>& losses, bool* ran) {
  *ran = false;
  NC_TRY(use_device(m->ctx));
  NC_TRY(ensure_grads(m));
  NC_TRY(workspace_ensure(m, m->train_ws, (int64_t)B * T, true));
  if (counted == 0) {
    record_loss(m, 0.0, 0);
    return NC_OK;
  }
  *ran = true;
  return forward_backward_rows(m, inputs, targets, scale, B, T, losses);
}

}  // namespace
}  // namespace nc::cu_backend

using namespace nc;
using namespace nc::cu_backend;

extern "C" {

NC_API int32_t nc_model_zero_grad(NcModel* m) {
  NC_CHECK_NOT_NULL(nullptr, m);
  return nc_guard(m->ctx, [&]() -> int32_t {
    m->loss = NcLossStats{};
    m->grads_averaged = false;
    NC_TRY(use_device(m->ctx));
    if (!m->g.p) return ensure_grads(m);  // freshly zeroed
    NC_CU(m->ctx, cudaMemsetAsync(m->g.p, 0, m->g.bytes, m->stream), "cudaMemsetAsync (zero_grad)");
    return NC_OK;
  });
}

NC_API int32_t nc_model_forward_backward(NcModel* m, const int32_t* inputs, const int32_t* targets, int32_t B,
                                         int32_t T, float loss_scale) {
  NC_CHECK_NOT_NULL(nullptr, m);
  return nc_guard(m->ctx, [&]() -> int32_t {
    int64_t n_valid = 0;
    NC_TRY(check_train_batch(m, inputs, targets, B, T, &n_valid));
    NC_REQUIRE(m->ctx, std::isfinite(loss_scale), NC_ERR_INVALID_ARGUMENT, "loss_scale must be finite");
    ProfileScope profile(m);
    const int64_t N = (int64_t)B * T;
    std::vector<float> scale((size_t)N), losses;
    const float s = n_valid > 0 ? loss_scale / (float)n_valid : 0.0f;
    for (int64_t i = 0; i < N; i++) scale[(size_t)i] = targets[i] >= 0 ? s : 0.0f;
    bool ran = false;
    NC_TRY(run_backward(m, inputs, targets, B, T, scale, n_valid, losses, &ran));
    if (!ran) return NC_OK;
    double sum = 0;
    for (int64_t i = 0; i < N; i++) sum += losses[(size_t)i];
    record_loss(m, sum / (double)n_valid, n_valid);
    return NC_OK;
  });
}

NC_API int32_t nc_model_forward_backward_weighted(NcModel* m, const int32_t* inputs, const int32_t* targets,
                                                  const float* weights, int32_t B, int32_t T, double normalizer) {
  NC_CHECK_NOT_NULL(nullptr, m);
  return nc_guard(m->ctx, [&]() -> int32_t {
    int64_t n_valid = 0, n_weighted = 0;
    NC_TRY(check_train_batch(m, inputs, targets, B, T, &n_valid));
    NC_CHECK_NOT_NULL(m->ctx, weights);
    const int64_t N = (int64_t)B * T;
    NC_TRY(check_weights(m->ctx, weights, targets, N, &n_weighted));
    NC_REQUIRE(m->ctx, std::isfinite(normalizer) && normalizer > 0, NC_ERR_INVALID_ARGUMENT,
               "normalizer must be finite and > 0, got %g", normalizer);
    ProfileScope profile(m);
    std::vector<float> scale((size_t)N), losses;
    for (int64_t i = 0; i < N; i++) scale[(size_t)i] = targets[i] >= 0 ? (float)(weights[i] / normalizer) : 0.0f;
    bool ran = false;
    NC_TRY(run_backward(m, inputs, targets, B, T, scale, n_weighted, losses, &ran));
    if (!ran) return NC_OK;
    double sum = 0;
    for (int64_t i = 0; i < N; i++)
      if (targets[i] >= 0) sum += (double)weights[i] * losses[(size_t)i];
    record_loss(m, sum / normalizer, n_weighted);
    return NC_OK;
  });
}

NC_API int32_t nc_model_loss_stats(NcModel* m, NcLossStats* out) {
  NC_CHECK_NOT_NULL(nullptr, m);
  NC_CHECK_NOT_NULL(m->ctx, out);
  *out = m->loss;
  return NC_OK;
}

// With one rank the local gradient is the averaged one; attached to more ranks, the gradient is first
// averaged over them in place (the global norm, as nanochat clips on), and the optimizer step then
// skips its own reduction.
NC_API int32_t nc_model_grad_norm(NcModel* m, double* out_norm) {
  NC_CHECK_NOT_NULL(nullptr, m);
  return nc_guard(m->ctx, [&]() -> int32_t {
    NC_CHECK_NOT_NULL(m->ctx, out_norm);
    NC_TRY(use_device(m->ctx));
    NC_TRY(ensure_grads(m));
    const size_t scratch = (nc::cuda::grad_norm_scratch_bytes() + 255) & ~(size_t)255;
    if (!m->scalars.p) NC_TRY(dev_alloc(m->ctx, m->scalars, scratch + 256, false, "gradient-norm scratch"));
    float* norm = reinterpret_cast<float*>(m->scalars.as<unsigned char>() + scratch);
    NC_TRY(average_grads(m));
    NC_CU(m->ctx, nc::cuda::grad_norm(m->g.as<float>(), m->n_weights, m->scalars.p, norm, nullptr, 0.0f, m->stream),
          "grad_norm");
    float host = 0;
    NC_TRY(download(m, &host, norm, sizeof host));
    *out_norm = (double)host;
    return NC_OK;
  });
}

}  // extern "C"
