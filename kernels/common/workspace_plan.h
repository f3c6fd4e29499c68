// workspace_plan.h — how large an activation workspace is, the same on every backend: a workspace
// grows to the largest B*T seen in its mode (training keeps every layer's activations, inference one
// layer's) and holds a chunk of the head's logits when the call needs one. Each backend's Workspace
// derives from WorkspaceShape and carves its own memory to the plan.
#pragma once

#include <cstdint>

#include "layout.h"

namespace nc {

// Rows of logits the head materializes at once: 32M floats, 128 MiB of fp32 (512 rows at vocab 65536).
// Fewer rows (128) cost ~15% of the cpu lm_head GEMM rate on the benchmark machine (M = rows is the
// GEMMs' short side).
constexpr int64_t kLogitsChunkFloats = (int64_t)1 << 25;

struct WorkspaceShape {
  int64_t rows = 0;
  int64_t chunk_rows = 0;  // rows of logits materialized at once by the head (0: no logits chunk)
  bool train = false;
};

struct WorkspacePlan {
  int64_t rows;         // N: token rows the workspace holds
  int64_t chunk_rows;   // rows of the logits chunk (0 when the call needs none)
  int64_t layer_slots;  // layers whose activations are kept: L when training, else 1
};

// Whether an allocated workspace of shape ws already serves a call of `rows` rows in mode `train`
// that needs the logits chunk when `head`.
bool workspace_serves(const WorkspaceShape& ws, bool allocated, int64_t rows, bool train, bool head);
// The workspace to build when it does not: at least `rows` rows and never fewer than ws held in the
// same mode.
WorkspacePlan plan_workspace(const ModelLayout& m, const WorkspaceShape& ws, int64_t rows, bool train, bool head);

}  // namespace nc
