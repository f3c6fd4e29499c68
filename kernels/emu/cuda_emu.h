// cuda_emu.h — the CUDA execution model on the CPU, for compiling kernels/cuda/*.cu with g++ (the `emu`
// build; kernels/cuda/common.cuh includes this instead of the CUDA headers when NC_EMU is defined).
//
// What it maps:
//  - A launch runs every block of the grid; blocks are spread over OpenMP threads (any order, as on a
//    GPU). Inside a block every CUDA thread is a fiber on that OS thread, switched cooperatively by a
//    small assembly context switch (fiber.cpp), so a thread runs until it reaches a barrier:
//    __syncthreads() waits for the whole block, __syncwarp() / shuffles / votes for the lanes of the
//    mask. The block scheduler alternates the order in which it resumes threads (ascending, then
//    descending) so code that relies on an unsynchronized order between threads sees both orders.
//  - Misuse that a GPU punishes with hangs or garbage is an error here: a barrier some threads of the
//    block never reach (early exit), a warp operation whose mask names absent or exited lanes, a
//    shuffle from a lane outside the mask. The launch then fails with cudaErrorLaunchFailure (sticky
//    until cudaDeviceReset) and nc_emu_last_fault() says why. Launches the GPU refuses are refused the
//    same way: blocks over 1024 threads (cudaErrorInvalidConfiguration), more dynamic shared memory
//    than the kernel's limit, 48 KiB unless raised with cudaFuncSetAttribute (cudaErrorInvalidValue).
//  - __shared__ variables are per block (thread_local storage of the OS thread that runs the block;
//    blocks on one OS thread run one after another). Dynamic shared memory comes from dynamic_smem<T>()
//    in kernels/cuda/common.cuh and is filled with 0xFF bytes at the start of each block, so reading it
//    before writing gives NaNs rather than yesterday's values.
//  - Atomics are real atomics (blocks run concurrently); fences are full fences.
//  - The runtime API subset the kernels and tests use: device memory is host memory (with an
//    accounting limit, NC_EMU_DEVICE_MEMORY_MB, default 16384, so out-of-memory paths can be tested),
//    streams run their work synchronously in call order, events read a host clock, one device unless
//    NC_EMU_DEVICE_COUNT says otherwise.
// Not emulated: warp-level timing or independent scheduling inside a warp between sync points,
// memory-model weakness (everything is sequentially consistent here), tensor-core instructions
// (kernels keep SIMT paths; cuBLASLt, CUB's sort and cuDNN are routed to CPU code at our wrappers:
// kernels/emu/matmul_emu.cpp, sort_emu.cpp, attention_cudnn_emu.cpp). Warp operations take full masks
// only (every existing lane of the warp), which is what the kernels use.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <tuple>

// ---- qualifiers --------------------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __shared__ static thread_local
#define __restrict__ __restrict
#define __align__(n) alignas(n)
#define __launch_bounds__(...)

// ---- vector and index types ---------------------------------------------------------------------
struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct alignas(8) float2 {
  float x, y;
};
struct alignas(16) float4 {
  float x, y, z, w;
};
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }

#include "emu_bf16.h"

// ---- runtime types ------------------------------------------------------------------------------
enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInsufficientDriver = 35,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorNotReady = 600,
  cudaErrorLaunchFailure = 719,
  cudaErrorUnknown = 999
};
typedef cudaError_t cudaError;
enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4
};
enum cudaDeviceAttr {
  cudaDevAttrMaxThreadsPerBlock,
  cudaDevAttrMaxSharedMemoryPerBlock,
  cudaDevAttrMultiProcessorCount,
  cudaDevAttrComputeCapabilityMajor,
  cudaDevAttrComputeCapabilityMinor,
  cudaDevAttrMaxSharedMemoryPerBlockOptin,
  cudaDevAttrMaxThreadsPerMultiProcessor,
  cudaDevAttrL2CacheSize,
  cudaDevAttrWarpSize
};
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };
struct CUstream_st;
struct CUevent_st;
typedef CUstream_st* cudaStream_t;
typedef CUevent_st* cudaEvent_t;
#define cudaStreamNonBlocking 0x01
#define cudaEventDefault 0x00
#define cudaEventDisableTiming 0x02

constexpr int warpSize = 32;

