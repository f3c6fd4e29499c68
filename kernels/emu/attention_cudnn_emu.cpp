// attention_cudnn_emu.cpp — the emulator's route for the cuDNN attention wrapper (attention_cudnn.h):
// the CPU backend's causal GQA attention (fp32, ops.h) on the bf16 inputs, with outputs rounded to bf16
// as cuDNN writes them (the log-sum-exp stays fp32). It emulates what the wrapper computes, not
// cuDNN's graph API, so a model under emulation can take the same code path as on a GPU.
#include <vector>

#include "attention_cudnn.h"
#include "ops.h"

struct nc::cuda::CudnnAttention {
  std::vector<float> in, grad, aux;
};

namespace nc::cuda {

namespace {

// Gathers heads [col0, col0 + width) of rows of src (ld) into the packed float buffer (stride w).
void gather(std::vector<float>& dst, int64_t w, int64_t col, const bf16* src, int64_t ld, int64_t rows, int64_t width) {
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < width; c++) dst[(size_t)(r * w + col + c)] = __bfloat162float(src[r * ld + c]);
}
// q, k, v heads of each row, packed [N, H*D + 2*Hkv*D] in fp32.
void gather_qkv(std::vector<float>& dst, const bf16* q, const bf16* k, const bf16* v, int64_t ld, const AttnDims& s) {
  const int64_t N = s.B * s.Tq, HD = s.H * s.D, KV = s.Hkv * s.D, w = HD + 2 * KV;
  dst.assign((size_t)(N * w), 0.0f);
  gather(dst, w, 0, q, ld, N, HD);
  gather(dst, w, HD, k, ld, N, KV);
  gather(dst, w, HD + KV, v, ld, N, KV);
}
void scatter(bf16* dst, int64_t ld, const std::vector<float>& src, int64_t w, int64_t col, int64_t rows, int64_t width) {
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < width; c++) dst[r * ld + c] = __float2bfloat16(src[(size_t)(r * w + col + c)]);
}

}  // namespace

Status cudnn_attention_create(CudnnAttention** out) {
  *out = new CudnnAttention();
  return Status::success();
}

void cudnn_attention_destroy(CudnnAttention* a) { delete a; }

Status cudnn_attention_forward(CudnnAttention* a, bf16* out, int64_t ldo, float* lse, const bf16* q, const bf16* k,
                               const bf16* v, int64_t ld, const AttnDims& s, cudaStream_t) {
  if (!cudnn_attention_supports(s)) return Status::fail("cuDNN attention: unsupported shape (KV-cache form or head dim)");
  const int64_t N = s.B * s.Tq, HD = s.H * s.D, KV = s.Hkv * s.D, w = HD + 2 * KV;
  gather_qkv(a->in, q, k, v, ld, s);
  a->aux.assign((size_t)(N * HD), 0.0f);
  const float* x = a->in.data();
  if (!nc::attention_forward(a->aux.data(), HD, lse, x, w, x + HD, w, s.Tq * w, x + HD + KV, w, s.Tq * w,
                             nc::AttnShape{s.B, s.Tq, s.H, s.Hkv, s.D, 0}))
    return Status::fail("emulated cuDNN attention: out of memory");
  scatter(out, ldo, a->aux, HD, 0, N, HD);
  return Status::success();
}

Status cudnn_attention_backward(CudnnAttention* a, bf16* dq, bf16* dk, bf16* dv, int64_t ldd, const bf16* dout,
                                int64_t lddo, const bf16* out, int64_t ldo, const float* lse, const bf16* q,
                                const bf16* k, const bf16* v, int64_t ld, const AttnDims& s, cudaStream_t) {
  if (!cudnn_attention_supports(s)) return Status::fail("cuDNN attention: unsupported shape (KV-cache form or head dim)");
  const int64_t N = s.B * s.Tq, HD = s.H * s.D, KV = s.Hkv * s.D, w = HD + 2 * KV;
  gather_qkv(a->in, q, k, v, ld, s);
  a->aux.assign((size_t)(N * HD), 0.0f);
  gather(a->aux, HD, 0, dout, lddo, N, HD);
  std::vector<float> o((size_t)(N * HD));
  gather(o, HD, 0, out, ldo, N, HD);
  a->grad.assign((size_t)(N * w), 0.0f);
  const float* x = a->in.data();
  float* g = a->grad.data();
  if (!nc::attention_backward(g, g + HD, g + HD + KV, w, a->aux.data(), HD, o.data(), HD, lse, x, x + HD, x + HD + KV, w,
                              nc::AttnShape{s.B, s.Tq, s.H, s.Hkv, s.D, 0}))
    return Status::fail("emulated cuDNN attention: out of memory");
  scatter(dq, ldd, a->grad, w, 0, N, HD);
  scatter(dk, ldd, a->grad, w, HD, N, KV);
  scatter(dv, ldd, a->grad, w, HD + KV, N, KV);
  return Status::success();
}

}  // namespace nc::cuda
