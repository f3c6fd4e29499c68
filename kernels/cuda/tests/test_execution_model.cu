// test_execution_model.cu — the CUDA semantics the kernels rely on: block barriers, warp reductions,
// shuffles, votes, atomics, bf16 rounding, dynamic shared memory, launch-configuration errors. Under
// the emulator these are its own tests; on a GPU (device_check.sh) the same cases confirm that the
// emulator's answers are the hardware's.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "util.h"

using namespace nc::cuda;
using namespace nc_test;

namespace {

// Each round every thread publishes a value, then reads its right neighbour's: after R rounds thread i
// holds i + R (mod n). Without both barriers a thread would read a neighbour's value of another round.
__global__ void rotate_kernel(int* out, int rounds) {
  __shared__ int buf[256];
  const int n = (int)blockDim.x, i = (int)threadIdx.x;
  int v = i;
  for (int r = 0; r < rounds; r++) {
    buf[i] = v;
    __syncthreads();
    v = buf[(i + 1) % n];
    __syncthreads();
  }
  out[blockIdx.x * blockDim.x + i] = v;
}

__global__ void warp_sum_kernel(const float* in, float* out) {
  const int i = (int)(blockIdx.x * blockDim.x + threadIdx.x);
  out[i] = warp_sum(in[i]);
}

__global__ void block_sum_kernel(const float* in, float* out) {
  __shared__ float scratch[32];
  const int i = (int)(blockIdx.x * blockDim.x + threadIdx.x);
  const float s = block_sum(in[i], scratch);
  if (threadIdx.x == 0) out[blockIdx.x] = s;
}

// out[i*5 + k]: five shuffle flavours of the value 100*lane.
__global__ void shuffle_kernel(int* out) {
  const int lane = (int)threadIdx.x % 32, i = (int)(blockIdx.x * blockDim.x + threadIdx.x);
  const int v = 100 * lane;
  out[i * 5 + 0] = __shfl_sync(kFullMask, v, 5);
  out[i * 5 + 1] = __shfl_down_sync(kFullMask, v, 3, 8);
  out[i * 5 + 2] = __shfl_up_sync(kFullMask, v, 2, 16);
  out[i * 5 + 3] = __shfl_xor_sync(kFullMask, v, 9);
  out[i * 5 + 4] = __shfl_sync(kFullMask, v, lane + 1, 4);
}

__global__ void vote_kernel(unsigned* out) {
  const int lane = (int)threadIdx.x % 32, w = (int)(blockIdx.x * blockDim.x + threadIdx.x) / 32;
  const unsigned ballot = __ballot_sync(kFullMask, lane % 3 == 0);
  const int any = __any_sync(kFullMask, lane == 31);
  const int all = __all_sync(kFullMask, lane < 31);
  if (lane == 0) {
    out[w * 3 + 0] = ballot;
    out[w * 3 + 1] = (unsigned)any;
    out[w * 3 + 2] = (unsigned)all;
  }
}

__global__ void histogram_kernel(const int* values, int n, int* bins, float* total) {
  for (int i = (int)(blockIdx.x * blockDim.x + threadIdx.x); i < n; i += (int)(gridDim.x * blockDim.x)) {
    atomicAdd(&bins[values[i]], 1);
    atomicAdd(total, (float)values[i]);  // integers below 2^24: exact in any order
  }
}

// Every thread applies each atomic once to shared counters; out gets the old values it saw.
__global__ void atomics_kernel(int* counters, unsigned* wrap, int* olds) {
  const int i = (int)(blockIdx.x * blockDim.x + threadIdx.x);
  olds[4 * i + 0] = atomicMax(&counters[0], i);
  olds[4 * i + 1] = atomicMin(&counters[1], -i);
  olds[4 * i + 2] = atomicExch(&counters[2], i);
  int seen = counters[3], prev;
  while ((prev = atomicCAS(&counters[3], seen, seen + 2)) != seen) seen = prev;  // a CAS loop adding 2
  olds[4 * i + 3] = seen;
  atomicInc(wrap, 9u);  // wraps to 0 after 9
}

__global__ void bf16_round_kernel(const float* in, unsigned short* bits, float* back, int n) {
  const int i = (int)(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) {
    const bf16 b = __float2bfloat16(in[i]);
    bits[i] = __bfloat16_as_ushort(b);
    back[i] = __bfloat162float(b);
  }
}

// Reverses each block's slice of `n_per_block` floats through dynamic shared memory.
__device__ void reverse_body(const float* in, float* out, int n_per_block) {
  float* s = dynamic_smem<float>();
  const float* src = in + (int64_t)blockIdx.x * n_per_block;
  for (int i = (int)threadIdx.x; i < n_per_block; i += (int)blockDim.x) s[i] = src[i];
  __syncthreads();
  float* dst = out + (int64_t)blockIdx.x * n_per_block;
  for (int i = (int)threadIdx.x; i < n_per_block; i += (int)blockDim.x) dst[i] = s[n_per_block - 1 - i];
}
__global__ void reverse_kernel(const float* in, float* out, int n_per_block) { reverse_body(in, out, n_per_block); }
__global__ void reverse_kernel_default_limit(const float* in, float* out, int n_per_block) {
  reverse_body(in, out, n_per_block);
}

}  // namespace

