// passes.cpp — nanochat A's GPT assembled from the kernels of kernels.h, the same graph as the cpu
// backend's model.cpp:
//   x = rmsnorm(wte[idx]);  per block: x += attn(rmsnorm(x)); x += mlp(rmsnorm(x));
//   logits = lm_head(rmsnorm(x)); loss = CE(15 * tanh(logits / 15), targets, ignore -1)
// Precision: the residual stream x and its gradient dx are fp32, as are every norm statistic and the
// losses; GEMM operands are bf16 (the norm outputs, q|k|v, the attention output, the MLP hidden layer,
// the bf16 weight copy, a bf16 copy of dx), with fp32 accumulation; parameter gradients accumulate in
// fp32. The training head keeps its logits chunk in bf16, overwritten in place by their gradient (as
// nanochat under autocast and llm.c do: a third of the head's memory traffic of fp32 logits); the
// calls without gradients compute fp32 logits, where the loss's accuracy is the product. Linear layers: y = x W^T, dx = dy W,
// dW += dy^T x. The head works in chunks of rows so the [N, V] logits never exist in full.
#include <algorithm>

#include "internal.h"

namespace nc::cu_backend {

using nc::cuda::AttnDims;
using nc::cuda::DType;
using nc::cuda::Gemm;

namespace {

// D [M, N] (= or += with beta 1) = op(A) op(B), row-major with the given leading dimensions.
Gemm make_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const bf16* A, int64_t lda, const bf16* B,
               int64_t ldb, void* D, int64_t ldd, DType type, float beta) {
  Gemm g;
  g.ta = ta;
  g.tb = tb;
  g.M = M;
  g.N = N;
  g.K = K;
  g.A = A;
  g.lda = lda;
  g.B = B;
  g.ldb = ldb;
  g.D = D;
  g.ldd = ldd;
  g.C = beta != 0.0f ? D : nullptr;
  g.ldc = ldd;
  g.d_type = type;
  g.beta = beta;
  return g;
}

// y [N, out] = x [N, in] W^T (W [out, in], bf16 copy).
Gemm linear(int64_t N, int64_t out, int64_t in, const bf16* x, int64_t ldx, const bf16* W, void* y, int64_t ldy,
            DType type, float beta) {
  return make_gemm(false, true, N, out, in, x, ldx, W, in, y, ldy, type, beta);
}
// dx [N, in] = dy [N, out] W.
Gemm linear_dx(int64_t N, int64_t out, int64_t in, const bf16* dy, int64_t lddy, const bf16* W, void* dx, DType type) {
  return make_gemm(false, false, N, in, out, dy, lddy, W, in, dx, in, type, 0.0f);
}
// dW [out, in] += dy^T [out, N] x [N, in].
Gemm linear_dw(int64_t N, int64_t out, int64_t in, const bf16* dy, int64_t lddy, const bf16* x, int64_t ldx, float* dW) {
  return make_gemm(true, false, out, in, N, dy, lddy, x, ldx, dW, in, DType::F32, 1.0f);
}

}  // namespace

#define KTRY(expr, what) NC_CU(m->ctx, (expr), what)

