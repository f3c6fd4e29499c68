// attention.cu — causal GQA attention (query head h reads KV head h / (H/Hkv), scale 1/sqrt(D)),
// flash-attention style on SIMT cores: the portable path, run by the emulator and by any GPU, and the
// reference the cuDNN fast path (attention_cudnn.cpp) is checked against on the GPU.
//   forward:  one block per (query tile of 32, head, batch row); key/value tiles of 32 stream through
//             shared memory with an online softmax, so no [T, T] matrix exists; keeps the log-sum-exp of
//             each row for the backward. Queries may start at pos0 > 0 with keys from a KV cache
//             (prefill over a cache; decode when Tq = 1).
//   backward: training form (pos0 = 0). P is recomputed from the log-sum-exp. Deterministic, without
//             atomics: dK and dV in one kernel per (key tile, KV head), looping over the query heads of
//             the group and the query tiles; dQ in another per (query tile, head); delta =
//             rowsum(dO * O) first. The price is computing P twice.
// Inputs bf16, accumulation fp32 (scores, softmax statistics, output and gradient accumulators all in
// shared memory), outputs rounded to bf16 once.
//
// Floor at d20 (B=32, T=2048, H=10, D=128, causal: half of the T x T blocks), per layer:
//   forward 4*B*H*D*T^2/2 = 0.34 TFLOP, backward 2.5x that = 0.86 TFLOP: at H100's dense bf16 989
//   TFLOP/s 0.35 ms + 0.87 ms (tensor cores: the cuDNN path). This SIMT path runs on fp32 FMA units
//   (H100: 67 TFLOP/s peak) and reaches a fraction of that: it is the fallback, not the fast path.
#include "kernels.h"

