// rope_qknorm.cu — rotary position embedding followed by the per-head QK norm, fused, in place on
// the q and k heads of the qkv buffer (nanochat A: q, k = norm(rotary(q)), norm(rotary(k))). The head
// dim is split in halves, x1 = x[:D/2], x2 = x[D/2:]; with angle = pos * base^(-2j/D):
//   y1 = x1*cos + x2*sin,  y2 = -x1*sin + x2*cos,  then  out = y / sqrt(mean(y^2) + eps).
// The rotation is done in fp32 from an fp32 table and the result is rounded to bf16 once (nanochat
// rounds after the rotation too, with a bf16 table). One warp per (row, head); each lane owns whole
// (j, j + D/2) pairs, so the in-place update has no cross-lane hazard. Backward, with the normalized
// out kept from the forward: g = r * (dout - out * mean(dout*out)), then the inverse rotation.
//
// Floor at d20 (N = 65536 rows, 20 heads of D = 128 rotated and normalized; H100 3.35 TB/s, H200 4.8):
//   forward  reads and writes 2/3 of the bf16 qkv buffer: 671 MB -> 0.20 ms / 0.14 ms
//   backward reads dq|dk and q|k, writes dq|dk: 1.0 GB -> 0.30 ms / 0.21 ms   (memory-bound)
#include "kernels.h"

namespace nc::cuda {

namespace {

constexpr int kWarpsPerBlock = 8;

// The (row, head) a warp works on and the rotary table rows of its position.
struct HeadAt {
  int64_t row, head;
  const float* cos_row;
  const float* sin_row;
};
__device__ __forceinline__ HeadAt head_at(int64_t item, int64_t heads, int64_t Tn, int64_t pos0, int64_t half,
                                          const float* cos_t, const float* sin_t) {
  const int64_t row = item / heads, pos = pos0 + row % Tn;
  return {row, item - row * heads, cos_t + pos * half, sin_t + pos * half};
}

__global__ void rope_qknorm_forward_kernel(bf16* x, int64_t ldx, float* rstd, const float* cos_t, const float* sin_t,
                                           int64_t Tn, int64_t pos0, int64_t rows, int64_t heads, int64_t D,
                                           float eps) {
  const int64_t item = (int64_t)blockIdx.x * kWarpsPerBlock + threadIdx.x / kWarp;  // (row, head)
  const int lane = (int)threadIdx.x % kWarp;
  if (item >= rows * heads) return;
  const int64_t half = D / 2;
  const HeadAt at = head_at(item, heads, Tn, pos0, half, cos_t, sin_t);
  const float *c = at.cos_row, *s = at.sin_row;
  bf16* x1 = x + at.row * ldx + at.head * D;
  bf16* x2 = x1 + half;
  float ss = 0.0f;
  for (int64_t j = lane; j < half; j += kWarp) {
    const float a = to_float(x1[j]), b = to_float(x2[j]);
    const float y1 = a * c[j] + b * s[j], y2 = -a * s[j] + b * c[j];
    ss += y1 * y1 + y2 * y2;
  }
  const float r = 1.0f / sqrtf(warp_sum(ss) / (float)D + eps);
  for (int64_t j = lane; j < half; j += kWarp) {
    const float a = to_float(x1[j]), b = to_float(x2[j]);
    x1[j] = from_float<bf16>((a * c[j] + b * s[j]) * r);
    x2[j] = from_float<bf16>((-a * s[j] + b * c[j]) * r);
  }
  if (lane == 0) rstd[item] = r;
}

__global__ void rope_qknorm_backward_kernel(bf16* dx, int64_t lddx, const bf16* y, int64_t ldy, const float* rstd,
                                            const float* cos_t, const float* sin_t, int64_t Tn, int64_t pos0,
                                            int64_t rows, int64_t heads, int64_t D) {
  const int64_t item = (int64_t)blockIdx.x * kWarpsPerBlock + threadIdx.x / kWarp;
  const int lane = (int)threadIdx.x % kWarp;
  if (item >= rows * heads) return;
  const int64_t half = D / 2;
  const HeadAt at = head_at(item, heads, Tn, pos0, half, cos_t, sin_t);
  const float *c = at.cos_row, *s = at.sin_row;
  bf16* g1 = dx + at.row * lddx + at.head * D;
  bf16* g2 = g1 + half;
  const bf16* y1 = y + at.row * ldy + at.head * D;
  const bf16* y2 = y1 + half;
  float dot = 0.0f;
  for (int64_t j = lane; j < half; j += kWarp)
    dot += to_float(g1[j]) * to_float(y1[j]) + to_float(g2[j]) * to_float(y2[j]);
  const float mean = warp_sum(dot) / (float)D, r = rstd[item];
  for (int64_t j = lane; j < half; j += kWarp) {
    const float a = r * (to_float(g1[j]) - to_float(y1[j]) * mean);  // gradient of the rotated pair
    const float b = r * (to_float(g2[j]) - to_float(y2[j]) * mean);
    g1[j] = from_float<bf16>(a * c[j] - b * s[j]);  // transpose of the rotation
    g2[j] = from_float<bf16>(a * s[j] + b * c[j]);
  }
}

}  // namespace

cudaError_t rope_qknorm_forward(bf16* x, int64_t ldx, float* rstd, const float* cos_t, const float* sin_t, int64_t B,
                                int64_t Tn, int64_t pos0, int64_t heads, int64_t D, cudaStream_t stream) {
  const int64_t items = B * Tn * heads;
  if (items <= 0) return cudaSuccess;
  return launch(rope_qknorm_forward_kernel, (unsigned)ceil_div(items, kWarpsPerBlock), kWarpsPerBlock * kWarp, 0,
                stream, x, ldx, rstd, cos_t, sin_t, Tn, pos0, B * Tn, heads, D, kRmsNormEps);
}

cudaError_t rope_qknorm_backward(bf16* dx, int64_t lddx, const bf16* y, int64_t ldy, const float* rstd,
                                 const float* cos_t, const float* sin_t, int64_t B, int64_t Tn, int64_t pos0,
                                 int64_t heads, int64_t D, cudaStream_t stream) {
  const int64_t items = B * Tn * heads;
  if (items <= 0) return cudaSuccess;
  return launch(rope_qknorm_backward_kernel, (unsigned)ceil_div(items, kWarpsPerBlock), kWarpsPerBlock * kWarp, 0,
                stream, dx, lddx, y, ldy, rstd, cos_t, sin_t, Tn, pos0, B * Tn, heads, D);
}

}  // namespace nc::cuda
