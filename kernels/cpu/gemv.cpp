// gemv.cpp — the matrix-vector product of batch-1 decode (see gemm.h): c = alpha * B a + beta * c with B
// [N, K] row-major. Decode is bound by streaming the weights (lm_head alone is 65536 x C fp32), so the
// rows are split over the threads only from kMinParallelGemv elements up (smaller layers would pay more
// for waking the team than they save) and handed out in blocks, so a thread the OS has descheduled on a
// busy machine does not leave its static share for the others to wait on.
#include "fastmath.h"
#include "gemm.h"

namespace nc {

namespace {
constexpr int64_t kMinParallelGemv = (int64_t)1 << 18;  // 1 MiB of fp32 weights
constexpr int64_t kRowsPerTask = 256;

NC_HOT_CLONES float dot(const float* x, const float* y, int64_t n) {
  float s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t k = 0; k < n; k++) s += x[k] * y[k];
  return s;
}
}  // namespace

void gemv_rows(int64_t N, int64_t K, float alpha, const float* a, const float* B, int64_t ldb, float beta, float* c) {
#pragma omp parallel for schedule(dynamic, kRowsPerTask) if (N * K >= kMinParallelGemv)
  for (int64_t j = 0; j < N; j++) {
    const float s = alpha * dot(B + j * ldb, a, K);
    c[j] = beta == 0.0f ? s : s + beta * c[j];
  }
}

}  // namespace nc