namespace nc::cuda {

namespace {

constexpr int kBr = 32, kBc = 32, kThreads = 128;
constexpr int kRowsPerPass = kThreads / kBc;  // score entries: thread -> column tid % 32, rows tid / 32 + 4i
constexpr int kSp = kBc + 1;                  // padded row length of score tiles

size_t forward_smem(int64_t D) { return sizeof(float) * (size_t)(kBr * D + kBc * (D + 1) + kBc * D + kBr * kSp + kBr * D + 3 * kBr); }
size_t dkdv_smem(int64_t D) {
  return sizeof(float) * (size_t)(2 * kBc * (D + 1) + 2 * kBc * D + 2 * kBr * (D + 1) + 2 * kBr * kSp + 2 * kBr);
}
size_t dq_smem(int64_t D) {
  return sizeof(float) * (size_t)(2 * kBr * (D + 1) + kBr * D + 2 * kBc * (D + 1) + kBr * kSp + 2 * kBr);
}

__global__ void attention_forward_kernel(bf16* out, int64_t ldo, float* lse, const bf16* q, int64_t ldq, const bf16* k,
                                         int64_t ldk, int64_t bsk, const bf16* v, int64_t ldv, int64_t bsv, AttnDims s,
                                         float scale) {
  const int64_t D = s.D, Dp = D + 1, b = blockIdx.z, h = blockIdx.y, g = h / (s.H / s.Hkv);
  const int64_t q0 = (int64_t)blockIdx.x * kBr, nq = s.Tq - q0 < kBr ? s.Tq - q0 : kBr;
  const int tid = (int)threadIdx.x;
  float* Qs = dynamic_smem<float>();  // [kBr][D], pre-scaled
  float* Ks = Qs + kBr * D;           // [kBc][D+1]
  float* Vs = Ks + kBc * Dp;          // [kBc][D]
  float* S = Vs + kBc * D;            // [kBr][kSp]: scores, then probabilities
  float* O = S + kBr * kSp;           // [kBr][D]
  float* row_m = O + kBr * D;         // [kBr] running max, sum, rescale factor
  float* row_l = row_m + kBr;
  float* row_a = row_l + kBr;

  for (int64_t e = tid; e < kBr * D; e += kThreads) {
    const int64_t r = e / D, d = e - r * D, rr = r < nq ? r : nq - 1;  // padding rows repeat the last query
    Qs[e] = to_float(q[(b * s.Tq + q0 + rr) * ldq + h * D + d]) * scale;
    O[e] = 0.0f;
  }
  for (int r = tid; r < kBr; r += kThreads) {
    row_m[r] = -INFINITY;
    row_l[r] = 0.0f;
  }
  const int64_t kend = s.pos0 + q0 + nq;  // keys 0 .. kend-1 are visible to some query of the tile
  for (int64_t k0 = 0; k0 < kend; k0 += kBc) {
    const int64_t nk = kend - k0 < kBc ? kend - k0 : kBc;
    __syncthreads();  // the previous tile is fully consumed
    for (int64_t e = tid; e < kBc * D; e += kThreads) {
      const int64_t c = e / D, d = e - c * D;
      const bool ok = c < nk;
      Ks[c * Dp + d] = ok ? to_float(k[b * bsk + (k0 + c) * ldk + g * D + d]) : 0.0f;
      Vs[e] = ok ? to_float(v[b * bsv + (k0 + c) * ldv + g * D + d]) : 0.0f;
    }
    __syncthreads();
    {
      const int c = tid % kBc;
      for (int r = tid / kBc; r < kBr; r += kRowsPerPass) {
        const int64_t qpos = s.pos0 + q0 + (r < nq ? r : nq - 1);
        float dot = 0.0f;
        for (int64_t d = 0; d < D; d++) dot += Qs[r * D + d] * Ks[c * Dp + d];
        S[r * kSp + c] = (c < nk && k0 + c <= qpos) ? dot : -INFINITY;
      }
    }
    __syncthreads();
    if (tid < kBr) {  // online softmax, one thread per row (key 0 is in every row's first tile)
      const int r = tid;
      float mx = row_m[r];
      for (int c = 0; c < kBc; c++) mx = fmaxf(mx, S[r * kSp + c]);
      const float alpha = expf(row_m[r] - mx);
      float sum = 0.0f;
      for (int c = 0; c < kBc; c++) {
        const float p = expf(S[r * kSp + c] - mx);
        S[r * kSp + c] = p;
        sum += p;
      }
      row_l[r] = row_l[r] * alpha + sum;
      row_m[r] = mx;
      row_a[r] = alpha;
    }
    __syncthreads();
    for (int64_t e = tid; e < kBr * D; e += kThreads) {
      const int64_t r = e / D, d = e - r * D;
      float acc = O[e] * row_a[r];
      for (int c = 0; c < kBc; c++) acc += S[r * kSp + c] * Vs[c * D + d];
      O[e] = acc;
    }
  }
  __syncthreads();
  for (int64_t e = tid; e < kBr * D; e += kThreads) {
    const int64_t r = e / D, d = e - r * D;
    if (r < nq) out[(b * s.Tq + q0 + r) * ldo + h * D + d] = from_float<bf16>(O[e] / row_l[r]);
  }
  if (lse && tid < nq) lse[(b * s.H + h) * s.Tq + q0 + tid] = row_m[tid] + logf(row_l[tid]);
}

// delta[b, h, t] = sum_d dO[t, h, d] * O[t, h, d]; one warp per (row, head).
__global__ void attention_delta_kernel(float* delta, const bf16* dout, int64_t lddo, const bf16* out, int64_t ldo,
                                       AttnDims s) {
  const int64_t item = (int64_t)blockIdx.x * (blockDim.x / kWarp) + threadIdx.x / kWarp;
  const int lane = (int)threadIdx.x % kWarp;
  if (item >= s.B * s.Tq * s.H) return;
  const int64_t row = item / s.H, h = item - row * s.H, b = row / s.Tq, t = row - b * s.Tq;
  float acc = 0.0f;
  for (int64_t d = lane; d < s.D; d += kWarp)
    acc += to_float(dout[row * lddo + h * s.D + d]) * to_float(out[row * ldo + h * s.D + d]);
  acc = warp_sum(acc);
  if (lane == 0) delta[(b * s.H + h) * s.Tq + t] = acc;
}

// Loads rows r0 .. r0+n-1 of head `head` (D wide) into a [kTile][D+1] tile, zeros past n.
template <int kTile>
__device__ __forceinline__ void load_rows(float* dst, const bf16* src, int64_t ld, int64_t r0, int64_t n, int64_t head,
                                          int64_t D, int tid) {
  for (int64_t e = tid; e < kTile * D; e += kThreads) {
    const int64_t r = e / D, d = e - r * D;
    dst[r * (D + 1) + d] = r < n ? to_float(src[(r0 + r) * ld + head * D + d]) : 0.0f;
  }
}

// dS[r][c] = P * (dP - delta) for one (query tile, key tile) pair; P[r][c] too when P is not null.
__device__ __forceinline__ void score_grads(float* P, float* dS, const float* Qs, const float* dOs, const float* Ks,
                                            const float* Vs, const float* lse_s, const float* delta_s, int64_t q0,
                                            int64_t nq, int64_t k0, int64_t nk, int64_t D, float scale, int tid) {
  const int64_t Dp = D + 1;
  const int c = tid % kBc;
  for (int r = tid / kBc; r < kBr; r += kRowsPerPass) {
    const bool ok = r < nq && c < nk && k0 + c <= q0 + r;
    float qk = 0.0f, dp = 0.0f;
    for (int64_t d = 0; d < D; d++) {
      qk += Qs[r * Dp + d] * Ks[c * Dp + d];
      dp += dOs[r * Dp + d] * Vs[c * Dp + d];
    }
    const float p = ok ? expf(qk * scale - lse_s[r]) : 0.0f;
    if (P) P[r * kSp + c] = p;
    dS[r * kSp + c] = p * (dp - delta_s[r]);
  }
}

__global__ void attention_dkdv_kernel(bf16* dk, bf16* dv, int64_t ldd, const bf16* dout, int64_t lddo,
                                      const float* lse, const float* delta, const bf16* q, const bf16* k,
                                      const bf16* v, int64_t ld, AttnDims s, float scale) {
  const int64_t D = s.D, Dp = D + 1, T = s.Tq, b = blockIdx.z, g = blockIdx.y, group = s.H / s.Hkv;
  const int64_t k0 = (int64_t)blockIdx.x * kBc, nk = T - k0 < kBc ? T - k0 : kBc;
  const int tid = (int)threadIdx.x;
  float* Ks = dynamic_smem<float>();  // [kBc][D+1]
  float* Vs = Ks + kBc * Dp;          // [kBc][D+1]
  float* dK = Vs + kBc * Dp;          // [kBc][D]
  float* dV = dK + kBc * D;           // [kBc][D]
  float* Qs = dV + kBc * D;           // [kBr][D+1]
  float* dOs = Qs + kBr * Dp;         // [kBr][D+1]
  float* P = dOs + kBr * Dp;          // [kBr][kSp]
  float* dS = P + kBr * kSp;          // [kBr][kSp]
  float* lse_s = dS + kBr * kSp;      // [kBr]
  float* delta_s = lse_s + kBr;       // [kBr]

  load_rows<kBc>(Ks, k + b * T * ld, ld, k0, nk, g, D, tid);
  load_rows<kBc>(Vs, v + b * T * ld, ld, k0, nk, g, D, tid);
  for (int64_t e = tid; e < kBc * D; e += kThreads) dK[e] = dV[e] = 0.0f;
  for (int64_t h = g * group; h < (g + 1) * group; h++) {
    for (int64_t q0 = k0; q0 < T; q0 += kBr) {  // earlier query tiles see none of these keys
      const int64_t nq = T - q0 < kBr ? T - q0 : kBr;
      __syncthreads();
      load_rows<kBr>(Qs, q + b * T * ld, ld, q0, nq, h, D, tid);
      load_rows<kBr>(dOs, dout + b * T * lddo, lddo, q0, nq, h, D, tid);
      for (int r = tid; r < kBr; r += kThreads) {
        lse_s[r] = r < nq ? lse[(b * s.H + h) * T + q0 + r] : 0.0f;
        delta_s[r] = r < nq ? delta[(b * s.H + h) * T + q0 + r] : 0.0f;
      }
      __syncthreads();
      score_grads(P, dS, Qs, dOs, Ks, Vs, lse_s, delta_s, q0, nq, k0, nk, D, scale, tid);
      __syncthreads();
      for (int64_t e = tid; e < kBc * D; e += kThreads) {
        const int64_t c = e / D, d = e - c * D;
        float av = dV[e], ak = dK[e];
        for (int r = 0; r < kBr; r++) {
          av += P[r * kSp + c] * dOs[r * Dp + d];
          ak += dS[r * kSp + c] * Qs[r * Dp + d];
        }
        dV[e] = av;
        dK[e] = ak;
      }
    }
  }
  __syncthreads();
  for (int64_t e = tid; e < kBc * D; e += kThreads) {
    const int64_t c = e / D, d = e - c * D;
    if (c < nk) {
      const int64_t o = (b * T + k0 + c) * ldd + g * D + d;
      dk[o] = from_float<bf16>(dK[e] * scale);
      dv[o] = from_float<bf16>(dV[e]);
    }
  }
}

__global__ void attention_dq_kernel(bf16* dq, int64_t ldd, const bf16* dout, int64_t lddo, const float* lse,
                                    const float* delta, const bf16* q, const bf16* k, const bf16* v, int64_t ld,
                                    AttnDims s, float scale) {
  const int64_t D = s.D, Dp = D + 1, T = s.Tq, b = blockIdx.z, h = blockIdx.y, g = h / (s.H / s.Hkv);
  const int64_t q0 = (int64_t)blockIdx.x * kBr, nq = T - q0 < kBr ? T - q0 : kBr;
  const int tid = (int)threadIdx.x;
  float* Qs = dynamic_smem<float>();  // [kBr][D+1]
  float* dOs = Qs + kBr * Dp;         // [kBr][D+1]
  float* dQ = dOs + kBr * Dp;         // [kBr][D]
  float* Ks = dQ + kBr * D;           // [kBc][D+1]
  float* Vs = Ks + kBc * Dp;          // [kBc][D+1]
  float* dS = Vs + kBc * Dp;          // [kBr][kSp]
  float* lse_s = dS + kBr * kSp;      // [kBr]
  float* delta_s = lse_s + kBr;       // [kBr]

  load_rows<kBr>(Qs, q + b * T * ld, ld, q0, nq, h, D, tid);
  load_rows<kBr>(dOs, dout + b * T * lddo, lddo, q0, nq, h, D, tid);
  for (int64_t e = tid; e < kBr * D; e += kThreads) dQ[e] = 0.0f;
  for (int r = tid; r < kBr; r += kThreads) {
    lse_s[r] = r < nq ? lse[(b * s.H + h) * T + q0 + r] : 0.0f;
    delta_s[r] = r < nq ? delta[(b * s.H + h) * T + q0 + r] : 0.0f;
  }
  for (int64_t k0 = 0; k0 < q0 + nq; k0 += kBc) {
    const int64_t nk = T - k0 < kBc ? T - k0 : kBc;
    __syncthreads();
    load_rows<kBc>(Ks, k + b * T * ld, ld, k0, nk, g, D, tid);
    load_rows<kBc>(Vs, v + b * T * ld, ld, k0, nk, g, D, tid);
    __syncthreads();
    score_grads(nullptr, dS, Qs, dOs, Ks, Vs, lse_s, delta_s, q0, nq, k0, nk, D, scale, tid);
    __syncthreads();
    for (int64_t e = tid; e < kBr * D; e += kThreads) {
      const int64_t r = e / D, d = e - r * D;
      float acc = dQ[e];
      for (int c = 0; c < kBc; c++) acc += dS[r * kSp + c] * Ks[c * Dp + d];
      dQ[e] = acc;
    }
  }
  __syncthreads();
  for (int64_t e = tid; e < kBr * D; e += kThreads) {
    const int64_t r = e / D, d = e - r * D;
    if (r < nq) dq[(b * T + q0 + r) * ldd + h * D + d] = from_float<bf16>(dQ[e] * scale);
  }
}

bool dims_ok(const AttnDims& s) {
  return s.B > 0 && s.Tq > 0 && s.H > 0 && s.Hkv > 0 && s.H % s.Hkv == 0 && s.D > 0 && s.pos0 >= 0 &&
         s.B <= 65535 && s.H <= 65535;
}

}  // namespace

cudaError_t attention_forward(bf16* out, int64_t ldo, float* lse, const bf16* q, int64_t ldq, const bf16* k,
                              int64_t ldk, int64_t bsk, const bf16* v, int64_t ldv, int64_t bsv, const AttnDims& s,
                              cudaStream_t stream) {
  if (!dims_ok(s)) return cudaErrorInvalidValue;
  const size_t smem = forward_smem(s.D);
  NC_CUDA_TRY(allow_dynamic_smem(attention_forward_kernel, smem));
  const dim3 grid((unsigned)ceil_div(s.Tq, kBr), (unsigned)s.H, (unsigned)s.B);
  return launch(attention_forward_kernel, grid, kThreads, smem, stream, out, ldo, lse, q, ldq, k, ldk, bsk, v, ldv, bsv,
                s, (float)(1.0 / sqrt((double)s.D)));
}

size_t attention_backward_scratch_bytes(const AttnDims& s) { return sizeof(float) * (size_t)(s.B * s.H * s.Tq); }

cudaError_t attention_backward(bf16* dq, bf16* dk, bf16* dv, int64_t ldd, const bf16* dout, int64_t lddo,
                               const bf16* out, int64_t ldo, const float* lse, const bf16* q, const bf16* k,
                               const bf16* v, int64_t ld, const AttnDims& s, void* scratch, cudaStream_t stream) {
  if (!dims_ok(s) || s.pos0 != 0) return cudaErrorInvalidValue;
  float* delta = static_cast<float*>(scratch);
  const float scale = (float)(1.0 / sqrt((double)s.D));
  const int64_t items = s.B * s.Tq * s.H;
  NC_CUDA_TRY(launch(attention_delta_kernel, (unsigned)ceil_div(items, 8), 256, 0, stream, delta, dout, lddo, out, ldo, s));
  const size_t smem_kv = dkdv_smem(s.D), smem_q = dq_smem(s.D);
  NC_CUDA_TRY(allow_dynamic_smem(attention_dkdv_kernel, smem_kv));
  NC_CUDA_TRY(allow_dynamic_smem(attention_dq_kernel, smem_q));
  const dim3 grid_kv((unsigned)ceil_div(s.Tq, kBc), (unsigned)s.Hkv, (unsigned)s.B);
  NC_CUDA_TRY(launch(attention_dkdv_kernel, grid_kv, kThreads, smem_kv, stream, dk, dv, ldd, dout, lddo, lse,
                     (const float*)delta, q, k, v, ld, s, scale));
  const dim3 grid_q((unsigned)ceil_div(s.Tq, kBr), (unsigned)s.H, (unsigned)s.B);
  return launch(attention_dq_kernel, grid_q, kThreads, smem_q, stream, dq, ldd, dout, lddo, lse, (const float*)delta, q,
                k, v, ld, s, scale);
}

}  // namespace nc::cuda
