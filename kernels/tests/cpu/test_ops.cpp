// test_ops.cpp — every layer kernel, one at a time. The kernels are templates, so each backward is run
// in double and compared with central finite differences (step 1e-6) of the same kernel's double
// forward: truncation (~h^2) and rounding (~1e-16/h) errors are both far below the 1e-6 tolerance, so a
// wrong derivative cannot hide. The float instantiation (what the library runs, with its fast exp/tanh)
// is then compared with the double one at fp32-level tolerances.
#include "fastmath.h"
#include "ops.h"
#include "test_util.h"

using namespace nc;

namespace {

template <typename To>
std::vector<To> conv(const std::vector<double>& v) {
  return std::vector<To>(v.begin(), v.end());
}

// --- RMSNorm, residual form (dim = C) and per-head form (QK norm, strided rows) -----------------------
struct NormCase {
  int64_t N, heads, dim, ld;
};

template <typename T>
std::vector<T> norm_fwd(const std::vector<T>& x, const NormCase& c, std::vector<T>* rstd) {
  std::vector<T> y(x.size(), (T)0);
  rstd->assign((size_t)(c.N * c.heads), (T)0);
  rmsnorm_forward(y.data(), c.ld, rstd->data(), x.data(), c.ld, c.N, c.heads, c.dim);
  return y;
}

void check_norm(const NormCase& c) {
  std::vector<double> x = randn((size_t)(c.N * c.ld), 1), w = randn(x.size(), 2), rstd;
  std::vector<double> y = norm_fwd(x, c, &rstd);
  std::vector<double> dx(x.size(), 0.0);
  rmsnorm_backward(dx.data(), c.ld, w.data(), c.ld, y.data(), c.ld, rstd.data(), c.N, c.heads, c.dim, false);
  auto f = [&]() {
    std::vector<double> r;
    return dot(w, norm_fwd(x, c, &r));
  };
  std::vector<double> num = numeric_grad(x, f);
  EXPECT_LT(rel_err(dx, num), 1e-6);
  // accumulate mode adds onto what is there; in place (dx aliasing dy) gives the same result
  std::vector<double> acc(x.size(), 1.0);
  rmsnorm_backward(acc.data(), c.ld, w.data(), c.ld, y.data(), c.ld, rstd.data(), c.N, c.heads, c.dim, true);
  std::vector<double> inplace = w;
  rmsnorm_backward(inplace.data(), c.ld, inplace.data(), c.ld, y.data(), c.ld, rstd.data(), c.N, c.heads, c.dim, false);
  for (int64_t t = 0; t < c.N; t++)
    for (int64_t i = 0; i < c.heads * c.dim; i++) {
      const size_t e = (size_t)(t * c.ld + i);
      EXPECT_NEAR(acc[e], 1.0 + dx[e], 1e-12);
      EXPECT_NEAR(inplace[e], dx[e], 1e-12);
    }
  // normalized rows have mean square 1 (up to eps)
  for (int64_t t = 0; t < c.N; t++) {
    double ss = 0;
    for (int64_t i = 0; i < c.dim; i++) ss += y[(size_t)(t * c.ld + i)] * y[(size_t)(t * c.ld + i)];
    EXPECT_NEAR(ss / c.dim, 1.0, 1e-6);
  }
  // float vs double
  std::vector<float> rf;
  std::vector<float> yf = norm_fwd(conv<float>(x), c, &rf);
  EXPECT_LT(rel_err(cast_vec<double>(yf), y), 2e-6);
}

}  // namespace

TEST(RmsNorm, ResidualFormGradient) { check_norm({5, 1, 16, 16}); }
TEST(RmsNorm, QKNormPerHeadStridedGradient) { check_norm({4, 3, 8, 30}); }

