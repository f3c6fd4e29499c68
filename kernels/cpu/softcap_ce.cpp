// softcap_ce.cpp — the loss head after lm_head: logit softcap l = cap * tanh(z / cap) (cap = 15), then
// cross-entropy against the target, with target -1 ignored (F.cross_entropy(..., ignore_index=-1)).
// Fused per row so the [rows, V] logits are read a few times and never stored twice:
//   pass 1: l = softcap(z) in place, row max;   pass 2: sum exp(l - max), lse = max + log(sum);
//   loss = lse - l[target];   backward: dz = dscale * (softmax(l) - onehot) * (1 - (l/cap)^2).
// dscale carries the 1/n_valid of the mean and the caller's loss_scale (or, per row, weight / normalizer).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "fastmath.h"
#include "ops.h"

namespace nc {

template <typename T>
__attribute__((always_inline)) inline T ce_row_generic(T* z, int64_t V, int32_t target, T cap, T dscale, bool grad) {
  const bool capped = cap > 0;
  const T inv_cap = capped ? (T)1 / cap : (T)0;
  T mx = -std::numeric_limits<T>::infinity();
  if (capped) {
#pragma omp simd reduction(max : mx)
    for (int64_t j = 0; j < V; j++) {
      T l = cap * nc_tanh(z[j] * inv_cap);
      z[j] = l;
      mx = std::max(mx, l);
    }
  } else {
#pragma omp simd reduction(max : mx)
    for (int64_t j = 0; j < V; j++) mx = std::max(mx, z[j]);
  }
  T sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < V; j++) sum += nc_exp(z[j] - mx);
  const T lse = mx + std::log(sum);
  const T lt = z[target];
  if (grad) {
    const T inv_sum = (T)1 / sum;
    if (capped) {
#pragma omp simd
      for (int64_t j = 0; j < V; j++) {
        T l = z[j], s = l * inv_cap;
        z[j] = dscale * nc_exp(l - mx) * inv_sum * ((T)1 - s * s);
      }
      z[target] -= dscale * ((T)1 - (lt * inv_cap) * (lt * inv_cap));
    } else {
#pragma omp simd
      for (int64_t j = 0; j < V; j++) z[j] = dscale * nc_exp(z[j] - mx) * inv_sum;
      z[target] -= dscale;
    }
  }
  return lse - lt;
}

NC_HOT_CLONES static float ce_row_f32(float* z, int64_t V, int32_t target, float cap, float dscale, bool grad) {
  return ce_row_generic<float>(z, V, target, cap, dscale, grad);
}
static double ce_row(double* z, int64_t V, int32_t target, double cap, double dscale, bool grad) {
  return ce_row_generic<double>(z, V, target, cap, dscale, grad);
}
static float ce_row(float* z, int64_t V, int32_t target, float cap, float dscale, bool grad) {
  return ce_row_f32(z, V, target, cap, dscale, grad);
}

// row_dscale null: every row's gradient is scaled by dscale.
template <typename T>
static void softcap_ce_rows(T* logits, const int32_t* targets, int64_t rows, int64_t V, T softcap, T* losses, T dscale,
                            const T* row_dscale, bool grad) {
#pragma omp parallel for schedule(static) if (rows * V >= kMinParallelWork)
  for (int64_t r = 0; r < rows; r++) {
    T* z = logits + r * V;
    if (targets[r] < 0) {
      losses[r] = 0;
      if (grad) std::fill(z, z + V, (T)0);
      continue;
    }
    losses[r] = ce_row(z, V, targets[r], softcap, row_dscale ? row_dscale[r] : dscale, grad);
  }
}

template <typename T>
void softcap_ce(T* logits, const int32_t* targets, int64_t rows, int64_t V, T softcap, T* losses, T dscale, bool grad) {
  softcap_ce_rows(logits, targets, rows, V, softcap, losses, dscale, (const T*)nullptr, grad);
}

template <typename T>
void softcap_ce_scaled(T* logits, const int32_t* targets, int64_t rows, int64_t V, T softcap, T* losses,
                       const T* row_dscale) {
  softcap_ce_rows(logits, targets, rows, V, softcap, losses, (T)0, row_dscale, true);
}

NC_HOT_CLONES static void softcap_apply_f32(float* x, int64_t n, float cap) {
  const float inv_cap = 1.0f / cap;
#pragma omp simd
  for (int64_t i = 0; i < n; i++) x[i] = cap * nc_tanh(x[i] * inv_cap);
}
static void softcap_apply_chunk(float* x, int64_t n, float cap) { softcap_apply_f32(x, n, cap); }
static void softcap_apply_chunk(double* x, int64_t n, double cap) {
  for (int64_t i = 0; i < n; i++) x[i] = cap * std::tanh(x[i] / cap);
}

template <typename T>
void softcap_apply(T* logits, int64_t n, T softcap) {
  if (softcap <= 0) return;
  const int64_t chunk = 4096;
#pragma omp parallel for schedule(static) if (n >= kMinParallelWork)
  for (int64_t i = 0; i < n; i += chunk) softcap_apply_chunk(logits + i, std::min(chunk, n - i), softcap);
}

template <typename T>
void row_argmax(const T* logits, int64_t rows, int64_t V, int32_t* argmax) {
#pragma omp parallel for schedule(static) if (rows * V >= kMinParallelWork)
  for (int64_t r = 0; r < rows; r++) {
    const T* z = logits + r * V;
    int64_t best = 0;
    for (int64_t j = 1; j < V; j++)
      if (z[j] > z[best]) best = j;
    argmax[r] = (int32_t)best;
  }
}

template void softcap_ce<float>(float*, const int32_t*, int64_t, int64_t, float, float*, float, bool);
template void softcap_ce<double>(double*, const int32_t*, int64_t, int64_t, double, double*, double, bool);
template void softcap_ce_scaled<float>(float*, const int32_t*, int64_t, int64_t, float, float*, const float*);
template void softcap_ce_scaled<double>(double*, const int32_t*, int64_t, int64_t, double, double*, const double*);
template void softcap_apply<float>(float*, int64_t, float);
template void softcap_apply<double>(double*, int64_t, double);
template void row_argmax<float>(const float*, int64_t, int64_t, int32_t*);
template void row_argmax<double>(const double*, int64_t, int64_t, int32_t*);

}  // namespace nc
