// sampling.cu — next-token sampling on the device, so decode returns token ids instead of a
// vocabulary-sized row of logits per token. One block per row; the procedure (kernels.h, sample_tokens)
// is specified exactly so that a CPU implementation draws the same tokens from the same logits:
//   temperature <= 0 or top_k == 1: argmax (lowest index on ties);
//   0 < top_k < V: the top_k largest logits (ties at the boundary: lowest indices), found by a radix
//     select over the order-preserving bit pattern of the fp32 logits (4 passes of 8 bits), gathered
//     and sorted by (logit descending, index ascending) with a bitonic sort in shared memory;
//   otherwise the whole vocabulary in index order, in kSampleChunks contiguous chunks.
// Weights w = exp((l - l_max) / temperature) in double; the token is the first candidate whose running
// sum (in candidate order; for the whole vocabulary: chunk sums, then within the chunk) exceeds u * W,
// u = sample_uniform(seed of the row).
//
// Cost at d20 decode (V = 65536, fp32 logits): about 6 passes over the 256 KB row, per row ~10-30 us on
// a GPU (latency-bound, one block per row); negligible against the decode step's weight reads.
#include "kernels.h"

namespace nc::cuda {

namespace {

constexpr int kThreads = kSampleChunks;  // one chunk per thread
constexpr int kSortSlots = 1024;         // power of two >= kMaxTopK
static_assert(kThreads == 256 && kSortSlots >= kMaxTopK, "one histogram bin per thread; room for top_k");

__device__ __forceinline__ float logit_at(const float* z, int64_t j, float cap) {
  const float x = z[j];
  return cap > 0.0f ? cap * tanhf(x / cap) : x;
}
__device__ __forceinline__ float logit_at(const bf16* z, int64_t j, float cap) {
  const float x = to_float(z[j]);
  return cap > 0.0f ? cap * tanhf(x / cap) : x;
}
// Larger float -> larger key (for the finite values logits take).
__device__ __forceinline__ uint32_t order_key(float l) {
  const uint32_t u = __float_as_uint(l);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

template <typename T>
__global__ void sample_kernel(int32_t* out, const T* logits, int64_t V, float temperature, int top_k, float cap,
                              const uint64_t* seeds) {
  __shared__ unsigned hist[256];
  __shared__ int counts[2][kThreads];
  __shared__ double chunk_sums[kThreads];
  __shared__ unsigned long long slots[kSortSlots];
  __shared__ float red[32];
  __shared__ int red_i[32];
  __shared__ uint32_t sel_prefix;
  __shared__ int sel_remaining, chosen_chunk;
  __shared__ double chosen_residual;
  const int64_t row = blockIdx.x;
  const T* z = logits + row * V;
  const int tid = (int)threadIdx.x, lane = tid % kWarp, warp = tid / kWarp;
  const int64_t chunk = ceil_div(V, kThreads), j0 = tid * chunk, j1 = j0 + chunk < V ? j0 + chunk : V;

  // Largest logit and its lowest index (needed by every mode: argmax, and l_max for the weights).
  float best = -INFINITY;
  int best_i = (int)V;
  for (int64_t j = j0; j < j1; j++) {
    const float l = logit_at(z, j, cap);
    if (l > best) {
      best = l;
      best_i = (int)j;
    }
  }
  for (int o = 16; o > 0; o >>= 1) {
    const float b2 = __shfl_xor_sync(kFullMask, best, o);
    const int i2 = __shfl_xor_sync(kFullMask, best_i, o);
    if (b2 > best || (b2 == best && i2 < best_i)) {
      best = b2;
      best_i = i2;
    }
  }
  if (lane == 0) {
    red[warp] = best;
    red_i[warp] = best_i;
  }
  __syncthreads();
  if (tid == 0) {
    for (int w = 1; w < kThreads / kWarp; w++) {
      if (red[w] > red[0] || (red[w] == red[0] && red_i[w] < red_i[0])) {
        red[0] = red[w];
        red_i[0] = red_i[w];
      }
    }
  }
  __syncthreads();
  const float l_max = red[0];
  if (temperature <= 0.0f || top_k == 1) {
    if (tid == 0) out[row] = red_i[0];
    return;
  }
  const double inv_t = 1.0 / (double)temperature;
  const double u = sample_uniform(seeds[row]);

  if (top_k <= 0 || top_k >= V) {  // the whole vocabulary, in index order
    double s = 0.0;
    for (int64_t j = j0; j < j1; j++) s += exp(((double)logit_at(z, j, cap) - (double)l_max) * inv_t);
    chunk_sums[tid] = s;
    __syncthreads();
    if (tid == 0) {
      double total = 0.0;
      for (int t = 0; t < kThreads; t++) total += chunk_sums[t];
      const double threshold = u * total;
      double before = 0.0;
      int k = kThreads - 1;
      for (int t = 0; t < kThreads; t++) {
        if (chunk_sums[t] > 0.0 && before + chunk_sums[t] > threshold) {
          k = t;
          break;
        }
        before += chunk_sums[t];
      }
      while (k > 0 && chunk_sums[k] == 0.0) k--;  // rounding past the end: the last non-empty chunk
      chosen_chunk = k;
      chosen_residual = threshold - before;
    }
    __syncthreads();
    if (tid == chosen_chunk) {
      double run = 0.0;
      int32_t pick = -1;
      for (int64_t j = j0; j < j1; j++) {
        const double w = exp(((double)logit_at(z, j, cap) - (double)l_max) * inv_t);
        if (w > 0.0) pick = (int32_t)j;  // falls back to the chunk's last candidate
        run += w;
        if (w > 0.0 && run > chosen_residual) break;
      }
      out[row] = pick;
    }
    return;
  }

  // Radix select of the top_k-th largest key: 4 passes of 8 bits, most significant first.
  if (tid == 0) {
    sel_prefix = 0;
    sel_remaining = top_k;
  }
  uint32_t mask = 0;
  for (int shift = 24; shift >= 0; shift -= 8) {
    hist[tid] = 0;  // kThreads == 256 bins
    __syncthreads();
    const uint32_t prefix = sel_prefix;
    for (int64_t j = j0; j < j1; j++) {
      const uint32_t key = order_key(logit_at(z, j, cap));
      if ((key & mask) == prefix) atomicAdd(&hist[(key >> shift) & 255u], 1u);
    }
    __syncthreads();
    if (tid == 0) {
      int remaining = sel_remaining;
      unsigned above = 0;
      for (int d = 255; d >= 0; d--) {
        if (above + hist[d] >= (unsigned)remaining) {
          sel_prefix = prefix | ((uint32_t)d << shift);
          sel_remaining = remaining - (int)above;
          break;
        }
        above += hist[d];
      }
    }
    mask |= 255u << shift;
    __syncthreads();
  }
  const uint32_t tau = sel_prefix;
  const int need_equal = sel_remaining, greater = top_k - need_equal;

  // Gather: keys above tau, and the lowest-index keys equal to tau; chunks in index order.
  int n_gt = 0, n_eq = 0;
  for (int64_t j = j0; j < j1; j++) {
    const uint32_t key = order_key(logit_at(z, j, cap));
    n_gt += key > tau;
    n_eq += key == tau;
  }
  counts[0][tid] = n_gt;
  counts[1][tid] = n_eq;
  for (int s = tid; s < kSortSlots; s += kThreads) slots[s] = 0;
  __syncthreads();
  if (tid == 0) {
    int gt = 0, eq = 0;
    for (int t = 0; t < kThreads; t++) {
      const int a = counts[0][t], b = counts[1][t];
      counts[0][t] = gt;
      counts[1][t] = eq;
      gt += a;
      eq += b;
    }
  }
  __syncthreads();
  {
    int gt = counts[0][tid], eq = counts[1][tid];
    for (int64_t j = j0; j < j1; j++) {
      const uint32_t key = order_key(logit_at(z, j, cap));
      // Sort key: logit order in the high word, index order (reversed, for a descending sort) in the low.
      const unsigned long long sk = ((unsigned long long)key << 32) | (0xffffffffull - (unsigned long long)j);
      if (key > tau) {
        slots[gt++] = sk;
      } else if (key == tau) {
        if (eq < need_equal) slots[greater + eq] = sk;
        eq++;
      }
    }
  }
  // Bitonic sort, descending, over the smallest power of two that holds top_k (the rest are zeros).
  int slots_used = 2;
  while (slots_used < top_k) slots_used <<= 1;
  for (int size = 2; size <= slots_used; size <<= 1) {
    for (int stride = size / 2; stride > 0; stride >>= 1) {
      __syncthreads();
      for (int s = tid; s < slots_used; s += kThreads) {
        const int partner = s ^ stride;
        if (partner > s) {
          const bool descending = (s & size) == 0;
          const unsigned long long a = slots[s], b = slots[partner];
          if (descending ? a < b : a > b) {
            slots[s] = b;
            slots[partner] = a;
          }
        }
      }
    }
  }
  __syncthreads();
  if (tid == 0) {
    double total = 0.0;
    for (int c = 0; c < top_k; c++) {
      const int64_t j = (int64_t)(0xffffffffull - (slots[c] & 0xffffffffull));
      total += exp(((double)logit_at(z, j, cap) - (double)l_max) * inv_t);
    }
    const double threshold = u * total;
    double run = 0.0;
    int32_t pick = (int32_t)(0xffffffffull - (slots[top_k - 1] & 0xffffffffull));
    for (int c = 0; c < top_k; c++) {
      const int64_t j = (int64_t)(0xffffffffull - (slots[c] & 0xffffffffull));
      run += exp(((double)logit_at(z, j, cap) - (double)l_max) * inv_t);
      if (run > threshold) {
        pick = (int32_t)j;
        break;
      }
    }
    out[row] = pick;
  }
}

}  // namespace

template <typename T>
cudaError_t sample_tokens(int32_t* out, const T* logits, int64_t B, int64_t V, float temperature, int top_k,
                          float softcap, const uint64_t* seeds, cudaStream_t stream) {
  if (B <= 0) return cudaSuccess;
  const bool greedy = temperature <= 0.0f || top_k == 1, whole = top_k <= 0 || top_k >= V;
  if (V < 1 || V > 0x7fffffff || (!greedy && !whole && top_k > kMaxTopK) || (!greedy && !seeds))
    return cudaErrorInvalidValue;
  return launch(sample_kernel<T>, (unsigned)B, kThreads, 0, stream, out, logits, V, temperature, top_k, softcap, seeds);
}

template cudaError_t sample_tokens<float>(int32_t*, const float*, int64_t, int64_t, float, int, float, const uint64_t*,
                                          cudaStream_t);
template cudaError_t sample_tokens<bf16>(int32_t*, const bf16*, int64_t, int64_t, float, int, float, const uint64_t*,
                                         cudaStream_t);

}  // namespace nc::cuda
