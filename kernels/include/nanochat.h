/*
 * nanochat.h — the C ABI of the nanochat compute library, version 2.
 *
 * One header, several backends, each a shared library implementing every function below:
 *   libnanochat_cpu.so       C++17, OpenMP, fp32, BLAS (kernels/cpu/)
 *   libnanochat_cuda.so      CUDA: bf16 compute with fp32 master weights, cuBLASLt, NCCL (kernels/cuda/)
 *   libnanochat_cuda_emu.so  the same CUDA sources compiled for the host (kernels/emu/), for testing
 * The ABI is model-level, in the spirit of llm.c's function set: create a context on a device, create a
 * model from a config, run forward+backward on a micro-batch, step the optimizer with this step's
 * hyperparameters, and run inference with a KV cache, sampling inside the library. It is not an
 * op-by-op tensor library. Device-independent parts (config validation, the parameter table, argument
 * checks, errors) are shared by every backend (kernels/common/).
 *
 * Conventions
 *  - Every function returns an int32 status (NC_OK = 0). On failure nc_last_error() says why, with the
 *    source file and line. The library never prints, exits or aborts.
 *  - Handles (NcContext, NcModel, NcKVCache, NcComm) own all state; there are no global model objects.
 *  - Tensors cross the boundary as host fp32 arrays, row-major, in the shapes written next to each
 *    pointer (e.g. `[B*T*V]`), whatever the device and compute dtype. Token ids are int32.
 *  - Threads: a model (with its caches) may be used by one thread at a time, but that thread need not
 *    be the one that created it, so long calls can run on an FFI worker thread. Different models and
 *    contexts are independent. nc_last_error() may be called from any thread.
 *  - Structs are plain data with naturally aligned fields and fixed sizes (byte offsets are given in
 *    comments for FFI callers); reserved fields must be zero so that later versions can give them
 *    meaning without breaking old callers.
 *  - Parameter names, shapes and order follow nanochat's PyTorch state_dict (nn.Linear weights are
 *    [out_features, in_features]).
 *
 * Changes from version 1: device discovery (nc_device_count/_info) and device selection errors; the
 * compute dtype in NcModelConfig; forward_backward no longer returns its loss (losses accumulate in the
 * library and are read once per step with nc_model_loss_stats); a per-token weighted backward; sampling
 * inside the library (nc_model_prefill_sample/decode_sample); the communicator (NcComm) and the
 * optimizer-state table's shard fields (NcParamInfo grew to 216 bytes); the scoring calls
 * nc_model_forward_scores and nc_model_forward_logits_at; nc_abi_check; NcProfile's comm and sampling
 * times; NC_ERR_TIMEOUT and NC_ERR_PEER_FAILED for collectives (a status code added within version 2:
 * older callers see an unknown error code, still non-zero). A caller must check nc_abi_version() before
 * using anything else.
 */
#ifndef NANOCHAT_H
#define NANOCHAT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define NC_API __declspec(dllexport)
#else
#define NC_API __attribute__((visibility("default")))
#endif

/* Bumped on any incompatible change of a function or struct below. */
#define NC_ABI_VERSION 2

/* ---------------------------------------------------------------------------------------------- */
/* Status codes                                                                                   */

enum {
  NC_OK = 0,
  NC_ERR_INVALID_ARGUMENT = 1, /* null pointer, bad config value, reserved field not zero */
  NC_ERR_OUT_OF_RANGE = 2,     /* token id, T > sequence_len, B > max_batch, index, KV cache full */
  NC_ERR_OUT_OF_MEMORY = 3,
  NC_ERR_UNSUPPORTED = 4, /* a device, dtype or world size this backend does not have; ABI mismatch */
  NC_ERR_STATE = 5,       /* e.g. destroying a context that still has models */
  NC_ERR_INTERNAL = 6,
  NC_ERR_TIMEOUT = 7,     /* a collective or the communicator's bootstrap saw no progress from a peer within
                             NcCommOptions.timeout_ms (a peer hung, stopped, or never joined) */
  NC_ERR_PEER_FAILED = 8  /* a peer's connection closed (its process died) or the transport failed; the
                             communicator refuses every later call: destroy it and restart the job */
};

