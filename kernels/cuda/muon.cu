// muon.cu — Muon for the transformer matrices (nanochat A's muon.py), batched over `count` matrices of
// one shape [rows, cols] (e.g. every layer's c_fc), which live anywhere in the flat parameter, gradient
// and momentum buffers (element offsets in a device array):
//   muon_momentum:   buf = lerp(buf, g*gs, 1-mom); X = bf16(lerp(g*gs, buf, mom)), transposed when
//                    rows > cols so X is wide [m, n], m <= n; per-tile sums of squares of the bf16 X
//   muon_normalize:  X /= ||X||_F + 1e-7 (the norm from those partials, in double, in a fixed order)
//   newton_schulz5:  5 times A = X X^T; B = b*A + c*A*A; X = a*X + B X — bf16 in and out with fp32
//                    accumulation, three batched GEMMs per iteration through matmul() (cuBLASLt)
//   muon_update:     p -= lr * sqrt(max(1, rows/cols)) * X (transposed back), and the bf16 copy of p
// Differences from nanochat: the Frobenius norm is taken in fp32/double, not rounded to bf16 first (a
// relative change of the scale below 2^-9, which the iteration is insensitive to).
//
// Floor at d20 per optimizer step (393M matrix parameters in 120 matrices; H100 3.35 TB/s, H200 4.8):
//   Newton-Schulz: 5 iterations of 4*m*m*n + 2*m^3 FLOPs per matrix = 12.6 TFLOP -> 12.7 ms at 989
//   TFLOP/s bf16 (H100 = H200); the elementwise kernels move 30 B per parameter (momentum 14,
//   normalize 4, update 12): 11.8 GB -> 3.5 ms / 2.5 ms.
#include <cmath>

#include "kernels.h"

namespace nc::cuda {

namespace {

constexpr int kTile = 32, kThreads = 256;  // 32x32 tiles, 8 rows of 32 per pass

__global__ void muon_momentum_kernel(bf16* X, float* buf, const float* g, const int64_t* offsets, int64_t rows,
                                     int64_t cols, float momentum, float grad_scale, const float* grad_scale_dev,
                                     double* partials) {
  __shared__ float tile[kTile][kTile + 1];
  __shared__ double scratch[32];
  const int tx = (int)threadIdx.x % kTile, ty = (int)threadIdx.x / kTile;
  const int64_t i = blockIdx.z, off = offsets[i];
  const int64_t r0 = (int64_t)blockIdx.y * kTile, c0 = (int64_t)blockIdx.x * kTile;
  const bool tall = rows > cols;
  const float gs = grad_scale * (grad_scale_dev ? *grad_scale_dev : 1.0f);
  bf16* Xi = X + i * rows * cols;
  double ss = 0.0;
  for (int y = ty; y < kTile; y += kThreads / kTile) {
    const int64_t r = r0 + y, c = c0 + tx;
    float x = 0.0f;
    if (r < rows && c < cols) {
      const int64_t e = off + r * cols + c;
      const float gi = g[e] * gs;
      const float bi = buf[e] + (1.0f - momentum) * (gi - buf[e]);
      buf[e] = bi;
      const bf16 xb = from_float<bf16>(gi + momentum * (bi - gi));
      x = to_float(xb);
      if (!tall) Xi[r * cols + c] = xb;
    }
    tile[y][tx] = x;
    ss += (double)x * (double)x;
  }
  if (tall) {  // X = G^T [cols, rows]: write the tile transposed, coalesced along X's rows
    __syncthreads();
    for (int y = ty; y < kTile; y += kThreads / kTile) {
      const int64_t c = c0 + y, r = r0 + tx;
      if (r < rows && c < cols) Xi[c * rows + r] = from_float<bf16>(tile[tx][y]);
    }
  }
  ss = block_sum(ss, scratch);
  if (threadIdx.x == 0) partials[i * gridDim.x * gridDim.y + blockIdx.y * gridDim.x + blockIdx.x] = ss;
}

__global__ void muon_normalize_kernel(bf16* X, int64_t elems, const double* partials, int64_t tiles) {
  __shared__ double scratch[32];
  __shared__ float inv_norm;
  const int64_t i = blockIdx.y;
  double acc = 0.0;
  for (int64_t t = threadIdx.x; t < tiles; t += blockDim.x) acc += partials[i * tiles + t];
  acc = block_sum(acc, scratch);
  if (threadIdx.x == 0) inv_norm = (float)(1.0 / (sqrt(acc) + 1e-7));
  __syncthreads();
  bf16* Xi = X + i * elems;
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < elems; e += stride)
    Xi[e] = from_float<bf16>(to_float(Xi[e]) * inv_norm);
}

__global__ void muon_update_kernel(float* p, bf16* p_bf16, const int64_t* offsets, const bf16* X, int64_t rows,
                                   int64_t cols, float scale) {
  __shared__ float tile[kTile][kTile + 1];
  const int tx = (int)threadIdx.x % kTile, ty = (int)threadIdx.x / kTile;
  const int64_t i = blockIdx.z, off = offsets[i];
  const int64_t r0 = (int64_t)blockIdx.y * kTile, c0 = (int64_t)blockIdx.x * kTile;
  const bf16* Xi = X + i * rows * cols;
  if (rows > cols) {  // read X [cols, rows] coalesced into the tile, transposed
    for (int y = ty; y < kTile; y += kThreads / kTile) {
      const int64_t c = c0 + y, r = r0 + tx;
      tile[tx][y] = (r < rows && c < cols) ? to_float(Xi[c * rows + r]) : 0.0f;
    }
    __syncthreads();
  }
  for (int y = ty; y < kTile; y += kThreads / kTile) {
    const int64_t r = r0 + y, c = c0 + tx;
    if (r < rows && c < cols) {
      const float x = rows > cols ? tile[y][tx] : to_float(Xi[r * cols + c]);
      const int64_t e = off + r * cols + c;
      const float pe = p[e] - scale * x;
      p[e] = pe;
      if (p_bf16) p_bf16[e] = from_float<bf16>(pe);
    }
  }
}

dim3 tile_grid(int64_t rows, int64_t cols, int count) {
  return dim3((unsigned)ceil_div(cols, kTile), (unsigned)ceil_div(rows, kTile), (unsigned)count);
}

}  // namespace

