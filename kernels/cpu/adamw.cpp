// adamw.cpp — AdamW for the embedding (transformer.wte) and unembedding (lm_head) groups, with the
// arithmetic of torch.optim.AdamW (single-tensor and fused paths agree):
//   p *= 1 - lr*wd                                  (decoupled weight decay)
//   m = lerp(m, g, 1 - b1);  v = b2*v + (1 - b2)*g^2
//   p -= lr/(1 - b1^t) * m / (sqrt(v)/sqrt(1 - b2^t) + eps)
// Bias corrections are computed in double; the per-element update is fp32.
#include <cmath>

#include "ops.h"

namespace nc {

void adamw_update(float* p, const float* g, float* m, float* v, int64_t n, const AdamHyper& h) {
  const double bc1 = 1.0 - std::pow(h.beta1, (double)h.t);
  const double bc2 = 1.0 - std::pow(h.beta2, (double)h.t);
  const float step_size = (float)(h.lr / bc1);
  const float inv_bc2_sqrt = (float)(1.0 / std::sqrt(bc2));
  const float decay = (float)(1.0 - h.lr * h.weight_decay);
  const float b1c = (float)(1.0 - h.beta1), b2 = (float)h.beta2, b2c = (float)(1.0 - h.beta2);
  const float eps = (float)h.eps, gs = (float)h.grad_scale;
#pragma omp parallel for simd schedule(static) if (n >= kMinParallelWork)
  for (int64_t i = 0; i < n; i++) {
    const float gi = g[i] * gs;
    const float mi = m[i] + b1c * (gi - m[i]);
    const float vi = b2 * v[i] + b2c * gi * gi;
    m[i] = mi;
    v[i] = vi;
    const float denom = std::sqrt(vi) * inv_bc2_sqrt + eps;
    p[i] = p[i] * decay - step_size * mi / denom;
  }
}

}  // namespace nc