enum { NC_DEVICE_CPU = 0, NC_DEVICE_CUDA = 1 };
/* Compute dtypes (NcModelConfig.compute_dtype) and tensor dtypes (NcParamInfo.dtype). */
enum { NC_DTYPE_F32 = 0, NC_DTYPE_BF16 = 1 };

/* Which optimizer group a parameter belongs to (nanochat version A's two-optimizer setup). */
enum {
  NC_GROUP_EMBEDDING = 0,   /* transformer.wte.weight: AdamW, lr_embedding */
  NC_GROUP_UNEMBEDDING = 1, /* lm_head.weight: AdamW, lr_unembedding */
  NC_GROUP_MATRIX = 2       /* every transformer.h.* weight: Muon, lr_matrix */
};

/* NcContextConfig.flags */
enum { NC_CONTEXT_PROFILE = 1 }; /* collect per-phase timings, read with nc_model_get_profile */

typedef struct NcContext NcContext;
typedef struct NcModel NcModel;
typedef struct NcKVCache NcKVCache;
typedef struct NcComm NcComm;

/* ---------------------------------------------------------------------------------------------- */
/* Structs (sizes are checked at compile time in the implementation)                              */

typedef struct NcDeviceInfo {       /* 320 bytes; one device of this backend */
  char name[256];                   /*   0: NUL-terminated: the CPU model, or the GPU's name */
  int32_t device;                   /* 256: NC_DEVICE_* (pass it as NcContextConfig.device) */
  int32_t index;                    /* 260: pass it as NcContextConfig.device_index */
  int64_t total_memory;             /* 264: bytes: physical RAM, or the GPU's global memory */
  int64_t free_memory;              /* 272: bytes available now (Linux MemAvailable; cudaMemGetInfo) */
  int32_t compute_capability_major; /* 280: CUDA SM version, e.g. 9 for sm_90; 0 on CPU */
  int32_t compute_capability_minor; /* 284 */
  int32_t cores;                    /* 288: logical CPU cores, or the GPU's multiprocessors */
  uint32_t compute_dtypes;          /* 292: bit (1u << NC_DTYPE_*) for every compute_dtype it runs */
  int64_t reserved[3];              /* 296: zero */
} NcDeviceInfo;

typedef struct NcContextConfig { /* 48 bytes */
  int32_t device;                /*  0: NC_DEVICE_* of this backend (see nc_device_info) */
  int32_t device_index;          /*  4: in [0, nc_device_count()): the GPU ordinal; 0 on the CPU */
  int32_t num_threads;           /*  8: CPU worker threads for long calls; 0 = the OpenMP default */
  uint32_t flags;                /* 12: NC_CONTEXT_* bits */
  uint64_t seed;                 /* 16: for device-side randomness (e.g. stochastic rounding); unused on CPU */
  int64_t reserved[3];           /* 24: must be 0 */
} NcContextConfig;

typedef struct NcModelConfig { /* 64 bytes; nanochat GPTConfig, version A */
  int32_t vocab_size;          /*  0 */
  int32_t n_layer;             /*  4 */
  int32_t n_head;              /*  8: query heads */
  int32_t n_kv_head;           /* 12: key/value heads (GQA); must divide n_head */
  int32_t n_embd;              /* 16: model width C; head_dim = C / n_head, must be even */
  int32_t sequence_len;        /* 20: max T for training/eval calls; rotary table covers 10x this */
  int32_t max_batch;           /* 24: max B for training/eval calls (sizes the activation buffers) */
  uint32_t arch_flags;         /* 28: must be 0; reserved for later architecture options
                                      (value embeddings, sliding windows, per-layer scalars) */
  float rotary_base;           /* 32: 10000 in nanochat A */
  float softcap;               /* 36: logit softcap, 15 in nanochat; 0 disables */
  int32_t compute_dtype;       /* 40: NC_DTYPE_F32 (0): fp32 compute (the cpu backend); NC_DTYPE_BF16 =
                                      bf16 compute with fp32 master weights, gradients and optimizer state
                                      (the cuda backend, whose GEMMs are bf16 only). Reads and writes of
                                      tensors are fp32 either way. */
  int32_t reserved[5];         /* 44: must be 0 */
} NcModelConfig;

