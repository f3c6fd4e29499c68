// test_faults.cu — the emulator's own checks, which a GPU would answer with a hang or garbage: a
// barrier some threads skip, warp operations over missing or exited lanes, reading dynamic shared
// memory before writing it, device memory beyond the limit. Emulator only (not built for the GPU).
#include <string>
#include <vector>

#include "util.h"

using namespace nc::cuda;
using namespace nc_test;

namespace {

__global__ void early_exit_then_barrier(int* out) {
  if (threadIdx.x >= 16) return;
  __syncthreads();
  out[threadIdx.x] = 1;
}
__global__ void shuffle_in_partial_warp(int* out) { out[threadIdx.x] = __shfl_xor_sync(kFullMask, (int)threadIdx.x, 1); }
__global__ void warp_op_after_lanes_exit(int* out) {
  if (threadIdx.x % 32 >= 8) return;
  out[threadIdx.x] = warp_sum((int)threadIdx.x);
}
__global__ void read_smem_unwritten(float* out) { out[threadIdx.x] = dynamic_smem<float>()[threadIdx.x]; }
__global__ void write_one(int* out) { out[threadIdx.x] = 7; }

bool fault_mentions(const char* what) { return std::string(nc_emu_last_fault()).find(what) != std::string::npos; }

// Runs a launch that must fault, then checks the error is sticky until cudaDeviceReset, like CUDA's.
template <typename... A>
void expect_fault(void (*kernel)(A...), int threads, const char* what, A... args) {
  const cudaError_t e = launch(kernel, 2, threads, 0, nullptr, args...);
  NC_CHECK(e == cudaErrorLaunchFailure) << " got " << cudaGetErrorName(e);
  NC_CHECK(fault_mentions(what)) << " fault message: " << nc_emu_last_fault();
  NC_CHECK(cudaDeviceSynchronize() == cudaErrorLaunchFailure) << " the fault is not sticky";
  NC_CHECK(cudaDeviceReset() == cudaSuccess);
  (void)cudaGetLastError();
}

}  // namespace

NC_TEST(EmulatorFaults, BarrierSkippedByExitedThreads) {
  DeviceBuffer<int> out(64);
  expect_fault(early_exit_then_barrier, 64, "__syncthreads", out.p);
}

NC_TEST(EmulatorFaults, FullMaskInPartialWarp) {
  DeviceBuffer<int> out(48);
  expect_fault(shuffle_in_partial_warp, 48, "lanes that do not exist", out.p);
}

NC_TEST(EmulatorFaults, WarpOperationAfterLanesExited) {
  DeviceBuffer<int> out(64);
  expect_fault(warp_op_after_lanes_exit, 64, "exited", out.p);
}

NC_TEST(EmulatorFaults, DeviceUsableAfterReset) {
  DeviceBuffer<int> out(32);
  expect_fault(early_exit_then_barrier, 32, "__syncthreads", out.p);
  NC_REQUIRE_CUDA(launch(write_one, 1, 32, 0, nullptr, out.p));
  for (int v : out.download()) NC_CHECK(v == 7);
}

NC_TEST(EmulatorFaults, UnwrittenDynamicSharedMemoryReadsAsNaN) {
  DeviceBuffer<float> out(64);
  NC_REQUIRE_CUDA(launch(read_smem_unwritten, 1, 64, 64 * sizeof(float), nullptr, out.p));
  for (float v : out.download()) NC_CHECK(std::isnan(v));
}

NC_TEST(EmulatorFaults, DeviceMemoryLimit) {
  size_t free_bytes = 0, total = 0;
  NC_REQUIRE_CUDA(cudaMemGetInfo(&free_bytes, &total));
  const size_t in_use = nc_emu_device_memory_in_use();
  nc_emu_set_device_memory_limit(in_use + (1 << 20));
  void* p = nullptr;
  NC_CHECK(cudaMalloc(&p, 2 << 20) == cudaErrorMemoryAllocation);
  NC_CHECK(p == nullptr);
  NC_CHECK(cudaGetLastError() == cudaErrorMemoryAllocation);
  NC_REQUIRE_CUDA(cudaMalloc(&p, 1 << 19));
  NC_REQUIRE_CUDA(cudaFree(p));
  NC_CHECK(cudaFree(reinterpret_cast<char*>(&p)) == cudaErrorInvalidValue) << " freeing a host pointer";
  (void)cudaGetLastError();
  nc_emu_set_device_memory_limit(total);
}
