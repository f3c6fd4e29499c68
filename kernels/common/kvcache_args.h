// kvcache_args.h — the device-independent part of a KV cache: its shape and position (each backend's
// NcKVCache derives from KVCacheState and adds its memory), the checks of the cache calls, and the
// host-side plans they follow (the rows whose logits a prefill returns, the runs a cache copy moves).
// The calls that touch nothing but this state live in common/kvcache_calls.cpp.
#pragma once

#include <cstdint>
#include <vector>

#include "nanochat.h"

namespace nc {

struct KVCacheState {
  NcModel* model = nullptr;
  int32_t batch = 0, max_len = 0, pos = 0;  // rows, positions held per row, positions filled
};

// nc_kvcache_create's arguments: out_cache not NULL (set to NULL here), batch >= 1, 1 <= max_len <=
// rope_len (the rotary table's positions).
int32_t check_kvcache_create(const NcModel* m, int32_t batch, int32_t max_len, int64_t rope_len,
                             NcKVCache** out_cache);
// A prefill of T tokens per row of B into cache c of model m: c and tokens not NULL, c belongs to m, the
// append fits, token ids in range.
int32_t check_kvcache_append(const NcModel* m, const KVCacheState* c, const int32_t* tokens, int32_t B, int32_t T);
// nc_kvcache_copy: the same model, a source batch equal to the destination's or 1, a source position
// that fits the destination.
int32_t check_kvcache_copy(const KVCacheState* dst, const KVCacheState* src);

// The row of each batch row's last token in a prefill's [B*T] forward output: b * T + T - 1.
std::vector<int64_t> last_token_rows(int32_t B, int32_t T);

// One contiguous run of a cache copy, in elements of a [L, batch, max_len, KV] cache (K and V alike).
struct KVCacheRun {
  int64_t src, dst, n;
};
// The runs that copy src's filled positions into every row of every layer of dst (a source of batch 1
// goes to every row); KV = Hkv * D.
std::vector<KVCacheRun> kvcache_copy_runs(const KVCacheState& dst, const KVCacheState& src, int64_t L, int64_t KV);

}  // namespace nc
