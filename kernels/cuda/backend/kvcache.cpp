// kvcache.cpp — inference with a KV cache on the GPU (nanochat's Engine): bf16 keys and values of every
// layer for `batch` rows of up to `max_len` positions, [L, batch, max_len, Hkv*D]. Prefill runs the
// shared forward pass over T new tokens per row at the cache position, appending their k/v
// (kvcache.cu) and attending over the cached prefix (the SIMT attention's KV-cache form); decode is
// prefill with T = 1. The sampling variants choose each row's token on the GPU (sampling.cu), so only
// B token ids (and log-probabilities) come back instead of B*V logits.
#include <cstring>
#include <memory>
#include <vector>

#include "checks.h"
#include "internal.h"
#include "kvcache_args.h"

using namespace nc;
using namespace nc::cu_backend;

namespace {

// Where the cache's per-call buffers live in c->out.
struct OutSlots {
  float* logits;  // [batch, V] raw
  int32_t* tokens;
  float* logprobs;
  uint64_t* seeds;
};
OutSlots out_slots(const NcKVCache* c, int64_t V) {
  unsigned char* p = c->out.as<unsigned char>();
  const size_t nb = (size_t)c->batch, logits_bytes = (sizeof(float) * nb * (size_t)V + 255) & ~(size_t)255;
  return {reinterpret_cast<float*>(p), reinterpret_cast<int32_t*>(p + logits_bytes),
          reinterpret_cast<float*>(p + logits_bytes + 8 * nb), reinterpret_cast<uint64_t*>(p + logits_bytes + 16 * nb)};
}

// Runs T tokens per row through the model at the cache position (which advances by T) and leaves each
// row's last raw logits [B, V] in the cache's logits slot.
int32_t append(NcModel* m, NcKVCache* c, const int32_t* tokens, int32_t B, int32_t T) {
  NC_TRY(check_kvcache_append(m, c, tokens, B, T));
  const int64_t N = (int64_t)B * T;
  NC_TRY(use_device(m->ctx));
  Workspace& ws = c->ws;
  NC_TRY(workspace_ensure(m, ws, N, false, false));
  NC_TRY(upload(m, ws.tokens, tokens, sizeof(int32_t) * (size_t)N));
  NC_TRY(forward_body(m, ws, B, T, c->pos, c));
  const std::vector<int64_t> last = last_token_rows(B, T);
  NC_TRY(logits_of_rows(m, ws, last.data(), B, out_slots(c, m->V).logits));
  c->pos += T;
  return NC_OK;
}

}  // namespace