NC_TEST(ExecutionModel, BarrierRotatesThroughSharedMemory) {
  const int blocks = 3, threads = 256, rounds = 37;
  DeviceBuffer<int> out(blocks * threads);
  NC_REQUIRE_CUDA(launch(rotate_kernel, blocks, threads, 0, nullptr, out.p, rounds));
  std::vector<int> h = out.download();
  for (int i = 0; i < blocks * threads; i++) NC_CHECK(h[i] == (i % threads + rounds) % threads) << " thread " << i;
}

NC_TEST(ExecutionModel, WarpAndBlockReductions) {
  const int blocks = 4, threads = 256;
  std::vector<float> in(blocks * threads);
  for (size_t i = 0; i < in.size(); i++) in[i] = (float)((i * 7919) % 101) - 50.0f;  // small integers: exact sums
  DeviceBuffer<float> din(in), wout(in.size()), bout(blocks);
  NC_REQUIRE_CUDA(launch(warp_sum_kernel, blocks, threads, 0, nullptr, (const float*)din.p, wout.p));
  NC_REQUIRE_CUDA(launch(block_sum_kernel, blocks, threads, 0, nullptr, (const float*)din.p, bout.p));
  std::vector<float> w = wout.download(), b = bout.download();
  for (size_t i = 0; i < in.size(); i++) {
    float s = 0;
    for (size_t j = i / 32 * 32; j < i / 32 * 32 + 32; j++) s += in[j];
    NC_CHECK(w[i] == s) << " thread " << i << ": " << w[i] << " vs " << s;
  }
  for (int k = 0; k < blocks; k++) {
    float s = 0;
    for (int j = 0; j < threads; j++) s += in[(size_t)(k * threads + j)];
    NC_CHECK(b[(size_t)k] == s) << " block " << k;
  }
}

NC_TEST(ExecutionModel, Shuffles) {
  const int threads = 64;
  DeviceBuffer<int> out(threads * 5);
  NC_REQUIRE_CUDA(launch(shuffle_kernel, 1, threads, 0, nullptr, out.p));
  std::vector<int> h = out.download();
  for (int i = 0; i < threads; i++) {
    const int lane = i % 32;
    const int down = (lane % 8) + 3 < 8 ? lane + 3 : lane;
    const int up = (lane % 16) >= 2 ? lane - 2 : lane;
    const int x = lane ^ 9;
    const int sub = (lane & ~3) + ((lane + 1) & 3);
    NC_CHECK(h[i * 5 + 0] == 500) << " lane " << lane;
    NC_CHECK(h[i * 5 + 1] == 100 * down) << " lane " << lane;
    NC_CHECK(h[i * 5 + 2] == 100 * up) << " lane " << lane;
    NC_CHECK(h[i * 5 + 3] == 100 * x) << " lane " << lane;
    NC_CHECK(h[i * 5 + 4] == 100 * sub) << " lane " << lane;
  }
}

NC_TEST(ExecutionModel, Votes) {
  DeviceBuffer<unsigned> out(2 * 3);
  NC_REQUIRE_CUDA(launch(vote_kernel, 1, 64, 0, nullptr, out.p));
  std::vector<unsigned> h = out.download();
  unsigned expect = 0;
  for (int l = 0; l < 32; l += 3) expect |= 1u << l;
  for (int w = 0; w < 2; w++) {
    NC_CHECK(h[w * 3 + 0] == expect) << std::hex << h[w * 3 + 0];
    NC_CHECK(h[w * 3 + 1] == 1u);
    NC_CHECK(h[w * 3 + 2] == 0u);
  }
}

NC_TEST(ExecutionModel, AtomicHistogramAcrossBlocks) {
  const int n = 200000, nbins = 97;
  std::vector<int> values = rand_ints(n, nbins, 11);
  DeviceBuffer<int> dv(values), bins(nbins);
  DeviceBuffer<float> total(1);
  NC_REQUIRE_CUDA(cudaMemset(bins.p, 0, nbins * sizeof(int)));
  NC_REQUIRE_CUDA(cudaMemset(total.p, 0, sizeof(float)));
  NC_REQUIRE_CUDA(launch(histogram_kernel, 64, 128, 0, nullptr, (const int*)dv.p, n, bins.p, total.p));
  std::vector<int> h = bins.download(), ref(nbins, 0);
  double sum = 0;
  for (int v : values) {
    ref[(size_t)v]++;
    sum += v;
  }
  for (int b = 0; b < nbins; b++) NC_CHECK(h[(size_t)b] == ref[(size_t)b]) << " bin " << b;
  NC_CHECK(total.download()[0] == (float)sum) << " total " << total.download()[0] << " vs " << sum;
}

