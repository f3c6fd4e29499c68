// optimizer.cpp — nanochat A's two optimizers behind one call: AdamW (adamw.cpp) for wte and lm_head,
// Muon (muon.cpp) for every transformer.h matrix, with this step's learning rates and momentum from the
// caller (schedules live in TypeScript). Also the optimizer-state table used to checkpoint and resume
// exactly: exp_avg / exp_avg_sq per AdamW parameter, momentum_buffer per Muon parameter, and the step t.
//
// The step follows the structure of nanochat's DistAdamW / DistMuon: (1) each rank gets the gradient
// averaged over the communicator for the state rows it holds (reduce-scatter), (2) it updates those
// parameters, (3) the updated parameters are shared (all-gather). One rank holds every row whole
// (common/layout.cpp), so (1) and (3) move nothing and the step below is (2) alone; with a communicator
// of world_size > 1 dist_optim.cpp runs all three over this rank's shard.
//
// Muon's Newton-Schulz iterations dominate the step (d8: ~320 GFLOP). The matrices are independent, so
// with more than one thread they are orthogonalized as one batch: one matrix per thread at a time
// (largest first), each with single-threaded BLAS, instead of every small GEMM split across all threads.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "checks.h"
#include "errors.h"
#include "internal.h"
#include "optim_args.h"
#include "ops.h"

namespace nc {

int32_t ensure_optim_state(NcModel* m) {
  if (m->opt.p) return NC_OK;
  if (!m->opt.alloc(m->n_state_floats, true))
    NC_FAIL(m->ctx, NC_ERR_OUT_OF_MEMORY, "out of memory allocating optimizer state (%.1f MiB)",
            (double)m->n_state_floats * 4.0 / 1048576.0);
  return NC_OK;
}

// One Newton-Schulz workspace per thread of this call (grown when a call has more threads).
int32_t ensure_muon_scratch(NcModel* m, int threads) {
  int64_t slot = 0;
  for (const ParamEntry& e : m->params)
    if (e.group == NC_GROUP_MATRIX) slot = std::max(slot, muon_scratch_floats(e.shape[0], e.shape[1]));
  if (m->muon_scratch.p && m->muon_scratch.n >= slot * threads) return NC_OK;
  if (!m->muon_scratch.alloc(slot * threads, false))
    NC_FAIL(m->ctx, NC_ERR_OUT_OF_MEMORY, "out of memory for Newton-Schulz scratch (%.1f MiB)",
            (double)(slot * threads) * 4.0 / 1048576.0);
  m->muon_scratch_slot = slot;
  return NC_OK;
}

// Muon over the given matrices: one matrix per thread when there are several, largest first so the
// batch's last tasks are short.
void muon_batch(NcModel* m, std::vector<MuonTask>& tasks, const NcOptimStep& step, int threads) {
  std::stable_sort(tasks.begin(), tasks.end(), [&](const MuonTask& a, const MuonTask& b) {
    return m->params[(size_t)a.param].numel > m->params[(size_t)b.param].numel;
  });
  auto update = [&](const MuonTask& t, float* scratch) {
    const ParamEntry& e = m->params[(size_t)t.param];
    muon_update(m->wp(t.param), t.grad, t.buf, e.shape[0], e.shape[1], step.lr_matrix, step.muon_momentum,
                step.grad_scale, scratch);
  };
  if (threads <= 1 || tasks.size() < 2) {
    for (const MuonTask& t : tasks) update(t, m->muon_scratch.p);
    return;
  }
  const int64_t slot = m->muon_scratch_slot;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (size_t i = 0; i < tasks.size(); i++) update(tasks[i], m->muon_scratch.p + slot * omp_get_thread_num());
}

AdamHyper adam_hyper(const NcOptimStep& step, int group, int64_t t) {
  AdamHyper h;
  h.lr = group == NC_GROUP_EMBEDDING ? step.lr_embedding : step.lr_unembedding;
  h.beta1 = step.adam_beta1;
  h.beta2 = step.adam_beta2;
  h.eps = step.adam_eps;
  h.weight_decay = step.weight_decay;
  h.grad_scale = step.grad_scale;
  h.t = t;
  return h;
}

}  // namespace nc

using namespace nc;

extern "C" {

NC_API int32_t nc_model_optim_step(NcModel* m, const NcOptimStep* step) {
  NC_CHECK_NOT_NULL(nullptr, m);
  return nc_guard(m->ctx, [&]() -> int32_t {
    NC_TRY(validate_optim_step(m->ctx, step));
    ThreadScope threads(m->ctx);
    ProfileScope profile(m);
    PhaseTimer timer(profile.prof, &NcProfile::optimizer_seconds);
    const int team = std::max(1, omp_get_max_threads());
    NC_TRY(ensure_grads(m));
    NC_TRY(ensure_optim_state(m));
    NC_TRY(ensure_muon_scratch(m, team));
    if (m->dist) return dist_optim_step(m, *step);
    const int64_t t = m->opt_step + 1;
    std::vector<MuonTask> muon;
    for (size_t si = 0; si < m->states.size();) {
      const StateEntry& s = m->states[si];
      const ParamEntry& e = m->params[(size_t)s.param_index];
      if (e.group == NC_GROUP_MATRIX) {
        muon.push_back({s.param_index, m->gp(s.param_index), m->opt.p + s.offset});
        si += 1;
        continue;
      }
      // exp_avg and exp_avg_sq rows cover the same slice of the parameter
      adamw_update(m->wp(s.param_index) + s.param_offset, m->gp(s.param_index) + s.param_offset, m->opt.p + s.offset,
                   m->opt.p + m->states[si + 1].offset, s.numel, adam_hyper(*step, e.group, t));
      si += 2;
    }
    muon_batch(m, muon, *step, team);
    m->opt_step = t;
    return NC_OK;
  });
}

NC_API int32_t nc_model_optim_state_read(NcModel* m, int32_t index, float* dst, int64_t numel) {
  NC_CHECK_NOT_NULL(nullptr, m);
  const StateEntry* row = nullptr;
  NC_TRY(check_state_copy(m->ctx, *m, index, dst, "dst", numel, &row));
  const StateEntry& s = *row;
  return nc_guard(m->ctx, [&]() -> int32_t {
    NC_TRY(ensure_optim_state(m));
    std::memcpy(dst, m->opt.p + s.offset, sizeof(float) * (size_t)numel);
    return NC_OK;
  });
}

NC_API int32_t nc_model_optim_state_write(NcModel* m, int32_t index, const float* src, int64_t numel) {
  NC_CHECK_NOT_NULL(nullptr, m);
  const StateEntry* row = nullptr;
  NC_TRY(check_state_copy(m->ctx, *m, index, src, "src", numel, &row));
  const StateEntry& s = *row;
  return nc_guard(m->ctx, [&]() -> int32_t {
    NC_TRY(ensure_optim_state(m));
    std::memcpy(m->opt.p + s.offset, src, sizeof(float) * (size_t)numel);
    return NC_OK;
  });
}

}  // extern "C"
