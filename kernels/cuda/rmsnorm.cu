// rmsnorm.cu — parameter-free RMSNorm, y = x / sqrt(mean(x^2) + eps), nanochat's norm(), on the
// residual stream (before attention, before the MLP, after the embedding, at the end). The per-head QK
// norm is fused with rotary in rope_qknorm.cu. eps is the CPU backend's: torch.finfo(float32).eps.
// One warp per row; statistics in fp32; the reciprocal root is computed as 1/sqrt (IEEE), not rsqrtf.
// Backward with y = x*r kept from the forward: dx = r * (dy - y * mean(dy*y)), written or accumulated
// into an fp32 residual gradient; optionally also the bf16 copy of the result that the next GEMMs take
// as their operand (saves a separate fp32 -> bf16 pass: 4 B read per element).
//
// Floor at d20 (N = 65536 rows, C = 1280; H100 3.35 TB/s, H200 4.8 TB/s), per call:
//   forward  fp32 x in, bf16 y out: 503 MB -> 0.15 ms / 0.10 ms     (~4 FLOP/element: memory-bound)
//   backward fp32 dy, bf16 y in, fp32 dx read+written: 1.17 GB -> 0.35 ms / 0.24 ms (+ bf16 dx: 168 MB)
// 42 forward and 42 backward calls per d20 micro-batch (2 per layer, after the embedding, before lm_head).
#include "kernels.h"

namespace nc::cuda {

namespace {

constexpr int kWarpsPerBlock = 8;

template <typename Tx, typename Ty>
__global__ void rmsnorm_forward_kernel(Ty* y, int64_t ldy, float* rstd, const Tx* x, int64_t ldx, int64_t N,
                                       int64_t dim, float eps) {
  const int64_t row = (int64_t)blockIdx.x * kWarpsPerBlock + threadIdx.x / kWarp;
  const int lane = (int)threadIdx.x % kWarp;
  if (row >= N) return;  // whole warps leave together; no block barrier follows
  const Tx* xr = x + row * ldx;
  float ss = 0.0f;
  for (int64_t i = lane; i < dim; i += kWarp) {
    const float v = to_float(xr[i]);
    ss += v * v;
  }
  ss = warp_sum(ss);
  const float r = 1.0f / sqrtf(ss / (float)dim + eps);
  Ty* yr = y + row * ldy;
  for (int64_t i = lane; i < dim; i += kWarp) yr[i] = from_float<Ty>(to_float(xr[i]) * r);
  if (lane == 0) rstd[row] = r;
}

template <typename Tdy, typename Ty>
__global__ void rmsnorm_backward_kernel(float* dx, int64_t lddx, const Tdy* dy, int64_t lddy, const Ty* y, int64_t ldy,
                                        const float* rstd, int64_t N, int64_t dim, bool accumulate,
                                        bf16* dx_bf16, int64_t ldb) {
  const int64_t row = (int64_t)blockIdx.x * kWarpsPerBlock + threadIdx.x / kWarp;
  const int lane = (int)threadIdx.x % kWarp;
  if (row >= N) return;
  const Tdy* dyr = dy + row * lddy;
  const Ty* yr = y + row * ldy;
  float dot = 0.0f;
  for (int64_t i = lane; i < dim; i += kWarp) dot += to_float(dyr[i]) * to_float(yr[i]);
  const float mean = warp_sum(dot) / (float)dim, r = rstd[row];
  float* dxr = dx + row * lddx;
  bf16* dbr = dx_bf16 ? dx_bf16 + row * ldb : nullptr;
  for (int64_t i = lane; i < dim; i += kWarp) {
    const float g = r * (to_float(dyr[i]) - to_float(yr[i]) * mean);
    const float out = accumulate ? dxr[i] + g : g;
    dxr[i] = out;
    if (dbr) dbr[i] = from_float<bf16>(out);
  }
}

}  // namespace

template <typename Tx, typename Ty>
cudaError_t rmsnorm_forward(Ty* y, int64_t ldy, float* rstd, const Tx* x, int64_t ldx, int64_t N, int64_t dim,
                            cudaStream_t stream) {
  if (N <= 0) return cudaSuccess;
  return launch(rmsnorm_forward_kernel<Tx, Ty>, (unsigned)ceil_div(N, kWarpsPerBlock), kWarpsPerBlock * kWarp, 0,
                stream, y, ldy, rstd, x, ldx, N, dim, kRmsNormEps);
}

template <typename Tdy, typename Ty>
cudaError_t rmsnorm_backward(float* dx, int64_t lddx, const Tdy* dy, int64_t lddy, const Ty* y, int64_t ldy,
                             const float* rstd, int64_t N, int64_t dim, bool accumulate, cudaStream_t stream,
                             bf16* dx_bf16, int64_t ldb) {
  if (N <= 0) return cudaSuccess;
  return launch(rmsnorm_backward_kernel<Tdy, Ty>, (unsigned)ceil_div(N, kWarpsPerBlock), kWarpsPerBlock * kWarp, 0,
                stream, dx, lddx, dy, lddy, y, ldy, rstd, N, dim, accumulate, dx_bf16, ldb);
}

template cudaError_t rmsnorm_forward<float, bf16>(bf16*, int64_t, float*, const float*, int64_t, int64_t, int64_t,
                                                  cudaStream_t);
template cudaError_t rmsnorm_forward<float, float>(float*, int64_t, float*, const float*, int64_t, int64_t, int64_t,
                                                   cudaStream_t);
template cudaError_t rmsnorm_backward<float, bf16>(float*, int64_t, const float*, int64_t, const bf16*, int64_t,
                                                   const float*, int64_t, int64_t, bool, cudaStream_t, bf16*,
                                                   int64_t);
template cudaError_t rmsnorm_backward<float, float>(float*, int64_t, const float*, int64_t, const float*, int64_t,
                                                    const float*, int64_t, int64_t, bool, cudaStream_t, bf16*,
                                                    int64_t);

}  // namespace nc::cuda
