// adamw.cu — AdamW for the embedding (wte) and unembedding (lm_head) groups, the arithmetic of the CPU
// backend's adamw_update (torch.optim.AdamW): fp32 master weights and moments,
//   g *= grad_scale;  m = m + (1-b1)*(g - m);  v = b2*v + (1-b2)*g^2
//   p = p*(1 - lr*wd) - lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
// with the bias corrections computed in double on the host. Optionally also writes the bf16 copy of
// the updated weights that the next forward's GEMMs read. grad_scale may also come from the device
// (the clipping factor of grad_norm, so the step needs no host round trip); both multiply.
//
// Floor at d20 (wte + lm_head: 167.8M parameters; H100 3.35 TB/s, H200 4.8 TB/s), per step:
//   reads p, g, m, v and writes p, m, v (fp32) + p bf16: 30 B/param = 5.0 GB -> 1.5 ms / 1.05 ms
#include <cmath>

#include "kernels.h"

namespace nc::cuda {

namespace {

constexpr int kThreads = 256;

struct AdamwCoeffs {
  float step_size, inv_bc2_sqrt, decay, b1c, b2, b2c, eps, grad_scale;
};

__global__ void adamw_kernel(float* p, bf16* p_bf16, const float* g, float* m, float* v, int64_t n, AdamwCoeffs k,
                             const float* grad_scale_dev) {
  const float gs = k.grad_scale * (grad_scale_dev ? *grad_scale_dev : 1.0f);
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float gi = g[i] * gs;
    const float mi = m[i] + k.b1c * (gi - m[i]);
    const float vi = k.b2 * v[i] + k.b2c * gi * gi;
    m[i] = mi;
    v[i] = vi;
    const float denom = sqrtf(vi) * k.inv_bc2_sqrt + k.eps;
    const float pi = p[i] * k.decay - k.step_size * mi / denom;
    p[i] = pi;
    if (p_bf16) p_bf16[i] = from_float<bf16>(pi);
  }
}

}  // namespace

cudaError_t adamw_update(float* p, bf16* p_bf16, const float* g, float* m, float* v, int64_t n, const AdamwStep& h,
                         const float* grad_scale_dev, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  if (h.t < 1) return cudaErrorInvalidValue;
  const double bc1 = 1.0 - std::pow(h.beta1, (double)h.t), bc2 = 1.0 - std::pow(h.beta2, (double)h.t);
  const AdamwCoeffs k{(float)(h.lr / bc1),
                      (float)(1.0 / std::sqrt(bc2)),
                      (float)(1.0 - h.lr * h.weight_decay),
                      (float)(1.0 - h.beta1),
                      (float)h.beta2,
                      (float)(1.0 - h.beta2),
                      (float)h.eps,
                      (float)h.grad_scale};
  return launch(adamw_kernel, grid_for(n, kThreads), kThreads, 0, stream, p, p_bf16, g, m, v, n, k, grad_scale_dev);
}

}  // namespace nc::cuda