int32_t forward_body(NcModel* m, Workspace& ws, int64_t B, int64_t T, int64_t pos0, NcKVCache* cache) {
  namespace k = nc::cuda;
  const int64_t N = B * T, C = m->C, QKV = m->QKV, F = m->F, H = m->H, Hkv = m->Hkv, D = m->D;
  cudaStream_t s = m->stream;
  NcProfile* prof = (m->ctx->flags & NC_CONTEXT_PROFILE) ? &m->prof : nullptr;

  KTRY(k::embedding_forward<float>(ws.x, m->wp(m->idx_wte()), ws.tokens, N, C, s), "embedding_forward");
  KTRY((k::rmsnorm_forward<float, float>(ws.x0, C, ws.r0, ws.x, C, N, C, s)), "rmsnorm_forward (embedding)");
  KTRY(cudaMemcpyAsync(ws.x, ws.x0, sizeof(float) * (size_t)(N * C), cudaMemcpyDeviceToDevice, s), "cudaMemcpyAsync");

  const AttnDims dims{B, T, H, Hkv, D, pos0};
  for (int64_t l = 0; l < m->L; l++) {
    LayerActs& a = ws.acts[ws.train ? (size_t)l : 0];
    KTRY((k::rmsnorm_forward<float, bf16>(a.xn1, C, a.r1, ws.x, C, N, C, s)), "rmsnorm_forward");
    NC_TRY(gemm(m, linear(N, QKV, C, a.xn1, C, m->wbp(m->idx_layer(l, K_CQ)), a.qkv, QKV, DType::BF16, 0.0f)));
    KTRY(k::rope_qknorm_forward(a.qkv, QKV, a.rqk, m->rope_cos.as<float>(), m->rope_sin.as<float>(), B, T, pos0,
                                H + Hkv, D, s),
         "rope_qknorm_forward");
    {
      PhaseTimer timer(m, prof, &NcProfile::attention_seconds);
      if (cache) {
        const int64_t KV = Hkv * D, ML = cache->max_len;
        bf16* kc = cache->k.as<bf16>() + l * B * ML * KV;
        bf16* vc = cache->v.as<bf16>() + l * B * ML * KV;
        KTRY(k::kvcache_append(kc, vc, a.qkv, QKV, H * D, (H + Hkv) * D, B, T, pos0, ML, KV, s), "kvcache_append");
        KTRY(k::attention_forward(a.att, C, a.lse, a.qkv, QKV, kc, KV, ML * KV, vc, KV, ML * KV, dims, s),
             "attention_forward (KV cache)");
      } else {
        NC_ST(m->ctx, k::attention_train_forward(m->attn, a.att, C, a.lse, a.qkv, a.qkv + H * D, a.qkv + (H + Hkv) * D,
                                                 QKV, dims, s));
      }
    }
    NC_TRY(gemm(m, linear(N, C, C, a.att, C, m->wbp(m->idx_layer(l, K_APROJ)), ws.x, C, DType::F32, 1.0f)));
    KTRY((k::rmsnorm_forward<float, bf16>(a.xn2, C, a.r2, ws.x, C, N, C, s)), "rmsnorm_forward");
    NC_TRY(gemm(m, linear(N, F, C, a.xn2, C, m->wbp(m->idx_layer(l, K_FC)), a.h, F, DType::BF16, 0.0f)));
    KTRY(k::relu2_forward(ws.act, a.h, N * F, s), "relu2_forward");
    NC_TRY(gemm(m, linear(N, C, F, ws.act, F, m->wbp(m->idx_layer(l, K_MPROJ)), ws.x, C, DType::F32, 1.0f)));
  }
  KTRY((k::rmsnorm_forward<float, bf16>(ws.xf, C, ws.rf, ws.x, C, N, C, s)), "rmsnorm_forward (final)");
  return NC_OK;
}

int32_t backward_body(NcModel* m, Workspace& ws, int64_t B, int64_t T) {
  namespace k = nc::cuda;
  const int64_t N = B * T, C = m->C, QKV = m->QKV, F = m->F, H = m->H, Hkv = m->Hkv, D = m->D;
  cudaStream_t s = m->stream;
  NcProfile* prof = (m->ctx->flags & NC_CONTEXT_PROFILE) ? &m->prof : nullptr;
  const AttnDims dims{B, T, H, Hkv, D, 0};

  // Every residual-gradient update also writes dx's bf16 copy (ws.dxb), the operand of the next GEMMs.
  KTRY((k::rmsnorm_backward<float, bf16>(ws.dx, C, ws.dxn, C, ws.xf, C, ws.rf, N, C, false, s, ws.dxb, C)),
       "rmsnorm_backward");
  for (int64_t l = m->L - 1; l >= 0; l--) {
    LayerActs& a = ws.acts[(size_t)l];
    const int iq = m->idx_layer(l, K_CQ), iap = m->idx_layer(l, K_APROJ);
    const int ifc = m->idx_layer(l, K_FC), imp = m->idx_layer(l, K_MPROJ);
    // MLP: x_out = x_mid + c_proj(relu(c_fc(xn2))^2)
    KTRY(k::relu2_forward(ws.act, a.h, N * F, s), "relu2_forward (recompute)");
    NC_TRY(gemm(m, linear_dw(N, C, F, ws.dxb, C, ws.act, F, m->gp(imp))));
    NC_TRY(gemm(m, linear_dx(N, C, F, ws.dxb, C, m->wbp(imp), ws.act, DType::BF16)));
    KTRY(k::relu2_backward<bf16>(ws.act, ws.act, a.h, N * F, s), "relu2_backward");
    NC_TRY(gemm(m, linear_dw(N, F, C, ws.act, F, a.xn2, C, m->gp(ifc))));
    NC_TRY(gemm(m, linear_dx(N, F, C, ws.act, F, m->wbp(ifc), ws.dxn, DType::F32)));
    KTRY((k::rmsnorm_backward<float, bf16>(ws.dx, C, ws.dxn, C, a.xn2, C, a.r2, N, C, true, s, ws.dxb, C)),
         "rmsnorm_backward");
    // attention: x_mid = x_in + c_proj(attn(xn1))
    NC_TRY(gemm(m, linear_dw(N, C, C, ws.dxb, C, a.att, C, m->gp(iap))));
    NC_TRY(gemm(m, linear_dx(N, C, C, ws.dxb, C, m->wbp(iap), ws.datt, DType::BF16)));
    {
      PhaseTimer timer(m, prof, &NcProfile::attention_seconds);
      NC_ST(m->ctx, k::attention_train_backward(m->attn, ws.dqkv, ws.dqkv + H * D, ws.dqkv + (H + Hkv) * D, QKV,
                                                ws.datt, C, a.att, C, a.lse, a.qkv, a.qkv + H * D,
                                                a.qkv + (H + Hkv) * D, QKV, dims, ws.attn_scratch, s));
    }
    KTRY(k::rope_qknorm_backward(ws.dqkv, QKV, a.qkv, QKV, a.rqk, m->rope_cos.as<float>(), m->rope_sin.as<float>(), B,
                                 T, 0, H + Hkv, D, s),
         "rope_qknorm_backward");
    NC_TRY(gemm(m, linear_dw(N, QKV, C, ws.dqkv, QKV, a.xn1, C, m->gp(iq))));
    NC_TRY(gemm(m, linear_dx(N, QKV, C, ws.dqkv, QKV, m->wbp(iq), ws.dxn, DType::F32)));
    KTRY((k::rmsnorm_backward<float, bf16>(ws.dx, C, ws.dxn, C, a.xn1, C, a.r1, N, C, true, s,
                                            l > 0 ? ws.dxb : nullptr, C)),  // layer 0's feeds no GEMM
         "rmsnorm_backward");
  }
  KTRY((k::rmsnorm_backward<float, float>(ws.dxn, C, ws.dx, C, ws.x0, C, ws.r0, N, C, false, s)),
       "rmsnorm_backward (embedding)");
  KTRY(k::embedding_backward<float>(m->gp(m->idx_wte()), ws.dxn, ws.tokens, N, C, m->V, ws.emb_scratch,
                                    ws.emb_scratch_bytes, s),
       "embedding_backward");
  return NC_OK;
}

