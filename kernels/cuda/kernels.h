// kernels.h — the internal API of the CUDA backend: the launchers the model is assembled from (one
// .cu file per layer, each opening with its role and its FLOP/byte floor at d20), plus matmul.h
// (cuBLASLt), sort.h (CUB) and attention_cudnn.h (cuDNN). Everything is asynchronous on `stream`.
//
// Conventions (those of the CPU backend's ops.h, which the tests compare against):
//  - Row-major; "ld" arguments are row strides in elements, so q, k and v are read in place from the
//    [N, (H + 2*Hkv)*D] qkv buffer, and from a KV cache.
//  - Activation gradients are written (=); parameter gradients accumulate (+=); "accumulate" flags
//    say which where both occur.
//  - Precision: bf16 activations and GEMM operands; fp32 master weights, gradients, optimizer state,
//    the residual stream and its gradient, and every statistic (norms, softmax, log-sum-exp, losses).
//  - Launchers return the launch's cudaError_t (cudaErrorInvalidValue for arguments they reject);
//    library wrappers return a Status with a message. Nothing prints, exits or synchronizes.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common.cuh"
#include "matmul.h"
#include "status.h"

namespace nc::cuda {

// eps of nanochat's F.rms_norm(x, (dim,)) for float32 input (torch.finfo(float32).eps), as on the CPU.
constexpr float kRmsNormEps = 1.1920928955078125e-07f;

// embedding.cu --------------------------------------------------------------------------------------
// out [N, C] = wte [V, C] rows idx [N]   (T = float or bf16)
template <typename T>
cudaError_t embedding_forward(T* out, const T* wte, const int32_t* idx, int64_t N, int64_t C, cudaStream_t stream);
size_t embedding_backward_scratch_bytes(int64_t N);
// dwte [V, C] += sum of dout [N, C] rows by token, deterministic (Tg = float or bf16).
template <typename Tg>
cudaError_t embedding_backward(float* dwte, const Tg* dout, const int32_t* idx, int64_t N, int64_t C, int64_t V,
                               void* scratch, size_t scratch_bytes, cudaStream_t stream);

// rmsnorm.cu -----------------------------------------------------------------------------------------
// y [N, dim] (ldy) = x / sqrt(mean(x^2) + eps) (ldx); rstd [N]. Instantiated for (Tx, Ty) =
// (float, bf16) and (float, float).
template <typename Tx, typename Ty>
cudaError_t rmsnorm_forward(Ty* y, int64_t ldy, float* rstd, const Tx* x, int64_t ldx, int64_t N, int64_t dim,
                            cudaStream_t stream);
// dx [N, dim] (fp32, = or +=) = rstd * (dy - y * mean(dy*y)); (Tdy, Ty) = (float, bf16), (float, float).
// dx_bf16 [N, dim] (ldb; optional): the result rounded to bf16 as well (a GEMM operand next).
template <typename Tdy, typename Ty>
cudaError_t rmsnorm_backward(float* dx, int64_t lddx, const Tdy* dy, int64_t lddy, const Ty* y, int64_t ldy,
                             const float* rstd, int64_t N, int64_t dim, bool accumulate, cudaStream_t stream,
                             bf16* dx_bf16 = nullptr, int64_t ldb = 0);

// rope_qknorm.cu -------------------------------------------------------------------------------------
// In place on the first `heads` heads of D of every row (b*Tn + t) of x (ldx): rotary at position
// pos0 + t (tables cos_t/sin_t [len, D/2] fp32), then RMSNorm per head; rstd [B*Tn, heads].
cudaError_t rope_qknorm_forward(bf16* x, int64_t ldx, float* rstd, const float* cos_t, const float* sin_t, int64_t B,
                                int64_t Tn, int64_t pos0, int64_t heads, int64_t D, cudaStream_t stream);
// dx (in place: dout of the normalized heads in, gradient of the pre-rotary heads out); y = the
// forward's output (normalized heads), rstd as the forward wrote it.
cudaError_t rope_qknorm_backward(bf16* dx, int64_t lddx, const bf16* y, int64_t ldy, const float* rstd,
                                 const float* cos_t, const float* sin_t, int64_t B, int64_t Tn, int64_t pos0,
                                 int64_t heads, int64_t D, cudaStream_t stream);

// relu2.cu -------------------------------------------------------------------------------------------
cudaError_t relu2_forward(bf16* out, const bf16* h, int64_t n, cudaStream_t stream);  // out may alias h
// dh = dout * 2 relu(h) (Td = bf16 or float); dh may alias dout when Td is bf16.
template <typename Td>
cudaError_t relu2_backward(bf16* dh, const Td* dout, const bf16* h, int64_t n, cudaStream_t stream);

// softcap_ce.cu --------------------------------------------------------------------------------------
// logits [rows, V] raw z (T = float or bf16); losses [rows] = CE(cap*tanh(z/cap), target), 0 where
// targets[r] == -1; argmax [rows] (optional) of the capped logits, lowest index on ties; with grad the
// logits are overwritten by dscale * weights[r] (optional, else 1) * dCE/dz (zero rows where ignored).
// softcap <= 0: no cap.
template <typename T>
cudaError_t softcap_ce(T* logits, const int32_t* targets, const float* weights, float* losses, int32_t* argmax,
                       int64_t rows, int64_t V, float softcap, float dscale, bool grad, cudaStream_t stream);
template <typename T>
cudaError_t softcap_apply(T* x, int64_t n, float softcap, cudaStream_t stream);  // in place; no-op for cap <= 0

// adamw.cu -------------------------------------------------------------------------------------------
struct AdamwStep {
  double lr, beta1, beta2, eps, weight_decay, grad_scale;
  int64_t t;  // step count after this step (1 on the first)
};
// p, m, v [n] fp32 updated in place from g [n] * grad_scale * (*grad_scale_dev if not null);
// p_bf16 [n] (optional) receives the updated weights rounded to bf16.
cudaError_t adamw_update(float* p, bf16* p_bf16, const float* g, float* m, float* v, int64_t n, const AdamwStep& h,
                         const float* grad_scale_dev, cudaStream_t stream);

// muon.cu --------------------------------------------------------------------------------------------
// `count` matrices [rows, cols] at element offsets offsets[i] (device array) of the flat p/g/buf
// buffers. X, X2 [count, m, n] and A, Bm [count, m, m] bf16 workspaces, m = min(rows, cols),
// n = max(rows, cols); partials: muon_partials_bytes(count, rows, cols).
size_t muon_partials_bytes(int count, int64_t rows, int64_t cols);
cudaError_t muon_momentum(bf16* X, float* buf, const float* g, const int64_t* offsets, int count, int64_t rows,
                          int64_t cols, float momentum, float grad_scale, const float* grad_scale_dev, void* partials,
                          cudaStream_t stream);
cudaError_t muon_normalize(bf16* X, int count, int64_t rows, int64_t cols, const void* partials, cudaStream_t stream);
// Five iterations on X (wide [m, n] per matrix); *result is X or X2, whichever holds the output.
Status newton_schulz5(MatmulHandle* mm, bf16* X, bf16* X2, bf16* A, bf16* Bm, int count, int64_t m, int64_t n,
                      bf16** result, cudaStream_t stream);
// p -= lr * sqrt(max(1, rows/cols)) * X (X transposed back when rows > cols); p_bf16 (optional) too.
cudaError_t muon_update(float* p, bf16* p_bf16, const int64_t* offsets, const bf16* X, int count, int64_t rows,
                        int64_t cols, double lr, cudaStream_t stream);

// grad_norm.cu ---------------------------------------------------------------------------------------
size_t grad_norm_scratch_bytes();
// *out_norm = ||g||_2 (device float); *out_clip (optional) = min(1, max_norm / (norm + 1e-6)).
cudaError_t grad_norm(const float* g, int64_t n, void* scratch, float* out_norm, float* out_clip, float max_norm,
                      cudaStream_t stream);

// kvcache.cu -----------------------------------------------------------------------------------------
// One layer's caches [B, max_len, KV] bf16; rows b*T + t of qkv (ld; k at column k_col, v at v_col)
// go to positions pos0 + t.
cudaError_t kvcache_append(bf16* k_cache, bf16* v_cache, const bf16* qkv, int64_t ld, int64_t k_col, int64_t v_col,
                           int64_t B, int64_t T, int64_t pos0, int64_t max_len, int64_t KV, cudaStream_t stream);

// sampling.cu ----------------------------------------------------------------------------------------
constexpr int kMaxTopK = 1024;
constexpr int kSampleChunks = 256;
// The sampling uniform of ABI v2 (nanochat.h, nc_model_decode_sample) for a row with `seed` choosing
// the token at cache position `pos`: key = splitmix64_mix(seed),
// u = (splitmix64_mix(key + (pos + 1) * 0x9E3779B97F4A7C15) >> 11) * 2^-53. The same function as
// kernels/common/rng.h's sample_uniform (the CPU backend's), written here for device code.
__host__ __device__ inline uint64_t sample_mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
__host__ __device__ inline double sample_uniform(uint64_t seed, int64_t pos) {
  const uint64_t z = sample_mix(sample_mix(seed) + ((uint64_t)pos + 1) * 0x9E3779B97F4A7C15ull);
  return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}
// out [B] token ids from logits [B, V] (raw; softcap applied here when > 0), by ABI v2's rule (see
// sampling.cu): greedy when temperature <= 0 or top_k == 1; else the top_k candidates (1 < top_k < V,
// top_k <= kMaxTopK) or all V, walked in ascending id. seeds [B] (device; not read when greedy); pos:
// the cache position the chosen tokens will occupy. logprobs [B] (optional): log_softmax of the chosen
// token over the whole vocabulary at temperature 1.
template <typename T>
cudaError_t sample_tokens(int32_t* out, float* logprobs, const T* logits, int64_t B, int64_t V, float temperature,
                          int top_k, float softcap, const uint64_t* seeds, int64_t pos, cudaStream_t stream);

// convert.cu -----------------------------------------------------------------------------------------
// out [n] = bf16(in [n]) (round to nearest even).
cudaError_t f32_to_bf16(bf16* out, const float* in, int64_t n, cudaStream_t stream);

// attention.cu (SIMT) --------------------------------------------------------------------------------
struct AttnDims {
  int64_t B, Tq, H, Hkv, D, pos0;
};
// Causal GQA attention, scale 1/sqrt(D). q row (b, t) at q + (b*Tq + t)*ldq, head h at +h*D; key j of
// batch b at k + b*bsk + j*ldk, KV head g at +g*D (same for v). out like q (ldo); lse [B, H, Tq] fp32
// (optional). Queries are at positions pos0 + t and see keys 0 .. pos0 + t.
cudaError_t attention_forward(bf16* out, int64_t ldo, float* lse, const bf16* q, int64_t ldq, const bf16* k,
                              int64_t ldk, int64_t bsk, const bf16* v, int64_t ldv, int64_t bsv, const AttnDims& s,
                              cudaStream_t stream);
size_t attention_backward_scratch_bytes(const AttnDims& s);
// Training form (pos0 = 0, q/k/v rows of one buffer with stride ld): writes dq, dk, dv (=, stride ldd)
// from dout (lddo), the forward's out (ldo) and lse.
cudaError_t attention_backward(bf16* dq, bf16* dk, bf16* dv, int64_t ldd, const bf16* dout, int64_t lddo,
                               const bf16* out, int64_t ldo, const float* lse, const bf16* q, const bf16* k,
                               const bf16* v, int64_t ld, const AttnDims& s, void* scratch, cudaStream_t stream);

}  // namespace nc::cuda
