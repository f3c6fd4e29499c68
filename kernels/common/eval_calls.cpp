// eval_calls.cpp — the eval call every backend gets from here: the per-token losses (bits per byte) are
// the scores without the argmax (nanochat.h: out_argmax may be NULL), so they run the backend's
// nc_model_forward_scores.
#include "nanochat.h"

extern "C" {

NC_API int32_t nc_model_forward_losses(NcModel* m, const int32_t* inputs, const int32_t* targets, int32_t B, int32_t T,
                                       float* out_losses) {
  return nc_model_forward_scores(m, inputs, targets, B, T, out_losses, nullptr);
}

}  // extern "C"
