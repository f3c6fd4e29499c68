// embedding.cu — token embedding (transformer.wte): a row gather forward and a deterministic
// scatter-add backward.
//
// Backward without atomics, so that the gradient is bitwise reproducible: the (token, position)
// pairs are sorted by token with a stable sort (CUB's radix sort; sort.h), then one block per run of
// equal tokens sums that token's rows in position order and adds the sum into dwte once. Which block
// handles which run does not matter: every row of dwte has exactly one writer, and its summation order
// is fixed by the sort.
//
// Floor at d20 (B=32, T=2048: N = 65536 rows, C = 1280; H100 3.35 TB/s, H200 4.8 TB/s):
//   forward  reads N*C wte elements, writes N*C: fp32 both ways 671 MB -> 0.20 ms (H100) / 0.14 ms (H200)
//   backward reads dout (fp32, 336 MB) and read-modify-writes at most N rows of dwte (fp32, 671 MB),
//            plus the sort of 65536 pairs (~1 MB): ~1.0 GB -> 0.30 ms / 0.21 ms. No FLOPs to speak of.
#include "kernels.h"
#include "sort.h"

namespace nc::cuda {

namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void embedding_forward_kernel(T* out, const T* wte, const int32_t* idx, int64_t N, int64_t C) {
  const int64_t total = N * C;
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    const int64_t n = e / C, c = e - n * C;
    out[e] = wte[(int64_t)idx[n] * C + c];
  }
}

__global__ void embedding_keys_kernel(uint32_t* keys, int32_t* positions, const int32_t* idx, int64_t N) {
  for (int64_t n = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; n < N; n += (int64_t)gridDim.x * blockDim.x) {
    keys[n] = (uint32_t)idx[n];
    positions[n] = (int32_t)n;
  }
}

// Block i looks at sorted entry i; if it starts a run of equal tokens, the block sums the run.
template <typename Tg>
__global__ void embedding_backward_runs_kernel(float* dwte, const Tg* dout, const uint32_t* sorted_tokens,
                                               const int32_t* sorted_positions, int64_t N, int64_t C) {
  const int64_t i = blockIdx.x;
  const uint32_t token = sorted_tokens[i];
  if (i > 0 && sorted_tokens[i - 1] == token) return;  // not the start of a run (uniform per block)
  int64_t end = i + 1;
  while (end < N && sorted_tokens[end] == token) end++;
  float* row = dwte + (int64_t)token * C;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    float acc = 0.0f;
    for (int64_t j = i; j < end; j++) acc += to_float(dout[(int64_t)sorted_positions[j] * C + c]);
    row[c] += acc;
  }
}

int key_bits_for(int64_t V) {
  int bits = 1;
  while (bits < 32 && ((int64_t)1 << bits) < V) bits++;
  return bits;
}

size_t align256(size_t x) { return (x + 255) / 256 * 256; }

}  // namespace

template <typename T>
cudaError_t embedding_forward(T* out, const T* wte, const int32_t* idx, int64_t N, int64_t C, cudaStream_t stream) {
  if (N <= 0 || C <= 0) return cudaSuccess;
  return launch(embedding_forward_kernel<T>, grid_for(N * C, kThreads), kThreads, 0, stream, out, wte, idx, N, C);
}

size_t embedding_backward_scratch_bytes(int64_t N) {
  return 4 * align256((size_t)N * 4) + align256(sort_pairs_scratch_bytes(N));
}

template <typename Tg>
cudaError_t embedding_backward(float* dwte, const Tg* dout, const int32_t* idx, int64_t N, int64_t C, int64_t V,
                               void* scratch, size_t scratch_bytes, cudaStream_t stream) {
  if (N <= 0 || C <= 0) return cudaSuccess;
  if (scratch_bytes < embedding_backward_scratch_bytes(N) || N > 0x7fffffff) return cudaErrorInvalidValue;
  unsigned char* s = static_cast<unsigned char*>(scratch);
  const size_t slot = align256((size_t)N * 4);
  uint32_t* keys = reinterpret_cast<uint32_t*>(s);
  int32_t* positions = reinterpret_cast<int32_t*>(s + slot);
  uint32_t* sorted_keys = reinterpret_cast<uint32_t*>(s + 2 * slot);
  int32_t* sorted_positions = reinterpret_cast<int32_t*>(s + 3 * slot);
  NC_CUDA_TRY(launch(embedding_keys_kernel, grid_for(N, kThreads), kThreads, 0, stream, keys, positions, idx, N));
  NC_CUDA_TRY(sort_pairs(s + 4 * slot, scratch_bytes - 4 * slot, keys, sorted_keys, positions, sorted_positions, N,
                         key_bits_for(V), stream));
  const int threads = C >= 1024 ? 512 : 128;
  return launch(embedding_backward_runs_kernel<Tg>, (unsigned)N, threads, 0, stream, dwte, dout,
                (const uint32_t*)sorted_keys, (const int32_t*)sorted_positions, N, C);
}

template cudaError_t embedding_forward<float>(float*, const float*, const int32_t*, int64_t, int64_t, cudaStream_t);
template cudaError_t embedding_forward<bf16>(bf16*, const bf16*, const int32_t*, int64_t, int64_t, cudaStream_t);
template cudaError_t embedding_backward<float>(float*, const float*, const int32_t*, int64_t, int64_t, int64_t, void*,
                                               size_t, cudaStream_t);
template cudaError_t embedding_backward<bf16>(float*, const bf16*, const int32_t*, int64_t, int64_t, int64_t, void*,
                                              size_t, cudaStream_t);

}  // namespace nc::cuda