int32_t head_train(NcModel* m, Workspace& ws, int64_t N) {
  namespace k = nc::cuda;
  const int64_t C = m->C, V = m->V;
  const int ilm = m->idx_lm_head();
  cudaStream_t s = m->stream;
  NcProfile* prof = (m->ctx->flags & NC_CONTEXT_PROFILE) ? &m->prof : nullptr;
  for (int64_t r0 = 0; r0 < N; r0 += ws.chunk_rows) {
    const int64_t rows = std::min(ws.chunk_rows, N - r0);
    NC_TRY(gemm(m, linear(rows, V, C, ws.xf + r0 * C, C, m->wbp(ilm), ws.dlogits, V, DType::BF16, 0.0f)));
    {
      PhaseTimer timer(m, prof, &NcProfile::head_seconds);
      KTRY(k::softcap_ce<bf16>(ws.dlogits, ws.targets + r0, ws.dscale + r0, ws.losses + r0, nullptr, rows, V,
                               m->cfg.softcap, 1.0f, true, s),
           "softcap_ce");
    }
    NC_TRY(gemm(m, linear_dw(rows, V, C, ws.dlogits, V, ws.xf + r0 * C, C, m->gp(ilm))));
    NC_TRY(gemm(m, make_gemm(false, false, rows, C, V, ws.dlogits, V, m->wbp(ilm), C, ws.dxn + r0 * C, C, DType::F32,
                             0.0f)));
  }
  return NC_OK;
}

int32_t head_scores(NcModel* m, Workspace& ws, int64_t N, bool argmax) {
  const int64_t C = m->C, V = m->V;
  NcProfile* prof = (m->ctx->flags & NC_CONTEXT_PROFILE) ? &m->prof : nullptr;
  for (int64_t r0 = 0; r0 < N; r0 += ws.chunk_rows) {
    const int64_t rows = std::min(ws.chunk_rows, N - r0);
    NC_TRY(gemm(m, linear(rows, V, C, ws.xf + r0 * C, C, m->wbp(m->idx_lm_head()), ws.logits, V, DType::F32, 0.0f)));
    PhaseTimer timer(m, prof, &NcProfile::head_seconds);
    KTRY(nc::cuda::softcap_ce<float>(ws.logits, ws.targets + r0, nullptr, ws.losses + r0,
                                     argmax ? ws.argmax + r0 : nullptr, rows, V, m->cfg.softcap, 0.0f, false,
                                     m->stream),
         "softcap_ce");
  }
  return NC_OK;
}

int32_t logits_of_rows(NcModel* m, Workspace& ws, const int64_t* rows, int64_t B, float* out) {
  const int64_t C = m->C, V = m->V;
  const bf16* W = m->wbp(m->idx_lm_head());
  // Rows at a fixed stride (each row's last token) are one GEMM; others one GEMM per row.
  bool strided = B > 1;
  for (int64_t b = 2; b < B && strided; b++) strided = rows[b] - rows[b - 1] == rows[1] - rows[0];
  if (strided && rows[1] > rows[0]) {
    return gemm(m, linear(B, V, C, ws.xf + rows[0] * C, (rows[1] - rows[0]) * C, W, out, V, DType::F32, 0.0f));
  }
  for (int64_t b = 0; b < B; b++) NC_TRY(gemm(m, linear(1, V, C, ws.xf + rows[b] * C, C, W, out + b * V, V, DType::F32, 0.0f)));
  return NC_OK;
}

}  // namespace nc::cu_backend
