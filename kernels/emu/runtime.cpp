// runtime.cpp — the CUDA runtime API subset of the emulator: device memory is host memory (16-byte
// aligned, with an accounting limit), streams execute synchronously in call order, events read a host
// clock, errors follow CUDA's rules (a last error per host thread, cleared by cudaGetLastError; a
// kernel fault is sticky until cudaDeviceReset).
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <string>
#include <unordered_map>

#include "cuda_emu.h"
#include "runtime_state.h"

struct CUstream_st {
  unsigned flags;
};
struct CUevent_st {
  std::chrono::steady_clock::time_point t;
  bool recorded;
};

namespace nc_emu {
namespace {

constexpr size_t kDefaultSmem = 48 * 1024, kOptinSmem = 227 * 1024;  // H100/H200 limits

size_t env_size(const char* name, size_t fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  unsigned long long x = std::strtoull(v, &end, 10);
  return (end && *end == 0) ? (size_t)x : fallback;
}

struct State {
  std::mutex mu;
  std::unordered_map<void*, size_t> allocations;
  size_t in_use = 0;
  size_t limit = env_size("NC_EMU_DEVICE_MEMORY_MB", 16384) << 20;
  int device_count = (int)env_size("NC_EMU_DEVICE_COUNT", 1);
  std::unordered_map<const void*, size_t> smem_limits;
  std::string fault;
  std::atomic<int> sticky{cudaSuccess};
};
State& state() {
  static State* s = new State();  // never destroyed: usable from static destructors of callers
  return *s;
}
thread_local cudaError_t tl_last = cudaSuccess;
thread_local int tl_device = 0;
thread_local std::string tl_fault_copy;

}  // namespace

cudaError_t set_last_error(cudaError_t e) {
  if (e != cudaSuccess) tl_last = e;
  return e;
}
cudaError_t sticky_error() { return (cudaError_t)state().sticky.load(); }
void set_sticky_error(cudaError_t e) { state().sticky.store(e); }
void set_fault(const std::string& message) {
  std::lock_guard<std::mutex> lock(state().mu);
  state().fault = message;
}
size_t max_dynamic_smem(const void* kernel) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.smem_limits.find(kernel);
  return it == s.smem_limits.end() ? kDefaultSmem : it->second;
}
cudaError_t func_set_max_dynamic_smem(const void* kernel, int bytes) {
  if (bytes < 0 || (size_t)bytes > kOptinSmem) return set_last_error(cudaErrorInvalidValue);
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  s.smem_limits[kernel] = (size_t)bytes;
  return cudaSuccess;
}

}  // namespace nc_emu

using nc_emu::set_last_error;
using nc_emu::state;

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    default: return "cudaErrorUnknown";
  }
}

const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInsufficientDriver: return "CUDA driver version is insufficient for CUDA runtime version";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    default: return "unknown error";
  }
}

cudaError_t cudaGetLastError() {
  cudaError_t e = nc_emu::tl_last;
  nc_emu::tl_last = cudaSuccess;
  if (e == cudaSuccess) e = nc_emu::sticky_error();
  return e;
}
cudaError_t cudaPeekAtLastError() {
  return nc_emu::tl_last != cudaSuccess ? nc_emu::tl_last : nc_emu::sticky_error();
}