NC_TEST(ExecutionModel, AtomicsReturnOldValues) {
  const int blocks = 8, threads = 64, n = blocks * threads;
  DeviceBuffer<int> counters(std::vector<int>{-1, 1, -7, 0}), olds(4 * n);
  DeviceBuffer<unsigned> wrap(std::vector<unsigned>{0u});
  NC_REQUIRE_CUDA(launch(atomics_kernel, blocks, threads, 0, nullptr, counters.p, wrap.p, olds.p));
  std::vector<int> c = counters.download(), o = olds.download();
  NC_CHECK(c[0] == n - 1 && c[1] == -(n - 1)) << " max " << c[0] << ", min " << c[1];
  NC_CHECK(c[3] == 2 * n) << " CAS loop total " << c[3];
  NC_CHECK(wrap.download()[0] == (unsigned)(n % 10)) << " atomicInc wraps modulo limit + 1";
  // The exchange chain: every value but the last written was seen once as an old value, plus the initial -7.
  std::vector<int> seen;
  for (int i = 0; i < n; i++) seen.push_back(o[(size_t)(4 * i + 2)]);
  seen.push_back(c[2]);
  std::sort(seen.begin(), seen.end());
  NC_CHECK(seen.front() == -7);
  for (int i = 0; i < n; i++) NC_CHECK(seen[(size_t)(i + 1)] == i) << " exchange chain";
  // Each CAS success saw a distinct even old value 0, 2, ..., 2(n-1).
  std::vector<int> cas;
  for (int i = 0; i < n; i++) cas.push_back(o[(size_t)(4 * i + 3)]);
  std::sort(cas.begin(), cas.end());
  for (int i = 0; i < n; i++) NC_CHECK(cas[(size_t)i] == 2 * i) << " CAS old values";
}

NC_TEST(ExecutionModel, StreamsEventsAndPinnedMemory) {
  cudaStream_t s = nullptr;
  cudaEvent_t a = nullptr, b = nullptr;
  NC_REQUIRE_CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  NC_REQUIRE_CUDA(cudaEventCreate(&a));
  NC_REQUIRE_CUDA(cudaEventCreate(&b));
  int* host = nullptr;
  NC_REQUIRE_CUDA(cudaMallocHost(reinterpret_cast<void**>(&host), 256 * sizeof(int)));
  DeviceBuffer<int> out(256);
  NC_REQUIRE_CUDA(cudaEventRecord(a, s));
  NC_REQUIRE_CUDA(launch(rotate_kernel, 1, 256, 0, s, out.p, 3));
  NC_REQUIRE_CUDA(cudaMemcpyAsync(host, out.p, 256 * sizeof(int), cudaMemcpyDeviceToHost, s));
  NC_REQUIRE_CUDA(cudaEventRecord(b, s));
  NC_REQUIRE_CUDA(cudaStreamWaitEvent(nullptr, b, 0));
  NC_REQUIRE_CUDA(cudaEventSynchronize(b));
  float ms = -1;
  NC_REQUIRE_CUDA(cudaEventElapsedTime(&ms, a, b));
  NC_CHECK(ms >= 0) << " elapsed " << ms;
  for (int i = 0; i < 256; i++) NC_CHECK(host[i] == (i + 3) % 256) << " thread " << i;
  int driver = 0;
  NC_REQUIRE_CUDA(cudaDriverGetVersion(&driver));
  NC_CHECK(driver >= 13000) << " driver " << driver;
  NC_REQUIRE_CUDA(cudaFreeHost(host));
  NC_REQUIRE_CUDA(cudaEventDestroy(a));
  NC_REQUIRE_CUDA(cudaEventDestroy(b));
  NC_REQUIRE_CUDA(cudaStreamDestroy(s));
}

