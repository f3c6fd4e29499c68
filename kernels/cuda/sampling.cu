// sampling.cu — next-token sampling on the device, so decode returns token ids instead of a
// vocabulary-sized row of logits per token. One block per row, following ABI v2's rule (nanochat.h,
// nc_model_decode_sample), so the CPU backend draws the same tokens from the same logits:
//   temperature <= 0 (or top_k == 1, the same token): the argmax, lowest id on ties;
//   otherwise the candidates — the top_k by (logit descending, id ascending) when 1 < top_k < V, else
//   all V — get weights q = exp((l - max) / temperature), summed in double, and are walked in
//   ascending id until the running sum exceeds u * S (the last candidate with q > 0 if rounding leaves
//   none); u = sample_uniform(seed of the row, position).
// Top-k: a radix select over the order-preserving bit pattern of the fp32 logits (4 passes of 8 bits)
// finds the k-th largest value; the candidates are gathered in id order and sorted by id (bitonic, in
// shared memory). The whole vocabulary: kSampleChunks contiguous chunks summed in parallel, the chunk
// holding u * S found, then walked. q is computed in double ("fp32 or better" in the rule; sums of
// other groupings, as the CPU's, agree unless u * S lies within rounding of a boundary).
//
// Cost at d20 decode (V = 65536): about 6 passes over the row per sampled token, latency-bound at a few
// tens of microseconds per row (one block each); small against the decode step's weight reads.
#include "kernels.h"

