// attention.cpp — causal scaled-dot-product attention with grouped KV heads (query head h reads KV
// head h / (H/Hkv)), scale 1/sqrt(D), as F.scaled_dot_product_attention(..., is_causal=True, enable_gqa).
//
// Forward: one task per (batch, head, block of kQBlock queries). The block's scores against every key
// it may see, S = scale * Q K^T [nb, kend], come from one GEMM, the softmax is taken row by row (with
// the causal mask: query at absolute position p sees keys 0..p), then O = P V is a second GEMM. Only the
// log-sum-exp of each row is kept for the backward pass, which recomputes P (flash-attention style), so
// no [T, T] matrix is stored. Queries may start at pos0 > 0, with keys 0..pos0+Tq-1 coming from a KV
// cache: that is prefill over a non-empty cache, and decode when Tq = 1.
//
// Backward: one task per (batch, KV head); it loops over the query heads of its group and the query
// blocks, so the dK/dV accumulation of a task never races with another task:
//   P = exp(S - lse); dP = dO V^T; dS = P * (dP - rowsum(dO * O));
//   dV += P^T dO; dQ = scale * dS K; dK += scale * dS^T Q.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "fastmath.h"
#include "gemm.h"
#include "ops.h"

namespace nc {

constexpr int64_t kQBlock = 64;

double attention_flops(const AttnShape& s, bool backward) {
  // Per query block: QK^T and PV in the forward (2 GEMMs), recomputed QK^T plus dP, dV, dQ, dK in the
  // backward (5 GEMMs); each is 2 * nb * kend * D FLOPs.
  double total = 0;
  for (int64_t i0 = 0; i0 < s.Tq; i0 += kQBlock) {
    int64_t nb = std::min(kQBlock, s.Tq - i0), kend = s.pos0 + i0 + nb;
    total += 2.0 * (double)nb * (double)kend * (double)s.D;
  }
  return total * (double)(s.B * s.H) * (backward ? 5.0 : 2.0);
}

template <typename T>
static T* alloc_scratch(int nthreads, int64_t per_thread) {
  return static_cast<T*>(std::malloc(sizeof(T) * (size_t)nthreads * (size_t)per_thread));
}

template <typename T>
bool attention_forward(T* out, int64_t ldo, T* lse, const T* q, int64_t ldq, const T* k, int64_t ldk, int64_t bsk,
                       const T* v, int64_t ldv, int64_t bsv, const AttnShape& s) {
  const int64_t B = s.B, Tq = s.Tq, H = s.H, D = s.D, pos0 = s.pos0, group = s.H / s.Hkv;
  const int64_t Tk = pos0 + Tq, nqb = (Tq + kQBlock - 1) / kQBlock;
  const T scale = (T)(1.0 / std::sqrt((double)D));
  const int nthreads = omp_get_max_threads();
  const int64_t per_thread = kQBlock * Tk;
  T* scratch = alloc_scratch<T>(nthreads, per_thread);
  if (!scratch) return false;

#pragma omp parallel num_threads(nthreads) if (attention_flops(s, false) >= kMinParallelFlops)
  {
    T* S = scratch + (int64_t)omp_get_thread_num() * per_thread;
#pragma omp for schedule(dynamic, 1)
    for (int64_t task = 0; task < B * H * nqb; task++) {
      const int64_t b = task / (H * nqb), h = (task / nqb) % H;
      const int64_t qb = nqb - 1 - task % nqb;  // the longest (latest) blocks first
      const int64_t i0 = qb * kQBlock, nb = std::min(kQBlock, Tq - i0), kend = pos0 + i0 + nb;
      const int64_t g = h / group;
      const T* Q = q + (b * Tq + i0) * ldq + h * D;
      const T* K = k + b * bsk + g * D;
      const T* V = v + b * bsv + g * D;
      gemm_untimed(false, true, nb, kend, D, scale, Q, ldq, K, ldk, (T)0, S, kend);
      for (int64_t r = 0; r < nb; r++) {
        T* Sr = S + r * kend;
        const int64_t n_valid = pos0 + i0 + r + 1;  // keys 0..pos0+i0+r
        T mx = Sr[0];
#pragma omp simd reduction(max : mx)
        for (int64_t j = 0; j < n_valid; j++) mx = std::max(mx, Sr[j]);
        T sum = 0;
#pragma omp simd reduction(+ : sum)
        for (int64_t j = 0; j < n_valid; j++) {
          T e = nc_exp(Sr[j] - mx);
          Sr[j] = e;
          sum += e;
        }
        const T inv = (T)1 / sum;
        for (int64_t j = 0; j < n_valid; j++) Sr[j] *= inv;
        for (int64_t j = n_valid; j < kend; j++) Sr[j] = 0;
        if (lse) lse[(b * H + h) * Tq + i0 + r] = mx + std::log(sum);
      }
      gemm_untimed(false, false, nb, D, kend, (T)1, S, kend, V, ldv, (T)0, out + (b * Tq + i0) * ldo + h * D, ldo);
    }
  }
  std::free(scratch);
  return true;
}

template <typename T>
bool attention_backward(T* dq, T* dk, T* dv, int64_t ldd, const T* dout, int64_t lddo, const T* out, int64_t ldo,
                        const T* lse, const T* q, const T* k, const T* v, int64_t ld, const AttnShape& s) {
  const int64_t B = s.B, Tn = s.Tq, H = s.H, Hkv = s.Hkv, D = s.D, group = s.H / s.Hkv;
  const int64_t nqb = (Tn + kQBlock - 1) / kQBlock;
  const T scale = (T)(1.0 / std::sqrt((double)D));
  const int nthreads = omp_get_max_threads();
  const int64_t per_thread = 2 * kQBlock * Tn + kQBlock;
  T* scratch = alloc_scratch<T>(nthreads, per_thread);
  if (!scratch) return false;

#pragma omp parallel num_threads(nthreads) if (attention_flops(s, true) >= kMinParallelFlops)
  {
    T* P = scratch + (int64_t)omp_get_thread_num() * per_thread;
    T* dP = P + kQBlock * Tn;
    T* Di = dP + kQBlock * Tn;
#pragma omp for schedule(dynamic, 1)
    for (int64_t task = 0; task < B * Hkv; task++) {
      const int64_t b = task / Hkv, g = task % Hkv;
      const T* K = k + b * Tn * ld + g * D;
      const T* V = v + b * Tn * ld + g * D;
      T* dK = dk + b * Tn * ldd + g * D;
      T* dV = dv + b * Tn * ldd + g * D;
      for (int64_t j = 0; j < Tn; j++) {
        std::memset(dK + j * ldd, 0, sizeof(T) * (size_t)D);
        std::memset(dV + j * ldd, 0, sizeof(T) * (size_t)D);
      }
      for (int64_t h = g * group; h < (g + 1) * group; h++) {
        for (int64_t qb = 0; qb < nqb; qb++) {
          const int64_t i0 = qb * kQBlock, nb = std::min(kQBlock, Tn - i0), kend = i0 + nb;
          const T* Q = q + (b * Tn + i0) * ld + h * D;
          const T* dO = dout + (b * Tn + i0) * lddo + h * D;
          const T* O = out + (b * Tn + i0) * ldo + h * D;
          gemm_untimed(false, true, nb, kend, D, scale, Q, ld, K, ld, (T)0, P, kend);
          gemm_untimed(false, true, nb, kend, D, (T)1, dO, lddo, V, ld, (T)0, dP, kend);
          for (int64_t r = 0; r < nb; r++) {
            const T* dOr = dO + r * lddo;
            const T* Or = O + r * ldo;
            T di = 0;
            for (int64_t d = 0; d < D; d++) di += dOr[d] * Or[d];
            Di[r] = di;
          }
          for (int64_t r = 0; r < nb; r++) {
            T* Pr = P + r * kend;
            T* dPr = dP + r * kend;
            const int64_t n_valid = i0 + r + 1;
            const T l = lse[(b * H + h) * Tn + i0 + r], di = Di[r];
#pragma omp simd
            for (int64_t j = 0; j < n_valid; j++) {
              T p = nc_exp(Pr[j] - l);
              Pr[j] = p;
              dPr[j] = p * (dPr[j] - di);
            }
            for (int64_t j = n_valid; j < kend; j++) Pr[j] = dPr[j] = 0;
          }
          gemm_untimed(true, false, kend, D, nb, (T)1, P, kend, dO, lddo, (T)1, dV, ldd);
          gemm_untimed(false, false, nb, D, kend, scale, dP, kend, K, ld, (T)0, dq + (b * Tn + i0) * ldd + h * D, ldd);
          gemm_untimed(true, false, kend, D, nb, scale, dP, kend, Q, ld, (T)1, dK, ldd);
        }
      }
    }
  }
  std::free(scratch);
  return true;
}

template bool attention_forward<float>(float*, int64_t, float*, const float*, int64_t, const float*, int64_t, int64_t,
                                       const float*, int64_t, int64_t, const AttnShape&);
template bool attention_forward<double>(double*, int64_t, double*, const double*, int64_t, const double*, int64_t,
                                        int64_t, const double*, int64_t, int64_t, const AttnShape&);
template bool attention_backward<float>(float*, float*, float*, int64_t, const float*, int64_t, const float*, int64_t,
                                        const float*, const float*, const float*, const float*, int64_t,
                                        const AttnShape&);
template bool attention_backward<double>(double*, double*, double*, int64_t, const double*, int64_t, const double*,
                                         int64_t, const double*, const double*, const double*, const double*, int64_t,
                                         const AttnShape&);

}  // namespace nc
