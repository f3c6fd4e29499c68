// eval_args.h — the device-independent part of the calls without gradients (losses, scores, logits,
// logits at positions): their argument checks and the host-side packing of a logits-at batch up to the
// last requested position. Every backend runs these before its forward pass.
#pragma once

#include <cstdint>
#include <vector>

#include "nanochat.h"

namespace nc {

// inputs not NULL, the batch shape, token ids, and (when targets is not NULL) the targets.
int32_t check_eval_batch(const NcContext* ctx, const NcModelConfig& cfg, const int32_t* inputs,
                         const int32_t* targets, int32_t B, int32_t T);

// A logits-at batch cut to the last requested position: with causal attention the positions after it
// change nothing, so a backend runs its forward pass over [B, T] here instead of the caller's [B, T_in].
struct LastPositionBatch {
  int64_t T = 0;                    // positions per row to compute (the last requested one + 1)
  const int32_t* tokens = nullptr;  // [B, T]: the caller's inputs, or `packed` when T < T_in
  std::vector<int32_t> packed;
  std::vector<int64_t> rows;  // [B]: the row of the [B*T] forward output that holds row b's position

  LastPositionBatch() = default;
  LastPositionBatch(const LastPositionBatch&) = delete;  // tokens may point into packed
  LastPositionBatch& operator=(const LastPositionBatch&) = delete;
};

// Checks 0 <= positions[b] < T_in and fills out (see LastPositionBatch).
int32_t pack_to_last_position(const NcContext* ctx, const int32_t* inputs, const int32_t* positions, int32_t B,
                              int32_t T_in, LastPositionBatch* out);

}  // namespace nc
