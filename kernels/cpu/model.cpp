// model.cpp — the GPT of nanochat version A, orchestrated over the layer kernels:
//   x = rmsnorm(wte[idx]);  per block: x += attn(rmsnorm(x)); x += mlp(rmsnorm(x));
//   logits = lm_head(rmsnorm(x)); loss = CE(15 * tanh(logits / 15), targets, ignore -1)
//   attn: q, k, v = c_q, c_k, c_v (one fused GEMM: the three weights are adjacent in memory);
//         q, k = rmsnorm(rotary(q)), rmsnorm(rotary(k)) per head; causal GQA attention; c_proj.
//   mlp:  c_proj(relu(c_fc(x))^2).  No biases; lm_head is untied from wte.
// Activations are [N = B*T, width] row-major; weights are nn.Linear's [out, in], so a layer is
// y = x W^T (GEMM NoTrans/Trans), dx = dy W, and dW += dy^T x.
// The head is chunked over rows: logits for Workspace::chunk_rows rows at a time (512 at vocab 65536)
// go through softcap+CE and straight back through lm_head, so the [N, V] logits never exist in full.
// This file has the passes and the model's lifetime; train.cpp and eval.cpp the calls built on them.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>

#include "checks.h"
#include "errors.h"
#include "gemm.h"
#include "internal.h"
#include "lifetime.h"
#include "ops.h"

