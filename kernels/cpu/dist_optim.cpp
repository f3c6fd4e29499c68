// dist_optim.cpp — nanochat's distributed optimizer on the cpu backend, over the model's communicator
// (world_size > 1), following kernels/dist/shard_plan.h:
//   DistAdamW  a sharded parameter's gradient is reduce-scattered (average) so rank r holds the averaged
//              rows [r*R, (r+1)*R); r keeps exp_avg/exp_avg_sq for those rows only, updates them, and
//              the updated rows are all-gathered. Small or indivisible parameters are all-reduced and
//              updated whole on every rank (replicated state).
//   DistMuon   the matrices of one shape travel as one stacked buffer [W*S, rows, cols] whose slot (r, j)
//              holds matrix j*W + r (block-cyclic owners); reduce-scatter (average) hands each owner its
//              averaged gradients, the owner runs momentum + Newton-Schulz on them and keeps their
//              momentum buffers, writes its new matrices into its chunk, and the chunks are all-gathered.
// When nc_model_grad_norm ran first (gradient clipping on the global norm) the whole gradient is already
// averaged in place, so the step skips the reductions and uses the local copy of what the reduce-scatter
// would have delivered: the same numbers, and on Gloo the same traffic (its reduce-scatter is an
// all-reduce). Every rank issues the same collectives in the same order: AdamW parameters in table
// order, then the Muon groups in plan order.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "errors.h"
#include "internal.h"
#include "ops.h"

#ifdef NC_CPU_DIST
#include "comm.h"
#include "dist_status.h"
#include "shard_plan.h"

