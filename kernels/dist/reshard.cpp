// reshard.cpp — resuming at another world size: which rows of which old shard fill each slice of a new
// rank's optimizer shard. Every state is a row-range of one tensor (or all of it), so any world size can
// be re-sharded from a complete set of shards; what can fail is a missing shard or a different model.
#include <algorithm>
#include <map>
#include <set>

#include "shard_plan.h"

namespace nc::dist {

namespace {

const char* kind_name(OptimKind k) { return k == OptimKind::kMuon ? "Muon" : "AdamW"; }

Status same_parameters(const ShardPlan& from, const ShardPlan& to) {
  const auto& a = from.params();
  const auto& b = to.params();
  for (size_t i = 0; i < std::max(a.size(), b.size()); i++) {
    if (i >= a.size() || i >= b.size())
      return DIST_ERROR(Errc::kState,
                        "the checkpoint's optimizer has %zu parameters but this model has %zu: resume with the "
                        "model configuration the checkpoint was trained with",
                        a.size(), b.size());
    if (a[i].name != b[i].name || a[i].rows != b[i].rows || a[i].cols != b[i].cols || a[i].kind != b[i].kind)
      return DIST_ERROR(Errc::kState,
                        "the checkpoint's optimizer was made for another model: parameter %zu is '%s' [%lld, %lld] "
                        "(%s) there but '%s' [%lld, %lld] (%s) here",
                        i, a[i].name.c_str(), (long long)a[i].rows, (long long)a[i].cols, kind_name(a[i].kind),
                        b[i].name.c_str(), (long long)b[i].rows, (long long)b[i].cols, kind_name(b[i].kind));
  }
  return Status::Ok();
}

struct Source {
  int rank;
  int slice;
  int64_t row_begin, row_end;
};

}  // namespace

Status plan_reshard(const ShardPlan& from, const std::vector<int>& available, const ShardPlan& to, int to_rank,
                    std::vector<StateCopy>* out) {
  if (!out) return DIST_ERROR(Errc::kInvalidArgument, "out must not be null");
  out->clear();
  if (to_rank < 0 || to_rank >= to.world_size())
    return DIST_ERROR(Errc::kInvalidArgument, "rank %d is outside 0..%d", to_rank, to.world_size() - 1);
  DIST_TRY(same_parameters(from, to));
  std::set<int> have;
  for (int r : available) {
    if (r < 0 || r >= from.world_size())
      return DIST_ERROR(Errc::kInvalidArgument, "available shard rank %d is outside 0..%d of the checkpoint", r,
                        from.world_size() - 1);
    have.insert(r);
  }

  // Every old slice by state name, lowest rank first.
  std::map<std::string, std::vector<Source>> sources;
  for (int r = 0; r < from.world_size(); r++) {
    const std::vector<StateSlice> slices = from.rank_state(r);
    for (int s = 0; s < (int)slices.size(); s++)
      sources[slices[s].name].push_back({r, s, slices[s].row_begin, slices[s].row_end});
  }

  const std::vector<StateSlice> wanted = to.rank_state(to_rank);
  for (int d = 0; d < (int)wanted.size(); d++) {
    const StateSlice& w = wanted[d];
    const std::vector<Source>& cands = sources[w.name];
    int64_t row = w.row_begin;
    while (row < w.row_end) {
      const Source* best = nullptr;
      const Source* missing = nullptr;
      // Prefer this rank's own old shard (a same-size resume then reads one file per rank), else the
      // lowest available rank that has the row.
      for (const Source& c : cands) {
        if (row < c.row_begin || row >= c.row_end) continue;
        if (!have.count(c.rank)) {
          if (!missing) missing = &c;
        } else if (!best || c.rank == to_rank) {
          best = &c;
        }
      }
      if (!best) {
        if (!missing)
          return DIST_ERROR(Errc::kInternal, "no shard of the old plan holds row %lld of %s", (long long)row,
                            w.name.c_str());
        return DIST_ERROR(Errc::kState,
                          "rows %lld..%lld of %s are in the optimizer shard of rank %d of %d "
                          "(optim_<step>_rank%d), which is missing: copy every rank's optimizer shard of the "
                          "checkpoint to this machine",
                          (long long)row, (long long)std::min(w.row_end, missing->row_end) - 1, w.name.c_str(),
                          missing->rank, from.world_size(), missing->rank);
      }
      const int64_t n = std::min(w.row_end, best->row_end) - row;
      out->push_back({d, best->rank, best->slice, row - best->row_begin, row - w.row_begin, n});
      row += n;
    }
  }
  return Status::Ok();
}

}  // namespace nc::dist
