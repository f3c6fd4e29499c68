// test_matmul.cu — the matmul() wrapper (cuBLASLt on the GPU, the CPU route in the emulator) against
// a double-precision loop over the same bf16 inputs: every transpose combination, fp32 and bf16
// outputs, alpha/beta with C = D (accumulate) and C != D, strided batches, odd sizes and leading
// dimensions wider than the matrix.
//
// Tolerance: the inputs are exact bf16 values, so the products are exact and only the fp32
// accumulation order differs from the reference: |err| <= K * 6e-8 * sum|a*b| in the worst case,
// ~1e-6 of the output scale for K <= 200 here (fp32 output: 1e-5 allowed). A bf16 output adds its own
// rounding, at most 2^-8 of the value (2^-7 of the scale allowed).
#include <vector>

#include "util.h"

using namespace nc::cuda;
using namespace nc_test;

namespace {

struct GemmCase {
  bool ta, tb;
  int64_t M, N, K;
  DType dt;
  float alpha, beta;
  bool c_is_d;
  int batch;
};

void run_case(MatmulHandle* mm, const GemmCase& c, uint64_t seed) {
  const int64_t lda = (c.ta ? c.M : c.K) + 3, ldb = (c.tb ? c.K : c.N) + 5, ldd = c.N + 2;
  const int64_t a_rows = c.ta ? c.K : c.M, b_rows = c.tb ? c.N : c.K;
  const int64_t sa = a_rows * lda + 7, sb = b_rows * ldb + 1, sd = c.M * ldd + 3;
  std::vector<float> A = randn_bf16((size_t)(sa * c.batch), seed), B = randn_bf16((size_t)(sb * c.batch), seed + 1);
  std::vector<float> C0 = randn_bf16((size_t)(sd * c.batch), seed + 2);
  DeviceBuffer<bf16> dA(to_bf16(A)), dB(to_bf16(B));
  DeviceBuffer<float> dDf(C0), dCf(C0);
  DeviceBuffer<bf16> dDb(to_bf16(C0)), dCb(to_bf16(C0));
  const bool f32 = c.dt == DType::F32;
  Gemm g;
  g.ta = c.ta, g.tb = c.tb, g.M = c.M, g.N = c.N, g.K = c.K;
  g.A = dA.p, g.lda = lda, g.B = dB.p, g.ldb = ldb;
  g.D = f32 ? (void*)dDf.p : (void*)dDb.p, g.ldd = ldd, g.d_type = c.dt;
  g.C = c.beta == 0.0f ? nullptr : (c.c_is_d ? g.D : (f32 ? (const void*)dCf.p : (const void*)dCb.p));
  g.ldc = ldd;
  g.alpha = c.alpha, g.beta = c.beta;
  g.batch = c.batch, g.stride_a = sa, g.stride_b = sb, g.stride_c = sd, g.stride_d = sd;
  const Status st = matmul(mm, g, nullptr);
  NC_CHECK(st.ok) << " " << st.message;
  if (!st.ok) return;
  std::vector<double> got, ref;
  std::vector<float> Df = dDf.download();
  std::vector<bf16> Db = dDb.download();
  for (int i = 0; i < c.batch; i++) {
    for (int64_t r = 0; r < c.M; r++) {
      for (int64_t col = 0; col < c.N; col++) {
        double acc = 0;
        for (int64_t k = 0; k < c.K; k++) {
          const double a = c.ta ? A[(size_t)(i * sa + k * lda + r)] : A[(size_t)(i * sa + r * lda + k)];
          const double b = c.tb ? B[(size_t)(i * sb + col * ldb + k)] : B[(size_t)(i * sb + k * ldb + col)];
          acc += a * b;
        }
        const size_t e = (size_t)(i * sd + r * ldd + col);
        ref.push_back(c.alpha * acc + c.beta * (double)C0[e]);
        got.push_back(f32 ? (double)Df[e] : (double)__bfloat162float(Db[e]));
      }
    }
  }
  NC_CHECK_CLOSE("matmul", got, ref, f32 ? 1e-5 : 2 * kBf16Unit);
  // Elements outside the matrices (the leading-dimension padding) are untouched.
  for (int i = 0; i < c.batch; i++) {
    for (int64_t r = 0; r < c.M; r++) {
      for (int64_t col = c.N; col < ldd; col++) {
        const size_t e = (size_t)(i * sd + r * ldd + col);
        NC_CHECK((f32 ? Df[e] : __bfloat162float(Db[e])) == C0[e]) << " padding written at " << e;
      }
    }
  }
}

}  // namespace

NC_TEST(Matmul, TransposesTypesAlphaBetaBatches) {
  MatmulHandle* mm = nullptr;
  const Status st = matmul_create(&mm);
  NC_CHECK(st.ok) << " " << st.message;
  if (!st.ok) return;
  const std::vector<GemmCase> cases = {
      {false, true, 37, 29, 61, DType::F32, 1.0f, 0.0f, false, 1},   // y = x W^T (a linear layer)
      {false, false, 33, 40, 17, DType::F32, 1.0f, 1.0f, true, 1},   // dx = dy W, accumulated in place
      {true, false, 24, 19, 45, DType::F32, 1.0f, 1.0f, true, 1},    // dW += dy^T x
      {true, true, 16, 21, 13, DType::BF16, 0.5f, 0.0f, false, 1},
      {false, true, 32, 32, 64, DType::BF16, 2.0315f, -4.775f, false, 3},  // Newton-Schulz's b*A + c*A*A
      {false, false, 32, 96, 32, DType::BF16, 1.0f, 3.4445f, false, 2},    // a*X + B X
      {false, true, 1, 200, 128, DType::F32, 1.0f, 0.0f, false, 1},       // a single row (decode)
  };
  uint64_t seed = 100;
  for (const GemmCase& c : cases) run_case(mm, c, seed += 10);
  matmul_destroy(mm);
}

NC_TEST(Matmul, RejectsInconsistentArguments) {
  MatmulHandle* mm = nullptr;
  NC_CHECK(matmul_create(&mm).ok);
  if (!mm) return;
  DeviceBuffer<bf16> a(64);
  DeviceBuffer<float> d(64);
  Gemm g;
  g.M = 4, g.N = 4, g.K = 4, g.A = a.p, g.lda = 4, g.B = a.p, g.ldb = 4, g.D = d.p, g.ldd = 4;
  g.beta = 1.0f;  // but no C
  Status st = matmul(mm, g, nullptr);
  NC_CHECK(!st.ok && st.message.find("beta") != std::string::npos) << " " << st.message;
  g.beta = 0.0f;
  g.lda = 3;
  st = matmul(mm, g, nullptr);
  NC_CHECK(!st.ok && st.message.find("leading dimension") != std::string::npos) << " " << st.message;
  matmul_destroy(mm);
}
