// layout.cpp — model config validation, the parameter and optimizer-state tables in nanochat's
// state_dict order, nanochat A's init std per tensor, and nc_count_params (which needs no device).
#include "layout.h"

#include <cmath>
#include <cstring>

#include "errors.h"

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
             "arch_flags 0x%x: no architecture options are defined in ABI version %d (must be 0)", c->arch_flags,
             NC_ABI_VERSION);
  NC_REQUIRE(ctx, c->compute_dtype == NC_DTYPE_F32 || c->compute_dtype == NC_DTYPE_BF16, NC_ERR_INVALID_ARGUMENT,
             "compute_dtype %d is not a dtype (NC_DTYPE_F32 = 0, NC_DTYPE_BF16 = 1)", c->compute_dtype);
  for (int32_t r : c->reserved) NC_REQUIRE(ctx, r == 0, NC_ERR_INVALID_ARGUMENT, "NcModelConfig.reserved must be zero");
  // Row counts and GEMM dimensions are passed to BLAS as int.
  const int64_t rows = (int64_t)c->max_batch * c->sequence_len;
  NC_REQUIRE(ctx, rows * 4 * (int64_t)c->n_embd < ((int64_t)1 << 40) && rows < ((int64_t)1 << 31),
             NC_ERR_INVALID_ARGUMENT, "max_batch * sequence_len = %lld is too large", (long long)rows);
  return NC_OK;
}

int32_t require_compute_dtype(const NcContext* ctx, const NcModelConfig& cfg, uint32_t supported_mask,
                              const char* backend) {
  if (supported_mask & (1u << cfg.compute_dtype)) return NC_OK;
  NC_FAIL(ctx, NC_ERR_UNSUPPORTED,
          "compute_dtype %s is not supported by the %s backend (it computes in %s); bf16 compute with fp32 master "
          "weights is the cuda backend's",
          cfg.compute_dtype == NC_DTYPE_BF16 ? "BF16" : "F32", backend,
          (supported_mask & (1u << NC_DTYPE_BF16)) ? "bf16" : "fp32");
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

void ModelLayout::build(const NcModelConfig& config) {
  cfg = config;
  V = config.vocab_size;
  C = config.n_embd;
  L = config.n_layer;
  H = config.n_head;
  Hkv = config.n_kv_head;
  D = C / H;
  QKV = (H + 2 * Hkv) * D;
  F = 4 * C;
  build_param_table(config, params, &n_weights);
  build_unsharded_states();
}

void ModelLayout::build_unsharded_states() {
  states.clear();
  int64_t off = 0;
  auto add = [&](const std::string& suffix, int i) {
    const ParamEntry& e = params[(size_t)i];
    states.push_back({e.name + suffix, i, off, e.numel, 0, {e.shape[0], e.shape[1]}});
    off += e.numel;
  };
  for (int i = 0; i < (int)params.size(); i++) {
    if (params[(size_t)i].group == NC_GROUP_MATRIX) {
      add(".momentum_buffer", i);
    } else {
      add(".exp_avg", i);
      add(".exp_avg_sq", i);
    }
  }
  n_state_floats = off;
}

double init_std(const ModelLayout& m, int index) {
  const ParamEntry& e = m.params[(size_t)index];
  if (index == m.idx_wte()) return 1.0;
  if (index == m.idx_lm_head()) return 0.0;
  const int k = (index - 1) % 6;
  if (k == K_APROJ || k == K_MPROJ) return 0.0;
  const double fan_out = (double)e.shape[0], fan_in = (double)e.shape[1];
  return 1.0 / std::sqrt(fan_in) * std::fmin(1.0, std::sqrt(fan_out / fan_in));
}

}  // namespace nc

using namespace nc;

extern "C" NC_API int32_t nc_count_params(const NcModelConfig* config, NcParamCounts* out) {
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
