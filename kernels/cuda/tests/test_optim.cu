// test_optim.cu — the optimizer kernels against the CPU backend (ops.h) and double references: AdamW
// (two steps), Muon's momentum / normalization / Newton-Schulz / update on batches of wide and tall
// matrices at scattered offsets, and the deterministic gradient norm with its clipping factor.
#include <cmath>
#include <vector>

#include "ops.h"
#include "util.h"

using namespace nc_test;
namespace cu = nc::cuda;

NC_TEST(AdamW, TwoStepsMatchCpu) {
  const int64_t n = 10007;
  std::vector<float> p = randn_f32((size_t)n, 60), m(n, 0.0f), v(n, 0.0f);
  DeviceBuffer<float> dp(p), dm(m), dv(v), dg(n), scale(std::vector<float>{0.5f});
  DeviceBuffer<bf16> pb(n);
  std::vector<float> cp = p, cm = m, cv = v;
  for (int64_t t = 1; t <= 2; t++) {
    std::vector<float> g = randn_f32((size_t)n, 60 + (uint64_t)t, 0.01);
    dg.upload(g);
    // grad_scale 2 on the host times 0.5 on the device: the same as the CPU's grad_scale 1.
    const cu::AdamwStep h{0.004, 0.8, 0.95, 1e-10, 0.01, 2.0, t};
    NC_REQUIRE_CUDA(cu::adamw_update(dp.p, pb.p, dg.p, dm.p, dv.p, n, h, scale.p, nullptr));
    nc::adamw_update(cp.data(), g.data(), cm.data(), cv.data(), n, nc::AdamHyper{0.004, 0.8, 0.95, 1e-10, 0.01, 1.0, t});
  }
  // The same fp32 formula; the GPU may contract a*b+c into one rounding (FMA): a few ulps after two steps.
  NC_CHECK_CLOSE("p", to_double(dp.download()), to_double(cp), 1e-6);
  NC_CHECK_CLOSE("m", to_double(dm.download()), to_double(cm), 1e-6);
  NC_CHECK_CLOSE("v", to_double(dv.download()), to_double(cv), 1e-6);
  std::vector<float> pf = dp.download();
  std::vector<bf16> pbh = pb.download();
  int bad = 0;
  for (int64_t i = 0; i < n; i++) bad += bits_of(pbh[(size_t)i]) != bits_of(__float2bfloat16(pf[(size_t)i]));
  NC_CHECK(bad == 0) << bad << " bf16 copies are not the rounded fp32 weights";
  const cu::AdamwStep bad_t{0.004, 0.8, 0.95, 1e-10, 0.0, 1.0, 0};
  NC_CHECK(cu::adamw_update(dp.p, pb.p, dg.p, dm.p, dv.p, n, bad_t, nullptr, nullptr) == cudaErrorInvalidValue);
}

