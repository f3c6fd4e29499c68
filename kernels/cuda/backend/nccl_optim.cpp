// nccl_optim.cpp — the cuda backend's data-parallel optimizer step around optimizer.cpp's kernels, for
// a model attached to a communicator of world_size > 1, following kernels/dist/shard_plan.h:
//   DistAdamW  a sharded parameter's gradient is reduce-scattered (average) so rank r holds the averaged
//              rows [r*R, (r+1)*R); r keeps exp_avg/exp_avg_sq for those rows only (its state table
//              lists just them, offset and full size per NcParamInfo), updates them, and the updated
//              rows are all-gathered (fp32), then the bf16 copy refreshed. Small or indivisible AdamW
//              parameters are all-reduced and updated whole on every rank.
//   DistMuon   the matrices of one shape travel as one stacked buffer [W*S, rows, cols] whose slot (r, j)
//              holds matrix j*W + r (the plan's block-cyclic owners): reduce-scatter (average) hands each
//              owner its averaged gradients (copied back into the gradient arena, where muon.cu reads
//              them), the owner runs momentum + Newton-Schulz on its matrices only (optimizer.cpp
//              batches just those) and lists only their momentum buffers in its state table, writes its
//              new matrices into its chunk, and the chunks are all-gathered (fp32; bf16 copy refreshed).
//              The state arena keeps a slot for every matrix at one distance from its weights (muon.cu
//              reads buffers through the weights' offsets), so the momentum of matrices owned elsewhere
//              is allocated but unused: DistMuon's compute and traffic are nanochat's, its memory not yet.
// When nc_model_grad_norm ran first (clipping on the global norm) the whole gradient is already averaged
// in place, so no reduction runs and every rank reads its slices from its local copy. Every rank issues
// the same collectives in the same order (AdamW parameters in table order, then the Muon groups in plan
// order), all on the model's stream.
#include <algorithm>
#include <memory>
#include <vector>

#include "checks.h"
#include "internal.h"

#ifdef NC_CUDA_DIST
#include "comm.h"
#include "nccl_comm.h"
#include "shard_plan.h"
#include "dist_status.h"
#endif

