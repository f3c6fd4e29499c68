// shard_plan.h — who owns what in nanochat's distributed optimizer, and where every buffer and
// optimizer-state row lives, for a given world size. Device-independent: the CPU and CUDA backends run
// the same plan over their own Communicator.
//
// AdamW parameters (nanochat A's DistAdamW, ZeRO-2 style):
//   kSharded    rows % world == 0 and numel >= 1024: reduce_scatter(avg) of the whole gradient [rows, cols]
//               gives rank r rows [r*R, (r+1)*R) (R = rows/world); rank r keeps exp_avg/exp_avg_sq for just
//               those rows, updates them, and all_gather of the R-row slices rebuilds the parameter.
//   kReplicated otherwise: all_reduce(avg) of the gradient; every rank updates the whole parameter and
//               keeps the whole state. (nanochat A asserts rows % world == 0; this fallback is HEAD's for
//               small parameters, extended here to indivisible ones so any world size runs.)
// Muon parameters (nanochat A's DistMuon):
//   grouped by shape, groups sorted by (rows, cols) like A's sorted(shapes); within a group of K
//   parameters (model order), parameter i belongs to rank i % world (A's block-cyclic owners: each run of
//   `world` consecutive parameters gives one to every rank). The group travels as ONE stacked buffer
//   [world * S, rows, cols], S = ceil(K / world): rank r's reduce-scatter chunk is slots
//   [r*S, (r+1)*S) and slot (r, j) holds parameter j*world + r, or zeros past the end of the group
//   (padding). reduce_scatter(avg) hands each owner the averaged gradients of its parameters; the owner
//   runs momentum + Newton-Schulz and writes the new values into its chunk; all_gather of the chunks
//   rebuilds every parameter. Only the owner keeps a parameter's momentum_buffer.
// Every AdamW parameter is reduced, and every Muon group stacked, in parameter-table order, so all ranks
// issue the same collectives in the same order.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "status.h"

namespace nc::dist {

enum class OptimKind { kAdamW, kMuon };

struct ParamSpec {
  std::string name;  // e.g. "transformer.h.0.attn.c_q.weight"
  int64_t rows = 0;  // shape[0]
  int64_t cols = 1;  // product of the other dimensions (1 for a vector)
  OptimKind kind = OptimKind::kAdamW;
  int64_t numel() const { return rows * cols; }
};

// Below this many elements an AdamW parameter is all-reduced instead of sharded (nanochat HEAD's rule).
inline constexpr int64_t kAdamWShardMinNumel = 1024;

enum class AdamWMode { kSharded, kReplicated };

struct AdamWShard {
  int param = 0;  // index into the plan's parameters
  AdamWMode mode = AdamWMode::kReplicated;
  int64_t rows_per_rank = 0;  // kSharded: rows / world; kReplicated: rows
  // First row of the parameter that `rank` updates and keeps state for.
  int64_t row_begin(int rank) const { return mode == AdamWMode::kSharded ? rank * rows_per_rank : 0; }
};

struct MuonGroup {
  int64_t rows = 0, cols = 0;
  std::vector<int> params;     // parameter indices, in table order
  int64_t slots_per_rank = 0;  // S = ceil(K / world)
  int64_t numel() const { return rows * cols; }  // of one parameter (one slot)
};

// One tensor of a rank's optimizer shard (the file optim_{step:06d}_rank{r}): rows [row_begin, row_end)
// of the state named `name`, whose full shape is [rows, cols] (the parameter's shape).
struct StateSlice {
  std::string name;  // "<param>.exp_avg", "<param>.exp_avg_sq" (AdamW) or "<param>.momentum_buffer" (Muon)
  int param = 0;
  int64_t rows = 0, cols = 0;
  int64_t row_begin = 0, row_end = 0;
};

// Elements handed to each kind of collective in one optimizer step (equal on every rank).
struct CommVolume {
  int64_t reduce_scatter_elems = 0;  // input sizes (the full gradients / stacked buffers)
  int64_t all_gather_elems = 0;      // output sizes
  int64_t all_reduce_elems = 0;
  int64_t padding_elems = 0;  // zero slots of the Muon stacks (inside both figures above)
  int reduce_scatter_calls = 0, all_gather_calls = 0, all_reduce_calls = 0;
  // Bytes each rank sends with bandwidth-optimal (ring) algorithms: (W-1)/W of every reduce-scatter
  // input and all-gather output, 2(W-1)/W of every all-reduce buffer.
  double ring_bytes_per_rank(int world, int bytes_per_elem) const;
};

class ShardPlan {
 public:
  // Checks the parameters (unique non-empty names, positive shapes) and the world size (>= 1).
  static Status build(const std::vector<ParamSpec>& params, int world_size, ShardPlan* out);

  int world_size() const { return world_; }
  const std::vector<ParamSpec>& params() const { return params_; }
  const std::vector<AdamWShard>& adamw() const { return adamw_; }
  const std::vector<MuonGroup>& muon() const { return muon_; }

  // The parameter in slot j of rank r's chunk of group g, or -1 for a padding slot.
  int muon_slot_param(int group, int rank, int64_t j) const;
  // The rank that updates Muon parameter p and keeps its momentum (-1 if p is not a Muon parameter).
  int muon_owner(int param) const;
  // (group, rank, slot) of Muon parameter p; false if p is not a Muon parameter.
  bool muon_slot_of(int param, int* group, int* rank, int64_t* slot) const;

  // What rank r saves in (and loads from) its optimizer shard, in a fixed order: AdamW states in
  // parameter order (exp_avg, exp_avg_sq), then the momentum buffers of its Muon parameters in group
  // and slot order. Replicated AdamW state is saved by every rank, so each shard is complete on its own.
  std::vector<StateSlice> rank_state(int rank) const;

  CommVolume volume() const;

 private:
  int world_ = 0;
  std::vector<ParamSpec> params_;
  std::vector<AdamWShard> adamw_;
  std::vector<MuonGroup> muon_;
  std::vector<int> muon_group_of_;  // per parameter: its Muon group or -1
  std::vector<int> muon_index_in_group_;
};

// One copy of a re-shard: `rows` rows from slice `src_slice` of old rank `src_rank`'s shard (starting at
// row `src_row` of that slice) into slice `dst_slice` of the new rank's shard (starting at `dst_row`).
struct StateCopy {
  int dst_slice = 0;
  int src_rank = 0;
  int src_slice = 0;
  int64_t src_row = 0, dst_row = 0, rows = 0;
};

// How new rank `to_rank` of plan `to` fills every slice of to.rank_state(to_rank) from the shards that
// plan `from` wrote, using only the old ranks listed in `available` (the shard files present). Fails with
// a message naming the missing shard when a row is only in an absent one, and naming the first
// difference when the two plans were made for different parameters.
Status plan_reshard(const ShardPlan& from, const std::vector<int>& available, const ShardPlan& to, int to_rank,
                    std::vector<StateCopy>* out);

}  // namespace nc::dist
