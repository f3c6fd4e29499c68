// eval_args.cpp — the shared checks and packing of the calls without gradients (see eval_args.h).
#include "eval_args.h"

#include <cstring>

#include "checks.h"
#include "errors.h"

namespace nc {

int32_t check_eval_batch(const NcContext* ctx, const NcModelConfig& cfg, const int32_t* inputs,
                         const int32_t* targets, int32_t B, int32_t T) {
  NC_CHECK_NOT_NULL(ctx, inputs);
  NC_TRY(check_batch(ctx, cfg, B, T));
  NC_TRY(check_tokens(ctx, cfg, inputs, (int64_t)B * T, "inputs"));
  if (!targets) return NC_OK;
  int64_t n_valid = 0;
  return check_targets(ctx, cfg, targets, (int64_t)B * T, &n_valid);
}

int32_t pack_to_last_position(const NcContext* ctx, const int32_t* inputs, const int32_t* positions, int32_t B,
                              int32_t T_in, LastPositionBatch* out) {
  int32_t last = 0;
  NC_TRY(check_positions(ctx, positions, B, T_in, &last));
  const int64_t T = (int64_t)last + 1;
  out->T = T;
  out->tokens = inputs;
  out->packed.clear();
  if (T < T_in) {
    out->packed.resize((size_t)(B * T));
    for (int64_t b = 0; b < B; b++)
      std::memcpy(out->packed.data() + b * T, inputs + b * T_in, sizeof(int32_t) * (size_t)T);
    out->tokens = out->packed.data();
  }
  out->rows.resize((size_t)B);
  for (int64_t b = 0; b < B; b++) out->rows[(size_t)b] = b * T + positions[b];
  return NC_OK;
}

}  // namespace nc