NC_TEST(ExecutionModel, Bf16RoundToNearestEven) {
  // (fp32 bits, expected bf16 bits); NaN inputs are checked separately (only "still a NaN" is promised).
  const std::vector<std::pair<uint32_t, uint16_t>> cases = {
      {0x3f800000u, 0x3f80},  // 1
      {0x3f808000u, 0x3f80},  // 1 + 2^-8: a tie, rounds to the even neighbour (down)
      {0x3f818000u, 0x3f82},  // 1 + 3*2^-8: a tie, the even neighbour is up
      {0x3f808001u, 0x3f81},  // just above a tie: up
      {0x3f807fffu, 0x3f80},  // just below a tie: down
      {0xbf818000u, 0xbf82},  // negative tie: magnitude rounds the same way
      {0x80000000u, 0x8000},  // -0
      {0x00000001u, 0x0000},  // smallest subnormal: down to +0
      {0x00008000u, 0x0000},  // subnormal tie: even (0)
      {0x00018000u, 0x0002},  // subnormal tie: even is up
      {0x00008001u, 0x0001},  // subnormal above a tie
      {0x007fffffu, 0x0080},  // largest subnormal rounds up into the smallest normal
      {0x7f7f7fffu, 0x7f7f},  // below the top tie: largest finite bf16
      {0x7f7f8000u, 0x7f80},  // top tie: the even neighbour is inf
      {0x7f7fffffu, 0x7f80},  // largest float: overflows to inf
      {0x7f800000u, 0x7f80},  // inf
      {0xff800000u, 0xff80},  // -inf
  };
  const std::vector<uint32_t> nans = {0x7fc00000u, 0x7f800001u, 0xffffffffu, 0x7fff0000u};
  std::vector<float> in;
  for (const auto& c : cases) in.push_back(float_from_bits(c.first));
  for (uint32_t b : nans) in.push_back(float_from_bits(b));
  const int n = (int)in.size();
  DeviceBuffer<float> din(in), back(in.size());
  DeviceBuffer<unsigned short> bits(in.size());
  NC_REQUIRE_CUDA(launch(bf16_round_kernel, 1, 64, 0, nullptr, (const float*)din.p, bits.p, back.p, n));
  std::vector<unsigned short> hb = bits.download();
  std::vector<float> hf = back.download();
  for (size_t i = 0; i < cases.size(); i++) {
    NC_CHECK(hb[i] == cases[i].second) << std::hex << " fp32 0x" << cases[i].first << " -> 0x" << hb[i] << ", expected 0x"
                                       << cases[i].second;
    NC_CHECK(bits_of(hf[i]) == (uint32_t)cases[i].second << 16) << " back to fp32 is not exact";
    // The host conversion (used by tests and by CPU-side code) agrees with the device's.
    NC_CHECK(bits_of(__float2bfloat16(in[i])) == cases[i].second) << " host conversion, case " << i;
  }
  for (size_t i = cases.size(); i < in.size(); i++) NC_CHECK(std::isnan(hf[i])) << std::hex << " NaN 0x" << nans[i - cases.size()];
}

NC_TEST(ExecutionModel, DynamicSharedMemoryNeedsItsLimitRaised) {
  const int per_block = 16384, blocks = 3;  // 64 KiB per block: above the default 48 KiB
  const size_t bytes = per_block * sizeof(float);
  std::vector<float> in = randn_f32((size_t)per_block * blocks, 5);
  DeviceBuffer<float> din(in), out(in.size());
  // Without raising the limit the launch is refused, on the GPU as in the emulator.
  const cudaError_t refused =
      launch(reverse_kernel_default_limit, blocks, 256, bytes, nullptr, (const float*)din.p, out.p, per_block);
  NC_CHECK(refused != cudaSuccess) << " a 64 KiB launch without cudaFuncSetAttribute succeeded";
  NC_REQUIRE_CUDA(allow_dynamic_smem(reverse_kernel, bytes));
  NC_REQUIRE_CUDA(launch(reverse_kernel, blocks, 256, bytes, nullptr, (const float*)din.p, out.p, per_block));
  std::vector<float> h = out.download();
  for (int b = 0; b < blocks; b++)
    for (int i = 0; i < per_block; i++)
      NC_CHECK(h[(size_t)(b * per_block + i)] == in[(size_t)(b * per_block + per_block - 1 - i)]) << " block " << b << " i " << i;
}

NC_TEST(ExecutionModel, BadLaunchConfigurationAndDeviceAreErrors) {
  DeviceBuffer<int> out(2048);
  NC_CHECK(launch(rotate_kernel, 1, 2048, 0, nullptr, out.p, 1) == cudaErrorInvalidConfiguration);
  int count = 0;
  NC_REQUIRE_CUDA(cudaGetDeviceCount(&count));
  NC_CHECK(cudaSetDevice(count) == cudaErrorInvalidDevice);
  (void)cudaGetLastError();
  NC_REQUIRE_CUDA(cudaSetDevice(0));
  // The device is still usable after both errors.
  NC_REQUIRE_CUDA(launch(rotate_kernel, 1, 32, 0, nullptr, out.p, 1));
  NC_CHECK(out.download()[0] == 1);
}