// --- Rotary -----------------------------------------------------------------------------------------
TEST(Rotary, MatchesFormulaAndGradient) {
  const int64_t B = 2, T = 5, pos0 = 3, heads = 3, D = 8, ld = 26, len = 16;
  std::vector<float> cs((size_t)(len * D / 2)), sn(cs.size());
  rotary_table(cs.data(), sn.data(), len, D, 10000.0);
  std::vector<double> x = randn((size_t)(B * T * ld), 3), w = randn(x.size(), 4);
  auto fwd = [&](std::vector<double> v) {
    rotary_forward(v.data(), ld, cs.data(), sn.data(), B, T, pos0, heads, D);
    return v;
  };
  std::vector<double> y = fwd(x);
  // explicit formula: halves split, y1 = x1 cos + x2 sin, y2 = -x1 sin + x2 cos, angle = p * 10000^(-2j/D)
  for (int64_t b = 0; b < B; b++)
    for (int64_t t = 0; t < T; t++)
      for (int64_t h = 0; h < heads; h++)
        for (int64_t j = 0; j < D / 2; j++) {
          const size_t o = (size_t)((b * T + t) * ld + h * D);
          const double ang = (double)(pos0 + t) * std::pow(10000.0, -2.0 * j / D);
          const double x1 = x[o + j], x2 = x[o + j + D / 2];
          EXPECT_NEAR(y[o + j], x1 * std::cos(ang) + x2 * std::sin(ang), 1e-6);
          EXPECT_NEAR(y[o + j + D / 2], -x1 * std::sin(ang) + x2 * std::cos(ang), 1e-6);
        }
  std::vector<double> dx = w;
  rotary_backward(dx.data(), ld, cs.data(), sn.data(), B, T, pos0, heads, D);
  std::vector<double> num = numeric_grad(x, [&]() { return dot(w, fwd(x)); });
  EXPECT_LT(rel_err(dx, num), 1e-6);
}

// --- Attention --------------------------------------------------------------------------------------
namespace {

struct AttnCase {
  int64_t B, T, H, Hkv, D;
};

template <typename T>
std::vector<T> attn_fwd(const std::vector<T>& qkv, const AttnCase& c, std::vector<T>* lse) {
  const int64_t ld = (c.H + 2 * c.Hkv) * c.D, C = c.H * c.D;
  std::vector<T> out((size_t)(c.B * c.T * C));
  lse->assign((size_t)(c.B * c.H * c.T), (T)0);
  AttnShape s{c.B, c.T, c.H, c.Hkv, c.D, 0};
  EXPECT_TRUE(attention_forward(out.data(), C, lse->data(), qkv.data(), ld, qkv.data() + c.H * c.D, ld, c.T * ld,
                                qkv.data() + (c.H + c.Hkv) * c.D, ld, c.T * ld, s));
  return out;
}

void check_attention(const AttnCase& c, uint64_t seed) {
  const int64_t ld = (c.H + 2 * c.Hkv) * c.D, C = c.H * c.D;
  std::vector<double> qkv = randn((size_t)(c.B * c.T * ld), seed), lse;
  std::vector<double> out = attn_fwd(qkv, c, &lse);
  std::vector<double> w = randn(out.size(), seed + 1);
  std::vector<double> d(qkv.size(), 7.0);  // garbage: the backward must overwrite every q/k/v slot
  AttnShape s{c.B, c.T, c.H, c.Hkv, c.D, 0};
  ASSERT_TRUE(attention_backward(d.data(), d.data() + c.H * c.D, d.data() + (c.H + c.Hkv) * c.D, ld, w.data(), C,
                                 out.data(), C, lse.data(), qkv.data(), qkv.data() + c.H * c.D,
                                 qkv.data() + (c.H + c.Hkv) * c.D, ld, s));
  std::vector<double> num = numeric_grad(qkv, [&]() {
    std::vector<double> l;
    return dot(w, attn_fwd(qkv, c, &l));
  });
  EXPECT_LT(rel_err(d, num), 1e-6);
  // float vs double
  std::vector<float> lf;
  std::vector<float> of = attn_fwd(conv<float>(qkv), c, &lf);
  EXPECT_LT(rel_err(cast_vec<double>(of), out), 1e-5);
}

}  // namespace

TEST(Attention, GQAGradient) { check_attention({2, 7, 4, 2, 8}, 10); }
TEST(Attention, MultiQueryBlockGradient) { check_attention({1, 70, 2, 1, 4}, 20); }  // 2 blocks of 64
TEST(Attention, FullMHAGradient) { check_attention({2, 5, 2, 2, 6}, 30); }

