// test_optim.cpp — the cpu backend's optimizer kernels: AdamW against hand-computed steps, Muon's
// Newton-Schulz output (near-orthogonal: its singular values land in a band around 1, measured here) and
// its match with the double-precision iteration, tall matrices. The step through the ABI is in
// abi/test_optimizer.cpp.
#include "ops.h"
#include "test_util.h"

namespace {

// Eigenvalues of a symmetric n x n matrix (cyclic Jacobi, double).
std::vector<double> sym_eigenvalues(std::vector<double> A, int n) {
  for (int sweep = 0; sweep < 100; sweep++) {
    double off = 0;
    for (int i = 0; i < n; i++)
      for (int j = i + 1; j < n; j++) off += A[i * n + j] * A[i * n + j];
    if (off < 1e-22) break;
    for (int p = 0; p < n; p++)
      for (int q = p + 1; q < n; q++) {
        if (std::fabs(A[p * n + q]) < 1e-300) continue;
        const double theta = (A[q * n + q] - A[p * n + p]) / (2 * A[p * n + q]);
        const double t = (theta >= 0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1));
        const double c = 1 / std::sqrt(t * t + 1), s = t * c;
        for (int k = 0; k < n; k++) {  // A = J^T A J
          const double akp = A[k * n + p], akq = A[k * n + q];
          A[k * n + p] = c * akp - s * akq;
          A[k * n + q] = s * akp + c * akq;
        }
        for (int k = 0; k < n; k++) {
          const double apk = A[p * n + k], aqk = A[q * n + k];
          A[p * n + k] = c * apk - s * aqk;
          A[q * n + k] = s * apk + c * aqk;
        }
      }
  }
  std::vector<double> ev((size_t)n);
  for (int i = 0; i < n; i++) ev[(size_t)i] = A[i * n + i];
  return ev;
}

// Singular values of X [m, n] (m <= n) via eig(X X^T).
std::vector<double> singular_values(const std::vector<float>& X, int m, int n) {
  std::vector<double> A((size_t)(m * m), 0.0);
  for (int i = 0; i < m; i++)
    for (int j = 0; j < m; j++)
      for (int k = 0; k < n; k++) A[(size_t)(i * m + j)] += (double)X[(size_t)(i * n + k)] * X[(size_t)(j * n + k)];
  std::vector<double> ev = sym_eigenvalues(A, m);
  for (double& e : ev) e = std::sqrt(std::max(0.0, e));
  return ev;
}

}  // namespace

// Two steps worked by hand: lr 0.1, betas (0.8, 0.95), eps 1e-10.
//  t=1, g=0.5: m=0.1, v=0.0125, bias corrections 0.2 and 0.05 -> p = 1 - 0.5*0.1/(0.5) = 0.9.
//  t=2, g=-0.25, wd=0.1: p = 0.9*(1-0.01) = 0.891; m = 0.03; v = 0.015; bc1 = 0.36, bc2 = 0.0975;
//      p = 0.891 - (0.1/0.36) * 0.03 / (sqrt(0.015)/sqrt(0.0975)) = 0.86975408538...
TEST(AdamW, HandComputedSteps) {
  float p = 1.0f, m = 0.0f, v = 0.0f;
  const float g1 = 1.0f;  // with grad_scale 0.5 below: effective gradient 0.5
  nc::AdamHyper h{0.1, 0.8, 0.95, 1e-10, 0.0, 0.5, 1};
  nc::adamw_update(&p, &g1, &m, &v, 1, h);
  EXPECT_NEAR(p, 0.9f, 1e-7f);
  EXPECT_NEAR(m, 0.1f, 1e-8f);
  EXPECT_NEAR(v, 0.0125f, 1e-9f);
  const float g2 = -0.25f;
  h = nc::AdamHyper{0.1, 0.8, 0.95, 1e-10, 0.1, 1.0, 2};
  nc::adamw_update(&p, &g2, &m, &v, 1, h);
  EXPECT_NEAR(p, 0.8697540853852468f, 2e-7f);
  EXPECT_NEAR(m, 0.03f, 1e-8f);
  EXPECT_NEAR(v, 0.015f, 1e-9f);
}

// With (a, b, c) = (3.4445, -4.7750, 2.0315), five iterations of the scalar map s -> a s + b s^3 + c s^5
// send every s in [0.003, 1] into [0.682, 1.203] (and s in [0.01, 1] into [0.682, 1.135]); it does not
// converge to 1. A Gaussian 32 x 96 matrix has all singular values >= ~0.07 of its Frobenius norm,
// so its orthogonalized version must have singular values in that band.
TEST(Muon, NewtonSchulzIsNearOrthogonal) {
  const int m = 32, n = 96;
  std::vector<double> G = randn((size_t)(m * n), 99);
  std::vector<float> X = cast_vec<float>(G), scratch((size_t)(m * n + 2 * m * m));
  nc::newton_schulz5(X.data(), m, n, scratch.data());
  std::vector<double> sv = singular_values(X, m, n);
  const double lo = *std::min_element(sv.begin(), sv.end()), hi = *std::max_element(sv.begin(), sv.end());
  EXPECT_GT(lo, 0.67);
  EXPECT_LT(hi, 1.21);
  // and it matches the double-precision iteration
  std::vector<double> ref = ref_newton_schulz(G, m, n);
  EXPECT_LT(rel_err(cast_vec<double>(X), ref), 1e-4);
  std::printf("[ info ] NS5 singular values of a 32x96 Gaussian: [%.4f, %.4f]\n", lo, hi);
}

TEST(Muon, TallMatrixIsTransposedAndScaled) {
  // rows > cols: orthogonalize the transpose and scale by sqrt(rows/cols) = 2.
  const int rows = 64, cols = 16;
  std::vector<double> G = randn((size_t)(rows * cols), 5);
  std::vector<float> g = cast_vec<float>(G), p((size_t)(rows * cols), 0.0f), buf(p.size(), 0.0f);
  std::vector<float> scratch((size_t)nc::muon_scratch_floats(rows, cols));
  nc::muon_update(p.data(), g.data(), buf.data(), rows, cols, 0.01, 0.0, 1.0, scratch.data());
  std::vector<double> X = ref_newton_schulz(G, rows, cols);
  for (double& e : X) e *= -0.01 * 2.0;
  EXPECT_LT(rel_err(cast_vec<double>(p), X), 1e-4);
}
