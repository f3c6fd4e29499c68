// internal.h — what the CPU backend's handles hold: the context, the model (parameters, gradients,
// optimizer state, activation workspaces, rotary table) and the KV cache, plus small RAII helpers.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "nanochat.h"

// An aligned fp32 array that frees itself. alloc() returns false (and leaves it empty) on failure.
struct FloatBuf {
  float* p = nullptr;
  int64_t n = 0;
  FloatBuf() = default;
  FloatBuf(const FloatBuf&) = delete;
  FloatBuf& operator=(const FloatBuf&) = delete;
  ~FloatBuf() { release(); }
  bool alloc(int64_t count, bool zero);
  void release();
};

struct NcContext {
  int32_t device = NC_DEVICE_CPU;
  int32_t num_threads = 0;  // 0 = OpenMP default
  uint32_t flags = 0;
  uint64_t seed = 0;
  mutable std::mutex err_mu;
  char err[1024] = {0};
  std::atomic<int32_t> live_models{0};
};

// One row of the parameter table. Tensors are consecutive in one arena (c_q, c_k, c_v of a layer are
// therefore adjacent and act as one fused [QKV, C] matrix).
struct ParamEntry {
  std::string name;
  int ndim;
  int64_t shape[2];
  int64_t offset;  // in floats, into NcModel::w and NcModel::g
  int64_t numel;
  int group;  // NC_GROUP_*
};

// One row of the optimizer-state table; offset into NcModel::opt.
struct StateEntry {
  std::string name;
  int param_index;
  int64_t offset;
  int64_t numel;
};

// Per-layer activations kept for the backward pass (N = B*T rows of the current call).
struct LayerActs {
  float* xn1;  // [N, C]       rmsnorm(x) entering attention
  float* r1;   // [N]          its 1/rms
  float* qkv;  // [N, QKV]     q | k | v of each row; q and k after rotary + qk-norm
  float* rqk;  // [N, H+Hkv]   1/rms of every q and k head (pre-norm)
  float* att;  // [N, C]       attention output, heads concatenated (input of attn.c_proj)
  float* lse;  // [B, H, T]    log-sum-exp of every attention row
  float* xn2;  // [N, C]       rmsnorm(x) entering the MLP
  float* r2;   // [N]
  float* h;    // [N, 4C]      mlp.c_fc output (before relu^2)
};

// Buffers for one forward (and, when train, backward) pass over up to `rows` token rows.
// Training keeps n_layer LayerActs; inference keeps one and reuses it for every layer.
struct Workspace {
  int64_t rows = 0;
  int64_t chunk_rows = 0;  // rows of logits materialized at once by the head
  bool train = false;
  FloatBuf mem;
  float* x = nullptr;       // [N, C]   residual stream
  float* x0 = nullptr;      // [N, C]   rmsnorm(wte[idx]), training only
  float* r0 = nullptr;      // [N]
  float* xf = nullptr;      // [N, C]   final rmsnorm
  float* rf = nullptr;      // [N]
  float* act4 = nullptr;    // [N, 4C]  relu^2 output, later its gradient
  float* logits = nullptr;  // [chunk_rows, V]
  float* losses = nullptr;  // [N]      per-row losses of the head
  float* dx = nullptr;      // [N, C]   training: gradient of the residual stream
  float* dxn = nullptr;     // [N, C]   training: gradient of a norm output
  float* datt = nullptr;    // [N, C]   training: gradient of the attention output
  float* dqkv = nullptr;    // [N, QKV] training
  std::vector<LayerActs> acts;
};

struct NcModel {
  NcContext* ctx = nullptr;
  NcModelConfig cfg{};
  int64_t V = 0, C = 0, L = 0, H = 0, Hkv = 0, D = 0, QKV = 0, F = 0;  // F = 4C (MLP width)

  std::vector<ParamEntry> params;
  int64_t n_weights = 0;
  FloatBuf w;  // parameters
  FloatBuf g;  // gradients, same layout (allocated on first use)