typedef struct NcParamCounts { /* 48 bytes; computed from a config, nothing allocated */
  int64_t wte;                 /*  0: vocab_size * n_embd */
  int64_t lm_head;             /*  8: vocab_size * n_embd */
  int64_t transformer;         /* 16: all transformer.h matrices, 12 * n_embd^2 * n_layer without GQA */
  int64_t total;               /* 24 */
  int64_t num_tensors;         /* 32: rows in the parameter table */
  double flops_per_token;      /* 40: nanochat A: 6*(total - wte) + 12*L*H*D*sequence_len */
} NcParamCounts;

/* One row of the parameter table or of the optimizer-state table. A parameter row always describes the
 * whole tensor. An optimizer-state row describes what this rank holds: with a communicator of world
 * size > 1 a backend may shard the state (nanochat's DistAdamW keeps a dim-0 slice per rank, DistMuon
 * the buffers of the matrices a rank owns), and the row then holds `numel` elements starting at element
 * `offset` of the full `full_numel`-element tensor (row-major); rows a rank does not own are absent
 * from its table. Without sharding offset = 0 and full_numel = numel. */
typedef struct NcParamInfo { /* 216 bytes */
  char name[128];            /*   0: NUL-terminated, e.g. "transformer.h.0.attn.c_q.weight" */
  int32_t ndim;              /* 128 */
  int32_t dtype;             /* 132: NC_DTYPE_F32 (reads and writes are always fp32) */
  int32_t group;             /* 136: NC_GROUP_* of the parameter */
  int32_t param_index;       /* 140: the parameter this row belongs to (itself for parameters) */
  int64_t shape[4];          /* 144: of the data this row holds; unused dims are 0 */
  int64_t numel;             /* 176: elements this row holds */
  int64_t offset;            /* 184: element offset of this row's data in the full tensor */
  int64_t full_numel;        /* 192: elements of the full tensor */
  int64_t reserved[2];       /* 200: zero */
} NcParamInfo;

typedef struct NcOptimStep { /* 128 bytes; this step's hyperparameters (schedules live in the caller) */
  double lr_embedding;       /*   0: AdamW lr for transformer.wte */
  double lr_unembedding;     /*   8: AdamW lr for lm_head */
  double lr_matrix;          /*  16: Muon lr for transformer.h matrices */
  double muon_momentum;      /*  24: 0.85 -> 0.95 warmup in nanochat A */
  double adam_beta1;         /*  32: 0.8 */
  double adam_beta2;         /*  40: 0.95 */
  double adam_eps;           /*  48: 1e-10 */
  double weight_decay;       /*  56: AdamW decoupled weight decay (0 in nanochat A); Muon has none */
  double grad_scale;         /*  64: every gradient is multiplied by this first (clipping); 1 = none */
  double reserved[7];        /*  72: must be 0 */
} NcOptimStep;

typedef struct NcLossStats { /* 48 bytes; the backward calls since the last nc_model_zero_grad */
  double loss_sum;           /*  0: sum of each call's loss (as defined by the call, before loss_scale) */
  double last_loss;          /*  8: the most recent call's loss (0 before any) */
  int64_t calls;             /* 16: backward calls, including those with no valid target (loss 0) */
  int64_t tokens;            /* 24: targets that entered a loss (target != -1; weighted: weight != 0) */
  int64_t reserved[2];       /* 32: zero */
} NcLossStats;

typedef struct NcSampling { /* 32 bytes; how the sampling calls pick a token (see nc_model_decode_sample) */
  float temperature;        /*  0: >= 0; 0 = greedy (argmax) */
  int32_t top_k;            /*  4: >= 0; 0 (or >= vocab) = every token is a candidate */
  int64_t reserved[3];      /*  8: must be 0 */
} NcSampling;

