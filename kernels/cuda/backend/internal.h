// internal.h — what the CUDA backend's handles hold: the context (a device ordinal), the model (the
// shared layout of common/layout.h plus device memory: fp32 master weights with their bf16 copy,
// fp32 gradients and optimizer state, activation workspaces, the rotary table, one compute stream,
// the cuBLASLt handle and the attention path), the KV cache and the communicator; and the helpers
// every call uses (device memory, CUDA error -> status, the device of the calling thread).
// The same sources build for a GPU (nvcc toolchain) and for the CPU emulator (NC_EMU).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "attention_path.h"
#include "comm_base.h"
#include "errors.h"
#include "kernels.h"
#include "kvcache_args.h"
#include "layout.h"
#include "workspace_plan.h"
#include "nanochat.h"

namespace nc::cu_backend {

using nc::cuda::bf16;

// cudaMalloc'd memory that frees itself. Allocation goes through dev_alloc (which reports errors).
struct DevMem {
  void* p = nullptr;
  size_t bytes = 0;
  DevMem() = default;
  DevMem(const DevMem&) = delete;
  DevMem& operator=(const DevMem&) = delete;
  ~DevMem() { release(); }
  void release();
  template <typename T>
  T* as() const {
    return static_cast<T*>(p);
  }
};

// A CUDA failure as a status on ctx: cudaErrorMemoryAllocation is NC_ERR_OUT_OF_MEMORY, anything else
// NC_ERR_INTERNAL, the message naming `what` and CUDA's error.
int32_t cuda_error(const NcContext* ctx, cudaError_t e, const char* what, const char* file, int line);
// A library wrapper's failure (cuBLASLt, cuDNN) as NC_ERR_INTERNAL with its message.
int32_t status_error(const NcContext* ctx, const nc::cuda::Status& s, const char* file, int line);
// Allocates `bytes` (zeroed when `zero`) into mem; NC_ERR_OUT_OF_MEMORY naming `what` and the device's
// free memory when the GPU has not got it.
int32_t dev_alloc(const NcContext* ctx, DevMem& mem, size_t bytes, bool zero, const char* what);
// Makes the context's GPU current on the calling thread (calls may come from any thread).
int32_t use_device(const NcContext* ctx);

}  // namespace nc::cu_backend

#define NC_CU(ctx, expr, what)                                                                              \
  do {                                                                                                      \
    const cudaError_t nc_cu_err_ = (expr);                                                                  \
    if (nc_cu_err_ != cudaSuccess) return ::nc::cu_backend::cuda_error(ctx, nc_cu_err_, what, __FILE__, __LINE__); \
  } while (0)

#define NC_ST(ctx, expr)                                                                     \
  do {                                                                                       \
    const ::nc::cuda::Status nc_st_ = (expr);                                                \
    if (!nc_st_.ok) return ::nc::cu_backend::status_error(ctx, nc_st_, __FILE__, __LINE__); \
  } while (0)

struct NcContext {
  int32_t device = NC_DEVICE_CUDA;
  int32_t device_index = 0;
  uint32_t flags = 0;
  uint64_t seed = 0;
  NcErrorSlot err;
  std::atomic<int32_t> live_models{0};
  std::atomic<int32_t> live_comms{0};
};

namespace nc::cu_backend {
class DeviceComm;  // nccl_comm.h: NCCL on a GPU, Gloo under the emulator
struct DistOptim;  // nccl_optim.cpp: the shard plan of a model attached to more than one rank
}

// The communicator (comm.cpp): for world_size > 1 the device collectives (NCCL), none for one rank.
struct NcComm : nc::CommBase {
  nc::cu_backend::DeviceComm* impl = nullptr;  // owned; null for world_size 1
};

