// attention_cudnn.h — the fast path of causal GQA attention: cuDNN's fused flash attention (SDPA)
// through the cudnn_frontend graph API, in the same layout and with the same outputs as the SIMT
// kernels of kernels.h (out, and the log-sum-exp [B, H, T] the backward reads), so the model can
// choose per call (cudnn_attention_supports) and a GPU test can compare the two. The training form
// only (pos0 = 0, keys = the same rows); KV-cache prefill and decode use the SIMT kernel.
// GPU: attention_cudnn.cpp (graphs built once per shape and cached; deterministic backward).
// Emulator: kernels/emu/attention_cudnn_emu.cpp routes the same calls to the CPU backend's attention
// with the inputs and outputs rounded as on the GPU — the emulation of cuDNN stops at this wrapper.
#pragma once

#include "kernels.h"

namespace nc::cuda {

struct CudnnAttention;

// Loads cuDNN and creates a handle; fails with a message naming what is missing.
Status cudnn_attention_create(CudnnAttention** out);
void cudnn_attention_destroy(CudnnAttention* a);
// The training form with a head dim cuDNN's fused kernels take (a multiple of 8, at most 256).
inline bool cudnn_attention_supports(const AttnDims& s) {
  return s.pos0 == 0 && s.D % 8 == 0 && s.D <= 256 && s.Hkv > 0 && s.H % s.Hkv == 0;
}
// q, k, v: heads of the rows of one buffer (stride ld), as in attention_backward.
Status cudnn_attention_forward(CudnnAttention* a, bf16* out, int64_t ldo, float* lse, const bf16* q, const bf16* k,
                               const bf16* v, int64_t ld, const AttnDims& s, cudaStream_t stream);
Status cudnn_attention_backward(CudnnAttention* a, bf16* dq, bf16* dk, bf16* dv, int64_t ldd, const bf16* dout,
                                int64_t lddo, const bf16* out, int64_t ldo, const float* lse, const bf16* q,
                                const bf16* k, const bf16* v, int64_t ld, const AttnDims& s, cudaStream_t stream);

}  // namespace nc::cuda