typedef struct NcCommId { /* 128 bytes (the size of NCCL's ncclUniqueId); opaque, made by nc_comm_id_create */
  uint8_t bytes[128];
} NcCommId;

typedef struct NcCommOptions { /* 528 bytes; how ranks find each other (NULL = every default) */
  char advertise_host[256];    /*   0: nc_comm_id_create: how the other ranks reach rank 0 (MASTER_ADDR);
                                       "" = the backend's default (NCCL finds its own) */
  char transport_host[256];    /* 256: nc_comm_create: the address this rank listens on; "" = the backend's
                                       choice (e.g. GLOO_SOCKET_IFNAME, or the interface reaching rank 0) */
  int64_t timeout_ms;          /* 512: bound on every rank joining (the id's validity) and on a collective
                                       waiting for a peer; 0 = 5 minutes */
  int64_t reserved;            /* 520: must be 0 */
} NcCommOptions;

typedef struct NcProfile {  /* 128 bytes; accumulated while NC_CONTEXT_PROFILE is set */
  double calls;             /*   0: profiled API calls */
  double total_seconds;     /*   8: wall time inside them */
  double matmul_seconds;    /*  16: dense GEMMs (linear layers, lm_head, Newton-Schulz) */
  double matmul_flops;      /*  24: FLOPs of those GEMMs */
  double attention_seconds; /*  32: attention core, forward and backward */
  double attention_flops;   /*  40: FLOPs actually performed there (causal blocks only) */
  double head_seconds;      /*  48: softcap + cross-entropy (+ its backward), excluding lm_head GEMMs */
  double optimizer_seconds; /*  56: nc_model_optim_step */
  double comm_seconds;      /*  64: collectives (gradient reduction, parameter gathering) */
  double sampling_seconds;  /*  72: choosing tokens in the sampling calls (after the logits) */
  double reserved[6];       /*  80 */
} NcProfile;

/* ---------------------------------------------------------------------------------------------- */
/* Library and errors                                                                             */

NC_API int32_t nc_abi_version(void);      /* returns NC_ABI_VERSION of the built library */
/* NC_OK when the library implements `caller_version` (pass NC_ABI_VERSION), else NC_ERR_UNSUPPORTED
 * with a message naming both versions. */
NC_API int32_t nc_abi_check(int32_t caller_version);
NC_API const char* nc_backend_name(void); /* "cpu", "cuda" or "cuda_emu" */
NC_API const char* nc_status_string(int32_t status);

/* The message of the last failure on `ctx` (any handle's calls report to its context), or of the last
 * failure anywhere in the process when ctx is NULL (use that after a failed nc_context_create, or when
 * a handle argument itself was NULL). The returned string is a copy owned by the calling thread, valid
 * until that thread's next nc_last_error call. Empty string when there was no error. */
NC_API const char* nc_last_error(const NcContext* ctx);

/* ---------------------------------------------------------------------------------------------- */
/* Devices and context                                                                            */

/* Devices this backend can run on: the cpu backend has exactly one (the host: its model name, logical
 * cores and RAM); the cuda backend counts the GPUs it can use (0, or a failure saying why, without a
 * driver). Errors here are process-wide (nc_last_error(NULL)). */
NC_API int32_t nc_device_count(int32_t* out_count);
NC_API int32_t nc_device_info(int32_t index, NcDeviceInfo* out_info);

/* A device kind the backend does not have is NC_ERR_UNSUPPORTED; an index outside [0, count) is
 * NC_ERR_OUT_OF_RANGE. */
NC_API int32_t nc_context_create(const NcContextConfig* config, NcContext** out_ctx);
/* Fails with NC_ERR_STATE while models or communicators created on it still exist. NULL is a no-op. */
NC_API int32_t nc_context_destroy(NcContext* ctx);

