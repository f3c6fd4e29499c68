// attention_path.cpp — the run-time choice between cuDNN and SIMT attention (attention_path.h).
#include "attention_path.h"

#include <cstdlib>
#include <cstring>

namespace nc::cuda {

Status attention_paths_create(AttentionPaths* out) {
  *out = AttentionPaths{};
  const char* env = std::getenv("NANOCHAT_ATTENTION");
  const std::string mode = env && *env ? env : "auto";
  if (mode != "auto" && mode != "simt" && mode != "cudnn")
    return Status::fail("NANOCHAT_ATTENTION=" + mode + " is not one of auto, simt, cudnn");
  if (mode == "simt") {
    out->cudnn_unavailable = "NANOCHAT_ATTENTION=simt";
    return Status::success();
  }
  const Status st = cudnn_attention_create(&out->cudnn);
  if (st.ok) return Status::success();
  if (mode == "cudnn") return Status::fail("NANOCHAT_ATTENTION=cudnn, but " + st.message);
  out->cudnn_unavailable = st.message;
  return Status::success();
}

void attention_paths_destroy(AttentionPaths* p) {
  cudnn_attention_destroy(p->cudnn);
  p->cudnn = nullptr;
}

AttnImpl attention_impl_for(const AttentionPaths& p, const AttnDims& s) {
  return p.cudnn && cudnn_attention_supports(s) ? AttnImpl::Cudnn : AttnImpl::Simt;
}

Status attention_train_forward(const AttentionPaths& p, bf16* out, int64_t ldo, float* lse, const bf16* q,
                               const bf16* k, const bf16* v, int64_t ld, const AttnDims& s, cudaStream_t stream) {
  if (attention_impl_for(p, s) == AttnImpl::Cudnn)
    return cudnn_attention_forward(p.cudnn, out, ldo, lse, q, k, v, ld, s, stream);
  return from_cuda(attention_forward(out, ldo, lse, q, ld, k, ld, s.Tq * ld, v, ld, s.Tq * ld, s, stream),
                   "attention forward (SIMT)");
}

Status attention_train_backward(const AttentionPaths& p, bf16* dq, bf16* dk, bf16* dv, int64_t ldd, const bf16* dout,
                                int64_t lddo, const bf16* out, int64_t ldo, const float* lse, const bf16* q,
                                const bf16* k, const bf16* v, int64_t ld, const AttnDims& s, void* scratch,
                                cudaStream_t stream) {
  if (attention_impl_for(p, s) == AttnImpl::Cudnn)
    return cudnn_attention_backward(p.cudnn, dq, dk, dv, ldd, dout, lddo, out, ldo, lse, q, k, v, ld, s, stream);
  return from_cuda(attention_backward(dq, dk, dv, ldd, dout, lddo, out, ldo, lse, q, k, v, ld, s, scratch, stream),
                   "attention backward (SIMT)");
}

}  // namespace nc::cuda