extern "C" {

NC_API int32_t nc_kvcache_create(NcModel* m, int32_t batch, int32_t max_len, NcKVCache** out_cache) {
  NC_CHECK_NOT_NULL(nullptr, m);
  return nc_guard(m->ctx, [&]() -> int32_t {
    NC_TRY(check_kvcache_create(m, batch, max_len, m->rope_len, out_cache));
    NC_TRY(use_device(m->ctx));
    std::unique_ptr<NcKVCache> owner(new NcKVCache());
    NcKVCache* c = owner.get();
    c->model = m;
    c->batch = batch;
    c->max_len = max_len;
    const size_t n = (size_t)(m->L * batch * (int64_t)max_len * m->Hkv * m->D);
    NC_TRY(dev_alloc(m->ctx, c->k, sizeof(bf16) * n, false, "a KV cache"));
    NC_TRY(dev_alloc(m->ctx, c->v, sizeof(bf16) * n, false, "a KV cache"));
    const size_t logits_bytes = (sizeof(float) * (size_t)batch * (size_t)m->V + 255) & ~(size_t)255;
    NC_TRY(dev_alloc(m->ctx, c->out, logits_bytes + 24 * (size_t)batch, false, "KV-cache logits"));
    m->live_caches++;
    *out_cache = owner.release();
    return NC_OK;
  });
}

NC_API int32_t nc_kvcache_destroy(NcKVCache* c) {
  if (!c) return NC_OK;
  (void)use_device(c->model->ctx);
  (void)cudaStreamSynchronize(c->model->stream);
  c->model->live_caches--;
  delete c;
  return NC_OK;
}

NC_API int32_t nc_kvcache_copy(NcKVCache* dst, const NcKVCache* src) {
  NC_CHECK_NOT_NULL(nullptr, dst);
  NC_CHECK_NOT_NULL(nullptr, src);
  NcModel* m = dst->model;
  NC_TRY(check_kvcache_copy(dst, src));
  if (src == dst) return NC_OK;
  NC_TRY(use_device(m->ctx));
  for (const KVCacheRun& r : kvcache_copy_runs(*dst, *src, m->L, m->Hkv * m->D)) {
    NC_CU(m->ctx, cudaMemcpyAsync(dst->k.as<bf16>() + r.dst, src->k.as<bf16>() + r.src, sizeof(bf16) * (size_t)r.n,
                                  cudaMemcpyDeviceToDevice, m->stream),
          "cudaMemcpyAsync (KV cache copy)");
    NC_CU(m->ctx, cudaMemcpyAsync(dst->v.as<bf16>() + r.dst, src->v.as<bf16>() + r.src, sizeof(bf16) * (size_t)r.n,
                                  cudaMemcpyDeviceToDevice, m->stream),
          "cudaMemcpyAsync (KV cache copy)");
  }
  NC_CU(m->ctx, cudaStreamSynchronize(m->stream), "cudaStreamSynchronize (KV cache copy)");
  dst->pos = src->pos;
  return NC_OK;
}

NC_API int32_t nc_model_prefill(NcModel* m, NcKVCache* c, const int32_t* tokens, int32_t B, int32_t T,
                                float* out_logits_last) {
  NC_CHECK_NOT_NULL(nullptr, m);
  return nc_guard(m->ctx, [&]() -> int32_t {
    NC_CHECK_NOT_NULL(m->ctx, out_logits_last);
    ProfileScope profile(m);
    NC_TRY(append(m, c, tokens, B, T));
    float* logits = out_slots(c, m->V).logits;
    NC_CU(m->ctx, nc::cuda::softcap_apply<float>(logits, (int64_t)B * m->V, m->cfg.softcap, m->stream),
          "softcap_apply");
    return download(m, out_logits_last, logits, sizeof(float) * (size_t)B * (size_t)m->V);
  });
}

NC_API int32_t nc_model_prefill_sample(NcModel* m, NcKVCache* c, const int32_t* tokens, int32_t B, int32_t T,
                                       const NcSampling* sampling, const uint64_t* seeds, int32_t* out_tokens,
                                       float* out_logprobs) {
  NC_CHECK_NOT_NULL(nullptr, m);
  return nc_guard(m->ctx, [&]() -> int32_t {
    NC_CHECK_NOT_NULL(m->ctx, out_tokens);
    NC_TRY(validate_sampling(m->ctx, sampling, seeds));
    NC_CHECK_NOT_NULL(m->ctx, c);
    const bool greedy = sampling->temperature <= 0.0f || sampling->top_k == 1;
    const bool whole = sampling->top_k <= 0 || sampling->top_k >= m->cfg.vocab_size;
    NC_REQUIRE(m->ctx, greedy || whole || sampling->top_k <= nc::cuda::kMaxTopK, NC_ERR_UNSUPPORTED,
               "top_k = %d: the cuda backend samples from at most %d candidates (or the whole vocabulary, top_k = 0)",
               sampling->top_k, nc::cuda::kMaxTopK);
    ProfileScope profile(m);
    NC_TRY(append(m, c, tokens, B, T));
    const OutSlots o = out_slots(c, m->V);
    PhaseTimer timer(m, profile.prof, &NcProfile::sampling_seconds);
    if (seeds) NC_TRY(upload(m, o.seeds, seeds, sizeof(uint64_t) * (size_t)B));
    NC_CU(m->ctx, nc::cuda::sample_tokens<float>(o.tokens, out_logprobs ? o.logprobs : nullptr, o.logits, B, m->V,
                                                 sampling->temperature, sampling->top_k, m->cfg.softcap,
                                                 seeds ? o.seeds : nullptr, c->pos, m->stream),
          "sample_tokens");
    if (out_logprobs) NC_TRY(download(m, out_logprobs, o.logprobs, sizeof(float) * (size_t)B));
    return download(m, out_tokens, o.tokens, sizeof(int32_t) * (size_t)B);
  });
}

}  // extern "C"