namespace nc {

int32_t ensure_grads(NcModel* m) {
  if (m->g.p) return NC_OK;
  if (!m->g.alloc(m->n_weights, true))
    NC_FAIL(m->ctx, NC_ERR_OUT_OF_MEMORY, "out of memory allocating gradients (%.1f MiB)",
            (double)m->n_weights * 4.0 / 1048576.0);
  return NC_OK;
}

int32_t forward_body(NcModel* m, Workspace& ws, const int32_t* tokens, int64_t B, int64_t T, int64_t pos0,
                     NcKVCache* cache) {
  const int64_t N = B * T, C = m->C, QKV = m->QKV, F = m->F, H = m->H, Hkv = m->Hkv, D = m->D;
  NcProfile* prof = tl_profile;

  embedding_forward(ws.x, m->wp(m->idx_wte()), tokens, N, C);
  if (ws.train) {
    rmsnorm_forward(ws.x0, C, ws.r0, ws.x, C, N, 1, C);
    std::memcpy(ws.x, ws.x0, sizeof(float) * (size_t)(N * C));
  } else {
    rmsnorm_forward(ws.x, C, ws.r0, ws.x, C, N, 1, C);
  }

  const AttnShape shape{B, T, H, Hkv, D, pos0};
  for (int64_t l = 0; l < m->L; l++) {
    LayerActs& a = ws.acts[ws.train ? (size_t)l : 0];
    // attention
    rmsnorm_forward(a.xn1, C, a.r1, ws.x, C, N, 1, C);
    gemm(false, true, N, QKV, C, 1.0f, a.xn1, C, m->wp(m->idx_layer(l, K_CQ)), C, 0.0f, a.qkv, QKV);
    rotary_forward(a.qkv, QKV, m->rope_cos.p, m->rope_sin.p, B, T, pos0, H + Hkv, D);  // q and k heads
    rmsnorm_forward(a.qkv, QKV, a.rqk, a.qkv, QKV, N, H + Hkv, D);
    const float *kp = a.qkv + H * D, *vp = a.qkv + (H + Hkv) * D;
    int64_t ldkv = QKV, bskv = T * QKV;
    if (cache) {
      const int64_t KV = Hkv * D, ML = cache->max_len;
      float* kc = cache->k.p + l * B * ML * KV;
      float* vc = cache->v.p + l * B * ML * KV;
#pragma omp parallel for collapse(2) schedule(static) if (B * T * KV >= kMinParallelWork)
      for (int64_t b = 0; b < B; b++) {
        for (int64_t t = 0; t < T; t++) {
          const float* row = a.qkv + (b * T + t) * QKV;
          std::memcpy(kc + (b * ML + pos0 + t) * KV, row + H * D, sizeof(float) * (size_t)KV);
          std::memcpy(vc + (b * ML + pos0 + t) * KV, row + (H + Hkv) * D, sizeof(float) * (size_t)KV);
        }
      }
      kp = kc;
      vp = vc;
      ldkv = KV;
      bskv = ML * KV;
    }
    {
      PhaseTimer timer(prof, &NcProfile::attention_seconds);
      if (!attention_forward(a.att, C, a.lse, a.qkv, QKV, kp, ldkv, bskv, vp, ldkv, bskv, shape))
        NC_FAIL(m->ctx, NC_ERR_OUT_OF_MEMORY, "out of memory for attention scratch");
      if (prof) prof->attention_flops += attention_flops(shape, false);
    }
    gemm(false, true, N, C, C, 1.0f, a.att, C, m->wp(m->idx_layer(l, K_APROJ)), C, 1.0f, ws.x, C);  // x += ...
    // MLP
    rmsnorm_forward(a.xn2, C, a.r2, ws.x, C, N, 1, C);
    gemm(false, true, N, F, C, 1.0f, a.xn2, C, m->wp(m->idx_layer(l, K_FC)), C, 0.0f, a.h, F);
    relu2_forward(ws.act4, a.h, N * F);
    gemm(false, true, N, C, F, 1.0f, ws.act4, F, m->wp(m->idx_layer(l, K_MPROJ)), F, 1.0f, ws.x, C);
  }
  rmsnorm_forward(ws.xf, C, ws.rf, ws.x, C, N, 1, C);
  return NC_OK;
}

// Backward from ws.dxn = dLoss/d(final norm output) to the parameter gradients (accumulated).
int32_t backward_body(NcModel* m, Workspace& ws, const int32_t* tokens, int64_t B, int64_t T) {
  const int64_t N = B * T, C = m->C, QKV = m->QKV, F = m->F, H = m->H, Hkv = m->Hkv, D = m->D;
  NcProfile* prof = tl_profile;
  const AttnShape shape{B, T, H, Hkv, D, 0};

  rmsnorm_backward(ws.dx, C, ws.dxn, C, ws.xf, C, ws.rf, N, 1, C, false);
  for (int64_t l = m->L - 1; l >= 0; l--) {
    LayerActs& a = ws.acts[(size_t)l];
    const int iq = m->idx_layer(l, K_CQ), iap = m->idx_layer(l, K_APROJ);
    const int ifc = m->idx_layer(l, K_FC), imp = m->idx_layer(l, K_MPROJ);
    // MLP: x_out = x_mid + c_proj(relu(c_fc(xn2))^2)
    relu2_forward(ws.act4, a.h, N * F);                                             // recompute
    gemm(true, false, C, F, N, 1.0f, ws.dx, C, ws.act4, F, 1.0f, m->gp(imp), F);    // dW_mproj
    gemm(false, false, N, F, C, 1.0f, ws.dx, C, m->wp(imp), F, 0.0f, ws.act4, F);   // d relu^2
    relu2_backward(ws.act4, ws.act4, a.h, N * F);                                   // dh
    gemm(true, false, F, C, N, 1.0f, ws.act4, F, a.xn2, C, 1.0f, m->gp(ifc), C);    // dW_fc
    gemm(false, false, N, C, F, 1.0f, ws.act4, F, m->wp(ifc), C, 0.0f, ws.dxn, C);  // dxn2
    rmsnorm_backward(ws.dx, C, ws.dxn, C, a.xn2, C, a.r2, N, 1, C, true);
    // attention: x_mid = x_in + c_proj(attn(xn1))
    gemm(true, false, C, C, N, 1.0f, ws.dx, C, a.att, C, 1.0f, m->gp(iap), C);     // dW_aproj
    gemm(false, false, N, C, C, 1.0f, ws.dx, C, m->wp(iap), C, 0.0f, ws.datt, C);  // datt
    {
      PhaseTimer timer(prof, &NcProfile::attention_seconds);
      if (!attention_backward(ws.dqkv, ws.dqkv + H * D, ws.dqkv + (H + Hkv) * D, QKV, ws.datt, C, a.att, C, a.lse,
                              a.qkv, a.qkv + H * D, a.qkv + (H + Hkv) * D, QKV, shape))
        NC_FAIL(m->ctx, NC_ERR_OUT_OF_MEMORY, "out of memory for attention scratch");
      if (prof) prof->attention_flops += attention_flops(shape, true);
    }
    rmsnorm_backward(ws.dqkv, QKV, ws.dqkv, QKV, a.qkv, QKV, a.rqk, N, H + Hkv, D, false);  // qk norm
    rotary_backward(ws.dqkv, QKV, m->rope_cos.p, m->rope_sin.p, B, T, 0, H + Hkv, D);
    gemm(true, false, QKV, C, N, 1.0f, ws.dqkv, QKV, a.xn1, C, 1.0f, m->gp(iq), C);    // dW_q|k|v
    gemm(false, false, N, C, QKV, 1.0f, ws.dqkv, QKV, m->wp(iq), C, 0.0f, ws.dxn, C);  // dxn1
    rmsnorm_backward(ws.dx, C, ws.dxn, C, a.xn1, C, a.r1, N, 1, C, true);
  }
  rmsnorm_backward(ws.dxn, C, ws.dx, C, ws.x0, C, ws.r0, N, 1, C, false);
  embedding_backward(m->gp(m->idx_wte()), ws.dxn, tokens, N, C);
  return NC_OK;
}

void head_train(NcModel* m, Workspace& ws, const int32_t* targets, int64_t N) {
  const int64_t C = m->C, V = m->V;
  const int ilm = m->idx_lm_head();
  NcProfile* prof = tl_profile;
  for (int64_t r0 = 0; r0 < N; r0 += ws.chunk_rows) {
    const int64_t rows = std::min(ws.chunk_rows, N - r0);
    gemm(false, true, rows, V, C, 1.0f, ws.xf + r0 * C, C, m->wp(ilm), C, 0.0f, ws.logits, V);
    {
      PhaseTimer timer(prof, &NcProfile::head_seconds);
      softcap_ce_scaled(ws.logits, targets + r0, rows, V, m->cfg.softcap, ws.losses + r0, ws.dscale + r0);
    }
    gemm(true, false, V, C, rows, 1.0f, ws.logits, V, ws.xf + r0 * C, C, 1.0f, m->gp(ilm), C);
    gemm(false, false, rows, C, V, 1.0f, ws.logits, V, m->wp(ilm), C, 0.0f, ws.dxn + r0 * C, C);
  }
}

// The chunk is softcapped once, so the argmax sees exactly the values whose cross-entropy is taken
// (softcap_ce with cap 0 then only does the CE).
void head_scores(NcModel* m, Workspace& ws, const int32_t* targets, int64_t N, float* losses, int32_t* argmax) {
  const int64_t C = m->C, V = m->V;
  NcProfile* prof = tl_profile;
  for (int64_t r0 = 0; r0 < N; r0 += ws.chunk_rows) {
    const int64_t rows = std::min(ws.chunk_rows, N - r0);
    gemm(false, true, rows, V, C, 1.0f, ws.xf + r0 * C, C, m->wp(m->idx_lm_head()), C, 0.0f, ws.logits, V);
    PhaseTimer timer(prof, &NcProfile::head_seconds);
    softcap_apply(ws.logits, rows * V, m->cfg.softcap);
    softcap_ce(ws.logits, targets + r0, rows, V, 0.0f, losses + r0, 0.0f, false);
    if (argmax) row_argmax(ws.logits, rows, V, argmax + r0);
  }
}

void logits_of_rows(NcModel* m, const float* xf, const int64_t* rows, int64_t B, float* scratch, float* out) {
  const int64_t C = m->C;
  for (int64_t b = 0; b < B; b++) std::memcpy(scratch + b * C, xf + rows[b] * C, sizeof(float) * (size_t)C);
  gemm(false, true, B, m->V, C, 1.0f, scratch, C, m->wp(m->idx_lm_head()), C, 0.0f, out, m->V);
  softcap_apply(out, B * m->V, m->cfg.softcap);
}

}  // namespace nc

