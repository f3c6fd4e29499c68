// kvcache.cu — appending the keys and values of new tokens to the KV cache, for prefill (T tokens per
// row) and decode (T = 1). The cache of one layer is [B, max_len, Hkv*D] bf16 for k and for v; the new
// rows come from the qkv buffer [B*T, ld] (k at column k_col, v at v_col), already rotated and
// QK-normed, and land at positions pos0 .. pos0+T-1. Attention then reads the cache in place
// (attention_forward's k/v strides).
//
// Floor at d20 (Hkv*D = 1280): decode appends 2 * 1280 bf16 per row per layer (5 KB): launch-bound
// (~2 us per launch on a GPU); a prefill of 2048 tokens copies 10.5 MB per layer -> 3 us / 2 us.
#include "kernels.h"

namespace nc::cuda {

namespace {

__global__ void kvcache_append_kernel(bf16* k_cache, bf16* v_cache, const bf16* qkv, int64_t ld, int64_t k_col,
                                      int64_t v_col, int64_t T, int64_t pos0, int64_t max_len, int64_t KV,
                                      int64_t total) {
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += stride) {
    const int64_t row = e / KV, c = e - row * KV;  // row = b*T + t
    const int64_t b = row / T, t = row - b * T;
    const int64_t dst = (b * max_len + pos0 + t) * KV + c;
    k_cache[dst] = qkv[row * ld + k_col + c];
    v_cache[dst] = qkv[row * ld + v_col + c];
  }
}

}  // namespace

cudaError_t kvcache_append(bf16* k_cache, bf16* v_cache, const bf16* qkv, int64_t ld, int64_t k_col, int64_t v_col,
                           int64_t B, int64_t T, int64_t pos0, int64_t max_len, int64_t KV, cudaStream_t stream) {
  if (B <= 0 || T <= 0) return cudaSuccess;
  if (pos0 < 0 || pos0 + T > max_len) return cudaErrorInvalidValue;
  const int64_t total = B * T * KV;
  return launch(kvcache_append_kernel, grid_for(total, 256), 256, 0, stream, k_cache, v_cache, qkv, ld, k_col, v_col, T,
                pos0, max_len, KV, total);
}

}  // namespace nc::cuda
