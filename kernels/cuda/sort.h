// sort.h — stable sort of (key, value) pairs on the device, the first step of the deterministic
// embedding backward. The GPU route is CUB's radix sort (sort_cub.cu); the emulator routes it to
// std::stable_sort (kernels/emu/sort_emu.cpp). Both are stable: equal keys keep their input order.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common.cuh"

namespace nc::cuda {

// Scratch bytes sort_pairs needs for n pairs (0 is a valid answer).
size_t sort_pairs_scratch_bytes(int64_t n);
// Sorts by the low `key_bits` bits of keys_in (the others must be zero). Outputs must not alias inputs.
cudaError_t sort_pairs(void* scratch, size_t scratch_bytes, const uint32_t* keys_in, uint32_t* keys_out,
                       const int32_t* vals_in, int32_t* vals_out, int64_t n, int key_bits, cudaStream_t stream);

}  // namespace nc::cuda
