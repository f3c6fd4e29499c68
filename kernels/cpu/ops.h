// ops.h — the layer kernels of the CPU backend, one file per layer (each explains itself at the top).
// They are templates over the scalar type: the library runs float; the tests instantiate double so
// that every backward can be checked against finite differences of the very same code.
// Conventions (as in llm.c): activation gradients are written (=); parameter gradients accumulate (+=).
// "ld" arguments are row strides in elements, so kernels can read q, k and v in place from one
// [N, QKV] buffer or from a KV cache.
#pragma once

#include <cstdint>

namespace nc {

// Below these sizes a loop runs on the calling thread alone: waking the OpenMP team costs microseconds
// on a busy machine and milliseconds on a VM whose idle vCPU has to be rescheduled, which would dominate
// small work such as single-token decode.
constexpr int64_t kMinParallelWork = (int64_t)1 << 15;  // elements touched
constexpr double kMinParallelFlops = 4.0e6;             // attention FLOPs

// embedding.cpp ----------------------------------------------------------------------------------
template <typename T>
void embedding_forward(T* out /*[N,C]*/, const T* wte /*[V,C]*/, const int32_t* idx /*[N]*/, int64_t N, int64_t C);
template <typename T>
void embedding_backward(T* dwte /*[V,C] +=*/, const T* dout /*[N,C]*/, const int32_t* idx /*[N]*/, int64_t N,
                        int64_t C);

// rmsnorm.cpp ------------------------------------------------------------------------------------
// eps of F.rms_norm(x, (dim,)) for float32 input when eps=None: torch.finfo(torch.float32).eps.
constexpr double kRmsNormEps = 1.1920928955078125e-07;
// Row (t, h) of x is x[t*ldx + h*dim .. +dim]; y may alias x (same ld). rstd [N*heads].
template <typename T>
void rmsnorm_forward(T* y, int64_t ldy, T* rstd, const T* x, int64_t ldx, int64_t N, int64_t heads, int64_t dim);
// dx = rstd * (dy - y * mean(dy*y)), written or (accumulate) added; dx may alias dy (same ld).
template <typename T>
void rmsnorm_backward(T* dx, int64_t lddx, const T* dy, int64_t lddy, const T* y, int64_t ldy, const T* rstd, int64_t N,
                      int64_t heads, int64_t dim, bool accumulate);

// rotary.cpp -------------------------------------------------------------------------------------
// cos/sin [len, D/2] of position p * inv_freq[j], inv_freq[j] = base^(-2j/D).
void rotary_table(float* cos_t, float* sin_t, int64_t len, int64_t D, double base);
// In place on `heads` heads of D per row; row (b, t) at x[(b*Tn + t)*ldx], position pos0 + t.
template <typename T>
void rotary_forward(T* x, int64_t ldx, const float* cos_t, const float* sin_t, int64_t B, int64_t Tn, int64_t pos0,
                    int64_t heads, int64_t D);
template <typename T>
void rotary_backward(T* dx, int64_t ldx, const float* cos_t, const float* sin_t, int64_t B, int64_t Tn, int64_t pos0,
                     int64_t heads, int64_t D);

// attention.cpp ----------------------------------------------------------------------------------
// Causal softmax attention, scale 1/sqrt(D), query head h reads kv head h / (H/Hkv).
// Queries are rows t = 0..Tq-1 at absolute positions pos0 + t; keys 0..pos0+Tq-1 are available.
struct AttnShape {
  int64_t B, Tq, H, Hkv, D, pos0;
};
// q row (b,t) at q[(b*Tq + t)*ldq], head h at +h*D; key j of batch b at k[b*bsk + j*ldk], head at +g*D.
// out like q (ldo); lse [B, H, Tq] (may be null).
// Both return false only when their per-thread scratch cannot be allocated.
template <typename T>
bool attention_forward(T* out, int64_t ldo, T* lse, const T* q, int64_t ldq, const T* k, int64_t ldk, int64_t bsk,
                       const T* v, int64_t ldv, int64_t bsv, const AttnShape& s);
// Training form (pos0 = 0, keys = the same Tq rows). Writes dq, dk, dv (=).
template <typename T>
bool attention_backward(T* dq, T* dk, T* dv, int64_t ldd, const T* dout, int64_t lddo, const T* out, int64_t ldo,
                        const T* lse, const T* q, const T* k, const T* v, int64_t ld, const AttnShape& s);

// FLOPs the two functions above perform for shape s (causal blocks only), for the profile.
double attention_flops(const AttnShape& s, bool backward);

// mlp.cpp ----------------------------------------------------------------------------------------
template <typename T>
void relu2_forward(T* out, const T* h, int64_t n);  // out = relu(h)^2; out may alias h
template <typename T>
void relu2_backward(T* dh, const T* dout, const T* h, int64_t n);  // dh = dout * 2 relu(h); dh may alias dout

// softcap_ce.cpp ---------------------------------------------------------------------------------
// logits [rows, V] raw in. losses[r] = CE(cap*tanh(z/cap), target) (0 when target == -1).
// With grad, logits are overwritten by dscale * dloss/dz (zero rows for ignored targets).
// softcap <= 0 means no cap.
template <typename T>
void softcap_ce(T* logits, const int32_t* targets, int64_t rows, int64_t V, T softcap, T* losses, T dscale, bool grad);
// The training form with one gradient scale per row: logits are overwritten by row_dscale[r] * dloss/dz
// (zero rows for ignored targets); losses as above.
template <typename T>
void softcap_ce_scaled(T* logits, const int32_t* targets, int64_t rows, int64_t V, T softcap, T* losses,
                       const T* row_dscale);
template <typename T>
void softcap_apply(T* logits, int64_t n, T softcap);
// argmax[r] = index of the largest logit of row r (the lowest index on ties).
template <typename T>
void row_argmax(const T* logits, int64_t rows, int64_t V, int32_t* argmax);

// adamw.cpp --------------------------------------------------------------------------------------
struct AdamHyper {
  double lr, beta1, beta2, eps, weight_decay, grad_scale;
  int64_t t;  // step count after this step (1 on the first)
};
void adamw_update(float* p, const float* g, float* m, float* v, int64_t n, const AdamHyper& h);

// sampling.cpp -----------------------------------------------------------------------------------
// One token per row of softcapped logits [rows, V] by nanochat.h's sampling rule (row r draws the
// uniform of seeds[r] at position pos; seeds may be null when temperature is 0); out_logprobs (may be
// null): the chosen token's log_softmax over the whole row.
void sample_rows(const float* logits, int64_t rows, int64_t V, float temperature, int32_t top_k, const uint64_t* seeds,
                 int64_t pos, int32_t* out_tokens, float* out_logprobs);

// muon.cpp ---------------------------------------------------------------------------------------
int64_t muon_scratch_floats(int64_t rows, int64_t cols);
// X [m, n] with m <= n, orthogonalized in place: 5 Newton-Schulz iterations after X /= ||X||_F + 1e-7.
void newton_schulz5(float* X, int64_t m, int64_t n, float* scratch);
void muon_update(float* p /*[rows,cols]*/, const float* g, float* buf, int64_t rows, int64_t cols, double lr,
                 double momentum, double grad_scale, float* scratch);

}  // namespace nc