using namespace nc;

extern "C" {

NC_API int32_t nc_model_create(NcContext* ctx, const NcModelConfig* config, NcModel** out_model) {
  NC_CHECK_NOT_NULL(nullptr, ctx);
  return nc_guard(ctx, [&]() -> int32_t {
    NC_TRY(check_model_create(ctx, config, out_model, 1u << NC_DTYPE_F32, "cpu"));
    std::unique_ptr<NcModel> owner(new NcModel());
    NcModel* m = owner.get();
    m->ctx = ctx;
    m->build(*config);
    m->rope_len = 10 * (int64_t)config->sequence_len;
    if (!m->w.alloc(m->n_weights, true) || !m->rope_cos.alloc(m->rope_len * m->D / 2, false) ||
        !m->rope_sin.alloc(m->rope_len * m->D / 2, false))
      NC_FAIL(ctx, NC_ERR_OUT_OF_MEMORY, "out of memory allocating parameters (%.1f MiB)",
              (double)m->n_weights * 4.0 / 1048576.0);
    {
      ThreadScope threads(ctx);
      rotary_table(m->rope_cos.p, m->rope_sin.p, m->rope_len, m->D, (double)config->rotary_base);
    }
    ctx->live_models++;
    *out_model = owner.release();
    return NC_OK;
  });
}

NC_API int32_t nc_model_destroy(NcModel* m) {
  if (!m) return NC_OK;
  NC_TRY(check_model_unused(m->ctx, m->live_caches.load()));
  if (m->comm) m->comm->attached--;
  nc::dist_free(m);
  m->ctx->live_models--;
  delete m;
  return NC_OK;
}

}  // extern "C"
