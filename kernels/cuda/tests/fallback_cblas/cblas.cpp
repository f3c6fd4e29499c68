// cblas.cpp — plain implementations of the CBLAS subset in cblas.h (row-major only, which is all the
// CPU backend uses); accumulation in double for float inputs.
#include "cblas.h"

#include <cstdlib>

namespace {

template <typename T>
void gemm(CBLAS_ORDER order, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, T alpha, const T* A, int lda,
          const T* B, int ldb, T beta, T* C, int ldc) {
  if (order != CblasRowMajor) std::abort();  // never called so by the CPU backend
#pragma omp parallel for schedule(static)
  for (int i = 0; i < M; i++) {
    for (int j = 0; j < N; j++) {
      double acc = 0;
      for (int k = 0; k < K; k++) {
        const double a = ta == CblasNoTrans ? A[(long)i * lda + k] : A[(long)k * lda + i];
        const double b = tb == CblasNoTrans ? B[(long)k * ldb + j] : B[(long)j * ldb + k];
        acc += a * b;
      }
      T* c = &C[(long)i * ldc + j];
      *c = (T)(alpha * acc + (beta == T(0) ? 0.0 : (double)beta * (double)*c));
    }
  }
}

}  // namespace

void cblas_sgemm(CBLAS_ORDER order, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, float alpha,
                 const float* A, int lda, const float* B, int ldb, float beta, float* C, int ldc) {
  gemm(order, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
void cblas_dgemm(CBLAS_ORDER order, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, double alpha,
                 const double* A, int lda, const double* B, int ldb, double beta, double* C, int ldc) {
  gemm(order, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
// C = alpha * op(A) op(A)^T + beta * C, upper triangle only (as the CPU backend asks).
void cblas_ssyrk(CBLAS_ORDER order, CBLAS_UPLO uplo, CBLAS_TRANSPOSE trans, int N, int K, float alpha, const float* A,
                 int lda, float beta, float* C, int ldc) {
  if (order != CblasRowMajor || uplo != CblasUpper) std::abort();
#pragma omp parallel for schedule(dynamic)
  for (int i = 0; i < N; i++) {
    for (int j = i; j < N; j++) {
      double acc = 0;
      for (int k = 0; k < K; k++) {
        const double a = trans == CblasNoTrans ? A[(long)i * lda + k] : A[(long)k * lda + i];
        const double b = trans == CblasNoTrans ? A[(long)j * lda + k] : A[(long)k * lda + j];
        acc += a * b;
      }
      float* c = &C[(long)i * ldc + j];
      *c = (float)(alpha * acc + (beta == 0.0f ? 0.0 : (double)beta * (double)*c));
    }
  }
}