/* ---------------------------------------------------------------------------------------------- */
/* Model and parameter table                                                                      */

/* Validates a config and counts parameters and FLOPs without allocating anything (works for d20+).
 * Device-independent: compute_dtype may be any NC_DTYPE_*. */
NC_API int32_t nc_count_params(const NcModelConfig* config, NcParamCounts* out_counts);

/* Allocates fp32 parameters (zeroed) and the rotary table. Gradients, optimizer state and activation
 * buffers are allocated on first use. Weights must then be initialized: nc_model_init_weights, or
 * nc_model_param_write for every tensor. A compute_dtype the context's device does not run is
 * NC_ERR_UNSUPPORTED (the cpu backend runs NC_DTYPE_F32 only, the cuda backend NC_DTYPE_BF16
 * only). */
NC_API int32_t nc_model_create(NcContext* ctx, const NcModelConfig* config, NcModel** out_model);
/* Fails with NC_ERR_STATE while KV caches created on it still exist. NULL is a no-op. */
NC_API int32_t nc_model_destroy(NcModel* model);
NC_API int32_t nc_model_get_config(const NcModel* model, NcModelConfig* out_config);

/* Parameter table, in nanochat state_dict order:
 *   0              transformer.wte.weight              [vocab, C]
 *   1+6l+0..5      transformer.h.{l}.attn.c_q.weight   [H*D, C]
 *                  transformer.h.{l}.attn.c_k.weight   [Hkv*D, C]
 *                  transformer.h.{l}.attn.c_v.weight   [Hkv*D, C]
 *                  transformer.h.{l}.attn.c_proj.weight[C, C]
 *                  transformer.h.{l}.mlp.c_fc.weight   [4C, C]
 *                  transformer.h.{l}.mlp.c_proj.weight [C, 4C]
 *   1+6L           lm_head.weight                      [vocab, C]
 * `numel` arguments must equal the tensor's numel (a guard against wrong buffers). */
NC_API int32_t nc_model_num_params(const NcModel* model, int32_t* out_count);
NC_API int32_t nc_model_param_info(const NcModel* model, int32_t index, NcParamInfo* out_info);
NC_API int32_t nc_model_param_read(const NcModel* model, int32_t index, float* dst, int64_t numel);
NC_API int32_t nc_model_param_write(NcModel* model, int32_t index, const float* src, int64_t numel);
/* This rank's accumulated gradient of a parameter (zeros before the first backward). With a
 * communicator of world size > 1 the contents are unspecified after nc_model_grad_norm or
 * nc_model_optim_step until the next nc_model_zero_grad (a backend may reduce in place). */
NC_API int32_t nc_model_grad_read(NcModel* model, int32_t index, float* dst, int64_t numel);

/* nanochat A's init: every Linear ~ N(0, std) with std = 1/sqrt(fan_in) * min(1, sqrt(fan_out/fan_in)),
 * wte ~ N(0, 1), lm_head and both c_proj of every block = 0.
 * RNG (documented so other code can reproduce it bit for bit): for parameter index i, let
 *   key = splitmix64_mix(seed ^ splitmix64_mix(i + 1)),
 *   u(j) = (splitmix64_mix(key + (j + 1) * 0x9E3779B97F4A7C15) >> 11) * 2^-53   (uniform [0,1), double)
 * where splitmix64_mix(z) = z ^= z >> 30, z *= 0xBF58476D1CE4E5B9, z ^= z >> 27, z *= 0x94D049BB133111EB,
 * z ^= z >> 31 (uint64 arithmetic). Elements 2k and 2k+1 of the tensor (row-major) come from one
 * Box-Muller pair: r = sqrt(-2 ln(1 - u(2k))), a = 2*pi*u(2k+1), e[2k] = std*r*cos(a), e[2k+1] = std*r*sin(a)
 * (computed in double, rounded to float; an odd last element uses only the cos half). */
NC_API int32_t nc_model_init_weights(NcModel* model, uint64_t seed);

/* ---------------------------------------------------------------------------------------------- */
/* Training and evaluation                                                                        */

