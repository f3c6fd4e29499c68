// gemm.h — the single door to BLAS. Row-major C = alpha * op(A) * op(B) + beta * C, where op(X) is X
// or X^T. float goes to cblas_sgemm, double to cblas_dgemm (double is only instantiated by the tests).
// gemm() is used for the dense layers and is timed into the calling thread's profile when one is set;
// gemm_untimed() is for callers that time themselves (attention, which calls it from worker threads).
#pragma once

#include <cblas.h>

#include <cstdint>

#include "internal.h"

namespace nc {

// c[j] = alpha * dot(B[j, :K], a) + beta * c[j] for j < N, B's rows ldb apart: the one-row case of
// C = A B^T (batch-1 decode: every linear layer and lm_head), in gemv.cpp. OpenBLAS 0.3.21's SGEMM packs
// all of B for a single row and its SGEMV forks threads on every call; this streams B once.
void gemv_rows(int64_t N, int64_t K, float alpha, const float* a, const float* B, int64_t ldb, float beta, float* c);

inline void gemm_untimed(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                         const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (M == 1 && !ta && tb) {
    gemv_rows(N, K, alpha, A, B, ldb, beta, C);
    return;
  }
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K,
              alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
}

inline void gemm_untimed(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,
                         const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K,
              alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
}

template <typename T>
inline void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
                 int64_t ldb, T beta, T* C, int64_t ldc) {
  NcProfile* prof = tl_profile;
  if (!prof) {
    gemm_untimed(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  double t0 = wall_seconds();
  gemm_untimed(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  prof->matmul_seconds += wall_seconds() - t0;
  prof->matmul_flops += 2.0 * (double)M * (double)N * (double)K;
}

// Symmetric rank-k product C = alpha * A A^T + beta * C for A [n, k] row-major, C [n, n]; only the upper
// triangle is computed (half a GEMM's work), then mirrored so C is a full symmetric matrix.
inline void syrk_full(int64_t n, int64_t k, float alpha, const float* A, int64_t lda, float beta, float* C,
                      int64_t ldc) {
  NcProfile* prof = tl_profile;
  const double t0 = prof ? wall_seconds() : 0;
  cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)n, (int)k, alpha, A, (int)lda, beta, C, (int)ldc);
  for (int64_t i = 1; i < n; i++)
    for (int64_t j = 0; j < i; j++) C[i * ldc + j] = C[j * ldc + i];
  if (prof) {
    prof->matmul_seconds += wall_seconds() - t0;
    prof->matmul_flops += (double)n * (double)(n + 1) * (double)k;
  }
}

}  // namespace nc
