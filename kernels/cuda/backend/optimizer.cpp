// optimizer.cpp — nanochat A's two optimizers on the GPU behind one call: AdamW (adamw.cu) for wte and
// lm_head, Muon (muon.cu) for every transformer.h matrix, batched by shape (every layer's c_fc is one
// batch: momentum, Frobenius normalization, five bf16 Newton-Schulz iterations as batched cuBLASLt
// GEMMs, update). Both write the bf16 weight copy the next forward reads. Also the optimizer-state
// table for exact checkpoint/resume (exp_avg / exp_avg_sq per AdamW parameter, momentum_buffer per
// Muon parameter, and the step t); with one rank every row is whole (common/layout.cpp). Attached to a
// communicator of world_size > 1 the AdamW rows are this rank's shard and the step runs between
// nccl_optim.cpp's reduction and gather (DistAdamW sharded, DistMuon on the matrices this rank owns).
#include <algorithm>
#include <cstring>
#include <map>
#include <utility>

#include "checks.h"
#include "internal.h"
#include "optim_args.h"

namespace nc::cu_backend {

namespace {

// The momentum buffers are read through the parameters' offsets (muon.cu takes one offset array for
// p, g and buf), so the Muon rows of the state table must sit at one constant distance from their
// parameters. The unsharded table has them consecutive in parameter order, like the parameters.
int32_t muon_state_delta(const NcModel* m, int64_t* delta) {
  bool first = true;
  for (const StateEntry& s : m->states) {
    const ParamEntry& e = m->params[(size_t)s.param_index];
    if (e.group != NC_GROUP_MATRIX) continue;
    const int64_t d = s.offset - e.offset;
    if (first) *delta = d;
    first = false;
    NC_REQUIRE(m->ctx, d == *delta && s.numel == e.numel, NC_ERR_INTERNAL,
               "the optimizer-state table does not keep Muon buffers parallel to their parameters (%s)", s.name.c_str());
  }
  return NC_OK;
}

// The same-shape batches (of the matrices this rank updates: all, or its DistMuon share) and the
// Newton-Schulz workspaces of the largest one.
int32_t ensure_muon(NcModel* m) {
  if (!m->muon.empty() || m->ns_x.p) return NC_OK;
  std::map<std::pair<int64_t, int64_t>, std::vector<int>> shapes;
  for (int i = 0; i < (int)m->params.size(); i++) {
    const ParamEntry& e = m->params[(size_t)i];
    if (e.group == NC_GROUP_MATRIX && dist_updates(m, i)) shapes[{e.shape[0], e.shape[1]}].push_back(i);
  }
  size_t x_bytes = 0, a_bytes = 0, part_bytes = 0;
  std::vector<MuonGroup> groups(shapes.size());
  size_t gi = 0;
  for (auto& [shape, idx] : shapes) {
    MuonGroup& g = groups[gi++];
    g.rows = shape.first;
    g.cols = shape.second;
    g.params = idx;
    const int64_t count = (int64_t)idx.size(), mn = std::min(g.rows, g.cols);
    x_bytes = std::max(x_bytes, sizeof(bf16) * (size_t)(count * g.rows * g.cols));
    a_bytes = std::max(a_bytes, sizeof(bf16) * (size_t)(count * mn * mn));
    part_bytes = std::max(part_bytes, nc::cuda::muon_partials_bytes((int)count, g.rows, g.cols));
    std::vector<int64_t> offs;
    for (int i : idx) offs.push_back(m->params[(size_t)i].offset);
    NC_TRY(dev_alloc(m->ctx, g.offsets, sizeof(int64_t) * offs.size(), false, "Muon offsets"));
    NC_TRY(upload(m, g.offsets.p, offs.data(), sizeof(int64_t) * offs.size()));
  }
  NC_TRY(dev_alloc(m->ctx, m->ns_x, x_bytes, false, "Newton-Schulz workspace"));
  NC_TRY(dev_alloc(m->ctx, m->ns_x2, x_bytes, false, "Newton-Schulz workspace"));
  NC_TRY(dev_alloc(m->ctx, m->ns_a, a_bytes, false, "Newton-Schulz workspace"));
  NC_TRY(dev_alloc(m->ctx, m->ns_b, a_bytes, false, "Newton-Schulz workspace"));
  NC_TRY(dev_alloc(m->ctx, m->ns_partials, part_bytes, false, "Newton-Schulz workspace"));
  m->muon = std::move(groups);
  return NC_OK;
}

int32_t muon_step(NcModel* m, const NcOptimStep& step) {
  namespace k = nc::cuda;
  int64_t delta = 0;
  NC_TRY(muon_state_delta(m, &delta));
  float* buf = m->opt.as<float>() + delta;  // indexed with parameter offsets
  for (MuonGroup& g : m->muon) {
    const int count = (int)g.params.size();
    const int64_t mn = std::min(g.rows, g.cols), mx = std::max(g.rows, g.cols);
    const int64_t* offs = g.offsets.as<int64_t>();
    bf16 *X = m->ns_x.as<bf16>(), *result = nullptr;
    NC_CU(m->ctx, k::muon_momentum(X, buf, m->g.as<float>(), offs, count, g.rows, g.cols, (float)step.muon_momentum,
                                   (float)step.grad_scale, nullptr, m->ns_partials.p, m->stream),
          "muon_momentum");
    NC_CU(m->ctx, k::muon_normalize(X, count, g.rows, g.cols, m->ns_partials.p, m->stream), "muon_normalize");
    NC_ST(m->ctx, k::newton_schulz5(m->mm, X, m->ns_x2.as<bf16>(), m->ns_a.as<bf16>(), m->ns_b.as<bf16>(), count, mn,
                                    mx, &result, m->stream));
    NC_CU(m->ctx, k::muon_update(m->w.as<float>(), m->wb.as<bf16>(), offs, result, count, g.rows, g.cols,
                                 step.lr_matrix, m->stream),
          "muon_update");
  }
  return NC_OK;
}

}  // namespace

int32_t ensure_optim_state(NcModel* m) {
  if (m->opt.p) return NC_OK;
  return dev_alloc(m->ctx, m->opt, sizeof(float) * (size_t)m->n_state_floats, true, "optimizer state");
}

}  // namespace nc::cu_backend