// Queries at positions pos0..pos0+Tq-1 against a KV-cache layout, vs a direct computation.
TEST(Attention, CacheLayoutWithOffsetMatchesNaive) {
  const int64_t B = 2, Tq = 3, H = 4, Hkv = 2, D = 8, pos0 = 5, ML = 10, KV = Hkv * D, C = H * D;
  std::vector<double> q = randn((size_t)(B * Tq * C), 40), k = randn((size_t)(B * ML * KV), 41),
                      v = randn((size_t)(B * ML * KV), 42), out((size_t)(B * Tq * C));
  AttnShape s{B, Tq, H, Hkv, D, pos0};
  ASSERT_TRUE(
      attention_forward(out.data(), C, (double*)nullptr, q.data(), C, k.data(), KV, ML * KV, v.data(), KV, ML * KV, s));
  for (int64_t b = 0; b < B; b++)
    for (int64_t h = 0; h < H; h++)
      for (int64_t t = 0; t < Tq; t++) {
        const int64_t g = h / (H / Hkv), n = pos0 + t + 1;
        std::vector<double> p((size_t)n);
        double mx = -1e300, z = 0;
        for (int64_t j = 0; j < n; j++) {
          double sc = 0;
          for (int64_t i = 0; i < D; i++)
            sc += q[(size_t)((b * Tq + t) * C + h * D + i)] * k[(size_t)((b * ML + j) * KV + g * D + i)];
          p[(size_t)j] = sc / std::sqrt((double)D);
          mx = std::max(mx, p[(size_t)j]);
        }
        for (double& e : p) z += (e = std::exp(e - mx));
        for (int64_t i = 0; i < D; i++) {
          double o = 0;
          for (int64_t j = 0; j < n; j++) o += p[(size_t)j] / z * v[(size_t)((b * ML + j) * KV + g * D + i)];
          EXPECT_NEAR(out[(size_t)((b * Tq + t) * C + h * D + i)], o, 1e-12);
        }
      }
}

// --- relu^2 -----------------------------------------------------------------------------------------
TEST(Relu2, Gradient) {
  std::vector<double> h = randn(64, 50), w = randn(64, 51);
  for (double& e : h) e += e > 0 ? 0.05 : -0.05;  // keep finite differences off the kink at 0
  auto fwd = [&]() {
    std::vector<double> o(h.size());
    relu2_forward(o.data(), h.data(), (int64_t)h.size());
    return o;
  };
  std::vector<double> o = fwd();
  for (size_t i = 0; i < h.size(); i++) EXPECT_DOUBLE_EQ(o[i], h[i] > 0 ? h[i] * h[i] : 0.0);
  std::vector<double> dh(h.size());
  relu2_backward(dh.data(), w.data(), h.data(), (int64_t)h.size());
  std::vector<double> num = numeric_grad(h, [&]() { return dot(w, fwd()); });
  EXPECT_LT(rel_err(dh, num), 1e-6);
}

// --- softcap + cross-entropy ------------------------------------------------------------------------
namespace {

void check_softcap_ce(double cap) {
  const int64_t rows = 4, V = 11;
  const std::vector<int32_t> tg = {3, -1, 10, 0};
  const double dscale = 0.37;
  std::vector<double> z = randn((size_t)(rows * V), 60, 12.0);  // large enough for tanh to bend
  auto loss = [&]() {
    std::vector<double> zz = z, l((size_t)rows);
    softcap_ce(zz.data(), tg.data(), rows, V, cap, l.data(), 0.0, false);
    double s = 0;
    for (double e : l) s += dscale * e;
    return s;
  };
  std::vector<double> g = z, l((size_t)rows), l2((size_t)rows);
  softcap_ce(g.data(), tg.data(), rows, V, cap, l.data(), dscale, true);
  std::vector<double> zz = z;
  softcap_ce(zz.data(), tg.data(), rows, V, cap, l2.data(), 0.0, false);
  for (int64_t r = 0; r < rows; r++) {
    EXPECT_DOUBLE_EQ(l[(size_t)r], l2[(size_t)r]);
    if (tg[(size_t)r] < 0) {
      EXPECT_EQ(l[(size_t)r], 0.0);
      for (int64_t j = 0; j < V; j++) EXPECT_EQ(g[(size_t)(r * V + j)], 0.0);
      continue;
    }
    // direct formula
    double mx = -1e300, s = 0;
    std::vector<double> lc((size_t)V);
    for (int64_t j = 0; j < V; j++) {
      const double zj = z[(size_t)(r * V + j)];
      lc[(size_t)j] = cap > 0 ? cap * std::tanh(zj / cap) : zj;
      mx = std::max(mx, lc[(size_t)j]);
    }
    for (double e : lc) s += std::exp(e - mx);
    EXPECT_NEAR(l[(size_t)r], mx + std::log(s) - lc[(size_t)tg[(size_t)r]], 1e-12);
  }
  std::vector<double> num = numeric_grad(z, loss);
  EXPECT_LT(rel_err(g, num), 1e-6);
  // float kernels (fast exp/tanh) vs double
  std::vector<float> gf = conv<float>(z), lf((size_t)rows);
  softcap_ce(gf.data(), tg.data(), rows, V, (float)cap, lf.data(), (float)dscale, true);
  EXPECT_LT(rel_err(cast_vec<double>(lf), l), 2e-6);
  EXPECT_LT(rel_err(cast_vec<double>(gf), g), 2e-6);
}

}  // namespace