  int64_t rope_len = 0;  // positions covered: 10 * sequence_len
  FloatBuf rope_cos;     // [rope_len, D/2]
  FloatBuf rope_sin;

  std::vector<StateEntry> states;
  FloatBuf opt;          // optimizer state (allocated on first use)
  int64_t opt_step = 0;  // AdamW step count t
  FloatBuf muon_scratch;

  Workspace train_ws;  // forward_backward
  Workspace eval_ws;   // forward_losses, forward_logits

  std::atomic<int32_t> live_caches{0};
  NcProfile prof{};

  // Parameter indices of the table (see nanochat.h).
  int idx_wte() const { return 0; }
  int idx_layer(int64_t l, int k) const { return 1 + 6 * (int)l + k; }  // k: 0 c_q .. 5 mlp.c_proj
  int idx_lm_head() const { return 1 + 6 * (int)L; }
  float* wp(int i) const { return w.p + params[i].offset; }
  float* gp(int i) const { return g.p + params[i].offset; }
};

enum { K_CQ = 0, K_CK = 1, K_CV = 2, K_APROJ = 3, K_FC = 4, K_MPROJ = 5 };

struct NcKVCache {
  NcModel* model = nullptr;
  int32_t batch = 0, max_len = 0, pos = 0;
  FloatBuf k;  // [L, batch, max_len, Hkv*D]
  FloatBuf v;  // [L, batch, max_len, Hkv*D]
  Workspace ws;
};

namespace nc {

// For the duration of an API call: sets the calling thread's OpenMP thread count (which OpenBLAS's
// OpenMP build follows too), and turns on flush-to-zero / denormals-are-zero (x86 MXCSR) on the calling
// thread and on its OpenMP worker threads. Tiny gradients (early training, Muon's Newton-Schulz on a
// near-zero matrix) otherwise produce subnormal floats that run ~15x slower; GPUs flush them anyway.
// The caller's floating-point state and thread count are restored on return (the worker threads, owned by the OpenMP
// runtime, keep FTZ/DAZ).
struct ThreadScope {
  explicit ThreadScope(const NcContext* ctx);
  ~ThreadScope();
  unsigned saved_csr;
  int saved_threads;  // the calling thread's OpenMP thread count, restored too
};

// Times an API call into model->prof when the context has NC_CONTEXT_PROFILE, and makes the model's
// profile the calling thread's target for GEMM accounting.
struct ProfileScope {
  NcProfile* prof;
  double t0;
  explicit ProfileScope(NcModel* m);
  ~ProfileScope();
};

// Adds the wall time of a scope to one NcProfile field (no-op when prof is null).
struct PhaseTimer {
  double* slot;
  double t0;
  PhaseTimer(NcProfile* prof, double NcProfile::*field);
  ~PhaseTimer();
};

double wall_seconds();
extern thread_local NcProfile* tl_profile;

// Config and parameter table (params.cpp).
int32_t validate_config(const NcContext* ctx, const NcModelConfig* cfg);
void build_param_table(const NcModelConfig& cfg, std::vector<ParamEntry>& table, int64_t* total);
void fill_param_info(NcParamInfo* info, const char* name, const ParamEntry& e, int param_index);

// Workspaces (workspace.cpp).
// head: also allocate the chunk of logits the loss head works in (not needed by the KV cache).
int32_t workspace_ensure(NcModel* m, Workspace& ws, int64_t rows, bool train, bool head = true);
// Lazily allocated model state (model.cpp).
int32_t ensure_grads(NcModel* m);
int32_t ensure_optim_state(NcModel* m);

// The shared forward pass (model.cpp): embeddings, blocks, final norm into ws.xf.
// With a cache, keys/values are appended to it at `pos0` and attention reads the whole prefix.
int32_t forward_body(NcModel* m, Workspace& ws, const int32_t* tokens, int64_t B, int64_t T, int64_t pos0,
                     NcKVCache* cache);
// Validates B, T and token ids for training/eval calls.
int32_t check_tokens(const NcModel* m, const int32_t* tokens, int64_t n, const char* what);

}  // namespace nc
