// shard_plan.cpp — building the sharding plan of shard_plan.h and listing each rank's optimizer state.
#include "shard_plan.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

namespace nc::dist {

double CommVolume::ring_bytes_per_rank(int world, int bytes_per_elem) const {
  if (world <= 1) return 0.0;
  const double f = (double)(world - 1) / world;
  return bytes_per_elem * f * ((double)reduce_scatter_elems + (double)all_gather_elems + 2.0 * all_reduce_elems);
}

Status ShardPlan::build(const std::vector<ParamSpec>& params, int world_size, ShardPlan* out) {
  if (!out) return DIST_ERROR(Errc::kInvalidArgument, "out must not be null");
  if (world_size < 1) return DIST_ERROR(Errc::kInvalidArgument, "world size %d must be at least 1", world_size);
  if (params.empty()) return DIST_ERROR(Errc::kInvalidArgument, "a plan needs at least one parameter");
  std::set<std::string> names;
  for (size_t i = 0; i < params.size(); i++) {
    const ParamSpec& p = params[i];
    if (p.name.empty()) return DIST_ERROR(Errc::kInvalidArgument, "parameter %zu has no name", i);
    if (!names.insert(p.name).second)
      return DIST_ERROR(Errc::kInvalidArgument, "parameter name '%s' appears twice", p.name.c_str());
    if (p.rows < 1 || p.cols < 1)
      return DIST_ERROR(Errc::kInvalidArgument, "parameter '%s' has shape [%lld, %lld]; both must be >= 1",
                        p.name.c_str(), (long long)p.rows, (long long)p.cols);
  }

  ShardPlan plan;
  plan.world_ = world_size;
  plan.params_ = params;
  plan.muon_group_of_.assign(params.size(), -1);
  plan.muon_index_in_group_.assign(params.size(), -1);

  std::map<std::pair<int64_t, int64_t>, std::vector<int>> by_shape;  // ordered like sorted(torch.Size)
  for (int i = 0; i < (int)params.size(); i++) {
    const ParamSpec& p = params[i];
    if (p.kind == OptimKind::kMuon) {
      by_shape[{p.rows, p.cols}].push_back(i);
      continue;
    }
    AdamWShard a;
    a.param = i;
    const bool shardable = p.numel() >= kAdamWShardMinNumel && p.rows % world_size == 0;
    a.mode = shardable ? AdamWMode::kSharded : AdamWMode::kReplicated;
    a.rows_per_rank = shardable ? p.rows / world_size : p.rows;
    plan.adamw_.push_back(a);
  }
  for (auto& [shape, members] : by_shape) {
    MuonGroup g;
    g.rows = shape.first;
    g.cols = shape.second;
    g.params = members;
    g.slots_per_rank = ((int64_t)members.size() + world_size - 1) / world_size;
    for (size_t k = 0; k < members.size(); k++) {
      plan.muon_group_of_[members[k]] = (int)plan.muon_.size();
      plan.muon_index_in_group_[members[k]] = (int)k;
    }
    plan.muon_.push_back(std::move(g));
  }
  *out = std::move(plan);
  return Status::Ok();
}

int ShardPlan::muon_slot_param(int group, int rank, int64_t j) const {
  if (group < 0 || group >= (int)muon_.size() || rank < 0 || rank >= world_) return -1;
  const MuonGroup& g = muon_[group];
  if (j < 0 || j >= g.slots_per_rank) return -1;
  const int64_t k = j * world_ + rank;
  return k < (int64_t)g.params.size() ? g.params[k] : -1;
}

bool ShardPlan::muon_slot_of(int param, int* group, int* rank, int64_t* slot) const {
  if (param < 0 || param >= (int)params_.size() || muon_group_of_[param] < 0) return false;
  const int k = muon_index_in_group_[param];
  *group = muon_group_of_[param];
  *rank = k % world_;
  *slot = k / world_;
  return true;
}

int ShardPlan::muon_owner(int param) const {
  int g = 0, r = 0;
  int64_t s = 0;
  return muon_slot_of(param, &g, &r, &s) ? r : -1;
}

std::vector<StateSlice> ShardPlan::rank_state(int rank) const {
  std::vector<StateSlice> out;
  if (rank < 0 || rank >= world_) return out;
  for (const AdamWShard& a : adamw_) {
    const ParamSpec& p = params_[a.param];
    const int64_t b = a.row_begin(rank);
    for (const char* suffix : {".exp_avg", ".exp_avg_sq"})
      out.push_back({p.name + suffix, a.param, p.rows, p.cols, b, b + a.rows_per_rank});
  }
  for (int g = 0; g < (int)muon_.size(); g++) {
    for (int64_t j = 0; j < muon_[g].slots_per_rank; j++) {
      const int pi = muon_slot_param(g, rank, j);
      if (pi < 0) continue;
      const ParamSpec& p = params_[pi];
      out.push_back({p.name + ".momentum_buffer", pi, p.rows, p.cols, 0, p.rows});
    }
  }
  return out;
}

CommVolume ShardPlan::volume() const {
  CommVolume v;
  for (const AdamWShard& a : adamw_) {
    const int64_t n = params_[a.param].numel();
    if (a.mode == AdamWMode::kSharded) {
      v.reduce_scatter_elems += n;
      v.all_gather_elems += n;
      v.reduce_scatter_calls++;
      v.all_gather_calls++;
    } else {
      v.all_reduce_elems += n;
      v.all_reduce_calls++;
    }
  }
  for (const MuonGroup& g : muon_) {
    const int64_t slots = g.slots_per_rank * world_;
    v.reduce_scatter_elems += slots * g.numel();
    v.all_gather_elems += slots * g.numel();
    v.padding_elems += (slots - (int64_t)g.params.size()) * g.numel();
    v.reduce_scatter_calls++;
    v.all_gather_calls++;
  }
  return v;
}

}  // namespace nc::dist
