// convert.cu — fp32 -> bf16 copies for the backend library: the bf16 weights the GEMMs read, after a
// parameter write or the init (the optimizer writes them itself, and the residual gradient's copy comes
// out of the RMSNorm backward). Round to nearest even, like every other bf16 write here.
// Floor: 6 B per element (read 4, write 2); the d20 weights (561M) -> 3.4 GB -> 1.0 ms on H100.
#include "kernels.h"

namespace nc::cuda {

namespace {

constexpr int kThreads = 256;

__global__ void f32_to_bf16_kernel(bf16* out, const float* in, int64_t n) {
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) out[i] = from_float<bf16>(in[i]);
}

}  // namespace

cudaError_t f32_to_bf16(bf16* out, const float* in, int64_t n, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  if (!out || !in) return cudaErrorInvalidValue;
  return launch(f32_to_bf16_kernel, grid_for(n, kThreads), kThreads, 0, stream, out, in, n);
}

}  // namespace nc::cuda
