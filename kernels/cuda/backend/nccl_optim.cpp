// nccl_optim.cpp — the cuda backend's data-parallel optimizer step around optimizer.cpp's kernels, for
// a model attached to a communicator of world_size > 1, following kernels/dist/shard_plan.h:
//   DistAdamW  a sharded parameter's gradient is reduce-scattered (average) so rank r holds the averaged
//              rows [r*R, (r+1)*R); r keeps exp_avg/exp_avg_sq for those rows only (its state table
//              lists just them, offset and full size per NcParamInfo), updates them, and the updated
//              rows are all-gathered (fp32), then the bf16 copy refreshed. Small or indivisible AdamW
//              parameters are all-reduced and updated whole on every rank.
//   DistMuon   each matrix has one owner (the plan's block-cyclic owners): the matrices' gradients are
//              all-reduced (average; one call per contiguous run of matrices in the arena — twice the
//              bytes of the plan's stacked reduce-scatter, which muon.cu's offset scheme cannot read),
//              each rank runs momentum + Newton-Schulz on the matrices it owns only (optimizer.cpp
//              batches just those), its state table lists just their momentum buffers, and every owner
//              broadcasts its updated matrices (fp32; the bf16 copy refreshed). The state arena keeps a
//              slot for every matrix at one distance from its weights (muon.cu reads buffers through the
//              weights' offsets), so the momentum of matrices owned elsewhere is allocated but unused:
//              DistMuon's compute is split W ways, its memory not yet.
// When nc_model_grad_norm ran first (clipping on the global norm) the whole gradient is already averaged
// in place, so no reduction runs and every rank reads its slices from its local copy. Every rank issues
// the same collectives in the same order (AdamW parameters in table order, then the matrix runs), all on
// the model's stream.
#include <memory>
#include <vector>

#include "checks.h"
#include "internal.h"

#ifdef NC_CUDA_DIST
#include "comm.h"  // first: kernels/dist's status.h, which dist_status.h maps to the ABI's statuses
#include "nccl_comm.h"
#include "shard_plan.h"
#include "../../cpu/dist_status.h"
#endif

namespace nc::cu_backend {

#ifdef NC_CUDA_DIST

struct DistOptim {
  nc::dist::ShardPlan plan;
  std::vector<int> adamw_of_param;  // index into plan.adamw(), or -1 (a Muon matrix)
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
  // the matrices, one all-reduce per run of consecutive parameters in the arena
  for (size_t p = 0; p < m->params.size();) {
    if (m->params[p].group != NC_GROUP_MATRIX) {
      p++;
      continue;
    }
    const int64_t begin = m->params[p].offset;
    int64_t end = begin;
    while (p < m->params.size() && m->params[p].group == NC_GROUP_MATRIX && m->params[p].offset == end) {
      end += m->params[p].numel;
      p++;
    }
    NC_DIST_TRY(m->ctx, comm.all_reduce(m->g.as<float>() + begin, (size_t)(end - begin), nc::dist::ReduceOp::kAvg,
                                        m->stream));
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
  for (const nc::dist::MuonGroup& gr : m->dist->plan.muon()) {
    for (int q : gr.params) {
      const int owner = m->dist->plan.muon_owner(q);
      NC_DIST_TRY(m->ctx, comm.broadcast(m->wp(q), (size_t)gr.numel(), owner, m->stream));
      if (owner != r)
        NC_CU(m->ctx, nc::cuda::f32_to_bf16(m->wbp(q), m->wp(q), gr.numel(), m->stream), "f32_to_bf16 (broadcast matrix)");
    }
  }
  return NC_OK;
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
  DeviceComm& comm = *m->comm->impl;
  const int r = comm.rank();
  return timed_collectives(m, [&]() -> int32_t { return reduce_grads(m, comm, r); });
}

int32_t dist_gather_params(NcModel* m) {
  if (!m->dist) return NC_OK;
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
