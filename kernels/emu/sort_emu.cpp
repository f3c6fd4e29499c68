// sort_emu.cpp — the emulator's route for sort_pairs (kernels/cuda/sort.h): std::stable_sort on the
// host, which is what CUB's radix sort computes on the GPU (a stable sort by key).
#include <algorithm>
#include <numeric>
#include <vector>

#include "sort.h"

namespace nc::cuda {

size_t sort_pairs_scratch_bytes(int64_t n) { return 0; }

cudaError_t sort_pairs(void* scratch, size_t scratch_bytes, const uint32_t* keys_in, uint32_t* keys_out,
                       const int32_t* vals_in, int32_t* vals_out, int64_t n, int key_bits, cudaStream_t stream) {
  if (n < 0 || key_bits < 1 || key_bits > 32 || (n > 0 && (!keys_in || !keys_out || !vals_in || !vals_out)))
    return cudaErrorInvalidValue;
  std::vector<int64_t> order((size_t)n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return keys_in[a] < keys_in[b]; });
  for (int64_t i = 0; i < n; i++) {
    keys_out[i] = keys_in[order[(size_t)i]];
    vals_out[i] = vals_in[order[(size_t)i]];
  }
  return cudaSuccess;
}

}  // namespace nc::cuda
