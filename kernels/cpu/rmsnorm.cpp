// rmsnorm.cpp — RMSNorm without learnable weights, y = x / sqrt(mean(x^2) + eps), as nanochat's
// norm(x) = F.rms_norm(x, (x.size(-1),)). Used on the residual stream (dim = C, before attention, before
// the MLP, after the embedding and at the end) and per head on q and k (dim = D, "QK norm").
//
// eps: nanochat passes no eps, and for float32 input torch then uses torch.finfo(torch.float32).eps
// = 2^-23 = 1.1920929e-07 (aten/src/ATen/native/layer_norm.cpp: `eps.value_or(limits::epsilon())`).
//
// Backward with y = x * r, r = (mean(x^2) + eps)^(-1/2):  dx = r * (dy - y * mean(dy * y)),
// which is exact with eps too, so only y and r are kept from the forward pass.
#include <cmath>
#include <type_traits>

#include "ops.h"

namespace nc {

template <typename T>
void rmsnorm_forward(T* y, int64_t ldy, T* rstd, const T* x, int64_t ldx, int64_t N, int64_t heads, int64_t dim) {
  const T eps = (T)kRmsNormEps;
#pragma omp parallel for schedule(static) if (N * heads * dim >= kMinParallelWork)
  for (int64_t t = 0; t < N; t++) {
    for (int64_t h = 0; h < heads; h++) {
      const T* xr = x + t * ldx + h * dim;
      T* yr = y + t * ldy + h * dim;
      T ss = 0;
#pragma omp simd reduction(+ : ss)
      for (int64_t i = 0; i < dim; i++) ss += xr[i] * xr[i];
      T r = (T)1 / std::sqrt(ss / (T)dim + eps);
      for (int64_t i = 0; i < dim; i++) yr[i] = xr[i] * r;
      rstd[t * heads + h] = r;
    }
  }
}

template <typename T>
void rmsnorm_backward(T* dx, int64_t lddx, const T* dy, int64_t lddy, const T* y, int64_t ldy, const T* rstd, int64_t N,
                      int64_t heads, int64_t dim, bool accumulate) {
#pragma omp parallel for schedule(static) if (N * heads * dim >= kMinParallelWork)
  for (int64_t t = 0; t < N; t++) {
    for (int64_t h = 0; h < heads; h++) {
      const T* dyr = dy + t * lddy + h * dim;
      const T* yr = y + t * ldy + h * dim;
      T* dxr = dx + t * lddx + h * dim;
      T dot = 0;
#pragma omp simd reduction(+ : dot)
      for (int64_t i = 0; i < dim; i++) dot += dyr[i] * yr[i];
      const T mean = dot / (T)dim, r = rstd[t * heads + h];
      if (accumulate) {
        for (int64_t i = 0; i < dim; i++) dxr[i] += r * (dyr[i] - yr[i] * mean);
      } else {
        for (int64_t i = 0; i < dim; i++) dxr[i] = r * (dyr[i] - yr[i] * mean);
      }
    }
  }
}

template void rmsnorm_forward<float>(float*, int64_t, float*, const float*, int64_t, int64_t, int64_t, int64_t);
template void rmsnorm_forward<double>(double*, int64_t, double*, const double*, int64_t, int64_t, int64_t, int64_t);
template void rmsnorm_backward<float>(float*, int64_t, const float*, int64_t, const float*, int64_t, const float*,
                                      int64_t, int64_t, int64_t, bool);
template void rmsnorm_backward<double>(double*, int64_t, const double*, int64_t, const double*, int64_t, const double*,
                                       int64_t, int64_t, int64_t, bool);

}  // namespace nc