TEST(SoftcapCE, GradientWithIgnoredTargets) { check_softcap_ce(15.0); }
TEST(SoftcapCE, GradientWithoutCap) { check_softcap_ce(0.0); }

TEST(SoftcapCE, LargeVocabFloatMatchesDouble) {
  const int64_t rows = 3, V = 65536;
  const std::vector<int32_t> tg = {7, 65535, 123};
  std::vector<double> z = randn((size_t)(rows * V), 61, 3.0), l((size_t)rows);
  std::vector<float> zf = conv<float>(z), lf((size_t)rows);
  softcap_ce(z.data(), tg.data(), rows, V, 15.0, l.data(), 1.0 / 3, true);
  softcap_ce(zf.data(), tg.data(), rows, V, 15.0f, lf.data(), 1.0f / 3, true);
  // fp32 sums of 65536 terms: ~sqrt(V) * 2^-24 relative error in the partition function
  EXPECT_LT(rel_err(cast_vec<double>(lf), l), 1e-5);
  EXPECT_LT(rel_err(cast_vec<double>(zf), z), 1e-5);
}

TEST(FastMath, ExpAndTanhAccuracy) {
  double max_rel = 0, max_abs_tanh = 0;
  for (double x = -87.0; x <= 88.0; x += 0.0137) {
    const double e = std::exp((double)(float)x);
    max_rel = std::max(max_rel, std::fabs(fast_exp((float)x) - e) / e);
  }
  for (double x = -20.0; x <= 20.0; x += 0.00137)
    max_abs_tanh = std::max(max_abs_tanh, std::fabs(fast_tanh((float)x) - std::tanh((double)(float)x)));
  EXPECT_LT(max_rel, 4e-7);
  EXPECT_LT(max_abs_tanh, 2e-7);
  EXPECT_EQ(fast_tanh(0.0f), 0.0f);
}

// --- embedding --------------------------------------------------------------------------------------
TEST(Embedding, GatherAndScatterAddGradient) {
  const int64_t V = 9, C = 20, N = 12;
  const std::vector<int32_t> idx = {1, 4, 4, 0, 8, 1, 1, 3, 4, 2, 8, 5};  // repeats on purpose
  std::vector<double> wte = randn((size_t)(V * C), 70), w = randn((size_t)(N * C), 71);
  auto fwd = [&]() {
    std::vector<double> o((size_t)(N * C));
    embedding_forward(o.data(), wte.data(), idx.data(), N, C);
    return o;
  };
  std::vector<double> o = fwd();
  for (int64_t n = 0; n < N; n++)
    for (int64_t c = 0; c < C; c++) EXPECT_EQ(o[(size_t)(n * C + c)], wte[(size_t)(idx[(size_t)n] * C + c)]);
  std::vector<double> dw((size_t)(V * C), 0.5);  // accumulates onto what is there
  embedding_backward(dw.data(), w.data(), idx.data(), N, C);
  std::vector<double> num = numeric_grad(wte, [&]() { return dot(w, fwd()); });
  for (double& e : num) e += 0.5;
  EXPECT_LT(rel_err(dw, num), 1e-6);
}