namespace nc::cu_backend {

#ifdef NC_CUDA_DIST

struct DistOptim {
  nc::dist::ShardPlan plan;
  std::vector<int> adamw_of_param;  // index into plan.adamw(), or -1 (a Muon matrix)
  DevMem stack;                     // the largest Muon group's stacked buffer [W*S, rows, cols] (fp32)
};

namespace {

// This rank's optimizer-state table in parameter order: AdamW rows (a dim-0 slice when sharded) and the
// momentum buffers of the matrices it owns; every matrix keeps its slot in the arena (see above).
void build_rank_states(NcModel* m, const DistOptim& d, int rank) {
  m->states.clear();
  int64_t off = 0;
  for (int p = 0; p < (int)m->params.size(); p++) {
    const ParamEntry& e = m->params[(size_t)p];
    if (e.group == NC_GROUP_MATRIX) {
      if (d.plan.muon_owner(p) == rank)
        m->states.push_back({e.name + ".momentum_buffer", p, off, e.numel, 0, {e.shape[0], e.shape[1]}});
      off += e.numel;
      continue;
    }
    const nc::dist::AdamWShard& a = d.plan.adamw()[(size_t)d.adamw_of_param[(size_t)p]];
    const int64_t cols = e.numel / e.shape[0], numel = a.rows_per_rank * cols;
    for (const char* suffix : {".exp_avg", ".exp_avg_sq"}) {
      m->states.push_back({e.name + suffix, p, off, numel, a.row_begin(rank) * cols, {a.rows_per_rank, cols}});
      off += numel;
    }
  }
  m->n_state_floats = off;
}

// Slot `slot` [n] of a Muon stack: parameter q's gradient (grad) or weights, or zeros for padding (q < 0).
int32_t copy_slot(NcModel* m, float* slot, int q, int64_t n, bool grad) {
  if (q < 0) {
    NC_CU(m->ctx, cudaMemsetAsync(slot, 0, sizeof(float) * (size_t)n, m->stream), "cudaMemsetAsync (Muon padding)");
    return NC_OK;
  }
  NC_CU(m->ctx, cudaMemcpyAsync(slot, grad ? m->gp(q) : m->wp(q), sizeof(float) * (size_t)n, cudaMemcpyDeviceToDevice,
                                m->stream), "cudaMemcpyAsync (Muon stack)");
  return NC_OK;
}

// The averaged gradient of everything this rank updates (see the top of the file).
int32_t reduce_grads(NcModel* m, DeviceComm& comm, int r) {
  for (const nc::dist::AdamWShard& a : m->dist->plan.adamw()) {
    const ParamEntry& e = m->params[(size_t)a.param];
    float* g = m->gp(a.param);
    if (a.mode == nc::dist::AdamWMode::kSharded) {
      const int64_t count = a.rows_per_rank * (e.numel / e.shape[0]);
      NC_DIST_TRY(m->ctx, comm.reduce_scatter(g, g + a.row_begin(r) * (e.numel / e.shape[0]), (size_t)count,
                                              nc::dist::ReduceOp::kAvg, m->stream));
    } else {
      NC_DIST_TRY(m->ctx, comm.all_reduce(g, (size_t)e.numel, nc::dist::ReduceOp::kAvg, m->stream));
    }
  }
  // DistMuon: each group stacked, reduce-scattered, this rank's chunk back into its matrices' gradients
  const DistOptim& d = *m->dist;
  const int W = comm.world_size();
  for (int gi = 0; gi < (int)d.plan.muon().size(); gi++) {
    const nc::dist::MuonGroup& gr = d.plan.muon()[(size_t)gi];
    const int64_t S = gr.slots_per_rank, n = gr.numel();
    float* stack = d.stack.as<float>();
    float* chunk = stack + r * S * n;
    for (int rr = 0; rr < W; rr++)
      for (int64_t j = 0; j < S; j++)
        NC_TRY(copy_slot(m, stack + (rr * S + j) * n, d.plan.muon_slot_param(gi, rr, j), n, true));
    NC_DIST_TRY(m->ctx, comm.reduce_scatter(stack, chunk, (size_t)(S * n), nc::dist::ReduceOp::kAvg, m->stream));
    for (int64_t j = 0; j < S; j++) {
      const int q = d.plan.muon_slot_param(gi, r, j);
      if (q >= 0)
        NC_CU(m->ctx, cudaMemcpyAsync(m->gp(q), chunk + j * n, sizeof(float) * (size_t)n, cudaMemcpyDeviceToDevice,
                                      m->stream), "cudaMemcpyAsync (reduced Muon gradient)");
    }
  }
  return NC_OK;
}

// The updated AdamW slices and owned matrices to every rank.
int32_t gather_params(NcModel* m, DeviceComm& comm, int r) {
  for (const nc::dist::AdamWShard& a : m->dist->plan.adamw()) {
    if (a.mode != nc::dist::AdamWMode::kSharded) continue;
    const ParamEntry& e = m->params[(size_t)a.param];
    const int64_t cols = e.numel / e.shape[0], count = a.rows_per_rank * cols;
    float* w = m->wp(a.param);
    NC_DIST_TRY(m->ctx, comm.all_gather(w + a.row_begin(r) * cols, w, (size_t)count, m->stream));
    // the other ranks' rows arrived in fp32 only: their bf16 copy (what the GEMMs read) follows
    NC_CU(m->ctx, nc::cuda::f32_to_bf16(m->wbp(a.param), w, e.numel, m->stream), "f32_to_bf16 (gathered rows)");
  }
  // DistMuon: this rank's new matrices into its chunk, the chunks all-gathered, the others' copied out
  const DistOptim& d = *m->dist;
  const int W = comm.world_size();
  for (int gi = 0; gi < (int)d.plan.muon().size(); gi++) {
    const nc::dist::MuonGroup& gr = d.plan.muon()[(size_t)gi];
    const int64_t S = gr.slots_per_rank, n = gr.numel();
    float* stack = d.stack.as<float>();
    float* chunk = stack + r * S * n;
    for (int64_t j = 0; j < S; j++) NC_TRY(copy_slot(m, chunk + j * n, d.plan.muon_slot_param(gi, r, j), n, false));
    NC_DIST_TRY(m->ctx, comm.all_gather(chunk, stack, (size_t)(S * n), m->stream));
    for (int rr = 0; rr < W; rr++) {
      if (rr == r) continue;
      for (int64_t j = 0; j < S; j++) {
        const int q = d.plan.muon_slot_param(gi, rr, j);
        if (q < 0) continue;
        NC_CU(m->ctx, cudaMemcpyAsync(m->wp(q), stack + (rr * S + j) * n, sizeof(float) * (size_t)n,
                                      cudaMemcpyDeviceToDevice, m->stream), "cudaMemcpyAsync (gathered Muon matrix)");
        NC_CU(m->ctx, nc::cuda::f32_to_bf16(m->wbp(q), m->wp(q), n, m->stream), "f32_to_bf16 (gathered matrix)");
      }
    }
  }
  return NC_OK;
}

// The Muon stack, sized for the largest group, allocated at the first step.
int32_t ensure_stack(NcModel* m) {
  DistOptim& d = *m->dist;
  if (d.stack.p) return NC_OK;
  int64_t floats = 0;
  for (const nc::dist::MuonGroup& gr : d.plan.muon())
    floats = std::max(floats, (int64_t)d.plan.world_size() * gr.slots_per_rank * gr.numel());
  return dev_alloc(m->ctx, d.stack, sizeof(float) * (size_t)floats, false, "the Muon gather buffer");
}

}  // namespace

int32_t dist_attach(NcModel* m, NcComm* comm) {
  m->dist.reset();
  if (!comm || comm->world_size == 1) {
    m->build_unsharded_states();
    return NC_OK;
  }
  std::vector<nc::dist::ParamSpec> specs;
  for (const ParamEntry& e : m->params)
    specs.push_back({e.name, e.shape[0], e.numel / e.shape[0],
                     e.group == NC_GROUP_MATRIX ? nc::dist::OptimKind::kMuon : nc::dist::OptimKind::kAdamW});
  std::shared_ptr<DistOptim> d = std::make_shared<DistOptim>();
  NC_DIST_TRY(m->ctx, nc::dist::ShardPlan::build(specs, comm->world_size, &d->plan));
  d->adamw_of_param.assign(m->params.size(), -1);
  for (size_t i = 0; i < d->plan.adamw().size(); i++) d->adamw_of_param[(size_t)d->plan.adamw()[i].param] = (int)i;
  build_rank_states(m, *d, comm->rank);
  m->dist = std::move(d);
  return NC_OK;
}

bool dist_updates(const NcModel* m, int param) {
  return !m->dist || m->dist->plan.muon_owner(param) == m->comm->rank;
}

int32_t dist_reduce_grads(NcModel* m) {
  if (!m->dist || m->grads_averaged) return NC_OK;
  NC_TRY(ensure_stack(m));
  DeviceComm& comm = *m->comm->impl;
  const int r = comm.rank();
  return timed_collectives(m, [&]() -> int32_t { return reduce_grads(m, comm, r); });
}

int32_t dist_gather_params(NcModel* m) {
  if (!m->dist) return NC_OK;
  NC_TRY(ensure_stack(m));
  DeviceComm& comm = *m->comm->impl;
  const int r = comm.rank();
  return timed_collectives(m, [&]() -> int32_t { return gather_params(m, comm, r); });
}

#else  // a build without kernels/dist: nc_comm_create refuses world_size > 1, so nothing is sharded

struct DistOptim {};
int32_t dist_attach(NcModel* m, NcComm*) {
  m->build_unsharded_states();
  return NC_OK;
}
bool dist_updates(const NcModel*, int) { return true; }
int32_t dist_reduce_grads(NcModel*) { return NC_OK; }
int32_t dist_gather_params(NcModel*) { return NC_OK; }

#endif

}  // namespace nc::cu_backend
