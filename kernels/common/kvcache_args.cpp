// kvcache_args.cpp — the shared checks and plans of the KV-cache calls (see kvcache_args.h).
#include "kvcache_args.h"

#include "backend.h"
#include "checks.h"
#include "errors.h"

namespace nc {

int32_t check_kvcache_create(const NcModel* m, int32_t batch, int32_t max_len, int64_t rope_len,
                             NcKVCache** out_cache) {
  const NcContext* ctx = nc_model_context(m);
  NC_CHECK_NOT_NULL(ctx, out_cache);
  *out_cache = nullptr;
  NC_REQUIRE(ctx, batch >= 1, NC_ERR_INVALID_ARGUMENT, "batch must be >= 1, got %d", batch);
  NC_REQUIRE(ctx, max_len >= 1 && max_len <= rope_len, NC_ERR_OUT_OF_RANGE,
             "max_len = %d must be in [1, 10 * sequence_len = %lld]", max_len, (long long)rope_len);
  return NC_OK;
}

int32_t check_kvcache_append(const NcModel* m, const KVCacheState* c, const int32_t* tokens, int32_t B, int32_t T) {
  const NcContext* ctx = nc_model_context(m);
  NC_CHECK_NOT_NULL(ctx, c);
  NC_CHECK_NOT_NULL(ctx, tokens);
  NC_REQUIRE(ctx, c->model == m, NC_ERR_INVALID_ARGUMENT, "the KV cache belongs to another model");
  NC_TRY(check_cache_append(ctx, c->batch, c->max_len, c->pos, B, T));
  return check_tokens(ctx, nc_model_layout(m)->cfg, tokens, (int64_t)B * T, "tokens");
}

int32_t check_kvcache_copy(const KVCacheState* dst, const KVCacheState* src) {
  const NcContext* ctx = nc_model_context(dst->model);
  NC_REQUIRE(ctx, src->model == dst->model, NC_ERR_INVALID_ARGUMENT, "caches belong to different models");
  NC_REQUIRE(ctx, src->batch == dst->batch || src->batch == 1, NC_ERR_INVALID_ARGUMENT,
             "source batch %d must equal destination batch %d or be 1", src->batch, dst->batch);
  NC_REQUIRE(ctx, src->pos <= dst->max_len, NC_ERR_OUT_OF_RANGE, "source position %d exceeds destination max_len %d",
             src->pos, dst->max_len);
  return NC_OK;
}

std::vector<int64_t> last_token_rows(int32_t B, int32_t T) {
  std::vector<int64_t> last((size_t)B);
  for (int64_t b = 0; b < B; b++) last[(size_t)b] = b * T + T - 1;
  return last;
}

std::vector<KVCacheRun> kvcache_copy_runs(const KVCacheState& dst, const KVCacheState& src, int64_t L, int64_t KV) {
  std::vector<KVCacheRun> runs;
  runs.reserve((size_t)(L * dst.batch));
  const int64_t n = (int64_t)src.pos * KV;
  for (int64_t l = 0; l < L; l++) {
    for (int64_t b = 0; b < dst.batch; b++) {
      const int64_t sb = src.batch == 1 ? 0 : b;
      runs.push_back({((l * src.batch + sb) * src.max_len) * KV, ((l * dst.batch + b) * dst.max_len) * KV, n});
    }
  }
  return runs;
}

}  // namespace nc
