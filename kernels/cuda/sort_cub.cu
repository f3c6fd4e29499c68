// sort_cub.cu — sort_pairs (sort.h) on the GPU: CUB's device radix sort, which is stable, over the low
// key_bits bits of the keys. GPU build only (the emulator routes sort_pairs to std::stable_sort).
#include <cub/device/device_radix_sort.cuh>

#include "sort.h"

namespace nc::cuda {

size_t sort_pairs_scratch_bytes(int64_t n) {
  size_t bytes = 0;
  if (n <= 0 || n > 0x7fffffff) return 0;
  // The scratch size does not grow with fewer key bits; ask for the full width.
  if (cub::DeviceRadixSort::SortPairs(nullptr, bytes, (const uint32_t*)nullptr, (uint32_t*)nullptr,
                                      (const int32_t*)nullptr, (int32_t*)nullptr, (int)n, 0, 32) != cudaSuccess)
    return 0;
  return bytes;
}

cudaError_t sort_pairs(void* scratch, size_t scratch_bytes, const uint32_t* keys_in, uint32_t* keys_out,
                       const int32_t* vals_in, int32_t* vals_out, int64_t n, int key_bits, cudaStream_t stream) {
  if (n < 0 || n > 0x7fffffff || key_bits < 1 || key_bits > 32) return cudaErrorInvalidValue;
  if (n == 0) return cudaSuccess;
  size_t need = 0;
  NC_CUDA_TRY(cub::DeviceRadixSort::SortPairs(nullptr, need, keys_in, keys_out, vals_in, vals_out, (int)n, 0, key_bits,
                                              stream));
  if (need > scratch_bytes) return cudaErrorInvalidValue;
  return cub::DeviceRadixSort::SortPairs(scratch, scratch_bytes, keys_in, keys_out, vals_in, vals_out, (int)n, 0,
                                         key_bits, stream);
}

}  // namespace nc::cuda