namespace {

void check_muon(int64_t rows, int64_t cols, uint64_t seed) {
  const int count = 3;
  const bool tall = rows > cols;
  const int64_t m = tall ? cols : rows, n = tall ? rows : cols, numel = rows * cols;
  const std::vector<int64_t> offsets = {17, numel + 500, 2 * numel + 1234};
  const int64_t flat = 3 * numel + 2000;
  std::vector<float> g = randn_f32((size_t)flat, seed, 0.02), buf = randn_f32((size_t)flat, seed + 1, 0.01);
  std::vector<float> p = randn_f32((size_t)flat, seed + 2);
  DeviceBuffer<float> dg(g), dbuf(buf), dp(p);
  DeviceBuffer<int64_t> doff(offsets);
  DeviceBuffer<bf16> X(count * m * n), X2(count * m * n), A(count * m * m), Bm(count * m * m), pb(flat);
  DeviceBuffer<unsigned char> partials(cu::muon_partials_bytes(count, rows, cols));
  const float mom = 0.9f, gs = 0.5f;
  NC_REQUIRE_CUDA(cu::muon_momentum(X.p, dbuf.p, dg.p, doff.p, count, rows, cols, mom, gs, nullptr, partials.p, nullptr));
  // Momentum: fp32 lerps (the GPU may fuse to FMA: an ulp), then X rounded to bf16 once.
  std::vector<float> bufh = dbuf.download();
  std::vector<bf16> x0 = X.download();
  std::vector<double> b_got, b_ref, x_got, x_ref;
  for (int i = 0; i < count; i++)
    for (int64_t r = 0; r < rows; r++)
      for (int64_t c = 0; c < cols; c++) {
        const size_t e = (size_t)(offsets[(size_t)i] + r * cols + c);
        const double gi = (double)g[e] * gs, bi = buf[e] + (1.0 - mom) * (gi - buf[e]);
        b_got.push_back(bufh[e]);
        b_ref.push_back(bi);
        x_ref.push_back(gi + mom * (bi - gi));
        x_got.push_back(__bfloat162float(x0[(size_t)(i * numel + (tall ? c * rows + r : r * cols + c))]));
      }
  NC_CHECK_CLOSE("momentum buffer", b_got, b_ref, 1e-6);
  NC_CHECK_CLOSE("nesterov X", x_got, x_ref, 2 * kBf16Unit);
  for (size_t e = 0; e < (size_t)flat; e++) {
    const bool inside = std::any_of(offsets.begin(), offsets.end(), [&](int64_t o) { return (int64_t)e >= o && (int64_t)e < o + numel; });
    if (!inside) NC_CHECK(bufh[e] == buf[e]) << " momentum written outside the matrices at " << e;
  }

  // Frobenius normalization of the bf16 X, per matrix; one more rounding to bf16.
  NC_REQUIRE_CUDA(cu::muon_normalize(X.p, count, rows, cols, partials.p, nullptr));
  std::vector<bf16> x1 = X.download();
  std::vector<double> nx_ref, nx_got;
  for (int i = 0; i < count; i++) {
    double ss = 0;
    for (int64_t e = 0; e < numel; e++) ss += std::pow((double)__bfloat162float(x0[(size_t)(i * numel + e)]), 2);
    for (int64_t e = 0; e < numel; e++) {
      nx_ref.push_back(__bfloat162float(x0[(size_t)(i * numel + e)]) / (std::sqrt(ss) + 1e-7));
      nx_got.push_back(__bfloat162float(x1[(size_t)(i * numel + e)]));
    }
  }
  NC_CHECK_CLOSE("normalized X", nx_got, nx_ref, 2 * kBf16Unit);

  // Newton-Schulz in bf16 against the CPU's fp32 iteration on the same input. Each of the 15 GEMM
  // outputs is rounded to bf16 (2^-8 relative); the quintic's slope is at most a = 3.4445 at small
  // singular values and far less near the fixed band, so the errors do not compound into more than a
  // few percent of the output's scale: 5% allowed (the measured value is noted in the report).
  cu::MatmulHandle* mm = nullptr;
  NC_CHECK(cu::matmul_create(&mm).ok);
  if (!mm) return;
  bf16* result = nullptr;
  const cu::Status st = cu::newton_schulz5(mm, X.p, X2.p, A.p, Bm.p, count, m, n, &result, nullptr);
  NC_CHECK(st.ok) << " " << st.message;
  cu::matmul_destroy(mm);
  if (!st.ok) return;
  std::vector<bf16> xr = (result == X.p ? X : X2).download();
  std::vector<double> ns_got = to_double(xr), ns_ref;
  for (int i = 0; i < count; i++) {
    const std::vector<bf16> xi(x1.begin() + i * numel, x1.begin() + (i + 1) * numel);
    std::vector<float> fx((size_t)numel);
    for (int64_t e = 0; e < numel; e++) fx[(size_t)e] = __bfloat162float(xi[(size_t)e]);
    std::vector<float> scratch((size_t)nc::muon_scratch_floats(rows, cols));
    nc::newton_schulz5(fx.data(), m, n, scratch.data());
    ns_ref.insert(ns_ref.end(), fx.begin(), fx.end());
  }
  NC_CHECK_CLOSE("newton-schulz (bf16 vs fp32)", ns_got, ns_ref, 0.05);

  // Update: p -= lr * sqrt(max(1, rows/cols)) * X^(T), from the kernel's own X; fp32 arithmetic.
  const double lr = 0.02;
  NC_REQUIRE_CUDA(cu::muon_update(dp.p, pb.p, doff.p, result, count, rows, cols, lr, nullptr));
  std::vector<float> ph = dp.download();
  std::vector<bf16> pbh = pb.download();
  std::vector<double> p_got, p_ref;
  const double scale = lr * std::sqrt(std::max(1.0, (double)rows / (double)cols));
  for (int i = 0; i < count; i++)
    for (int64_t r = 0; r < rows; r++)
      for (int64_t c = 0; c < cols; c++) {
        const size_t e = (size_t)(offsets[(size_t)i] + r * cols + c);
        const double x = __bfloat162float(xr[(size_t)(i * numel + (tall ? c * rows + r : r * cols + c))]);
        p_got.push_back(ph[e]);
        p_ref.push_back(p[e] - scale * x);
        NC_CHECK(bits_of(pbh[e]) == bits_of(__float2bfloat16(ph[e]))) << " bf16 copy at " << e;
      }
  NC_CHECK_CLOSE("p after update", p_got, p_ref, 1e-6);
}

}  // namespace

NC_TEST(Muon, WideMatricesMatchCpu) { check_muon(48, 96, 70); }
NC_TEST(Muon, TallMatricesAreTransposed) { check_muon(100, 36, 80); }

NC_TEST(GradNorm, NormAndClipMatchDouble) {
  const int64_t n = 1000003;
  std::vector<float> g = randn_f32((size_t)n, 90, 1e-3);
  DeviceBuffer<float> dg(g), out(2);
  DeviceBuffer<unsigned char> scratch(cu::grad_norm_scratch_bytes());
  double ss = 0;
  for (float x : g) ss += (double)x * x;
  const double norm = std::sqrt(ss);
  for (const float max_norm : {0.5f, 10.0f}) {  // clipping active, then not
    NC_REQUIRE_CUDA(cu::grad_norm(dg.p, n, scratch.p, out.p, out.p + 1, max_norm, nullptr));
    std::vector<float> h = out.download();
    // Double accumulation, one rounding to fp32 at the end: within 1e-6 relative.
    NC_CHECK(std::fabs(h[0] - norm) <= 1e-6 * norm) << " norm " << h[0] << " vs " << norm;
    const double clip = std::min(1.0, (double)max_norm / (norm + 1e-6));
    NC_CHECK(std::fabs(h[1] - clip) <= 1e-6 * clip) << " clip " << h[1] << " vs " << clip;
  }
  // Fixed grid, fixed order: the same bits every time.
  std::vector<float> a = out.download();
  NC_REQUIRE_CUDA(cu::grad_norm(dg.p, n, scratch.p, out.p, out.p + 1, 10.0f, nullptr));
  NC_CHECK(out.download() == a);
}
