// muon.cpp — Muon (MomentUm Orthogonalized by Newton-Schulz) for every transformer.h matrix, as in
// nanochat A's muon.py, in fp32 (nanochat runs the iteration in bf16 on GPU):
//   buf = lerp(buf, g, 1 - mom);  g = lerp(g, buf, mom)           (Nesterov momentum)
//   X = g, transposed when rows > cols so X is wide [m, n], m <= n;  X /= ||X||_F + 1e-7
//   5 times: A = X X^T;  B = b*A + c*A*A;  X = a*X + B X    with (a, b, c) = (3.4445, -4.7750, 2.0315)
//   p -= lr * sqrt(max(1, rows/cols)) * X  (transposed back)
// These coefficients trade exactness for speed: five iterations of s -> a s + b s^3 + c s^5 send every
// singular value in [0.003, 1] (after the Frobenius normalization) into [0.68, 1.21], not to 1; smaller
// ones stay smaller (0.001 -> 0.47). tests/test_optim.cpp checks the band on a Gaussian matrix.
// A = X X^T and A*A are symmetric, so they are computed with SYRK (about 25% fewer FLOPs than GEMMs).
#include <cmath>
#include <cstring>
#include <utility>

#include "gemm.h"
#include "ops.h"

namespace nc {

int64_t muon_scratch_floats(int64_t rows, int64_t cols) {
  const int64_t m = rows < cols ? rows : cols, n = rows < cols ? cols : rows;
  return 2 * m * n + 2 * m * m;  // X, X2, A, B
}

// scratch: at least m*n + 2*m*m floats (X2, A, B).
void newton_schulz5(float* X, int64_t m, int64_t n, float* scratch) {
  const float a = 3.4445f, b = -4.7750f, c = 2.0315f;
  float* X2 = scratch;
  float* A = X2 + m * n;
  float* Bm = A + m * m;
  double ss = 0;
#pragma omp parallel for reduction(+ : ss) schedule(static) if (m * n >= kMinParallelWork)
  for (int64_t i = 0; i < m * n; i++) ss += (double)X[i] * (double)X[i];
  const float inv = (float)(1.0 / (std::sqrt(ss) + 1e-7));
#pragma omp parallel for simd schedule(static) if (m * n >= kMinParallelWork)
  for (int64_t i = 0; i < m * n; i++) X[i] *= inv;
  float* cur = X;
  float* nxt = X2;
  for (int it = 0; it < 5; it++) {
    syrk_full(m, n, 1.0f, cur, n, 0.0f, A, m);  // A = X X^T (symmetric: half the work)
    std::memcpy(Bm, A, sizeof(float) * (size_t)(m * m));
    syrk_full(m, m, c, A, m, b, Bm, m);  // B = b A + c A A^T, and A A^T = A A
    std::memcpy(nxt, cur, sizeof(float) * (size_t)(m * n));
    gemm(false, false, m, n, m, 1.0f, Bm, m, cur, n, a, nxt, n);  // X = a X + B X
    std::swap(cur, nxt);
  }
  if (cur != X) std::memcpy(X, cur, sizeof(float) * (size_t)(m * n));
}

void muon_update(float* p, const float* g, float* buf, int64_t rows, int64_t cols, double lr, double momentum,
                 double grad_scale, float* scratch) {
  const bool tall = rows > cols;
  const int64_t m = tall ? cols : rows, n = tall ? rows : cols;
  float* X = scratch;
  const float mom = (float)momentum, gs = (float)grad_scale;
#pragma omp parallel for schedule(static) if (rows * cols >= kMinParallelWork)
  for (int64_t i = 0; i < rows; i++) {
    for (int64_t j = 0; j < cols; j++) {
      const int64_t e = i * cols + j;
      const float gi = g[e] * gs;
      const float bi = buf[e] + (1.0f - mom) * (gi - buf[e]);
      buf[e] = bi;
      X[tall ? j * rows + i : e] = gi + mom * (bi - gi);
    }
  }
  newton_schulz5(X, m, n, scratch + m * n);
  const float scale = (float)(lr * std::sqrt(std::fmax(1.0, (double)rows / (double)cols)));
#pragma omp parallel for schedule(static) if (rows * cols >= kMinParallelWork)
  for (int64_t i = 0; i < rows; i++) {
    for (int64_t j = 0; j < cols; j++) p[i * cols + j] -= scale * X[tall ? j * rows + i : i * cols + j];
  }
}

}  // namespace nc
