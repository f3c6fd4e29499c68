// common.cuh — what every CUDA source of the library shares, and the seam that lets the same source
// compile with nvcc for the GPU or with g++ for the emulator (NC_EMU, kernels/emu/cuda_emu.h): the
// device headers, bf16 conversions, warp and block reductions, dynamic shared memory, and launch().
// Kernels use only what compiles under both: explicit bf16 conversions, full-warp *_sync intrinsics,
// launch() instead of <<<>>>, dynamic_smem<T>() instead of `extern __shared__`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <tuple>
#include <utility>

#ifdef NC_EMU
#include "cuda_emu.h"
#else
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#endif

namespace nc::cuda {

using bf16 = __nv_bfloat16;
constexpr int kWarp = 32;
constexpr unsigned kFullMask = 0xffffffffu;

#define NC_CUDA_TRY(expr)                     \
  do {                                        \
    const cudaError_t nc_err_ = (expr);       \
    if (nc_err_ != cudaSuccess) return nc_err_; \
  } while (0)

__host__ __device__ constexpr inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

__host__ __device__ __forceinline__ float to_float(float x) { return x; }
__host__ __device__ __forceinline__ float to_float(bf16 x) { return __bfloat162float(x); }
template <typename T>
__host__ __device__ __forceinline__ T from_float(float x);
template <>
__host__ __device__ __forceinline__ float from_float<float>(float x) {
  return x;
}
template <>
__host__ __device__ __forceinline__ bf16 from_float<bf16>(float x) {
  return __float2bfloat16(x);
}

// Device code below: visible to nvcc's .cu files and to the emulator, not to host-only .cpp files.
#if defined(__CUDACC__) || defined(NC_EMU)

// ---- reductions (deterministic: fixed combination order) --------------------------------------
template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFullMask, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(kFullMask, v, o));
  return v;
}
// Sum over the block, returned to every thread. blockDim.x must be a multiple of 32 (y = z = 1);
// scratch: 32 elements of shared memory, free for reuse once the call returns.
template <typename T>
__device__ __forceinline__ T block_sum(T v, T* scratch) {
  const int lane = (int)threadIdx.x % kWarp, warp = (int)threadIdx.x / kWarp, nwarps = (int)blockDim.x / kWarp;
  v = warp_sum(v);
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < nwarps ? scratch[lane] : T(0);
  return warp_sum(v);
}
__device__ __forceinline__ float block_max(float v, float* scratch) {
  const int lane = (int)threadIdx.x % kWarp, warp = (int)threadIdx.x / kWarp, nwarps = (int)blockDim.x / kWarp;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < nwarps ? scratch[lane] : -INFINITY;
  return warp_max(v);
}

// ---- dynamic shared memory ----------------------------------------------------------------------
template <typename T>
__device__ __forceinline__ T* dynamic_smem() {
#ifdef NC_EMU
  return reinterpret_cast<T*>(::nc_emu::tl_block->dyn_smem);
#else
  extern __shared__ __align__(16) unsigned char nc_dynamic_smem[];
  return reinterpret_cast<T*>(nc_dynamic_smem);
#endif
}

// Raises a kernel's dynamic shared memory limit when it needs more than the default 48 KiB (a GPU
// refuses the launch otherwise); fails cleanly when the device cannot give that much.
template <typename K>
inline cudaError_t allow_dynamic_smem(K* kernel, size_t bytes) {
  if (bytes <= 48 * 1024) return cudaSuccess;
  int device = 0, optin = 0;
  NC_CUDA_TRY(cudaGetDevice(&device));
  NC_CUDA_TRY(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  if (bytes > (size_t)optin) return cudaErrorInvalidValue;
  return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes);
}

// ---- launch ---------------------------------------------------------------------------------------
// launch(kernel, grid, block, smem_bytes, stream, args...): the one way kernels are started, so the
// same source builds for the GPU (cudaLaunchKernel) and for the emulator. Returns the launch's error.
template <typename... P, typename... A>
inline cudaError_t launch(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream, A... args) {
  static_assert(sizeof...(P) == sizeof...(A), "launch: wrong number of kernel arguments");
#ifdef NC_EMU
  return ::nc_emu::launch_kernel(kernel, grid, block, smem, stream, args...);
#else
  std::tuple<P...> params(args...);
  void* argv[sizeof...(P) + 1];
  std::apply([&](auto&... p) {
    int i = 0;
    ((argv[i++] = static_cast<void*>(&p)), ...);
  }, params);
  const cudaError_t err = cudaLaunchKernel(reinterpret_cast<const void*>(kernel), grid, block, argv, smem, stream);
  if (err != cudaSuccess) (void)cudaGetLastError();  // the error is returned; do not leave it pending
  return err;
#endif
}

#endif  // __CUDACC__ || NC_EMU

// Grid size for a grid-stride loop over n items: enough blocks to fill the device a few times over,
// never more than the items need.
inline unsigned grid_for(int64_t n, int threads, int max_blocks = 132 * 8) {
  const int64_t need = ceil_div(n, threads);
  return (unsigned)(need < 1 ? 1 : (need < max_blocks ? need : max_blocks));
}

}  // namespace nc::cuda
