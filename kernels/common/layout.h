// layout.h — the device-independent description of a model, shared by every backend: the validated
// config, its dimensions, the parameter table (names, shapes, optimizer groups, offsets into one
// arena) and the optimizer-state table (which rows this rank holds, and which slice of each tensor).
// A backend's NcModel derives from ModelLayout and adds its memory; the exported table calls
// (common/tables.cpp) read only this part.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nanochat.h"

namespace nc {

// One row of the parameter table. Tensors are consecutive in one arena (c_q, c_k, c_v of a layer are
// therefore adjacent and act as one fused [QKV, C] matrix).
struct ParamEntry {
  std::string name;
  int ndim;
  int64_t shape[2];
  int64_t offset;  // in floats, into the backend's parameter and gradient arenas
  int64_t numel;
  int group;  // NC_GROUP_*
};

// One row of the optimizer-state table: `numel` elements of state for elements [param_offset,
// param_offset + numel) of parameter `param_index`, stored at `offset` in the backend's state arena.
struct StateEntry {
  std::string name;
  int param_index;
  int64_t offset;        // in floats, into the state arena
  int64_t numel;         // elements this rank holds
  int64_t param_offset;  // first element of the parameter they belong to (0 when not sharded)
  int64_t shape[2];      // of the held data
};

enum { K_CQ = 0, K_CK = 1, K_CV = 2, K_APROJ = 3, K_FC = 4, K_MPROJ = 5 };

struct ModelLayout {
  NcModelConfig cfg{};
  int64_t V = 0, C = 0, L = 0, H = 0, Hkv = 0, D = 0, QKV = 0, F = 0;  // F = 4C (MLP width)
  std::vector<ParamEntry> params;
  int64_t n_weights = 0;
  std::vector<StateEntry> states;
  int64_t n_state_floats = 0;

  // Fills the dimensions, the parameter table and the state table from a validated config.
  void build(const NcModelConfig& config);
  // The optimizer-state table with every row whole (one rank holds all the state). This is where a
  // sharding communicator builds its rank's rows and slices instead (DistAdamW: dim-0 slices of the
  // AdamW tensors; DistMuon: the momentum buffers of the matrices the rank owns).
  void build_unsharded_states();

  // Parameter indices of the table (see nanochat.h).
  int idx_wte() const { return 0; }
  int idx_layer(int64_t l, int k) const { return 1 + 6 * (int)l + k; }  // k: K_CQ .. K_MPROJ
  int idx_lm_head() const { return 1 + 6 * (int)L; }
};

// Validates the device-independent fields of a model config (compute_dtype may be any NC_DTYPE_*;
// whether a device runs it is the backend's check).
int32_t validate_config(const NcContext* ctx, const NcModelConfig* cfg);
// The backend's dtype check: NC_ERR_UNSUPPORTED naming the backend and where the dtype is supported.
int32_t require_compute_dtype(const NcContext* ctx, const NcModelConfig& cfg, uint32_t supported_mask,
                              const char* backend);

// The parameter table of a config and the total element count (nothing allocated but the table).
void build_param_table(const NcModelConfig& cfg, std::vector<ParamEntry>& table, int64_t* total);

// nanochat A's init std of parameter `index` (0 for the zero-initialized lm_head and c_proj weights).
double init_std(const ModelLayout& m, int index);

}  // namespace nc