using namespace nc;
using namespace nc::cu_backend;

extern "C" {

NC_API int32_t nc_model_optim_step(NcModel* m, const NcOptimStep* step) {
  NC_CHECK_NOT_NULL(nullptr, m);
  return nc_guard(m->ctx, [&]() -> int32_t {
    NC_TRY(validate_optim_step(m->ctx, step));
    NC_TRY(use_device(m->ctx));
    ProfileScope profile(m);
    PhaseTimer timer(m, profile.prof, &NcProfile::optimizer_seconds);
    NC_TRY(ensure_grads(m));
    NC_TRY(ensure_optim_state(m));
    NC_TRY(ensure_muon(m));
    NC_TRY(dist_reduce_grads(m));  // data-parallel: this rank's averaged gradient (nccl_optim.cpp)
    const int64_t t = m->opt_step + 1;
    float* opt = m->opt.as<float>();
    for (size_t si = 0; si < m->states.size();) {
      const StateEntry& s = m->states[si];
      const ParamEntry& e = m->params[(size_t)s.param_index];
      if (e.group == NC_GROUP_MATRIX) {
        si += 1;
        continue;
      }
      nc::cuda::AdamwStep h{};
      h.lr = e.group == NC_GROUP_EMBEDDING ? step->lr_embedding : step->lr_unembedding;
      h.beta1 = step->adam_beta1;
      h.beta2 = step->adam_beta2;
      h.eps = step->adam_eps;
      h.weight_decay = step->weight_decay;
      h.grad_scale = step->grad_scale;
      h.t = t;
      // exp_avg and exp_avg_sq rows cover the same slice of the parameter
      const int i = s.param_index;
      NC_CU(m->ctx, nc::cuda::adamw_update(m->wp(i) + s.param_offset, m->wbp(i) + s.param_offset,
                                           m->gp(i) + s.param_offset, opt + s.offset, opt + m->states[si + 1].offset,
                                           s.numel, h, nullptr, m->stream),
            "adamw_update");
      si += 2;
    }
    NC_TRY(muon_step(m, *step));
    NC_TRY(dist_gather_params(m));
    NC_TRY(sync_stream(m, "cudaStreamSynchronize (optimizer step)"));
    m->opt_step = t;
    return NC_OK;
  });
}

NC_API int32_t nc_model_optim_state_read(NcModel* m, int32_t index, float* dst, int64_t numel) {
  NC_CHECK_NOT_NULL(nullptr, m);
  const StateEntry* row = nullptr;
  NC_TRY(check_state_copy(m->ctx, *m, index, dst, "dst", numel, &row));
  const StateEntry& s = *row;
  NC_TRY(use_device(m->ctx));
  NC_TRY(ensure_optim_state(m));
  return download(m, dst, m->opt.as<float>() + s.offset, sizeof(float) * (size_t)numel);
}

NC_API int32_t nc_model_optim_state_write(NcModel* m, int32_t index, const float* src, int64_t numel) {
  NC_CHECK_NOT_NULL(nullptr, m);
  const StateEntry* row = nullptr;
  NC_TRY(check_state_copy(m->ctx, *m, index, src, "src", numel, &row));
  const StateEntry& s = *row;
  NC_TRY(use_device(m->ctx));
  NC_TRY(ensure_optim_state(m));
  return upload(m, m->opt.as<float>() + s.offset, src, sizeof(float) * (size_t)numel);
}

}  // extern "C"
