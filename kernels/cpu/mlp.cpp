// mlp.cpp — the MLP's nonlinearity, relu(x)^2 (nanochat: F.relu(x).square()). The MLP itself is
// c_fc (C -> 4C), this, then c_proj (4C -> C); the two matmuls live in model.cpp as GEMMs. Its
// derivative is 2 relu(x), so the backward needs only the pre-activation h.
#include "ops.h"

namespace nc {

template <typename T>
void relu2_forward(T* out, const T* h, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= kMinParallelWork)
  for (int64_t i = 0; i < n; i++) {
    T r = h[i] > 0 ? h[i] : (T)0;
    out[i] = r * r;
  }
}

template <typename T>
void relu2_backward(T* dh, const T* dout, const T* h, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= kMinParallelWork)
  for (int64_t i = 0; i < n; i++) {
    T r = h[i] > 0 ? h[i] : (T)0;
    dh[i] = dout[i] * 2 * r;
  }
}

template void relu2_forward<float>(float*, const float*, int64_t);
template void relu2_forward<double>(double*, const double*, int64_t);
template void relu2_backward<float>(float*, const float*, const float*, int64_t);
template void relu2_backward<double>(double*, const double*, const double*, int64_t);

}  // namespace nc
