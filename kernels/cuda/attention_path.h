// attention_path.h — which attention implementation runs, chosen at run time: cuDNN's fused flash
// attention where it loads and takes the shape (the training form), the SIMT kernels otherwise (the
// KV-cache form, head dims cuDNN does not take, machines without cuDNN). NANOCHAT_ATTENTION overrides:
//   auto (default) | simt (never cuDNN) | cudnn (cuDNN for the training form; an error if it is missing)
// The forward and backward of one shape always take the same path (the log-sum-exp passes between them).
#pragma once

#include <string>

#include "attention_cudnn.h"
#include "kernels.h"

namespace nc::cuda {

enum class AttnImpl { Simt, Cudnn };

struct AttentionPaths {
  CudnnAttention* cudnn = nullptr;  // null when not used
  std::string cudnn_unavailable;    // why cuDNN is not used (empty when it is), for the caller's log
};

Status attention_paths_create(AttentionPaths* out);
void attention_paths_destroy(AttentionPaths* p);
AttnImpl attention_impl_for(const AttentionPaths& p, const AttnDims& s);

// The training form (pos0 = 0; q, k, v heads of one buffer with stride ld) on the chosen path.
// scratch: attention_backward_scratch_bytes(s) (used by the SIMT path).
Status attention_train_forward(const AttentionPaths& p, bf16* out, int64_t ldo, float* lse, const bf16* q,
                               const bf16* k, const bf16* v, int64_t ld, const AttnDims& s, cudaStream_t stream);
Status attention_train_backward(const AttentionPaths& p, bf16* dq, bf16* dk, bf16* dv, int64_t ldd, const bf16* dout,
                                int64_t lddo, const bf16* out, int64_t ldo, const float* lse, const bf16* q,
                                const bf16* k, const bf16* v, int64_t ld, const AttnDims& s, void* scratch,
                                cudaStream_t stream);

}  // namespace nc::cuda