// ---- execution state --------------------------------------------------------------------------
namespace nc_emu {

struct ThreadState {
  uint3 idx;
};
struct BlockState {
  uint3 block_idx;
  dim3 block_dim, grid_dim;
  unsigned char* dyn_smem;
};
extern thread_local ThreadState* tl_thread;
extern thread_local BlockState* tl_block;

// Barriers and warp data exchange (scheduler.cpp). A warp operation deposits this lane's value, waits
// for every lane of the mask, and returns the slot array of the round (lanes' values, 16 bytes each).
void block_barrier();
void warp_barrier(unsigned mask);
const unsigned char* warp_exchange(unsigned mask, const void* value, size_t size);
// Records a fault of the running kernel and stops its block (does not return into the kernel).
[[noreturn]] void kernel_fault(const char* what);
int lane_id();

template <typename T>
T shfl_from(unsigned mask, T v, int src, int width) {
  static_assert(sizeof(T) <= 16, "shuffle of a type over 16 bytes");
  (void)width;
  const unsigned char* slots = warp_exchange(mask, &v, sizeof(T));
  if (src < 0 || src >= 32 || !((mask >> src) & 1u)) kernel_fault("shuffle reads a lane outside its mask");
  T out;
  std::memcpy(&out, slots + 16 * src, sizeof(T));
  return out;
}

// The launch itself (scheduler.cpp): runs invoke(ctx) once per CUDA thread of every block.
cudaError_t launch(const void* kernel, dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                   void (*invoke)(void*), void* ctx);

template <typename... P, typename... A>
cudaError_t launch_kernel(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                          A... args) {
  struct Call {
    void (*k)(P...);
    std::tuple<P...> a;
    static void invoke(void* c) {
      Call* self = static_cast<Call*>(c);
      std::apply(self->k, self->a);  // parameters are copied per thread, as on the GPU
    }
  };
  Call call{kernel, std::tuple<P...>(args...)};
  return launch(reinterpret_cast<const void*>(kernel), grid, block, smem, stream, &Call::invoke, &call);
}

cudaError_t func_set_max_dynamic_smem(const void* kernel, int bytes);

}  // namespace nc_emu

#define threadIdx (::nc_emu::tl_thread->idx)
#define blockIdx (::nc_emu::tl_block->block_idx)
#define blockDim (::nc_emu::tl_block->block_dim)
#define gridDim (::nc_emu::tl_block->grid_dim)

inline void __syncthreads() { nc_emu::block_barrier(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { nc_emu::warp_barrier(mask); }
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

template <typename T>
T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
  const int lane = nc_emu::lane_id();
  return nc_emu::shfl_from(mask, v, (lane & ~(width - 1)) + (src & (width - 1)), width);
}
template <typename T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  const int lane = nc_emu::lane_id();
  int src = lane ^ lane_mask;
  if (src >= (lane & ~(width - 1)) + width) src = lane;  // later groups are out of reach: own value
  return nc_emu::shfl_from(mask, v, src, width);
}
template <typename T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  const int lane = nc_emu::lane_id();
  const int src = (lane & (width - 1)) + (int)delta < width ? lane + (int)delta : lane;
  return nc_emu::shfl_from(mask, v, src, width);
}
template <typename T>
T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  const int lane = nc_emu::lane_id();
  const int src = (lane & (width - 1)) >= (int)delta ? lane - (int)delta : lane;
  return nc_emu::shfl_from(mask, v, src, width);
}
inline unsigned __ballot_sync(unsigned mask, int pred) {
  const int p = pred != 0;
  const unsigned char* slots = nc_emu::warp_exchange(mask, &p, sizeof p);
  unsigned r = 0;
  for (int l = 0; l < 32; l++) {
    int v;
    std::memcpy(&v, slots + 16 * l, sizeof v);
    if (((mask >> l) & 1u) && v) r |= 1u << l;
  }
  return r;
}
inline int __any_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) != 0; }
inline int __all_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) == mask; }

