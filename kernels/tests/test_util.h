// test_util.h — helpers shared by the tests: RAII handles for the C ABI (on the backend's first device),
// random data, and a central finite-difference gradient checker for double-precision functions.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <vector>

#include "nanochat.h"
#include "reference.h"

#define NC_ASSERT_OK(expr)                                                                               \
  do {                                                                                                   \
    int32_t st_ = (expr);                                                                                \
    ASSERT_EQ(st_, NC_OK) << #expr << " -> " << nc_status_string(st_) << ": " << nc_last_error(nullptr); \
  } while (0)

// The backend's first device (the tests run against whichever backend library they are linked with).
inline NcDeviceInfo first_device() {
  NcDeviceInfo info;
  std::memset(&info, 0, sizeof info);
  EXPECT_EQ(nc_device_info(0, &info), NC_OK) << nc_last_error(nullptr);
  return info;
}

struct Ctx {
  NcContext* ctx = nullptr;
  explicit Ctx(int threads = 0, uint32_t flags = 0) {
    NcContextConfig cc;
    std::memset(&cc, 0, sizeof cc);
    cc.device = first_device().device;
    cc.num_threads = threads;
    cc.flags = flags;
    EXPECT_EQ(nc_context_create(&cc, &ctx), NC_OK) << nc_last_error(nullptr);
  }
  ~Ctx() { nc_context_destroy(ctx); }
};

struct Model {
  NcModel* m = nullptr;
  Model(NcContext* ctx, const NcModelConfig& cfg) {
    EXPECT_EQ(nc_model_create(ctx, &cfg, &m), NC_OK) << nc_last_error(ctx);
  }
  ~Model() { nc_model_destroy(m); }
};

// nc_model_forward_backward, then its loss from the loss statistics (NcLossStats.last_loss).
inline int32_t fwd_bwd(NcModel* m, const int32_t* inputs, const int32_t* targets, int B, int T, float loss_scale,
                       float* loss) {
  const int32_t st = nc_model_forward_backward(m, inputs, targets, B, T, loss_scale);
  if (st != NC_OK) return st;
  NcLossStats stats;
  const int32_t st2 = nc_model_loss_stats(m, &stats);
  *loss = (float)stats.last_loss;
  return st2;
}

inline std::vector<double> randn(size_t n, uint64_t seed, double scale = 1.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> nd(0.0, scale);
  std::vector<double> v(n);
  for (double& e : v) e = nd(rng);
  return v;
}

inline std::vector<int32_t> rand_tokens(size_t n, int vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int32_t> v(n);
  for (int32_t& e : v) e = (int32_t)(rng() % (uint64_t)vocab);
  return v;
}

template <typename To, typename From>
std::vector<To> cast_vec(const std::vector<From>& v) {
  return std::vector<To>(v.begin(), v.end());
}

// Central differences of a scalar function f at x (in place perturbation), step h.
inline std::vector<double> numeric_grad(std::vector<double>& x, const std::function<double()>& f, double h = 1e-6) {
  std::vector<double> g(x.size());
  for (size_t i = 0; i < x.size(); i++) {
    const double old = x[i];
    x[i] = old + h;
    const double fp = f();
    x[i] = old - h;
    const double fm = f();
    x[i] = old;
    g[i] = (fp - fm) / (2 * h);
  }
  return g;
}

// max |a - b| / max(1e-12, max |b|): error relative to the gradient's scale.
inline double rel_err(const std::vector<double>& a, const std::vector<double>& b) {
  double num = 0, den = 1e-12;
  for (size_t i = 0; i < a.size(); i++) {
    num = std::max(num, std::fabs(a[i] - b[i]));
    den = std::max(den, std::fabs(b[i]));
  }
  return num / den;
}

inline double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); i++) s += a[i] * b[i];
  return s;
}

// A test's tolerance for fp32 compute, or its bf16 bound on a backend that computes in bf16
// (test_compute_dtype()): 8 significant bits round every GEMM operand and activation by up to 2^-9
// relative, a few dozen ops deep, so forward values carry ~1% and gradients (differences of those)
// several % of error; the bf16 bounds are set a few times above what the emulated cuda backend shows,
// still far below the O(1) error of a missing or wrong term.
inline double tol(double f32, double bf16) { return test_compute_dtype() == NC_DTYPE_F32 ? f32 : bf16; }

// nanochat A's optimizer values (base_train's learning rates, AdamW betas and eps, Muon momentum).
inline NcOptimStep default_optim_step() {
  NcOptimStep s;
  std::memset(&s, 0, sizeof s);
  s.lr_embedding = 0.2;
  s.lr_unembedding = 0.004;
  s.lr_matrix = 0.02;
  s.muon_momentum = 0.95;
  s.adam_beta1 = 0.8;
  s.adam_beta2 = 0.95;
  s.adam_eps = 1e-10;
  s.grad_scale = 1.0;
  return s;
}

// Every parameter's accumulated gradient in `m` against central differences (step 1e-5) of `loss`,
// which evaluates the double reference `ref` (whose parameters the differences perturb). Tolerance
// argued in test_model.cpp: 2e-4 of each tensor's largest gradient entry (0.2 in bf16: measured <= 0.071).
inline void expect_gradients_match(NcModel* m, RefModel& ref, const std::function<double()>& loss) {
  int32_t n = 0;
  nc_model_num_params(m, &n);
  for (int i = 0; i < n; i++) {
    NcParamInfo info;
    nc_model_param_info(m, i, &info);
    std::vector<float> g((size_t)info.numel);
    ASSERT_EQ(nc_model_grad_read(m, i, g.data(), info.numel), NC_OK);
    std::vector<double> num = numeric_grad(ref.params[(size_t)i], loss, 1e-5);
    double mx = 0;
    for (double e : num) mx = std::max(mx, std::fabs(e));
    EXPECT_GT(mx, 1e-6) << info.name << ": gradient should not vanish";
    EXPECT_LT(rel_err(cast_vec<double>(g), num), tol(2e-4, 0.2)) << info.name;
  }
}
