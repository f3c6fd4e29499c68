// kvcache.cpp — inference with a KV cache (nanochat's Engine): keys and values of every layer for
// `batch` rows of up to `max_len` positions, [L, batch, max_len, Hkv*D]. Prefill runs the shared
// forward pass over T new tokens per row at the cache position (rotary positions start there; the
// attention sees the cached prefix plus a causal window over the new tokens), writes their k/v into the
// cache, and returns the last token's logits per row; decode is prefill with T = 1. The sampling
// variants choose each row's next token from those logits inside the library (sampling.cpp).
#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "checks.h"
#include "errors.h"
#include "internal.h"
#include "kvcache_args.h"
#include "ops.h"

using namespace nc;

namespace {

// Runs T tokens per row through the model at the cache position (which advances by T) and writes each
// row's last softcapped logits [B, V] to out. The caller holds the thread and profile scopes.
int32_t append(NcModel* m, NcKVCache* c, const int32_t* tokens, int32_t B, int32_t T, float* out) {
  NC_TRY(check_kvcache_append(m, c, tokens, B, T));
  const int64_t N = (int64_t)B * T;
  Workspace& ws = c->ws;
  NC_TRY(workspace_ensure(m, ws, N, false, false));
  NC_TRY(forward_body(m, ws, tokens, B, T, c->pos, c));
  const std::vector<int64_t> last = last_token_rows(B, T);
  logits_of_rows(m, ws.xf, last.data(), B, ws.act4, out);  // act4 holds N*4C >= B*C floats
  c->pos += T;
  return NC_OK;
}

}  // namespace

extern "C" {

NC_API int32_t nc_kvcache_create(NcModel* m, int32_t batch, int32_t max_len, NcKVCache** out_cache) {
  NC_CHECK_NOT_NULL(nullptr, m);
  return nc_guard(m->ctx, [&]() -> int32_t {
    NC_TRY(check_kvcache_create(m, batch, max_len, m->rope_len, out_cache));
    std::unique_ptr<NcKVCache> owner(new NcKVCache());
    NcKVCache* c = owner.get();
    c->model = m;
    c->batch = batch;
    c->max_len = max_len;
    const int64_t n = m->L * batch * (int64_t)max_len * m->Hkv * m->D;
    if (!c->k.alloc(n, false) || !c->v.alloc(n, false))
      NC_FAIL(m->ctx, NC_ERR_OUT_OF_MEMORY, "out of memory allocating a KV cache (%.1f MiB)", 2.0 * n * 4 / 1048576.0);
    m->live_caches++;
    *out_cache = owner.release();
    return NC_OK;
  });
}

NC_API int32_t nc_kvcache_destroy(NcKVCache* c) {
  if (!c) return NC_OK;
  c->model->live_caches--;
  delete c;
  return NC_OK;
}

NC_API int32_t nc_kvcache_copy(NcKVCache* dst, const NcKVCache* src) {
  NC_CHECK_NOT_NULL(nullptr, dst);
  NC_CHECK_NOT_NULL(nullptr, src);
  const NcModel* m = dst->model;
  NC_TRY(check_kvcache_copy(dst, src));
  if (src == dst) return NC_OK;
  for (const KVCacheRun& r : kvcache_copy_runs(*dst, *src, m->L, m->Hkv * m->D)) {
    std::memcpy(dst->k.p + r.dst, src->k.p + r.src, sizeof(float) * (size_t)r.n);
    std::memcpy(dst->v.p + r.dst, src->v.p + r.src, sizeof(float) * (size_t)r.n);
  }
  dst->pos = src->pos;
  return NC_OK;
}

NC_API int32_t nc_model_prefill(NcModel* m, NcKVCache* c, const int32_t* tokens, int32_t B, int32_t T,
                                float* out_logits_last) {
  NC_CHECK_NOT_NULL(nullptr, m);
  return nc_guard(m->ctx, [&]() -> int32_t {
    NC_CHECK_NOT_NULL(m->ctx, out_logits_last);
    ThreadScope threads(m->ctx);
    ProfileScope profile(m);
    return append(m, c, tokens, B, T, out_logits_last);
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
    if (!c->logits.p && !c->logits.alloc((int64_t)c->batch * m->V, false))
      NC_FAIL(m->ctx, NC_ERR_OUT_OF_MEMORY, "out of memory for the sampling logits");
    ThreadScope threads(m->ctx);
    ProfileScope profile(m);
    NC_TRY(append(m, c, tokens, B, T, c->logits.p));
    PhaseTimer timer(profile.prof, &NcProfile::sampling_seconds);
    sample_rows(c->logits.p, B, m->V, sampling->temperature, sampling->top_k, seeds, c->pos, out_tokens,
                out_logprobs);
    return NC_OK;
  });
}

}  // extern "C"
