// params.cpp — the model config (validation, parameter counts) and the parameter table: names, shapes
// and optimizer groups in nanochat's state_dict order, reads/writes from the caller, and nanochat A's
// weight init with the documented counter-based RNG (rng.h).
#include <omp.h>

#include <cmath>
#include <cstdio>
#include <cstring>

#include "errors.h"
#include "internal.h"
#include "ops.h"
#include "rng.h"

namespace nc {

int32_t validate_config(const NcContext* ctx, const NcModelConfig* c) {
  NC_CHECK_NOT_NULL(ctx, c);
  NC_REQUIRE(ctx, c->vocab_size >= 1, NC_ERR_INVALID_ARGUMENT, "vocab_size must be >= 1, got %d", c->vocab_size);
  NC_REQUIRE(ctx, c->n_layer >= 1, NC_ERR_INVALID_ARGUMENT, "n_layer must be >= 1, got %d", c->n_layer);
  NC_REQUIRE(ctx, c->n_head >= 1, NC_ERR_INVALID_ARGUMENT, "n_head must be >= 1, got %d", c->n_head);
  NC_REQUIRE(ctx, c->n_kv_head >= 1, NC_ERR_INVALID_ARGUMENT, "n_kv_head must be >= 1, got %d", c->n_kv_head);
  NC_REQUIRE(ctx, c->n_embd >= 1, NC_ERR_INVALID_ARGUMENT, "n_embd must be >= 1, got %d", c->n_embd);
  NC_REQUIRE(ctx, c->sequence_len >= 1 && c->sequence_len <= (1 << 24), NC_ERR_INVALID_ARGUMENT,
             "sequence_len must be in [1, 2^24], got %d", c->sequence_len);
  NC_REQUIRE(ctx, c->max_batch >= 1, NC_ERR_INVALID_ARGUMENT, "max_batch must be >= 1, got %d", c->max_batch);
  NC_REQUIRE(ctx, c->n_embd % c->n_head == 0, NC_ERR_INVALID_ARGUMENT, "n_embd (%d) must be divisible by n_head (%d)",
             c->n_embd, c->n_head);
  NC_REQUIRE(ctx, c->n_kv_head <= c->n_head && c->n_head % c->n_kv_head == 0, NC_ERR_INVALID_ARGUMENT,
             "n_kv_head (%d) must divide n_head (%d)", c->n_kv_head, c->n_head);
  NC_REQUIRE(ctx, (c->n_embd / c->n_head) % 2 == 0, NC_ERR_INVALID_ARGUMENT,
             "head_dim = n_embd / n_head = %d must be even (rotary embeddings rotate pairs)", c->n_embd / c->n_head);
  NC_REQUIRE(ctx, std::isfinite(c->rotary_base) && c->rotary_base > 1.0f, NC_ERR_INVALID_ARGUMENT,
             "rotary_base must be a finite number > 1 (nanochat uses 10000), got %g", (double)c->rotary_base);
  NC_REQUIRE(ctx, std::isfinite(c->softcap) && c->softcap >= 0.0f, NC_ERR_INVALID_ARGUMENT,
             "softcap must be finite and >= 0 (0 disables it), got %g", (double)c->softcap);
  NC_REQUIRE(ctx, c->arch_flags == 0, NC_ERR_UNSUPPORTED,
             "arch_flags 0x%x: no architecture options are implemented yet (must be 0)", c->arch_flags);
  for (int32_t r : c->reserved) NC_REQUIRE(ctx, r == 0, NC_ERR_INVALID_ARGUMENT, "NcModelConfig.reserved must be zero");
  // Row counts and GEMM dimensions are passed to BLAS as int.
  const int64_t rows = (int64_t)c->max_batch * c->sequence_len;
  NC_REQUIRE(ctx, rows * 4 * (int64_t)c->n_embd < ((int64_t)1 << 40) && rows < ((int64_t)1 << 31),
             NC_ERR_INVALID_ARGUMENT, "max_batch * sequence_len = %lld is too large", (long long)rows);
  return NC_OK;
}

static void add_param(std::vector<ParamEntry>& t, int64_t* off, std::string name, int64_t r, int64_t c, int group) {
  ParamEntry e;
  e.name = std::move(name);
  e.ndim = 2;
  e.shape[0] = r;
  e.shape[1] = c;
  e.offset = *off;
  e.numel = r * c;
  e.group = group;
  *off += e.numel;
  t.push_back(std::move(e));
}

void build_param_table(const NcModelConfig& cfg, std::vector<ParamEntry>& t, int64_t* total) {
  const int64_t V = cfg.vocab_size, C = cfg.n_embd, D = C / cfg.n_head, H = cfg.n_head, Hkv = cfg.n_kv_head;
  int64_t off = 0;
  t.clear();
  t.reserve(2 + 6 * (size_t)cfg.n_layer);
  add_param(t, &off, "transformer.wte.weight", V, C, NC_GROUP_EMBEDDING);
  for (int l = 0; l < cfg.n_layer; l++) {
    std::string p = "transformer.h." + std::to_string(l) + ".";
    add_param(t, &off, p + "attn.c_q.weight", H * D, C, NC_GROUP_MATRIX);
    add_param(t, &off, p + "attn.c_k.weight", Hkv * D, C, NC_GROUP_MATRIX);
    add_param(t, &off, p + "attn.c_v.weight", Hkv * D, C, NC_GROUP_MATRIX);
    add_param(t, &off, p + "attn.c_proj.weight", C, C, NC_GROUP_MATRIX);
    add_param(t, &off, p + "mlp.c_fc.weight", 4 * C, C, NC_GROUP_MATRIX);
    add_param(t, &off, p + "mlp.c_proj.weight", C, 4 * C, NC_GROUP_MATRIX);
  }
  add_param(t, &off, "lm_head.weight", V, C, NC_GROUP_UNEMBEDDING);
  *total = off;
}

void fill_param_info(NcParamInfo* info, const char* name, const ParamEntry& e, int param_index) {
  std::memset(info, 0, sizeof *info);
  std::snprintf(info->name, sizeof info->name, "%s", name);
  info->ndim = e.ndim;
  info->dtype = NC_DTYPE_F32;
  info->group = e.group;
  info->param_index = param_index;
  info->shape[0] = e.shape[0];
  info->shape[1] = e.shape[1];
  info->numel = e.numel;
}

// nanochat A's std for a Linear [out, in]; 0 for the zero-initialized ones.
static double init_std(const NcModel* m, int index) {
  const ParamEntry& e = m->params[index];
  if (index == m->idx_wte()) return 1.0;
  if (index == m->idx_lm_head()) return 0.0;
  const int k = (index - 1) % 6;
  if (k == K_APROJ || k == K_MPROJ) return 0.0;
  const double fan_out = (double)e.shape[0], fan_in = (double)e.shape[1];
  return 1.0 / std::sqrt(fan_in) * std::fmin(1.0, std::sqrt(fan_out / fan_in));
}

}  // namespace nc

