// kvcache_calls.cpp — the exported KV-cache calls that touch only a cache's device-independent state
// (reset, position) or forward to the backend's prefill (decode is prefill with T = 1). Every backend
// gets them from here.
#include "backend.h"
#include "errors.h"
#include "kvcache_args.h"

extern "C" {

NC_API int32_t nc_kvcache_reset(NcKVCache* c) {
  NC_CHECK_NOT_NULL(nullptr, c);
  nc_kvcache_state(c)->pos = 0;
  return NC_OK;
}

NC_API int32_t nc_kvcache_pos(const NcKVCache* c, int32_t* out_pos) {
  NC_CHECK_NOT_NULL(nullptr, c);
  const nc::KVCacheState* state = nc_kvcache_state(c);
  NC_CHECK_NOT_NULL(nc_model_context(state->model), out_pos);
  *out_pos = state->pos;
  return NC_OK;
}

NC_API int32_t nc_model_decode(NcModel* m, NcKVCache* c, const int32_t* tokens, float* out_logits) {
  NC_CHECK_NOT_NULL(nullptr, c);
  return nc_model_prefill(m, c, tokens, nc_kvcache_state(c)->batch, 1, out_logits);
}

NC_API int32_t nc_model_decode_sample(NcModel* m, NcKVCache* c, const int32_t* tokens, const NcSampling* sampling,
                                      const uint64_t* seeds, int32_t* out_tokens, float* out_logprobs) {
  NC_CHECK_NOT_NULL(nullptr, c);
  return nc_model_prefill_sample(m, c, tokens, nc_kvcache_state(c)->batch, 1, sampling, seeds, out_tokens,
                                 out_logprobs);
}

}  // extern "C"
