// matmul.h — the one door to matrix products. On the GPU it is cuBLASLt (matmul_cublaslt.cpp); in the
// emulator the same call runs CPU code with the GPU's rounding (kernels/emu/matmul_emu.cpp): that is
// where the emulation of cuBLASLt stops — at this wrapper, not at cuBLASLt's descriptor API.
//
// Row-major, like the CPU backend's gemm():  D = alpha * op(A) op(B) + beta * C,  op(X) = X or X^T.
//   A [M, K] (or [K, M] with ta), B [K, N] (or [N, K] with tb): bf16.
//   C, D [M, N]: one type, fp32 or bf16. C may be D (accumulate in place: residual adds, gradient
//   accumulation) or another matrix (Newton-Schulz's b*A + c*A*A); null when beta == 0.
//   Products accumulate in fp32; alpha, beta are fp32; D is rounded to its type once, at the end.
//   batch > 1: `batch` products, matrix i at A + i*stride_a etc. (strides in elements; 0 repeats).
// Pointers and leading dimensions should be 16-byte aligned for the fast kernels (any alignment works).
#pragma once

#include <cstdint>

#include "common.cuh"
#include "status.h"

namespace nc::cuda {

enum class DType : int { F32 = 0, BF16 = 1 };

struct Gemm {
  bool ta = false, tb = false;
  int64_t M = 0, N = 0, K = 0;
  const bf16* A = nullptr;
  int64_t lda = 0;
  const bf16* B = nullptr;
  int64_t ldb = 0;
  const void* C = nullptr;
  int64_t ldc = 0;
  void* D = nullptr;
  int64_t ldd = 0;
  DType d_type = DType::F32;  // also C's type
  float alpha = 1.0f, beta = 0.0f;
  int32_t batch = 1;
  int64_t stride_a = 0, stride_b = 0, stride_c = 0, stride_d = 0;
};

// A cuBLASLt handle with its workspace and a cache of plans (descriptors + chosen algorithm) per shape.
struct MatmulHandle;

Status matmul_create(MatmulHandle** out);
void matmul_destroy(MatmulHandle* h);
Status matmul(MatmulHandle* h, const Gemm& g, cudaStream_t stream);

// The arguments' own consistency (shapes, leading dimensions, beta without C), shared by both routes.
Status matmul_validate(const Gemm& g);

}  // namespace nc::cuda