using namespace nc;

#define NC_CHECK_INDEX(m, index, count)                                                 \
  NC_REQUIRE((m)->ctx, (index) >= 0 && (index) < (int32_t)(count), NC_ERR_OUT_OF_RANGE, \
             "index %d out of range [0, %d)", (int)(index), (int)(count))

extern "C" {

NC_API int32_t nc_count_params(const NcModelConfig* config, NcParamCounts* out) {
  return nc_guard(nullptr, [&]() -> int32_t {
    NC_TRY(validate_config(nullptr, config));
    NC_CHECK_NOT_NULL(nullptr, out);
    std::vector<ParamEntry> table;
    int64_t total = 0;
    build_param_table(*config, table, &total);
    std::memset(out, 0, sizeof *out);
    out->wte = table.front().numel;
    out->lm_head = table.back().numel;
    out->transformer = total - out->wte - out->lm_head;
    out->total = total;
    out->num_tensors = (int64_t)table.size();
    const double L = config->n_layer, H = config->n_head, D = (double)(config->n_embd / config->n_head);
    out->flops_per_token = 6.0 * (double)(total - out->wte) + 12.0 * L * H * D * (double)config->sequence_len;
    return NC_OK;
  });
}

NC_API int32_t nc_model_num_params(const NcModel* m, int32_t* out_count) {
  NC_CHECK_NOT_NULL(nullptr, m);
  NC_CHECK_NOT_NULL(m->ctx, out_count);
  *out_count = (int32_t)m->params.size();
  return NC_OK;
}

NC_API int32_t nc_model_param_info(const NcModel* m, int32_t index, NcParamInfo* info) {
  NC_CHECK_NOT_NULL(nullptr, m);
  NC_CHECK_NOT_NULL(m->ctx, info);
  NC_CHECK_INDEX(m, index, m->params.size());
  fill_param_info(info, m->params[index].name.c_str(), m->params[index], index);
  return NC_OK;
}

NC_API int32_t nc_model_param_read(const NcModel* m, int32_t index, float* dst, int64_t numel) {
  NC_CHECK_NOT_NULL(nullptr, m);
  NC_CHECK_NOT_NULL(m->ctx, dst);
  NC_CHECK_INDEX(m, index, m->params.size());
  const ParamEntry& e = m->params[index];
  NC_REQUIRE(m->ctx, numel == e.numel, NC_ERR_INVALID_ARGUMENT, "%s has %lld elements, caller passed %lld",
             e.name.c_str(), (long long)e.numel, (long long)numel);
  std::memcpy(dst, m->wp(index), sizeof(float) * (size_t)numel);
  return NC_OK;
}

NC_API int32_t nc_model_param_write(NcModel* m, int32_t index, const float* src, int64_t numel) {
  NC_CHECK_NOT_NULL(nullptr, m);
  NC_CHECK_NOT_NULL(m->ctx, src);
  NC_CHECK_INDEX(m, index, m->params.size());
  const ParamEntry& e = m->params[index];
  NC_REQUIRE(m->ctx, numel == e.numel, NC_ERR_INVALID_ARGUMENT, "%s has %lld elements, caller passed %lld",
             e.name.c_str(), (long long)e.numel, (long long)numel);
  std::memcpy(m->wp(index), src, sizeof(float) * (size_t)numel);
  return NC_OK;
}

NC_API int32_t nc_model_grad_read(NcModel* m, int32_t index, float* dst, int64_t numel) {
  NC_CHECK_NOT_NULL(nullptr, m);
  NC_CHECK_NOT_NULL(m->ctx, dst);
  NC_CHECK_INDEX(m, index, m->params.size());
  const ParamEntry& e = m->params[index];
  NC_REQUIRE(m->ctx, numel == e.numel, NC_ERR_INVALID_ARGUMENT, "%s has %lld elements, caller passed %lld",
             e.name.c_str(), (long long)e.numel, (long long)numel);
  return nc_guard(m->ctx, [&]() -> int32_t {
    NC_TRY(ensure_grads(m));
    std::memcpy(dst, m->gp(index), sizeof(float) * (size_t)numel);
    return NC_OK;
  });
}

NC_API int32_t nc_model_init_weights(NcModel* m, uint64_t seed) {
  NC_CHECK_NOT_NULL(nullptr, m);
  ThreadScope threads(m->ctx);
  for (int i = 0; i < (int)m->params.size(); i++) {
    const double std_ = init_std(m, i);
    float* p = m->wp(i);
    const int64_t n = m->params[i].numel;
    if (std_ == 0.0) {
      std::memset(p, 0, sizeof(float) * (size_t)n);
      continue;
    }
    const uint64_t key = rng_key(seed, (uint64_t)i);
#pragma omp parallel for schedule(static) if (n >= kMinParallelWork)
    for (int64_t k = 0; k < (n + 1) / 2; k++) {
      double z0, z1;
      rng_normal_pair(key, (uint64_t)k, &z0, &z1);
      p[2 * k] = (float)(std_ * z0);
      if (2 * k + 1 < n) p[2 * k + 1] = (float)(std_ * z1);
    }
  }
  return NC_OK;
}

}  // extern "C"