/* Clears the accumulated gradients and the loss statistics (NcLossStats). */
NC_API int32_t nc_model_zero_grad(NcModel* model);

/* One micro-batch: inputs [B*T], targets [B*T] (-1 = ignore), 1 <= B <= max_batch,
 * 1 <= T <= sequence_len. Its loss is the mean cross-entropy over the non-ignored targets of the
 * softcapped logits; it ACCUMULATES grad += d(loss * loss_scale)/dparams (loss_scale = 1/grad_accum_steps
 * lets the caller average micro-batches) and adds the loss (unscaled) to the loss statistics, read once
 * per optimizer step with nc_model_loss_stats. With no valid target the loss is 0 and no gradient is
 * accumulated. */
NC_API int32_t nc_model_forward_backward(NcModel* model, const int32_t* inputs, const int32_t* targets, int32_t B,
                                         int32_t T, float loss_scale);

/* Per-token weighted backward (the RL stage: weights are advantages, any sign). weights [B*T], finite;
 * normalizer > 0 (e.g. the number of valid tokens times the passes per step). Its loss is
 *   loss = sum over i with targets[i] != -1 of weights[i] * CE_i / normalizer
 * and it accumulates grad += d loss / dparams and adds the loss to the loss statistics. A position with
 * weight 0 (or target -1) contributes nothing. With all weights 1 and normalizer = (valid targets) /
 * loss_scale it equals nc_model_forward_backward. */
NC_API int32_t nc_model_forward_backward_weighted(NcModel* model, const int32_t* inputs, const int32_t* targets,
                                                  const float* weights, int32_t B, int32_t T, double normalizer);

/* The loss statistics of the backward calls since the last nc_model_zero_grad (this rank's own). */
NC_API int32_t nc_model_loss_stats(NcModel* model, NcLossStats* out_stats);

/* No gradients. out_losses [B*T]: per-token cross-entropy, 0 where the target is -1 (for bits per byte). */
NC_API int32_t nc_model_forward_losses(NcModel* model, const int32_t* inputs, const int32_t* targets, int32_t B,
                                       int32_t T, float* out_losses);

/* No gradients. out_logits [B*T*vocab], after the softcap. */
NC_API int32_t nc_model_forward_logits(NcModel* model, const int32_t* inputs, int32_t B, int32_t T, float* out_logits);

/* No gradients. out_losses [B*T]: cross-entropy of each target (0 where the target is -1);
 * out_argmax [B*T] (may be NULL): argmax token id of the softcapped logits at each position (the lowest id
 * on ties). The logits are computed chunk by chunk and never materialized for the whole batch. */
NC_API int32_t nc_model_forward_scores(NcModel* model, const int32_t* inputs, const int32_t* targets, int32_t B,
                                       int32_t T, float* out_losses, int32_t* out_argmax);

/* No gradients. out_logits [B*vocab]: softcapped logits of row b at position positions[b] (0 <= p < T).
 * Only the positions up to the largest requested one are computed (attention is causal). */
NC_API int32_t nc_model_forward_logits_at(NcModel* model, const int32_t* inputs, int32_t B, int32_t T,
                                          const int32_t* positions, float* out_logits);

/* L2 norm of the accumulated gradients (for clipping: pass min(1, clip/(norm+1e-6)) as grad_scale).
 * With a communicator: the norm of the gradient averaged over its ranks (the one the step applies);
 * every rank must call it, and every rank gets the same value. */
NC_API int32_t nc_model_grad_norm(NcModel* model, double* out_norm);

/* ---------------------------------------------------------------------------------------------- */
/* Optimizer (nanochat A: AdamW for wte and lm_head, Muon for every transformer.h matrix)          */

