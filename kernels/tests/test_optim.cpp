// test_optim.cpp — the optimizers: AdamW against hand-computed steps, Muon's Newton-Schulz output
// (near-orthogonal: its singular values land in a band around 1, measured here), a full optim step
// through the ABI against formulas evaluated in double, and exact resume from the optimizer-state table.
#include "ops.h"
#include "test_util.h"

namespace {

NcOptimStep default_step() {
  NcOptimStep s;
  std::memset(&s, 0, sizeof s);
  s.lr_embedding = 0.2;
  s.lr_unembedding = 0.004;
  s.lr_matrix = 0.02;
  s.muon_momentum = 0.95;
  s.adam_beta1 = 0.8;
  s.adam_beta2 = 0.95;
  s.adam_eps = 1e-10;
  s.weight_decay = 0.0;
  s.grad_scale = 1.0;
  return s;
}

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

// Reference Muon update direction in double: Newton-Schulz 5 of G [rows, cols], returned as [rows, cols].
std::vector<double> ref_newton_schulz(const std::vector<double>& G, int rows, int cols) {
  const bool tall = rows > cols;
  const int m = tall ? cols : rows, n = tall ? rows : cols;
  std::vector<double> X((size_t)(m * n));
  for (int i = 0; i < rows; i++)
    for (int j = 0; j < cols; j++) X[(size_t)(tall ? j * rows + i : i * cols + j)] = G[(size_t)(i * cols + j)];
  double nrm = 0;
  for (double e : X) nrm += e * e;
  nrm = std::sqrt(nrm) + 1e-7;
  for (double& e : X) e /= nrm;
  const double a = 3.4445, b = -4.7750, c = 2.0315;
  for (int it = 0; it < 5; it++) {
    std::vector<double> A((size_t)(m * m), 0.0), Bm((size_t)(m * m), 0.0), Y((size_t)(m * n), 0.0);
    for (int i = 0; i < m; i++)
      for (int j = 0; j < m; j++)
        for (int k = 0; k < n; k++) A[(size_t)(i * m + j)] += X[(size_t)(i * n + k)] * X[(size_t)(j * n + k)];
    for (int i = 0; i < m; i++)
      for (int j = 0; j < m; j++) {
        double s = 0;
        for (int k = 0; k < m; k++) s += A[(size_t)(i * m + k)] * A[(size_t)(k * m + j)];
        Bm[(size_t)(i * m + j)] = b * A[(size_t)(i * m + j)] + c * s;
      }
    for (int i = 0; i < m; i++)
      for (int j = 0; j < n; j++) {
        double s = 0;
        for (int k = 0; k < m; k++) s += Bm[(size_t)(i * m + k)] * X[(size_t)(k * n + j)];
        Y[(size_t)(i * n + j)] = a * X[(size_t)(i * n + j)] + s;
      }
    X = Y;
  }
  std::vector<double> out((size_t)(rows * cols));
  for (int i = 0; i < rows; i++)
    for (int j = 0; j < cols; j++) out[(size_t)(i * cols + j)] = X[(size_t)(tall ? j * rows + i : i * cols + j)];
  return out;
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

TEST(Optimizer, StepThroughAbiMatchesFormulas) {
  Ctx c;
  NcModelConfig cfg = tiny_config();
  Model m(c.ctx, cfg);
  randomize_params(m.m, 21);
  std::vector<int32_t> in = rand_tokens(16, cfg.vocab_size, 22), tg = rand_tokens(16, cfg.vocab_size, 23);
  float loss;
  NC_ASSERT_OK(nc_model_forward_backward(m.m, in.data(), tg.data(), 2, 8, 1.0f, &loss));
  int32_t n = 0;
  nc_model_num_params(m.m, &n);
  std::vector<std::vector<float>> p0, g0;
  std::vector<NcParamInfo> infos((size_t)n);
  for (int i = 0; i < n; i++) {
    nc_model_param_info(m.m, i, &infos[(size_t)i]);
    p0.emplace_back((size_t)infos[(size_t)i].numel);
    g0.emplace_back((size_t)infos[(size_t)i].numel);
    nc_model_param_read(m.m, i, p0.back().data(), infos[(size_t)i].numel);
    nc_model_grad_read(m.m, i, g0.back().data(), infos[(size_t)i].numel);
  }
  NcOptimStep st = default_step();
  st.weight_decay = 0.01;
  st.grad_scale = 0.7;
  NC_ASSERT_OK(nc_model_optim_step(m.m, &st));
  int64_t t = 0;
  NC_ASSERT_OK(nc_model_optim_get_step(m.m, &t));
  EXPECT_EQ(t, 1);
  for (int i = 0; i < n; i++) {
    const NcParamInfo& info = infos[(size_t)i];
    std::vector<float> p1((size_t)info.numel);
    nc_model_param_read(m.m, i, p1.data(), info.numel);
    std::vector<double> want((size_t)info.numel);
    if (info.group == NC_GROUP_MATRIX) {
      std::vector<double> G((size_t)info.numel);
      // from zero momentum: buf = (1-mu) g; nesterov g' = (1-mu) g + mu buf = (1-mu)(1+mu) g (scale-free for NS)
      for (size_t e = 0; e < G.size(); e++) G[e] = (1 - 0.95) * (1 + 0.95) * 0.7 * g0[(size_t)i][e];
      std::vector<double> X = ref_newton_schulz(G, (int)info.shape[0], (int)info.shape[1]);
      const double scale = 0.02 * std::sqrt(std::max(1.0, (double)info.shape[0] / (double)info.shape[1]));
      for (size_t e = 0; e < X.size(); e++) want[e] = p0[(size_t)i][e] - scale * X[e];
    } else {
      const double lr = info.group == NC_GROUP_EMBEDDING ? 0.2 : 0.004;
      for (size_t e = 0; e < want.size(); e++) {
        const double g = 0.7 * g0[(size_t)i][e], mm = 0.2 * g, vv = 0.05 * g * g;
        want[e] = p0[(size_t)i][e] * (1 - lr * 0.01) - lr / 0.2 * mm / (std::sqrt(vv) / std::sqrt(0.05) + 1e-10);
      }
    }
    std::vector<double> delta_got((size_t)info.numel), delta_want((size_t)info.numel);
    for (size_t e = 0; e < want.size(); e++) {
      delta_got[e] = (double)p1[e] - p0[(size_t)i][e];
      delta_want[e] = want[e] - p0[(size_t)i][e];
    }
    EXPECT_LT(rel_err(delta_got, delta_want), 5e-4) << info.name;  // fp32 NS and rounding of p
  }
}

TEST(Optimizer, StateTableRoundTripResumesExactly) {
  Ctx c;
  NcModelConfig cfg = tiny_config();
  Model a(c.ctx, cfg), b(c.ctx, cfg);
  NC_ASSERT_OK(nc_model_init_weights(a.m, 5));
  std::vector<int32_t> in = rand_tokens(16, cfg.vocab_size, 31), tg = rand_tokens(16, cfg.vocab_size, 32);
  NcOptimStep st = default_step();
  float loss;
  for (int s = 0; s < 3; s++) {
    NC_ASSERT_OK(nc_model_zero_grad(a.m));
    NC_ASSERT_OK(nc_model_forward_backward(a.m, in.data(), tg.data(), 2, 8, 1.0f, &loss));
    NC_ASSERT_OK(nc_model_optim_step(a.m, &st));
  }
  int32_t ns = 0, np = 0;
  NC_ASSERT_OK(nc_model_optim_num_states(a.m, &ns));
  nc_model_num_params(a.m, &np);
  EXPECT_EQ(ns, 2 + 2 + 6 * cfg.n_layer);
  NcParamInfo si;
  NC_ASSERT_OK(nc_model_optim_state_info(a.m, 0, &si));
  EXPECT_STREQ(si.name, "transformer.wte.weight.exp_avg");
  NC_ASSERT_OK(nc_model_optim_state_info(a.m, 1, &si));
  EXPECT_STREQ(si.name, "transformer.wte.weight.exp_avg_sq");
  NC_ASSERT_OK(nc_model_optim_state_info(a.m, 2, &si));
  EXPECT_STREQ(si.name, "transformer.h.0.attn.c_q.weight.momentum_buffer");
  EXPECT_EQ(si.param_index, 1);
  NC_ASSERT_OK(nc_model_optim_state_info(a.m, ns - 1, &si));
  EXPECT_STREQ(si.name, "lm_head.weight.exp_avg_sq");
  // copy params, optimizer state and step count from a into b
  for (int i = 0; i < np; i++) {
    NcParamInfo info;
    nc_model_param_info(a.m, i, &info);
    std::vector<float> v((size_t)info.numel);
    nc_model_param_read(a.m, i, v.data(), info.numel);
    nc_model_param_write(b.m, i, v.data(), info.numel);
  }
  for (int i = 0; i < ns; i++) {
    nc_model_optim_state_info(a.m, i, &si);
    std::vector<float> v((size_t)si.numel);
    NC_ASSERT_OK(nc_model_optim_state_read(a.m, i, v.data(), si.numel));
    NC_ASSERT_OK(nc_model_optim_state_write(b.m, i, v.data(), si.numel));
  }
  int64_t t;
  nc_model_optim_get_step(a.m, &t);
  EXPECT_EQ(t, 3);
  NC_ASSERT_OK(nc_model_optim_set_step(b.m, t));
  for (NcModel* mm : {a.m, b.m}) {
    NC_ASSERT_OK(nc_model_zero_grad(mm));
    NC_ASSERT_OK(nc_model_forward_backward(mm, in.data(), tg.data(), 2, 8, 1.0f, &loss));
    NC_ASSERT_OK(nc_model_optim_step(mm, &st));
  }
  for (int i = 0; i < np; i++) {
    NcParamInfo info;
    nc_model_param_info(a.m, i, &info);
    std::vector<float> va((size_t)info.numel), vb(va.size());
    nc_model_param_read(a.m, i, va.data(), info.numel);
    nc_model_param_read(b.m, i, vb.data(), info.numel);
    EXPECT_EQ(va, vb) << info.name;
  }
}
