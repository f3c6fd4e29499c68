// train.cpp — the training calls of the cuda backend: the plain and the per-token weighted backward
// (one body: each row's gradient scale is loss_scale / n_valid, or weight / normalizer, uploaded with
// the tokens), the loss statistics (per-row losses come back once per call and are summed in double on
// the host), zero_grad and the gradient norm.
#include <vector>

#include "internal.h"
#include "train_args.h"

namespace nc::cu_backend {
namespace {

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
    record_loss(m->loss, 0.0, 0);
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
    NC_TRY(check_forward_backward(m->ctx, m->cfg, inputs, targets, B, T, loss_scale, &n_valid));
    ProfileScope profile(m);
    const int64_t N = (int64_t)B * T;
    std::vector<float> scale((size_t)N), losses;
    uniform_row_scales(targets, N, loss_scale, n_valid, scale.data());
    bool ran = false;
    NC_TRY(run_backward(m, inputs, targets, B, T, scale, n_valid, losses, &ran));
    if (!ran) return NC_OK;
    record_loss(m->loss, mean_loss(losses.data(), N, n_valid), n_valid);
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
    ProfileScope profile(m);
    std::vector<float> scale((size_t)N), losses;
    weighted_row_scales(targets, weights, N, normalizer, scale.data());
    bool ran = false;
    NC_TRY(run_backward(m, inputs, targets, B, T, scale, n_weighted, losses, &ran));
    if (!ran) return NC_OK;
    record_loss(m->loss, weighted_loss(targets, weights, losses.data(), N, normalizer), n_weighted);
    return NC_OK;
  });
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