/* One step with this step's values; gradients are read (times grad_scale), not cleared.
 * AdamW is torch.optim.AdamW: t += 1; p *= 1 - lr*wd; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
 *   p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
 * Muon: buf = lerp(buf, g, 1-mom); g = lerp(g, buf, mom) (Nesterov); X = NewtonSchulz5(g) in fp32
 *   (coefficients 3.4445, -4.7750, 2.0315; X /= ||X||_F + 1e-7; on the transpose when rows > cols);
 *   p -= lr * sqrt(max(1, rows/cols)) * X. Same-shape matrices may be orthogonalized as one batch.
 * With a communicator (every rank calls it): the gradients are averaged over the ranks, each rank
 * updates the parameters and state of its shard, and the updated parameters are gathered, so every
 * rank ends the step with the same parameters (nanochat's DistAdamW / DistMuon). */
NC_API int32_t nc_model_optim_step(NcModel* model, const NcOptimStep* step);

/* Optimizer-state table, for exact checkpoint/resume. Rows, in parameter order:
 *   "<param>.exp_avg", "<param>.exp_avg_sq"  for the AdamW parameters (same shape as the parameter)
 *   "<param>.momentum_buffer"                for the Muon parameters
 * (with a sharding communicator only this rank's rows and slices; see NcParamInfo). State starts at
 * zero; the AdamW step count t is read and set separately. */
NC_API int32_t nc_model_optim_num_states(const NcModel* model, int32_t* out_count);
NC_API int32_t nc_model_optim_state_info(const NcModel* model, int32_t index, NcParamInfo* out_info);
NC_API int32_t nc_model_optim_state_read(NcModel* model, int32_t index, float* dst, int64_t numel);
NC_API int32_t nc_model_optim_state_write(NcModel* model, int32_t index, const float* src, int64_t numel);
NC_API int32_t nc_model_optim_get_step(const NcModel* model, int64_t* out_step);
NC_API int32_t nc_model_optim_set_step(NcModel* model, int64_t step);

/* ---------------------------------------------------------------------------------------------- */
/* Communicator (data-parallel training over processes, one per device)                          */

/* Rank 0 makes an id and hands its 128 bytes to the other ranks (the launcher's rendezvous); every
 * rank then creates its communicator from the same id, within options->timeout_ms. A peer that dies or
 * hangs turns a pending collective into an error (NC_ERR_PEER_FAILED at once when its process exits,
 * NC_ERR_TIMEOUT after timeout_ms when it hangs), never a hang; after such an error every later call on
 * the communicator fails too. The cpu backend runs its collectives over Gloo (TCP): the id carries the
 * address of a bootstrap store that rank 0's nc_comm_id_create starts on advertise_host ("" = this
 * host's name; a loopback name listens on loopback only) and that stops once every rank has joined or
 * timeout_ms has passed. A cpu library built without Gloo supports world_size 1 only
 * (NC_ERR_UNSUPPORTED above). options may be NULL. */
NC_API int32_t nc_comm_id_create(const NcCommOptions* options, NcCommId* out_id);
/* 0 <= rank < world_size. The communicator belongs to ctx (its device). options may be NULL. */
NC_API int32_t nc_comm_create(NcContext* ctx, const NcCommId* id, int32_t rank, int32_t world_size,
                              const NcCommOptions* options, NcComm** out_comm);
/* Fails with NC_ERR_STATE while a model is attached to it. NULL is a no-op. */
NC_API int32_t nc_comm_destroy(NcComm* comm);
NC_API int32_t nc_comm_get_rank(const NcComm* comm, int32_t* out_rank, int32_t* out_world_size);
/* In-place sum over the ranks of n host doubles (metrics: validation nats and bytes, rewards).
 * Collective: every rank calls it with the same n. */
NC_API int32_t nc_comm_allreduce_sum(NcComm* comm, double* inout, int64_t n);
/* Returns once every rank has called it. */
NC_API int32_t nc_comm_barrier(NcComm* comm);
/* Makes nc_model_grad_norm and nc_model_optim_step reduce over `comm` (same context as the model), or
 * detaches with NULL. Only before the optimizer state exists (first optim step or state read/write);
 * later NC_ERR_STATE, because the state table's sharding depends on it. */
NC_API int32_t nc_model_attach_comm(NcModel* model, NcComm* comm);