cudaError_t cudaGetDeviceCount(int* count) {
  if (!count) return set_last_error(cudaErrorInvalidValue);
  *count = state().device_count;
  return *count > 0 ? cudaSuccess : set_last_error(cudaErrorNoDevice);
}
cudaError_t cudaSetDevice(int device) {
  if (device < 0 || device >= state().device_count) return set_last_error(cudaErrorInvalidDevice);
  nc_emu::tl_device = device;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* device) {
  if (!device) return set_last_error(cudaErrorInvalidValue);
  *device = nc_emu::tl_device;
  return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize() { return nc_emu::sticky_error(); }
cudaError_t cudaDeviceReset() {
  state().sticky.store(cudaSuccess);
  nc_emu::tl_last = cudaSuccess;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (!value) return set_last_error(cudaErrorInvalidValue);
  if (device < 0 || device >= state().device_count) return set_last_error(cudaErrorInvalidDevice);
  switch (attr) {  // an H100-like device
    case cudaDevAttrMaxThreadsPerBlock: *value = 1024; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = (int)nc_emu::kDefaultSmem; break;
    case cudaDevAttrMultiProcessorCount: *value = 132; break;
    case cudaDevAttrComputeCapabilityMajor: *value = 9; break;
    case cudaDevAttrComputeCapabilityMinor: *value = 0; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = (int)nc_emu::kOptinSmem; break;
    case cudaDevAttrMaxThreadsPerMultiProcessor: *value = 2048; break;
    case cudaDevAttrL2CacheSize: *value = 50 << 20; break;
    case cudaDevAttrWarpSize: *value = 32; break;
    default: return set_last_error(cudaErrorInvalidValue);
  }
  return cudaSuccess;
}
cudaError_t cudaDriverGetVersion(int* version) {
  if (!version) return set_last_error(cudaErrorInvalidValue);
  *version = 13000;
  return cudaSuccess;
}
cudaError_t cudaRuntimeGetVersion(int* version) { return cudaDriverGetVersion(version); }

cudaError_t cudaMalloc(void** ptr, size_t bytes) {
  if (!ptr) return set_last_error(cudaErrorInvalidValue);
  *ptr = nullptr;
  if (cudaError_t sticky = nc_emu::sticky_error()) return set_last_error(sticky);
  auto& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.in_use > s.limit || bytes > s.limit - s.in_use) return set_last_error(cudaErrorMemoryAllocation);
  void* p = std::aligned_alloc(256, ((bytes + 255) / 256) * 256 + 256 * (bytes == 0));
  if (!p) return set_last_error(cudaErrorMemoryAllocation);
  s.allocations[p] = bytes;
  s.in_use += bytes;
  *ptr = p;
  return cudaSuccess;
}
cudaError_t cudaFree(void* ptr) {
  if (!ptr) return cudaSuccess;
  auto& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.allocations.find(ptr);
  if (it == s.allocations.end()) return set_last_error(cudaErrorInvalidValue);
  s.in_use -= it->second;
  s.allocations.erase(it);
  std::free(ptr);
  return cudaSuccess;
}
cudaError_t cudaMallocHost(void** ptr, size_t bytes) {
  if (!ptr) return set_last_error(cudaErrorInvalidValue);
  *ptr = std::malloc(bytes ? bytes : 1);
  return *ptr ? cudaSuccess : set_last_error(cudaErrorMemoryAllocation);
}
cudaError_t cudaFreeHost(void* ptr) {
  std::free(ptr);
  return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  if (!free_bytes || !total_bytes) return set_last_error(cudaErrorInvalidValue);
  auto& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  *total_bytes = s.limit;
  *free_bytes = s.in_use > s.limit ? 0 : s.limit - s.in_use;
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if ((unsigned)kind > cudaMemcpyDefault || ((!dst || !src) && bytes)) return set_last_error(cudaErrorInvalidValue);
  if (cudaError_t sticky = nc_emu::sticky_error()) return set_last_error(sticky);
  if (bytes) std::memmove(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t) {
  return cudaMemcpy(dst, src, bytes, kind);
}
cudaError_t cudaMemset(void* dst, int value, size_t bytes) {
  if (!dst && bytes) return set_last_error(cudaErrorInvalidValue);
  if (cudaError_t sticky = nc_emu::sticky_error()) return set_last_error(sticky);
  if (bytes) std::memset(dst, value, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes, cudaStream_t) { return cudaMemset(dst, value, bytes); }

cudaError_t cudaStreamCreate(cudaStream_t* s) { return cudaStreamCreateWithFlags(s, 0); }
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned flags) {
  if (!s) return set_last_error(cudaErrorInvalidValue);
  *s = new CUstream_st{flags};
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  delete s;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) { return nc_emu::sticky_error(); }
cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t e, unsigned) {
  return e ? cudaSuccess : set_last_error(cudaErrorInvalidResourceHandle);
}

cudaError_t cudaEventCreate(cudaEvent_t* e) { return cudaEventCreateWithFlags(e, cudaEventDefault); }
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned) {
  if (!e) return set_last_error(cudaErrorInvalidValue);
  *e = new CUevent_st{std::chrono::steady_clock::now(), false};
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete e;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t) {
  if (!e) return set_last_error(cudaErrorInvalidResourceHandle);
  e->t = std::chrono::steady_clock::now();
  e->recorded = true;
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) {
  if (!e) return set_last_error(cudaErrorInvalidResourceHandle);
  return nc_emu::sticky_error();
}
cudaError_t cudaEventQuery(cudaEvent_t e) { return cudaEventSynchronize(e); }
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (!ms || !start || !end) return set_last_error(cudaErrorInvalidValue);
  if (!start->recorded || !end->recorded) return set_last_error(cudaErrorInvalidResourceHandle);
  *ms = std::chrono::duration<float, std::milli>(end->t - start->t).count();
  return cudaSuccess;
}

const char* nc_emu_last_fault() {
  std::lock_guard<std::mutex> lock(state().mu);
  nc_emu::tl_fault_copy = state().fault;
  return nc_emu::tl_fault_copy.c_str();
}
void nc_emu_set_device_memory_limit(size_t bytes) {
  std::lock_guard<std::mutex> lock(state().mu);
  state().limit = bytes;
}
size_t nc_emu_device_memory_in_use() {
  std::lock_guard<std::mutex> lock(state().mu);
  return state().in_use;
}
