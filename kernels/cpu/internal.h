// internal.h — what the CPU backend's handles hold: the context, the model (the shared layout plus
// parameters, gradients, optimizer state, activation workspaces, rotary table), the KV cache and the
// communicator, plus small RAII helpers.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "comm_base.h"
#include "errors.h"
#include "kvcache_args.h"
#include "layout.h"
#include "workspace_plan.h"
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
  NcErrorSlot err;
  std::atomic<int32_t> live_models{0};
  std::atomic<int32_t> live_comms{0};
};

namespace nc::dist {
class Communicator;  // kernels/dist/comm.h (Gloo), present when the library is built with NC_CPU_DIST
}
namespace nc {
struct DistOptim;  // the sharding plan and buffers of a model attached to a communicator (dist_optim.cpp)
}

// The communicator: Gloo's for world_size > 1 (comm.cpp); a world of one rank needs no transport.
struct NcComm : nc::CommBase {
  nc::dist::Communicator* impl = nullptr;  // owned; null for world_size 1
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
struct Workspace : nc::WorkspaceShape {  // rows, chunk_rows, train
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
  float* dscale = nullptr;  // [N]      training: the gradient scale of each row's loss
  std::vector<LayerActs> acts;
};

// The model: the shared layout (config, dimensions, parameter and state tables; common/layout.h) plus
// the CPU memory behind it.
struct NcModel : nc::ModelLayout {
  NcContext* ctx = nullptr;
  NcComm* comm = nullptr;  // attached communicator (nc_model_attach_comm), or none
  nc::DistOptim* dist = nullptr;  // owned; set while attached to a communicator of world_size > 1
  bool grads_averaged = false;    // nc_model_grad_norm already averaged the gradients over the ranks

  FloatBuf w;  // parameters
  FloatBuf g;  // gradients, same layout (allocated on first use)

  int64_t rope_len = 0;  // positions covered: 10 * sequence_len
  FloatBuf rope_cos;     // [rope_len, D/2]
  FloatBuf rope_sin;

  FloatBuf opt;          // optimizer state, laid out by the state table (allocated on first use)
  int64_t opt_step = 0;  // AdamW step count t
  FloatBuf muon_scratch;         // one Newton-Schulz workspace per thread
  int64_t muon_scratch_slot = 0;  // floats per thread

  NcLossStats loss{};  // backward calls since the last zero_grad

  Workspace train_ws;  // forward_backward
  Workspace eval_ws;   // forward_losses, forward_logits, forward_scores, forward_logits_at

  std::atomic<int32_t> live_caches{0};
  NcProfile prof{};

  float* wp(int i) const { return w.p + params[(size_t)i].offset; }
  float* gp(int i) const { return g.p + params[(size_t)i].offset; }
};

struct NcKVCache : nc::KVCacheState {  // model, batch, max_len, pos
  FloatBuf k;       // [L, batch, max_len, Hkv*D]
  FloatBuf v;       // [L, batch, max_len, Hkv*D]
  FloatBuf logits;  // [batch, V] for the sampling calls (allocated on first use)
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

// Workspaces (workspace.cpp).
// head: also allocate the chunk of logits the loss head works in (not needed by the KV cache).
int32_t workspace_ensure(NcModel* m, Workspace& ws, int64_t rows, bool train, bool head = true);
// Lazily allocated model state (model.cpp, optimizer.cpp).
int32_t ensure_grads(NcModel* m);
int32_t ensure_optim_state(NcModel* m);

// Data-parallel training (dist_optim.cpp; without NC_CPU_DIST a world of one rank never gets here).
// Attaching builds the sharding plan and this rank's optimizer-state table; detaching restores the
// unsharded table.
int32_t dist_attach(NcModel* m, NcComm* comm);
void dist_free(NcModel* m);
// nc_model_grad_norm's reduction: averages the whole gradient over the ranks in place.
int32_t dist_average_grads(NcModel* m);
// nanochat's DistAdamW + DistMuon step (nc_model_optim_step with a communicator of world_size > 1).
int32_t dist_optim_step(NcModel* m, const NcOptimStep& step);

// Muon over a list of matrices, one per thread when there are several (optimizer.cpp): each task
// updates parameter `param` from gradient `grad` with momentum buffer `buf`.
struct MuonTask {
  int param;
  const float* grad;
  float* buf;
};
int32_t ensure_muon_scratch(NcModel* m, int threads);
void muon_batch(NcModel* m, std::vector<MuonTask>& tasks, const NcOptimStep& step, int threads);
// This step's AdamW hyperparameters for a parameter of `group` at step count t.
struct AdamHyper adam_hyper(const NcOptimStep& step, int group, int64_t t);

// The passes (model.cpp). forward_body: embeddings, blocks, final norm into ws.xf; with a cache,
// keys/values are appended to it at `pos0` and attention reads the whole prefix.
int32_t forward_body(NcModel* m, Workspace& ws, const int32_t* tokens, int64_t B, int64_t T, int64_t pos0,
                     NcKVCache* cache);
// From ws.dxn = dLoss/d(final norm output) to the parameter gradients (accumulated).
int32_t backward_body(NcModel* m, Workspace& ws, const int32_t* tokens, int64_t B, int64_t T);
// lm_head + softcap + CE over ws.xf, chunk by chunk, with row r's gradient scaled by ws.dscale[r]:
// per-row losses into ws.losses, dW_lm_head accumulated, ws.dxn written.
void head_train(NcModel* m, Workspace& ws, const int32_t* targets, int64_t N);
// No gradients: per-row losses [N] and, when argmax is not null, each row's argmax [N].
void head_scores(NcModel* m, Workspace& ws, const int32_t* targets, int64_t N, float* losses, int32_t* argmax);
// Softcapped logits out [B, V] of rows rows[b] of xf (gathered into scratch [B, C] first).
void logits_of_rows(NcModel* m, const float* xf, const int64_t* rows, int64_t B, float* scratch, float* out);

}  // namespace nc
