// matmul_emu.cpp — the emulator's route for matmul() (kernels/cuda/matmul.h): what cuBLASLt computes,
// on the CPU. bf16 inputs are widened to fp32 (exactly), the products are summed in fp32 by OpenBLAS
// (cuBLASLt with CUBLAS_COMPUTE_32F accumulates in fp32 too, in another order), then alpha, beta and C
// are applied in fp32 and D is rounded to its type once — the GPU's epilogue.
#include <cblas.h>

#include <vector>

#include "matmul.h"

struct nc::cuda::MatmulHandle {
  std::vector<float> a, b, p;  // widened inputs and the product, reused between calls
};

namespace nc::cuda {

namespace {
void widen(std::vector<float>& dst, const bf16* src, int64_t rows, int64_t cols, int64_t ld) {
  dst.resize((size_t)(rows * cols));
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < cols; c++) dst[(size_t)(r * cols + c)] = __bfloat162float(src[r * ld + c]);
}
}  // namespace

Status matmul_create(MatmulHandle** out) {
  *out = new MatmulHandle();
  return Status::success();
}

void matmul_destroy(MatmulHandle* h) { delete h; }

Status matmul(MatmulHandle* h, const Gemm& g, cudaStream_t) {
  NC_STATUS_TRY(matmul_validate(g));
  if (g.M == 0 || g.N == 0) return Status::success();
  const int64_t a_rows = g.ta ? g.K : g.M, a_cols = g.ta ? g.M : g.K;
  const int64_t b_rows = g.tb ? g.N : g.K, b_cols = g.tb ? g.K : g.N;
  for (int32_t i = 0; i < g.batch; i++) {
    widen(h->a, g.A + i * g.stride_a, a_rows, a_cols, g.lda);
    widen(h->b, g.B + i * g.stride_b, b_rows, b_cols, g.ldb);
    h->p.resize((size_t)(g.M * g.N));
    cblas_sgemm(CblasRowMajor, g.ta ? CblasTrans : CblasNoTrans, g.tb ? CblasTrans : CblasNoTrans, (int)g.M, (int)g.N,
                (int)g.K, 1.0f, h->a.data(), (int)a_cols, h->b.data(), (int)b_cols, 0.0f, h->p.data(), (int)g.N);
    for (int64_t r = 0; r < g.M; r++) {
      for (int64_t c = 0; c < g.N; c++) {
        float v = g.alpha * h->p[(size_t)(r * g.N + c)];
        if (g.beta != 0.0f) {
          const int64_t ci = i * g.stride_c + r * g.ldc + c;
          v += g.beta * (g.d_type == DType::F32 ? static_cast<const float*>(g.C)[ci]
                                                : __bfloat162float(static_cast<const bf16*>(g.C)[ci]));
        }
        const int64_t di = i * g.stride_d + r * g.ldd + c;
        if (g.d_type == DType::F32) {
          static_cast<float*>(g.D)[di] = v;
        } else {
          static_cast<bf16*>(g.D)[di] = __float2bfloat16(v);
        }
      }
    }
  }
  return Status::success();
}

}  // namespace nc::cuda
