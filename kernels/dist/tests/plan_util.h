// plan_util.h — nanochat A's parameter table as ParamSpecs (the order of nanochat.h's table: wte, then
// per layer c_q, c_k, c_v, attn.c_proj, c_fc, mlp.c_proj, then lm_head), for the plan tests.
#pragma once

#include <string>
#include <vector>

#include "shard_plan.h"

namespace dist_test {

struct ModelShape {
  int n_layer, n_embd, n_head, n_kv_head, vocab;
};

// nanochat A at --depth d: width 64*d, ceil(width/128) heads, as many KV heads, vocab 65536.
inline ModelShape depth_model(int depth) {
  const int c = 64 * depth;
  const int h = (c + 127) / 128;
  return {depth, c, h, h, 65536};
}

inline std::vector<nc::dist::ParamSpec> nanochat_params(const ModelShape& m) {
  using nc::dist::OptimKind;
  const int64_t C = m.n_embd, D = m.n_embd / m.n_head;
  std::vector<nc::dist::ParamSpec> p;
  p.push_back({"transformer.wte.weight", m.vocab, C, OptimKind::kAdamW});
  for (int l = 0; l < m.n_layer; l++) {
    const std::string h = "transformer.h." + std::to_string(l) + ".";
    p.push_back({h + "attn.c_q.weight", m.n_head * D, C, OptimKind::kMuon});
    p.push_back({h + "attn.c_k.weight", m.n_kv_head * D, C, OptimKind::kMuon});
    p.push_back({h + "attn.c_v.weight", m.n_kv_head * D, C, OptimKind::kMuon});
    p.push_back({h + "attn.c_proj.weight", C, C, OptimKind::kMuon});
    p.push_back({h + "mlp.c_fc.weight", 4 * C, C, OptimKind::kMuon});
    p.push_back({h + "mlp.c_proj.weight", C, 4 * C, OptimKind::kMuon});
  }
  p.push_back({"lm_head.weight", m.vocab, C, OptimKind::kAdamW});
  return p;
}

// A small GQA model: vocab 256 x C 8 (2048 elements, so AdamW shards when 256 % world == 0).
inline std::vector<nc::dist::ParamSpec> tiny_params() { return nanochat_params({3, 8, 2, 1, 256}); }

}  // namespace dist_test