/* ---------------------------------------------------------------------------------------------- */
/* Inference with a KV cache                                                                      */

/* A cache for `batch` rows of up to `max_len` positions (max_len <= 10 * sequence_len, the rotary
 * table). All rows share one position, which starts at 0. */
NC_API int32_t nc_kvcache_create(NcModel* model, int32_t batch, int32_t max_len, NcKVCache** out_cache);
NC_API int32_t nc_kvcache_destroy(NcKVCache* cache);
NC_API int32_t nc_kvcache_reset(NcKVCache* cache);
NC_API int32_t nc_kvcache_pos(const NcKVCache* cache, int32_t* out_pos);
/* Copies src's keys/values and position into dst: row by row when the batches are equal, or src's
 * single row into every dst row (prefill once, then sample several continuations). */
NC_API int32_t nc_kvcache_copy(NcKVCache* dst, const NcKVCache* src);

/* Appends T tokens per row (tokens [B*T], B = the cache's batch) at the cache position, which
 * advances by T; rotary positions come from it. out_logits_last [B*vocab]: softcapped logits of each
 * row's last token. */
NC_API int32_t nc_model_prefill(NcModel* model, NcKVCache* cache, const int32_t* tokens, int32_t B, int32_t T,
                                float* out_logits_last);
/* One token per row: tokens [B], out_logits [B*vocab]. Same as prefill with T = 1. */
NC_API int32_t nc_model_decode(NcModel* model, NcKVCache* cache, const int32_t* tokens, float* out_logits);

/* Prefill (decode: T = 1), then choose each row's next token inside the library, so no logits cross the
 * boundary. seeds [B] (may be NULL when temperature is 0); out_tokens [B]; out_logprobs [B] (may be
 * NULL): log-probability of the chosen token under the model's own distribution, log_softmax of the
 * softcapped logits over the whole vocabulary at temperature 1, whatever temperature and top_k chose it.
 *
 * The rule, for row b with softcapped logits l[0..V):
 *   temperature 0: the argmax (the lowest id on ties).
 *   otherwise: candidates = the top_k tokens by (l descending, id ascending) when 0 < top_k < V, else
 *     all V; m = max l over them; q_i = exp((l_i - m) / temperature); S = sum of q_i. With the uniform u
 *     below, walk the candidates in ascending token id summing q: the token is the first one at which
 *     the running sum exceeds u * S (the last candidate with q > 0 if rounding leaves none).
 *     q and its sums are floating point (the cpu backend: fp32 q, double running sums), so a
 *     reimplementation in double picks the same token unless u * S lies within rounding of a boundary.
 * RNG: with splitmix64_mix as for nc_model_init_weights, p = the cache position after the call (the
 * position the chosen token will occupy) and key = splitmix64_mix(seeds[b]),
 *   u = (splitmix64_mix(key + (p + 1) * 0x9E3779B97F4A7C15) >> 11) * 2^-53.
 * So equal seeds give equal tokens, a row's draws differ from step to step, and rows with different
 * seeds are independent; a caller may keep one seed per row for a whole generation. */
NC_API int32_t nc_model_prefill_sample(NcModel* model, NcKVCache* cache, const int32_t* tokens, int32_t B, int32_t T,
                                       const NcSampling* sampling, const uint64_t* seeds, int32_t* out_tokens,
                                       float* out_logprobs);
NC_API int32_t nc_model_decode_sample(NcModel* model, NcKVCache* cache, const int32_t* tokens,
                                      const NcSampling* sampling, const uint64_t* seeds, int32_t* out_tokens,
                                      float* out_logprobs);

/* ---------------------------------------------------------------------------------------------- */
/* Profiling (with NC_CONTEXT_PROFILE)                                                            */

NC_API int32_t nc_model_get_profile(const NcModel* model, NcProfile* out_profile);
NC_API int32_t nc_model_reset_profile(NcModel* model);

#ifdef __cplusplus
}
#endif

#endif /* NANOCHAT_H */
