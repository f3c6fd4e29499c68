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