namespace nc::cu_backend {

// Per-layer activations kept for the backward pass (N = B*T rows): bf16 where a GEMM reads them,
// fp32 statistics.
struct LayerActs {
  bf16* xn1;   // [N, C]      rmsnorm(x) entering attention
  float* r1;   // [N]
  bf16* qkv;   // [N, QKV]    q | k | v; q and k after rotary + qk-norm
  float* rqk;  // [N, H+Hkv]
  bf16* att;   // [N, C]      attention output (input of attn.c_proj)
  float* lse;  // [B, H, T]
  bf16* xn2;   // [N, C]
  float* r2;   // [N]
  bf16* h;     // [N, 4C]     mlp.c_fc output (before relu^2)
};

// Device buffers for one pass over up to `rows` token rows (training keeps every layer's activations,
// inference one layer's). Grows to the largest B*T seen.
struct Workspace : nc::WorkspaceShape {  // rows, chunk_rows, train
  DevMem mem;
  float* x = nullptr;        // [N, C]  residual stream (fp32)
  float* x0 = nullptr;       // [N, C]  rmsnorm(wte[idx])
  float* r0 = nullptr;       // [N]
  bf16* xf = nullptr;        // [N, C]  final rmsnorm (lm_head input)
  float* rf = nullptr;       // [N]
  bf16* act = nullptr;       // [N, 4C] relu^2 output, later its gradient
  float* logits = nullptr;   // [chunk_rows, V] inference: fp32 logits
  bf16* dlogits = nullptr;   // [chunk_rows, V] training: bf16 logits, overwritten by their gradient
  float* losses = nullptr;   // [N]
  int32_t* argmax = nullptr; // [N]
  int32_t* tokens = nullptr; // [N]
  int32_t* targets = nullptr;// [N]
  float* dscale = nullptr;   // [N]     training: each row's loss gradient scale
  float* dx = nullptr;       // [N, C]  training: residual gradient
  float* dxn = nullptr;      // [N, C]  training: gradient of a norm output
  bf16* dxb = nullptr;       // [N, C]  training: bf16 copy of dx (GEMM operand)
  bf16* datt = nullptr;      // [N, C]  training
  bf16* dqkv = nullptr;      // [N, QKV] training
  void* attn_scratch = nullptr;  // training: attention backward (N*H floats)
  void* emb_scratch = nullptr;   // training: embedding backward
  size_t emb_scratch_bytes = 0;
  std::vector<LayerActs> acts;
};

// Muon's same-shape batches: the matrices of one [rows, cols] shape, orthogonalized together.
struct MuonGroup {
  int64_t rows = 0, cols = 0;
  std::vector<int> params;
  DevMem offsets;  // int64 [count] element offsets into the parameter arena
};

}  // namespace nc::cu_backend

struct NcModel : nc::ModelLayout {
  NcContext* ctx = nullptr;
  NcComm* comm = nullptr;
  cudaStream_t stream = nullptr;
  nc::cuda::MatmulHandle* mm = nullptr;
  nc::cuda::AttentionPaths attn;

  nc::cu_backend::DevMem w;   // fp32 master weights [n_weights]
  nc::cu_backend::DevMem wb;  // bf16 copy, same offsets (what the GEMMs read)
  nc::cu_backend::DevMem g;   // fp32 gradients (allocated on first use)
  int64_t rope_len = 0;
  nc::cu_backend::DevMem rope_cos, rope_sin;  // fp32 [rope_len, D/2]

  nc::cu_backend::DevMem opt;  // fp32 optimizer state, laid out by the state table
  bool grads_averaged = false;   // nc_model_grad_norm already averaged the gradients over the ranks
  std::shared_ptr<nc::cu_backend::DistOptim> dist;  // set while attached to a communicator of world_size > 1
  int64_t opt_step = 0;
  std::vector<nc::cu_backend::MuonGroup> muon;
  nc::cu_backend::DevMem ns_x, ns_x2, ns_a, ns_b, ns_partials;  // Newton-Schulz workspaces (largest group)
  nc::cu_backend::DevMem scalars;  // grad_norm scratch + its float result

  NcLossStats loss{};
  nc::cu_backend::Workspace train_ws, eval_ws;
  std::atomic<int32_t> live_caches{0};
  NcProfile prof{};

  float* wp(int i) const { return w.as<float>() + params[(size_t)i].offset; }
  nc::cuda::bf16* wbp(int i) const { return wb.as<nc::cuda::bf16>() + params[(size_t)i].offset; }
  float* gp(int i) const { return g.as<float>() + params[(size_t)i].offset; }
};

struct NcKVCache : nc::KVCacheState {  // model, batch, max_len, pos
  nc::cu_backend::DevMem k, v;  // bf16 [L, batch, max_len, Hkv*D]
  nc::cu_backend::DevMem out;   // [batch] tokens + logprobs, [batch, V] logits; seeds [batch]
  nc::cu_backend::Workspace ws;
};

