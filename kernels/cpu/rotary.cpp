// rotary.cpp — rotary position embedding on q and k (nanochat A's apply_rotary_emb), applied before the
// QK norm. The head dim is split in halves, x1 = x[:D/2], x2 = x[D/2:], and each pair is rotated:
//   y1 = x1*cos + x2*sin,  y2 = -x1*sin + x2*cos,  angle = pos * base^(-2j/D), j < D/2.
// The backward is the inverse rotation (the transpose of the forward's 2x2 block).
// The table is computed in double and rounded to fp32 (nanochat stores it in bf16; see the README).
#include <cmath>

#include "ops.h"

namespace nc {

void rotary_table(float* cos_t, float* sin_t, int64_t len, int64_t D, double base) {
  const int64_t half = D / 2;
#pragma omp parallel for schedule(static) if (len * D >= kMinParallelWork)
  for (int64_t p = 0; p < len; p++) {
    for (int64_t j = 0; j < half; j++) {
      double inv_freq = 1.0 / std::pow(base, (double)(2 * j) / (double)D);
      double angle = (double)p * inv_freq;
      cos_t[p * half + j] = (float)std::cos(angle);
      sin_t[p * half + j] = (float)std::sin(angle);
    }
  }
}

// sign = +1: forward rotation; -1: inverse rotation (backward).
template <typename T>
static void rotate(T* x, int64_t ldx, const float* cos_t, const float* sin_t, int64_t B, int64_t Tn, int64_t pos0,
                   int64_t heads, int64_t D, T sign) {
  const int64_t half = D / 2;
#pragma omp parallel for collapse(2) schedule(static) if (B * Tn * heads * D >= kMinParallelWork)
  for (int64_t b = 0; b < B; b++) {
    for (int64_t t = 0; t < Tn; t++) {
      const float* c = cos_t + (pos0 + t) * half;
      const float* s = sin_t + (pos0 + t) * half;
      T* row = x + (b * Tn + t) * ldx;
      for (int64_t h = 0; h < heads; h++) {
        T* x1 = row + h * D;
        T* x2 = x1 + half;
        for (int64_t j = 0; j < half; j++) {
          T a = x1[j], bb = x2[j], cj = (T)c[j], sj = sign * (T)s[j];
          x1[j] = a * cj + bb * sj;
          x2[j] = -a * sj + bb * cj;
        }
      }
    }
  }
}

template <typename T>
void rotary_forward(T* x, int64_t ldx, const float* cos_t, const float* sin_t, int64_t B, int64_t Tn, int64_t pos0,
                    int64_t heads, int64_t D) {
  rotate(x, ldx, cos_t, sin_t, B, Tn, pos0, heads, D, (T)1);
}

template <typename T>
void rotary_backward(T* dx, int64_t ldx, const float* cos_t, const float* sin_t, int64_t B, int64_t Tn, int64_t pos0,
                     int64_t heads, int64_t D) {
  rotate(dx, ldx, cos_t, sin_t, B, Tn, pos0, heads, D, (T)-1);
}

template void rotary_forward<float>(float*, int64_t, const float*, const float*, int64_t, int64_t, int64_t, int64_t,
                                    int64_t);
template void rotary_forward<double>(double*, int64_t, const float*, const float*, int64_t, int64_t, int64_t, int64_t,
                                     int64_t);
template void rotary_backward<float>(float*, int64_t, const float*, const float*, int64_t, int64_t, int64_t, int64_t,
                                     int64_t);
template void rotary_backward<double>(double*, int64_t, const float*, const float*, int64_t, int64_t, int64_t, int64_t,
                                      int64_t);

}  // namespace nc
