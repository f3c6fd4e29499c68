// softcap_ce.cu — the loss head after lm_head: logit softcap l = cap * tanh(z / cap) (cap = 15), then
// cross-entropy against the target (-1 = ignored), optionally the argmax of l (lowest index on ties)
// and optionally a per-row weight on the gradient (RL's weighted loss). One block per row; the row is
// read in strided chunks with an online max/sum, so the softmax probabilities are never stored: the
// first pass yields max, log-sum-exp and argmax, the second (with grad) writes the gradient in place
// of the logits,
//   dz = dscale * w[row] * (softmax(l) - onehot(target)) * (1 - (l/cap)^2).
// Losses are per row and unweighted (the caller weights and reduces them); ignored rows get loss 0 and
// a zero gradient. Statistics are fp32; the block reduction has a fixed order (deterministic).
// The caller chunks the rows (lm_head's [rows, V] logits for all N rows would be 8.6 GB at d20).
//
// Floor at d20 (N = 65536 rows, V = 65536, bf16 logits; H100 3.35 TB/s, H200 4.8 TB/s), per micro-batch:
//   two reads and one write of 4.3G elements * 2 B: 25.8 GB -> 7.7 ms / 5.4 ms. Instruction throughput
//   binds about as much (estimate): an accurate tanhf is ~20 instructions, and each pass evaluates it
//   per element: ~275G instructions, ~9 ms at H100's ~31T/s. The exponentials use __expf (ex2.approx:
//   2 instructions, a few ulps on the arguments l - max <= 0 met here).
#include "kernels.h"

namespace nc::cuda {

namespace {

__device__ __forceinline__ float capped(float z, float cap) { return cap > 0.0f ? cap * tanhf(z / cap) : z; }

struct RowStats {
  float m, s;  // running max and sum of exp(l - m)
  float best;  // largest l seen and its index
  int64_t best_i;
};

__device__ __forceinline__ RowStats combine(RowStats a, RowStats b) {
  RowStats r;
  r.m = fmaxf(a.m, b.m);
  r.s = (r.m == -INFINITY) ? 0.0f : a.s * __expf(a.m - r.m) + b.s * __expf(b.m - r.m);
  const bool take_b = b.best > a.best || (b.best == a.best && b.best_i < a.best_i);
  r.best = take_b ? b.best : a.best;
  r.best_i = take_b ? b.best_i : a.best_i;
  return r;
}

__device__ __forceinline__ RowStats shfl_xor(RowStats v, int o) {
  RowStats r;
  r.m = __shfl_xor_sync(kFullMask, v.m, o);
  r.s = __shfl_xor_sync(kFullMask, v.s, o);
  r.best = __shfl_xor_sync(kFullMask, v.best, o);
  r.best_i = __shfl_xor_sync(kFullMask, v.best_i, o);
  return r;
}

template <typename T>
__global__ void softcap_ce_kernel(T* logits, const int32_t* targets, const float* weights, float* losses,
                                  int32_t* argmax, int64_t V, float cap, float dscale, bool grad) {
  __shared__ RowStats warp_stats[32];
  __shared__ float row_lse, row_target_logit;
  const int64_t row = blockIdx.x;
  T* z = logits + row * V;
  const int32_t target = targets[row];
  const int lane = (int)threadIdx.x % kWarp, warp = (int)threadIdx.x / kWarp, nwarps = (int)blockDim.x / kWarp;

  RowStats st{-INFINITY, 0.0f, -INFINITY, V};
  for (int64_t j = threadIdx.x; j < V; j += blockDim.x) {
    const float l = capped(to_float(z[j]), cap);
    if (l > st.best) {  // j increases, so ties keep the lowest index
      st.best = l;
      st.best_i = j;
    }
    if (l > st.m) {
      st.s = st.s * __expf(st.m - l) + 1.0f;
      st.m = l;
    } else {
      st.s += __expf(l - st.m);
    }
  }
  for (int o = 16; o > 0; o >>= 1) st = combine(st, shfl_xor(st, o));
  if (lane == 0) warp_stats[warp] = st;
  __syncthreads();
  if (threadIdx.x == 0) {
    RowStats all = warp_stats[0];
    for (int w = 1; w < nwarps; w++) all = combine(all, warp_stats[w]);
    row_lse = all.m + logf(all.s);
    row_target_logit = target >= 0 ? capped(to_float(z[target]), cap) : 0.0f;
    losses[row] = target >= 0 ? row_lse - row_target_logit : 0.0f;
    if (argmax) argmax[row] = (int32_t)all.best_i;
  }
  __syncthreads();  // also orders the read of z[target] above before the overwrite below
  if (!grad) return;
  const float lse = row_lse;
  const float gscale = target < 0 ? 0.0f : dscale * (weights ? weights[row] : 1.0f);
  for (int64_t j = threadIdx.x; j < V; j += blockDim.x) {
    const float l = capped(to_float(z[j]), cap);
    const float p = __expf(l - lse) - (j == target ? 1.0f : 0.0f);
    const float slope = cap > 0.0f ? 1.0f - (l / cap) * (l / cap) : 1.0f;
    z[j] = from_float<T>(gscale * p * slope);
  }
}

template <typename T>
__global__ void softcap_apply_kernel(T* x, int64_t n, float cap) {
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
    x[i] = from_float<T>(capped(to_float(x[i]), cap));
}

}  // namespace

template <typename T>
cudaError_t softcap_ce(T* logits, const int32_t* targets, const float* weights, float* losses, int32_t* argmax,
                       int64_t rows, int64_t V, float softcap, float dscale, bool grad, cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  const int threads = V >= 16384 ? 512 : (V >= 2048 ? 256 : 64);
  return launch(softcap_ce_kernel<T>, (unsigned)rows, threads, 0, stream, logits, targets, weights, losses, argmax, V,
                softcap, dscale, grad);
}

template <typename T>
cudaError_t softcap_apply(T* x, int64_t n, float softcap, cudaStream_t stream) {
  if (n <= 0 || softcap <= 0.0f) return cudaSuccess;
  return launch(softcap_apply_kernel<T>, grid_for(n, 256), 256, 0, stream, x, n, softcap);
}

template cudaError_t softcap_ce<float>(float*, const int32_t*, const float*, float*, int32_t*, int64_t, int64_t, float,
                                       float, bool, cudaStream_t);
template cudaError_t softcap_ce<bf16>(bf16*, const int32_t*, const float*, float*, int32_t*, int64_t, int64_t, float,
                                      float, bool, cudaStream_t);
template cudaError_t softcap_apply<float>(float*, int64_t, float, cudaStream_t);
template cudaError_t softcap_apply<bf16>(bf16*, int64_t, float, cudaStream_t);

}  // namespace nc::cuda
