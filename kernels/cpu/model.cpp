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
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "errors.h"
#include "gemm.h"
#include "internal.h"
#include "ops.h"

namespace nc {

int32_t check_tokens(const NcModel* m, const int32_t* tokens, int64_t n, const char* what) {
  int64_t bad = -1;
  for (int64_t i = 0; i < n; i++) {
    if (tokens[i] < 0 || tokens[i] >= m->cfg.vocab_size) {
      bad = i;
      break;
    }
  }
  NC_REQUIRE(m->ctx, bad < 0, NC_ERR_OUT_OF_RANGE, "%s[%lld] = %d is not a token id in [0, %d)", what, (long long)bad,
             bad < 0 ? 0 : tokens[bad], m->cfg.vocab_size);
  return NC_OK;
}

static int32_t check_targets(const NcModel* m, const int32_t* targets, int64_t n, int64_t* n_valid) {
  int64_t bad = -1, valid = 0;
  for (int64_t i = 0; i < n; i++) {
    if (targets[i] < -1 || targets[i] >= m->cfg.vocab_size) {
      bad = i;
      break;
    }
    valid += targets[i] >= 0;
  }
  NC_REQUIRE(m->ctx, bad < 0, NC_ERR_OUT_OF_RANGE, "targets[%lld] = %d is neither -1 nor a token id in [0, %d)",
             (long long)bad, bad < 0 ? 0 : targets[bad], m->cfg.vocab_size);
  *n_valid = valid;
  return NC_OK;
}

static int32_t check_batch(const NcModel* m, int32_t B, int32_t T) {
  NC_REQUIRE(m->ctx, B >= 1 && B <= m->cfg.max_batch, NC_ERR_OUT_OF_RANGE, "B = %d must be in [1, max_batch = %d]", B,
             m->cfg.max_batch);
  NC_REQUIRE(m->ctx, T >= 1 && T <= m->cfg.sequence_len, NC_ERR_OUT_OF_RANGE,
             "T = %d must be in [1, sequence_len = %d]", T, m->cfg.sequence_len);
  return NC_OK;
}

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
static int32_t backward_body(NcModel* m, Workspace& ws, const int32_t* tokens, int64_t B, int64_t T) {
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

// lm_head + softcap + CE over ws.xf, chunk by chunk. With grad: accumulates dW_lm_head and writes
// ws.dxn = dLoss/dxf. Per-row losses go to `losses` [N].
static void head(NcModel* m, Workspace& ws, const int32_t* targets, int64_t N, float dscale, float* losses, bool grad) {
  const int64_t C = m->C, V = m->V;
  const int ilm = m->idx_lm_head();
  NcProfile* prof = tl_profile;
  for (int64_t r0 = 0; r0 < N; r0 += ws.chunk_rows) {
    const int64_t rows = std::min(ws.chunk_rows, N - r0);
    gemm(false, true, rows, V, C, 1.0f, ws.xf + r0 * C, C, m->wp(ilm), C, 0.0f, ws.logits, V);
    {
      PhaseTimer timer(prof, &NcProfile::head_seconds);
      softcap_ce(ws.logits, targets + r0, rows, V, m->cfg.softcap, losses + r0, dscale, grad);
    }
    if (grad) {
      gemm(true, false, V, C, rows, 1.0f, ws.logits, V, ws.xf + r0 * C, C, 1.0f, m->gp(ilm), C);
      gemm(false, false, rows, C, V, 1.0f, ws.logits, V, m->wp(ilm), C, 0.0f, ws.dxn + r0 * C, C);
    }
  }
}

// Scores without gradients over ws.xf, chunk by chunk: per-row losses [N] and, when argmax is not
// null, the argmax of each row's softcapped logits [N]. The chunk is softcapped once, so the argmax sees
// exactly the values whose cross-entropy is taken (softcap_ce with cap 0 then only does the CE).
static void head_scores(NcModel* m, Workspace& ws, const int32_t* targets, int64_t N, float* losses, int32_t* argmax) {
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

}  // namespace nc

using namespace nc;

extern "C" {

NC_API int32_t nc_model_create(NcContext* ctx, const NcModelConfig* config, NcModel** out_model) {
  NC_CHECK_NOT_NULL(nullptr, ctx);
  return nc_guard(ctx, [&]() -> int32_t {
    NC_CHECK_NOT_NULL(ctx, out_model);
    *out_model = nullptr;
    NC_TRY(validate_config(ctx, config));
    std::unique_ptr<NcModel> owner(new NcModel());
    NcModel* m = owner.get();
    m->ctx = ctx;
    m->cfg = *config;
    m->V = config->vocab_size;
    m->C = config->n_embd;
    m->L = config->n_layer;
    m->H = config->n_head;
    m->Hkv = config->n_kv_head;
    m->D = m->C / m->H;
    m->QKV = (m->H + 2 * m->Hkv) * m->D;
    m->F = 4 * m->C;
    build_param_table(*config, m->params, &m->n_weights);
    m->rope_len = 10 * (int64_t)config->sequence_len;
    if (!m->w.alloc(m->n_weights, true) || !m->rope_cos.alloc(m->rope_len * m->D / 2, false) ||
        !m->rope_sin.alloc(m->rope_len * m->D / 2, false))
      NC_FAIL(ctx, NC_ERR_OUT_OF_MEMORY, "out of memory allocating parameters (%.1f MiB)",
              (double)m->n_weights * 4.0 / 1048576.0);
    {
      ThreadScope threads(ctx);
      rotary_table(m->rope_cos.p, m->rope_sin.p, m->rope_len, m->D, (double)config->rotary_base);
    }
    // Optimizer-state table (memory comes on first use).
    int64_t off = 0;
    for (int i = 0; i < (int)m->params.size(); i++) {
      const ParamEntry& e = m->params[i];
      if (e.group == NC_GROUP_MATRIX) {
        m->states.push_back({e.name + ".momentum_buffer", i, off, e.numel});
        off += e.numel;
      } else {
        m->states.push_back({e.name + ".exp_avg", i, off, e.numel});
        off += e.numel;
        m->states.push_back({e.name + ".exp_avg_sq", i, off, e.numel});
        off += e.numel;
      }
    }
    ctx->live_models++;
    *out_model = owner.release();
    return NC_OK;
  });
}

NC_API int32_t nc_model_destroy(NcModel* m) {
  if (!m) return NC_OK;
  int32_t live = m->live_caches.load();
  NC_REQUIRE(m->ctx, live == 0, NC_ERR_STATE, "model still has %d live KV cache(s); destroy them first", live);
  m->ctx->live_models--;
  delete m;
  return NC_OK;
}

NC_API int32_t nc_model_get_config(const NcModel* m, NcModelConfig* out) {
  NC_CHECK_NOT_NULL(nullptr, m);
  NC_CHECK_NOT_NULL(m->ctx, out);
  *out = m->cfg;
  return NC_OK;
}

NC_API int32_t nc_model_zero_grad(NcModel* m) {
  NC_CHECK_NOT_NULL(nullptr, m);
  return nc_guard(m->ctx, [&]() -> int32_t {
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
                                         int32_t T, float loss_scale, float* out_loss) {
  NC_CHECK_NOT_NULL(nullptr, m);
  return nc_guard(m->ctx, [&]() -> int32_t {
    NC_CHECK_NOT_NULL(m->ctx, inputs);
    NC_CHECK_NOT_NULL(m->ctx, targets);
    NC_CHECK_NOT_NULL(m->ctx, out_loss);
    NC_REQUIRE(m->ctx, std::isfinite(loss_scale), NC_ERR_INVALID_ARGUMENT, "loss_scale must be finite");
    NC_TRY(check_batch(m, B, T));
    const int64_t N = (int64_t)B * T;
    int64_t n_valid = 0;
    NC_TRY(check_tokens(m, inputs, N, "inputs"));
    NC_TRY(check_targets(m, targets, N, &n_valid));
    ThreadScope threads(m->ctx);
    ProfileScope profile(m);
    NC_TRY(ensure_grads(m));
    Workspace& ws = m->train_ws;
    NC_TRY(workspace_ensure(m, ws, N, true));
    *out_loss = 0.0f;
    if (n_valid == 0) return NC_OK;
    NC_TRY(forward_body(m, ws, inputs, B, T, 0, nullptr));
    head(m, ws, targets, N, loss_scale / (float)n_valid, ws.losses, true);
    double sum = 0;
    for (int64_t i = 0; i < N; i++) sum += ws.losses[i];
    NC_TRY(backward_body(m, ws, inputs, B, T));
    *out_loss = (float)(sum / (double)n_valid);
    return NC_OK;
  });
}

NC_API int32_t nc_model_forward_losses(NcModel* m, const int32_t* inputs, const int32_t* targets, int32_t B, int32_t T,
                                       float* out_losses) {
  NC_CHECK_NOT_NULL(nullptr, m);
  return nc_guard(m->ctx, [&]() -> int32_t {
    NC_CHECK_NOT_NULL(m->ctx, inputs);
    NC_CHECK_NOT_NULL(m->ctx, targets);
    NC_CHECK_NOT_NULL(m->ctx, out_losses);
    NC_TRY(check_batch(m, B, T));
    const int64_t N = (int64_t)B * T;
    int64_t n_valid = 0;
    NC_TRY(check_tokens(m, inputs, N, "inputs"));
    NC_TRY(check_targets(m, targets, N, &n_valid));
    ThreadScope threads(m->ctx);
    ProfileScope profile(m);
    Workspace& ws = m->eval_ws;
    NC_TRY(workspace_ensure(m, ws, N, false));
    NC_TRY(forward_body(m, ws, inputs, B, T, 0, nullptr));
    head(m, ws, targets, N, 0.0f, out_losses, false);
    return NC_OK;
  });
}

NC_API int32_t nc_model_forward_logits(NcModel* m, const int32_t* inputs, int32_t B, int32_t T, float* out_logits) {
  NC_CHECK_NOT_NULL(nullptr, m);
  return nc_guard(m->ctx, [&]() -> int32_t {
    NC_CHECK_NOT_NULL(m->ctx, inputs);
    NC_CHECK_NOT_NULL(m->ctx, out_logits);
    NC_TRY(check_batch(m, B, T));
    const int64_t N = (int64_t)B * T;
    NC_TRY(check_tokens(m, inputs, N, "inputs"));
    ThreadScope threads(m->ctx);
    ProfileScope profile(m);
    Workspace& ws = m->eval_ws;
    NC_TRY(workspace_ensure(m, ws, N, false));
    NC_TRY(forward_body(m, ws, inputs, B, T, 0, nullptr));
    gemm(false, true, N, m->V, m->C, 1.0f, ws.xf, m->C, m->wp(m->idx_lm_head()), m->C, 0.0f, out_logits, m->V);
    softcap_apply(out_logits, N * m->V, m->cfg.softcap);
    return NC_OK;
  });
}

NC_API int32_t nc_model_forward_scores(NcModel* m, const int32_t* inputs, const int32_t* targets, int32_t B, int32_t T,
                                       float* out_losses, int32_t* out_argmax) {
  NC_CHECK_NOT_NULL(nullptr, m);
  return nc_guard(m->ctx, [&]() -> int32_t {
    NC_CHECK_NOT_NULL(m->ctx, inputs);
    NC_CHECK_NOT_NULL(m->ctx, targets);
    NC_CHECK_NOT_NULL(m->ctx, out_losses);
    NC_TRY(check_batch(m, B, T));
    const int64_t N = (int64_t)B * T;
    int64_t n_valid = 0;
    NC_TRY(check_tokens(m, inputs, N, "inputs"));
    NC_TRY(check_targets(m, targets, N, &n_valid));
    ThreadScope threads(m->ctx);
    ProfileScope profile(m);
    Workspace& ws = m->eval_ws;
    NC_TRY(workspace_ensure(m, ws, N, false));
    NC_TRY(forward_body(m, ws, inputs, B, T, 0, nullptr));
    head_scores(m, ws, targets, N, out_losses, out_argmax);
    return NC_OK;
  });
}

NC_API int32_t nc_model_forward_logits_at(NcModel* m, const int32_t* inputs, int32_t B, int32_t T,
                                          const int32_t* positions, float* out_logits) {
  NC_CHECK_NOT_NULL(nullptr, m);
  return nc_guard(m->ctx, [&]() -> int32_t {
    NC_CHECK_NOT_NULL(m->ctx, inputs);
    NC_CHECK_NOT_NULL(m->ctx, positions);
    NC_CHECK_NOT_NULL(m->ctx, out_logits);
    NC_TRY(check_batch(m, B, T));
    NC_TRY(check_tokens(m, inputs, (int64_t)B * T, "inputs"));
    int32_t last = 0;
    for (int32_t b = 0; b < B; b++) {
      NC_REQUIRE(m->ctx, positions[b] >= 0 && positions[b] < T, NC_ERR_OUT_OF_RANGE,
                 "positions[%d] = %d must be in [0, T = %d)", b, positions[b], T);
      last = std::max(last, positions[b]);
    }
    // Causal attention: positions after the last requested one change nothing, so they are not computed.
    const int64_t Tp = (int64_t)last + 1, C = m->C, V = m->V;
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
    float* rows = ws.act4;  // [B, C] gathered rows (act4 holds N*4C >= B*C floats)
    for (int64_t b = 0; b < B; b++)
      std::memcpy(rows + b * C, ws.xf + (b * Tp + positions[b]) * C, sizeof(float) * (size_t)C);
    gemm(false, true, (int64_t)B, V, C, 1.0f, rows, C, m->wp(m->idx_lm_head()), C, 0.0f, out_logits, V);
    softcap_apply(out_logits, (int64_t)B * V, m->cfg.softcap);
    return NC_OK;
  });
}

NC_API int32_t nc_model_grad_norm(NcModel* m, double* out_norm) {
  NC_CHECK_NOT_NULL(nullptr, m);
  return nc_guard(m->ctx, [&]() -> int32_t {
    NC_CHECK_NOT_NULL(m->ctx, out_norm);
    NC_TRY(ensure_grads(m));
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

NC_API int32_t nc_model_get_profile(const NcModel* m, NcProfile* out) {
  NC_CHECK_NOT_NULL(nullptr, m);
  NC_CHECK_NOT_NULL(m->ctx, out);
  *out = m->prof;
  return NC_OK;
}

NC_API int32_t nc_model_reset_profile(NcModel* m) {
  NC_CHECK_NOT_NULL(nullptr, m);
  m->prof = NcProfile{};
  return NC_OK;
}

}  // extern "C"