namespace nc {

struct DistOptim {
  dist::ShardPlan plan;
  std::vector<int> state_of_param;  // first optimizer-state row of each parameter on this rank, or -1
  std::vector<int> adamw_of_param;  // index into plan.adamw(), or -1
  FloatBuf stack;                   // the largest Muon group's stacked buffer [W*S, rows, cols]
};

namespace {

dist::Communicator& comm_of(NcModel* m) { return *m->comm->impl; }
NcProfile* profile_of(NcModel* m) { return (m->ctx->flags & NC_CONTEXT_PROFILE) ? &m->prof : nullptr; }

// This rank's optimizer-state table, in parameter order: the AdamW rows (a dim-0 slice when sharded)
// and the momentum buffers of the matrices this rank owns.
void build_rank_states(NcModel* m, DistOptim& d, int rank) {
  m->states.clear();
  d.state_of_param.assign(m->params.size(), -1);
  int64_t off = 0;
  auto add = [&](int p, const char* suffix, int64_t row_begin, int64_t rows) {
    const ParamEntry& e = m->params[(size_t)p];
    if (d.state_of_param[(size_t)p] < 0) d.state_of_param[(size_t)p] = (int)m->states.size();
    const int64_t numel = rows * e.shape[1];
    m->states.push_back({e.name + suffix, p, off, numel, row_begin * e.shape[1], {rows, e.shape[1]}});
    off += numel;
  };
  for (int p = 0; p < (int)m->params.size(); p++) {
    const ParamEntry& e = m->params[(size_t)p];
    if (e.group == NC_GROUP_MATRIX) {
      if (d.plan.muon_owner(p) == rank) add(p, ".momentum_buffer", 0, e.shape[0]);
      continue;
    }
    const dist::AdamWShard& a = d.plan.adamw()[(size_t)d.adamw_of_param[(size_t)p]];
    add(p, ".exp_avg", a.row_begin(rank), a.rows_per_rank);
    add(p, ".exp_avg_sq", a.row_begin(rank), a.rows_per_rank);
  }
  m->n_state_floats = off;
}

}  // namespace

int32_t dist_attach(NcModel* m, NcComm* comm) {
  dist_free(m);
  if (!comm) {
    m->build_unsharded_states();
    return NC_OK;
  }
  std::vector<dist::ParamSpec> specs;
  for (const ParamEntry& e : m->params)
    specs.push_back({e.name, e.shape[0], e.shape[1],
                     e.group == NC_GROUP_MATRIX ? dist::OptimKind::kMuon : dist::OptimKind::kAdamW});
  std::unique_ptr<DistOptim> d(new DistOptim());
  NC_DIST_TRY(m->ctx, dist::ShardPlan::build(specs, comm->world_size, &d->plan));
  d->adamw_of_param.assign(m->params.size(), -1);
  for (size_t i = 0; i < d->plan.adamw().size(); i++) d->adamw_of_param[(size_t)d->plan.adamw()[i].param] = (int)i;
  build_rank_states(m, *d, comm->rank);
  m->dist = d.release();
  return NC_OK;
}

void dist_free(NcModel* m) {
  delete m->dist;
  m->dist = nullptr;
}

int32_t dist_average_grads(NcModel* m) {
  PhaseTimer timer(profile_of(m), &NcProfile::comm_seconds);
  NC_DIST_TRY(m->ctx, comm_of(m).all_reduce(m->g.p, (size_t)m->n_weights, dist::ReduceOp::kAvg, nullptr));
  m->grads_averaged = true;
  return NC_OK;
}

int32_t dist_optim_step(NcModel* m, const NcOptimStep& step) {
  DistOptim& d = *m->dist;
  dist::Communicator& comm = comm_of(m);
  const int W = comm.world_size(), r = comm.rank();
  const bool reduce = !m->grads_averaged;
  NcProfile* prof = profile_of(m);
  const int64_t t = m->opt_step + 1;
  const int team = std::max(1, omp_get_max_threads());

  // DistAdamW
  for (const dist::AdamWShard& a : d.plan.adamw()) {
    const int p = a.param;
    const ParamEntry& e = m->params[(size_t)p];
    const int64_t cols = e.shape[1], count = a.rows_per_rank * cols, first = a.row_begin(r) * cols;
    float* g = m->gp(p);
    float* w = m->wp(p);
    const bool sharded = a.mode == dist::AdamWMode::kSharded;
    if (reduce) {
      PhaseTimer timer(prof, &NcProfile::comm_seconds);
      if (sharded)
        NC_DIST_TRY(m->ctx, comm.reduce_scatter(g, g + first, (size_t)count, dist::ReduceOp::kAvg, nullptr));
      else
        NC_DIST_TRY(m->ctx, comm.all_reduce(g, (size_t)count, dist::ReduceOp::kAvg, nullptr));
    }
    const StateEntry& s = m->states[(size_t)d.state_of_param[(size_t)p]];
    adamw_update(w + first, g + first, m->opt.p + s.offset, m->opt.p + m->states[(size_t)d.state_of_param[(size_t)p] + 1].offset,
                 count, adam_hyper(step, e.group, t));
    if (sharded) {
      PhaseTimer timer(prof, &NcProfile::comm_seconds);
      NC_DIST_TRY(m->ctx, comm.all_gather(w + first, w, (size_t)count, nullptr));
    }
  }

  // DistMuon, one stacked buffer per shape group
  int64_t stack_floats = 0;
  for (const dist::MuonGroup& gr : d.plan.muon()) stack_floats = std::max(stack_floats, W * gr.slots_per_rank * gr.numel());
  if (d.stack.n < stack_floats && !d.stack.alloc(stack_floats, false))
    NC_FAIL(m->ctx, NC_ERR_OUT_OF_MEMORY, "out of memory for the Muon gather buffer (%.1f MiB)",
            (double)stack_floats * 4.0 / 1048576.0);
  for (int gi = 0; gi < (int)d.plan.muon().size(); gi++) {
    const dist::MuonGroup& gr = d.plan.muon()[(size_t)gi];
    const int64_t S = gr.slots_per_rank, n = gr.numel();
    float* stack = d.stack.p;
    float* chunk = stack + (int64_t)r * S * n;
    // Fill the slots this step reads: every slot when reducing, else this rank's own.
    for (int rr = reduce ? 0 : r; rr < (reduce ? W : r + 1); rr++) {
      for (int64_t j = 0; j < S; j++) {
        const int q = d.plan.muon_slot_param(gi, rr, j);
        float* slot = stack + (rr * S + j) * n;
        if (q >= 0)
          std::memcpy(slot, m->gp(q), sizeof(float) * (size_t)n);
        else
          std::memset(slot, 0, sizeof(float) * (size_t)n);
      }
    }
    if (reduce) {
      PhaseTimer timer(prof, &NcProfile::comm_seconds);
      NC_DIST_TRY(m->ctx, comm.reduce_scatter(stack, chunk, (size_t)(S * n), dist::ReduceOp::kAvg, nullptr));
    }
    std::vector<MuonTask> tasks;
    for (int64_t j = 0; j < S; j++) {
      const int q = d.plan.muon_slot_param(gi, r, j);
      if (q >= 0) tasks.push_back({q, chunk + j * n, m->opt.p + m->states[(size_t)d.state_of_param[(size_t)q]].offset});
    }
    muon_batch(m, tasks, step, team);
    for (int64_t j = 0; j < S; j++) {
      const int q = d.plan.muon_slot_param(gi, r, j);
      float* slot = chunk + j * n;
      if (q >= 0)
        std::memcpy(slot, m->wp(q), sizeof(float) * (size_t)n);
      else
        std::memset(slot, 0, sizeof(float) * (size_t)n);
    }
    {
      PhaseTimer timer(prof, &NcProfile::comm_seconds);
      NC_DIST_TRY(m->ctx, comm.all_gather(chunk, stack, (size_t)(S * n), nullptr));
    }
    for (int rr = 0; rr < W; rr++) {
      if (rr == r) continue;
      for (int64_t j = 0; j < S; j++) {
        const int q = d.plan.muon_slot_param(gi, rr, j);
        if (q >= 0) std::memcpy(m->wp(q), stack + (rr * S + j) * n, sizeof(float) * (size_t)n);
      }
    }
  }
  m->opt_step = t;
  return NC_OK;
}

}  // namespace nc

#else  // a build without Gloo: nc_comm_create refuses world_size > 1, so no model is ever sharded

namespace nc {
struct DistOptim {};
int32_t dist_attach(NcModel* m, NcComm*) {
  m->build_unsharded_states();
  return NC_OK;
}
void dist_free(NcModel* m) { m->dist = nullptr; }
int32_t dist_average_grads(NcModel* m) {
  NC_FAIL(m->ctx, NC_ERR_UNSUPPORTED, "this cpu library was built without Gloo (world_size 1 only)");
}
int32_t dist_optim_step(NcModel* m, const NcOptimStep&) {
  NC_FAIL(m->ctx, NC_ERR_UNSUPPORTED, "this cpu library was built without Gloo (world_size 1 only)");
}
}  // namespace nc

#endif