namespace nc::cuda {

namespace {

constexpr int kThreads = kSampleChunks;  // one chunk per thread
constexpr int kSortSlots = 1024;         // power of two >= kMaxTopK
static_assert(kThreads == 256 && kSortSlots >= kMaxTopK, "one histogram bin per thread; room for top_k");

template <typename T>
__device__ __forceinline__ float logit_at(const T* z, int64_t j, float cap) {
  const float x = to_float(z[j]);
  return cap > 0.0f ? cap * tanhf(x / cap) : x;
}
// Larger float -> larger key (for the finite values logits take).
__device__ __forceinline__ uint32_t order_key(float l) {
  const uint32_t u = __float_as_uint(l);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

template <typename T>
__global__ void sample_kernel(int32_t* out, float* logprobs, const T* logits, int64_t V, float temperature, int top_k,
                              float cap, const uint64_t* seeds, int64_t pos) {
  __shared__ unsigned hist[256];
  __shared__ int counts[2][kThreads];
  __shared__ double chunk_sums[kThreads];
  __shared__ double red_d[32];
  __shared__ uint32_t slots[kSortSlots];  // candidate ids
  __shared__ float red[32];
  __shared__ int red_i[32];
  __shared__ uint32_t sel_prefix;
  __shared__ int sel_remaining, chosen_chunk, chosen_token;
  __shared__ double chosen_residual;
  const int64_t row = blockIdx.x;
  const T* z = logits + row * V;
  const int tid = (int)threadIdx.x, lane = tid % kWarp, warp = tid / kWarp;
  const int64_t chunk = ceil_div(V, kThreads), j0 = tid * chunk < V ? tid * chunk : V;
  const int64_t j1 = j0 + chunk < V ? j0 + chunk : V;

  // The largest logit and its lowest id: the greedy answer, and the max of every candidate set.
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
    chosen_token = red_i[0];
  }
  __syncthreads();
  const float l_max = red[0];
  const bool greedy = temperature <= 0.0f || top_k == 1, whole = top_k <= 0 || top_k >= V;
  const double inv_t = greedy ? 0.0 : 1.0 / (double)temperature;
  const double u = greedy ? 0.0 : sample_uniform(seeds[row], pos);
  auto weight = [&](int64_t j) { return exp(((double)logit_at(z, j, cap) - (double)l_max) * inv_t); };

  if (!greedy && whole) {  // every token a candidate, in id order
    double s = 0.0;
    for (int64_t j = j0; j < j1; j++) s += weight(j);
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
        const double w = weight(j);
        if (w == 0.0) continue;
        pick = (int32_t)j;  // the last candidate with q > 0, should rounding leave none
        run += w;
        if (run > chosen_residual) break;
      }
      if (pick >= 0) chosen_token = pick;
    }
  } else if (!greedy) {
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
        const int remaining = sel_remaining;
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
    // Gather the ids above tau and the lowest ids equal to tau, chunk by chunk in id order.
    int n_gt = 0, n_eq = 0;
    for (int64_t j = j0; j < j1; j++) {
      const uint32_t key = order_key(logit_at(z, j, cap));
      n_gt += key > tau;
      n_eq += key == tau;
    }
    counts[0][tid] = n_gt;
    counts[1][tid] = n_eq;
    for (int s = tid; s < kSortSlots; s += kThreads) slots[s] = 0xffffffffu;  // padding sorts last
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
        if (key > tau) {
          slots[gt++] = (uint32_t)j;
        } else if (key == tau) {
          if (eq < need_equal) slots[greater + eq] = (uint32_t)j;
          eq++;
        }
      }
    }
    // Bitonic sort by id, ascending, over the smallest power of two that holds top_k.
    int used = 2;
    while (used < top_k) used <<= 1;
    for (int size = 2; size <= used; size <<= 1) {
      for (int stride = size / 2; stride > 0; stride >>= 1) {
        __syncthreads();
        for (int s = tid; s < used; s += kThreads) {
          const int partner = s ^ stride;
          if (partner > s) {
            const bool ascending = (s & size) == 0;
            const uint32_t a = slots[s], b = slots[partner];
            if (ascending ? a > b : a < b) {
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
      for (int c = 0; c < top_k; c++) total += weight(slots[c]);
      const double threshold = u * total;
      double run = 0.0;
      int32_t pick = (int32_t)slots[0];
      for (int c = 0; c < top_k; c++) {
        const double w = weight(slots[c]);
        if (w == 0.0) continue;
        pick = (int32_t)slots[c];
        run += w;
        if (run > threshold) break;
      }
      chosen_token = pick;
    }
  }
  __syncthreads();
  if (tid == 0) out[row] = chosen_token;
  if (logprobs) {  // log_softmax of the chosen token over the whole vocabulary at temperature 1
    double s = 0.0;
    for (int64_t j = j0; j < j1; j++) s += exp((double)logit_at(z, j, cap) - (double)l_max);
    s = block_sum(s, red_d);
    if (tid == 0) logprobs[row] = (float)((double)logit_at(z, chosen_token, cap) - (double)l_max - log(s));
  }
}

}  // namespace

template <typename T>
cudaError_t sample_tokens(int32_t* out, float* logprobs, const T* logits, int64_t B, int64_t V, float temperature,
                          int top_k, float softcap, const uint64_t* seeds, int64_t pos, cudaStream_t stream) {
  if (B <= 0) return cudaSuccess;
  const bool greedy = temperature <= 0.0f || top_k == 1, whole = top_k <= 0 || top_k >= V;
  if (V < 1 || V > 0x7fffffff || (!greedy && !whole && top_k > kMaxTopK) || (!greedy && !seeds))
    return cudaErrorInvalidValue;
  return launch(sample_kernel<T>, (unsigned)B, kThreads, 0, stream, out, logprobs, logits, V, temperature, top_k,
                softcap, seeds, pos);
}

template cudaError_t sample_tokens<float>(int32_t*, float*, const float*, int64_t, int64_t, float, int, float,
                                          const uint64_t*, int64_t, cudaStream_t);
template cudaError_t sample_tokens<bf16>(int32_t*, float*, const bf16*, int64_t, int64_t, float, int, float,
                                         const uint64_t*, int64_t, cudaStream_t);

}  // namespace nc::cuda