// ---- atomics (return the old value, like CUDA's) --------------------------------------------------
template <typename T>
inline T nc_emu_atomic_add_int(T* a, T v) {
  return __atomic_fetch_add(a, v, __ATOMIC_SEQ_CST);
}
inline int atomicAdd(int* a, int v) { return nc_emu_atomic_add_int(a, v); }
inline unsigned atomicAdd(unsigned* a, unsigned v) { return nc_emu_atomic_add_int(a, v); }
inline unsigned long long atomicAdd(unsigned long long* a, unsigned long long v) { return nc_emu_atomic_add_int(a, v); }
template <typename F, typename U>
inline F nc_emu_atomic_add_float(F* a, F v) {
  U* ua = reinterpret_cast<U*>(a);
  U old = __atomic_load_n(ua, __ATOMIC_SEQ_CST), next;
  F f;
  do {
    std::memcpy(&f, &old, sizeof f);
    const F sum = f + v;
    std::memcpy(&next, &sum, sizeof next);
  } while (!__atomic_compare_exchange_n(ua, &old, next, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
  return f;
}
inline float atomicAdd(float* a, float v) { return nc_emu_atomic_add_float<float, uint32_t>(a, v); }
inline double atomicAdd(double* a, double v) { return nc_emu_atomic_add_float<double, uint64_t>(a, v); }
template <typename T, typename Pick>
inline T nc_emu_atomic_pick(T* a, T v, Pick pick) {
  T old = __atomic_load_n(a, __ATOMIC_SEQ_CST);
  while (!__atomic_compare_exchange_n(a, &old, pick(old, v), false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
  }
  return old;
}
inline int atomicMax(int* a, int v) { return nc_emu_atomic_pick(a, v, [](int x, int y) { return x > y ? x : y; }); }
inline unsigned atomicMax(unsigned* a, unsigned v) {
  return nc_emu_atomic_pick(a, v, [](unsigned x, unsigned y) { return x > y ? x : y; });
}
inline int atomicMin(int* a, int v) { return nc_emu_atomic_pick(a, v, [](int x, int y) { return x < y ? x : y; }); }
inline unsigned atomicMin(unsigned* a, unsigned v) {
  return nc_emu_atomic_pick(a, v, [](unsigned x, unsigned y) { return x < y ? x : y; });
}
inline int atomicExch(int* a, int v) { return __atomic_exchange_n(a, v, __ATOMIC_SEQ_CST); }
inline unsigned atomicExch(unsigned* a, unsigned v) { return __atomic_exchange_n(a, v, __ATOMIC_SEQ_CST); }
template <typename T>
inline T nc_emu_atomic_cas(T* a, T expected, T desired) {
  __atomic_compare_exchange_n(a, &expected, desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return expected;  // the old value either way
}
inline int atomicCAS(int* a, int c, int v) { return nc_emu_atomic_cas(a, c, v); }
inline unsigned atomicCAS(unsigned* a, unsigned c, unsigned v) { return nc_emu_atomic_cas(a, c, v); }
inline unsigned long long atomicCAS(unsigned long long* a, unsigned long long c, unsigned long long v) {
  return nc_emu_atomic_cas(a, c, v);
}
// CUDA's wrapping increment: old >= limit ? 0 : old + 1.
inline unsigned atomicInc(unsigned* a, unsigned limit) {
  return nc_emu_atomic_pick(a, limit, [](unsigned old, unsigned lim) { return old >= lim ? 0u : old + 1u; });
}

// ---- math intrinsics ----------------------------------------------------------------------------
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline unsigned __float_as_uint(float f) {
  unsigned u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
inline float __uint_as_float(unsigned u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
inline int __float_as_int(float f) { return (int)__float_as_uint(f); }
inline float __int_as_float(int i) { return __uint_as_float((unsigned)i); }

// ---- runtime API --------------------------------------------------------------------------------
const char* cudaGetErrorString(cudaError_t e);
const char* cudaGetErrorName(cudaError_t e);
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaDeviceReset();
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device);
cudaError_t cudaDriverGetVersion(int* version);
cudaError_t cudaRuntimeGetVersion(int* version);
cudaError_t cudaMalloc(void** ptr, size_t bytes);
template <typename T>
inline cudaError_t cudaMalloc(T** ptr, size_t bytes) {
  return cudaMalloc(reinterpret_cast<void**>(ptr), bytes);
}
cudaError_t cudaFree(void* ptr);
cudaError_t cudaMallocHost(void** ptr, size_t bytes);
cudaError_t cudaFreeHost(void* ptr);
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes);
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s = nullptr);
cudaError_t cudaMemset(void* dst, int value, size_t bytes);
cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes, cudaStream_t s = nullptr);
cudaError_t cudaStreamCreate(cudaStream_t* s);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t s);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned flags = 0);
cudaError_t cudaEventCreate(cudaEvent_t* e);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned flags);
cudaError_t cudaEventDestroy(cudaEvent_t e);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t e);
cudaError_t cudaEventQuery(cudaEvent_t e);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end);
template <typename T>
inline cudaError_t cudaFuncSetAttribute(T* kernel, cudaFuncAttribute attr, int value) {
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize) return cudaErrorInvalidValue;
  return nc_emu::func_set_max_dynamic_smem(reinterpret_cast<const void*>(kernel), value);
}

// Emulator-only controls (tests): why the last launch failed, and the device memory limit.
const char* nc_emu_last_fault();
void nc_emu_set_device_memory_limit(size_t bytes);
size_t nc_emu_device_memory_in_use();