size_t muon_partials_bytes(int count, int64_t rows, int64_t cols) {
  return (size_t)count * (size_t)ceil_div(rows, kTile) * (size_t)ceil_div(cols, kTile) * sizeof(double);
}

cudaError_t muon_momentum(bf16* X, float* buf, const float* g, const int64_t* offsets, int count, int64_t rows,
                          int64_t cols, float momentum, float grad_scale, const float* grad_scale_dev, void* partials,
                          cudaStream_t stream) {
  if (count <= 0 || rows <= 0 || cols <= 0) return cudaSuccess;
  if (count > 65535) return cudaErrorInvalidValue;
  return launch(muon_momentum_kernel, tile_grid(rows, cols, count), kThreads, 0, stream, X, buf, g, offsets, rows, cols,
                momentum, grad_scale, grad_scale_dev, static_cast<double*>(partials));
}

cudaError_t muon_normalize(bf16* X, int count, int64_t rows, int64_t cols, const void* partials, cudaStream_t stream) {
  if (count <= 0 || rows <= 0 || cols <= 0) return cudaSuccess;
  const int64_t elems = rows * cols, tiles = ceil_div(rows, kTile) * ceil_div(cols, kTile);
  const dim3 grid(grid_for(elems, 512, 64), (unsigned)count);
  return launch(muon_normalize_kernel, grid, 512, 0, stream, X, elems, static_cast<const double*>(partials), tiles);
}

Status newton_schulz5(MatmulHandle* mm, bf16* X, bf16* X2, bf16* A, bf16* Bm, int count, int64_t m, int64_t n,
                      bf16** result, cudaStream_t stream) {
  const float a = 3.4445f, b = -4.7750f, c = 2.0315f;
  bf16* cur = X;
  bf16* nxt = X2;
  for (int it = 0; it < 5; it++) {
    Gemm xxt;  // A = X X^T
    xxt.tb = true;
    xxt.M = m, xxt.N = m, xxt.K = n;
    xxt.A = cur, xxt.lda = n, xxt.B = cur, xxt.ldb = n;
    xxt.D = A, xxt.ldd = m, xxt.d_type = DType::BF16;
    xxt.batch = count, xxt.stride_a = m * n, xxt.stride_b = m * n, xxt.stride_d = m * m;
    NC_STATUS_TRY(matmul(mm, xxt, stream));
    Gemm poly;  // B = c * A A + b * A   (A is symmetric, so A A^T = A A)
    poly.M = m, poly.N = m, poly.K = m;
    poly.A = A, poly.lda = m, poly.B = A, poly.ldb = m;
    poly.C = A, poly.ldc = m, poly.D = Bm, poly.ldd = m, poly.d_type = DType::BF16;
    poly.alpha = c, poly.beta = b;
    poly.batch = count, poly.stride_a = m * m, poly.stride_b = m * m, poly.stride_c = m * m, poly.stride_d = m * m;
    NC_STATUS_TRY(matmul(mm, poly, stream));
    Gemm step;  // X' = a * X + B X
    step.M = m, step.N = n, step.K = m;
    step.A = Bm, step.lda = m, step.B = cur, step.ldb = n;
    step.C = cur, step.ldc = n, step.D = nxt, step.ldd = n, step.d_type = DType::BF16;
    step.alpha = 1.0f, step.beta = a;
    step.batch = count, step.stride_a = m * m, step.stride_b = m * n, step.stride_c = m * n, step.stride_d = m * n;
    NC_STATUS_TRY(matmul(mm, step, stream));
    bf16* t = cur;
    cur = nxt;
    nxt = t;
  }
  *result = cur;
  return Status::success();
}

cudaError_t muon_update(float* p, bf16* p_bf16, const int64_t* offsets, const bf16* X, int count, int64_t rows,
                        int64_t cols, double lr, cudaStream_t stream) {
  if (count <= 0 || rows <= 0 || cols <= 0) return cudaSuccess;
  if (count > 65535) return cudaErrorInvalidValue;
  const float scale = (float)(lr * std::sqrt(std::fmax(1.0, (double)rows / (double)cols)));
  return launch(muon_update_kernel, tile_grid(rows, cols, count), kThreads, 0, stream, p, p_bf16, offsets, X, rows, cols,
                scale);
}

}  // namespace nc::cuda