namespace nc::cu_backend {

// Times an API call into model->prof with NC_CONTEXT_PROFILE (synchronizing the stream at the end, so
// the time is the device's too).
struct ProfileScope {
  NcModel* m;
  NcProfile* prof;
  double t0;
  explicit ProfileScope(NcModel* model);
  ~ProfileScope();
};
struct PhaseTimer {
  NcModel* m;
  double* slot;
  double t0;
  PhaseTimer(NcModel* model, NcProfile* prof, double NcProfile::*field);
  ~PhaseTimer();
};
double wall_seconds();

// Data parallelism (comm.cpp): attached to a communicator of world_size > 1, averages the gradient over
// the ranks in place on the model's stream (once per zero_grad: a no-op when already averaged or alone).
int32_t average_grads(NcModel* m);
// Waits for the model's stream; with a communicator, through it (a collective stuck on a dead peer ends
// as NC_ERR_PEER_FAILED / NC_ERR_TIMEOUT instead of hanging).
int32_t sync_stream(NcModel* m, const char* what);
// Runs `body` (which enqueues collectives); with NC_CONTEXT_PROFILE its time goes to comm_seconds,
// the stream waited for through sync_stream (PhaseTimer's plain wait would hang on a dead peer).
template <typename F>
int32_t timed_collectives(NcModel* m, F&& body) {
  if (!(m->ctx->flags & NC_CONTEXT_PROFILE)) return body();
  NC_TRY(sync_stream(m, "cudaStreamSynchronize (before collectives)"));
  const double t0 = wall_seconds();
  NC_TRY(body());
  NC_TRY(sync_stream(m, "cudaStreamSynchronize (after collectives)"));
  m->prof.comm_seconds += wall_seconds() - t0;
  return NC_OK;
}
// The sharded optimizer (nccl_optim.cpp). dist_attach: the plan and this rank's state table for `comm`
// (the whole table for none or one rank). Around the step's kernels: dist_reduce_grads hands this rank
// the averaged gradient of what it updates (nothing when already averaged); dist_gather_params shares
// the updated AdamW slices and owned matrices. Both do nothing without a plan.
int32_t dist_attach(NcModel* m, NcComm* comm);
// Whether this rank runs Muon on matrix `param` (its DistMuon owner; always with no plan).
bool dist_updates(const NcModel* m, int param);
int32_t dist_reduce_grads(NcModel* m);
int32_t dist_gather_params(NcModel* m);

// Lazily allocated model state.
int32_t ensure_grads(NcModel* m);
int32_t ensure_optim_state(NcModel* m);
// head: also the chunk of logits of the loss head (not needed by the KV cache).
int32_t workspace_ensure(NcModel* m, Workspace& ws, int64_t rows, bool train, bool head = true);
// Host -> device copy on the model's stream, synchronous with respect to the host buffer.
int32_t upload(NcModel* m, void* dst, const void* src, size_t bytes);
int32_t download(NcModel* m, void* dst, const void* src, size_t bytes);  // waits for the stream

// The passes (passes.cpp). forward_body: ws.tokens [B*T] already on the device; embeddings, blocks,
// final norm into ws.xf; with a cache, keys/values are appended at pos0 and attention reads the prefix.
int32_t forward_body(NcModel* m, Workspace& ws, int64_t B, int64_t T, int64_t pos0, NcKVCache* cache);
// From ws.dxn = dLoss/d(final norm output) to the parameter gradients (accumulated).
int32_t backward_body(NcModel* m, Workspace& ws, int64_t B, int64_t T);
// lm_head + softcap + CE over ws.xf chunk by chunk, row r's gradient scaled by ws.dscale[r]: losses
// into ws.losses, dW_lm_head accumulated, ws.dxn written.
int32_t head_train(NcModel* m, Workspace& ws, int64_t N);
// No gradients: ws.losses [N] and (argmax) ws.argmax [N] of the targets in ws.targets.
int32_t head_scores(NcModel* m, Workspace& ws, int64_t N, bool argmax);
// Raw (uncapped) logits out [B, V] fp32 (device) of rows rows[b] of ws.xf.
int32_t logits_of_rows(NcModel* m, Workspace& ws, const int64_t* rows, int64_t B, float* out);
// One GEMM through the model's cuBLASLt handle (profiled as matmul time and FLOPs).
int32_t gemm(NcModel* m, const nc::cuda::Gemm& g);

}  // namespace nc::cu_backend
