/*
 * nanochat.h — the C ABI of the nanochat compute library.
 *
 * One header, several backends: libnanochat_cpu.so (C++17, OpenMP, fp32, BLAS) implements it today;
 * a CUDA backend (bf16 compute, fp32 master weights) is meant to implement the same functions.
 * The ABI is model-level, in the spirit of llm.c's function set: create a context, create a model
 * from a config, run forward+backward on a micro-batch, step the optimizer with this step's
 * hyperparameters, and manage a KV cache for inference. It is not an op-by-op tensor library.
 *
 * Conventions
 *  - Every function returns an int32 status (NC_OK = 0). On failure nc_last_error() says why, with the
 *    source file and line. The library never prints, exits or aborts.
 *  - Handles (NcContext, NcModel, NcKVCache) own all state; there are no global model objects.
 *  - Tensors cross the boundary as host fp32 arrays, row-major, in the shapes written next to each
 *    pointer (e.g. `[B*T*V]`). Token ids are int32.
 *  - Threads: a model (with its caches) may be used by one thread at a time, but that thread need not
 *    be the one that created it, so long calls can run on an FFI worker thread. Different models and
 *    contexts are independent. nc_last_error() may be called from any thread.
 *  - Structs are plain data with naturally aligned fields and fixed sizes (byte offsets are given in
 *    comments for FFI callers); reserved fields must be zero so that later versions can give them
 *    meaning without breaking old callers.
 *  - Parameter names, shapes and order follow nanochat's PyTorch state_dict (nn.Linear weights are
 *    [out_features, in_features]).
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
#define NC_ABI_VERSION 1

/* ---------------------------------------------------------------------------------------------- */
/* Status codes                                                                                   */

enum {
  NC_OK = 0,
  NC_ERR_INVALID_ARGUMENT = 1, /* null pointer, bad config value, reserved field not zero */
  NC_ERR_OUT_OF_RANGE = 2,     /* token id, T > sequence_len, B > max_batch, index, KV cache full */
  NC_ERR_OUT_OF_MEMORY = 3,
  NC_ERR_UNSUPPORTED = 4, /* e.g. a device this backend does not have */
  NC_ERR_STATE = 5,       /* e.g. destroying a context that still has models */
  NC_ERR_INTERNAL = 6
};

enum { NC_DEVICE_CPU = 0, NC_DEVICE_CUDA = 1 };
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

/* ---------------------------------------------------------------------------------------------- */
/* Structs (sizes are checked at compile time in the implementation)                              */

typedef struct NcContextConfig { /* 48 bytes */
  int32_t device;                /*  0: NC_DEVICE_CPU for this backend */
  int32_t device_index;          /*  4: GPU ordinal for CUDA; 0 on CPU */
  int32_t num_threads;           /*  8: worker threads for long calls; 0 = the OpenMP default */
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
  int32_t reserved[6];         /* 40: must be 0 */
} NcModelConfig;

typedef struct NcParamCounts { /* 48 bytes; computed from a config, nothing allocated */
  int64_t wte;                 /*  0: vocab_size * n_embd */
  int64_t lm_head;             /*  8: vocab_size * n_embd */
  int64_t transformer;         /* 16: all transformer.h matrices, 12 * n_embd^2 * n_layer without GQA */
  int64_t total;               /* 24 */
  int64_t num_tensors;         /* 32: rows in the parameter table */
  double flops_per_token;      /* 40: nanochat A: 6*(total - wte) + 12*L*H*D*sequence_len */
} NcParamCounts;

typedef struct NcParamInfo { /* 184 bytes; one row of the parameter (or optimizer-state) table */
  char name[128];            /*   0: NUL-terminated, e.g. "transformer.h.0.attn.c_q.weight" */
  int32_t ndim;              /* 128 */
  int32_t dtype;             /* 132: NC_DTYPE_F32 (reads and writes are always fp32) */
  int32_t group;             /* 136: NC_GROUP_* of the parameter */
  int32_t param_index;       /* 140: the parameter this row belongs to (itself for parameters) */
  int64_t shape[4];          /* 144: unused dims are 0 */
  int64_t numel;             /* 176 */
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

typedef struct NcProfile {  /* 128 bytes; accumulated while NC_CONTEXT_PROFILE is set */
  double calls;             /*   0: profiled API calls */
  double total_seconds;     /*   8: wall time inside them */
  double matmul_seconds;    /*  16: dense GEMMs (linear layers, lm_head, Newton-Schulz) */
  double matmul_flops;      /*  24: FLOPs of those GEMMs */
  double attention_seconds; /*  32: attention core, forward and backward */
  double attention_flops;   /*  40: FLOPs actually performed there (causal blocks only) */
  double head_seconds;      /*  48: softcap + cross-entropy (+ its backward), excluding lm_head GEMMs */
  double optimizer_seconds; /*  56: nc_model_optim_step */
  double reserved[8];       /*  64 */
} NcProfile;

/* ---------------------------------------------------------------------------------------------- */
/* Library and errors                                                                             */

NC_API int32_t nc_abi_version(void);      /* returns NC_ABI_VERSION of the built library */
NC_API const char* nc_backend_name(void); /* "cpu" */
NC_API const char* nc_status_string(int32_t status);

/* The message of the last failure on `ctx` (any handle's calls report to its context), or of the last
 * failure anywhere in the process when ctx is NULL (use that after a failed nc_context_create, or when
 * a handle argument itself was NULL). The returned string is a copy owned by the calling thread, valid
 * until that thread's next nc_last_error call. Empty string when there was no error. */
NC_API const char* nc_last_error(const NcContext* ctx);

/* ---------------------------------------------------------------------------------------------- */
/* Context                                                                                        */

NC_API int32_t nc_context_create(const NcContextConfig* config, NcContext** out_ctx);
/* Fails with NC_ERR_STATE while models created on it still exist. NULL is a no-op. */
NC_API int32_t nc_context_destroy(NcContext* ctx);

/* ---------------------------------------------------------------------------------------------- */
/* Model and parameter table                                                                      */

/* Validates a config and counts parameters and FLOPs without allocating anything (works for d20+). */
NC_API int32_t nc_count_params(const NcModelConfig* config, NcParamCounts* out_counts);

/* Allocates fp32 parameters (zeroed) and the rotary table. Gradients, optimizer state and activation
 * buffers are allocated on first use. Weights must then be initialized: nc_model_init_weights, or
 * nc_model_param_write for every tensor. */
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
/* The accumulated gradient of a parameter (zeros before the first backward). */
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

NC_API int32_t nc_model_zero_grad(NcModel* model);

/* One micro-batch: inputs [B*T], targets [B*T] (-1 = ignore), 1 <= B <= max_batch,
 * 1 <= T <= sequence_len. Computes loss = mean cross-entropy over the non-ignored targets of the
 * softcapped logits, writes it to *out_loss (unscaled), and ACCUMULATES grad += d(loss * loss_scale)/dparams
 * (loss_scale = 1/grad_accum_steps lets the caller average micro-batches). With no valid target the
 * loss is 0 and nothing is accumulated. */
NC_API int32_t nc_model_forward_backward(NcModel* model, const int32_t* inputs, const int32_t* targets, int32_t B,
                                         int32_t T, float loss_scale, float* out_loss);

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

/* L2 norm of all accumulated gradients (for clipping: pass min(1, clip/(norm+1e-6)) as grad_scale). */
NC_API int32_t nc_model_grad_norm(NcModel* model, double* out_norm);

/* ---------------------------------------------------------------------------------------------- */
/* Optimizer (nanochat A: AdamW for wte and lm_head, Muon for every transformer.h matrix)          */

/* One step with this step's values; gradients are read (times grad_scale), not cleared.
 * AdamW is torch.optim.AdamW: t += 1; p *= 1 - lr*wd; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
 *   p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
 * Muon: buf = lerp(buf, g, 1-mom); g = lerp(g, buf, mom) (Nesterov); X = NewtonSchulz5(g) in fp32
 *   (coefficients 3.4445, -4.7750, 2.0315; X /= ||X||_F + 1e-7; on the transpose when rows > cols);
 *   p -= lr * sqrt(max(1, rows/cols)) * X. */
NC_API int32_t nc_model_optim_step(NcModel* model, const NcOptimStep* step);

/* Optimizer-state table, for exact checkpoint/resume. Rows, in parameter order:
 *   "<param>.exp_avg", "<param>.exp_avg_sq"  for the AdamW parameters (same shape as the parameter)
 *   "<param>.momentum_buffer"                for the Muon parameters
 * State starts at zero; the AdamW step count t is read and set separately. */
NC_API int32_t nc_model_optim_num_states(const NcModel* model, int32_t* out_count);
NC_API int32_t nc_model_optim_state_info(const NcModel* model, int32_t index, NcParamInfo* out_info);
NC_API int32_t nc_model_optim_state_read(NcModel* model, int32_t index, float* dst, int64_t numel);
NC_API int32_t nc_model_optim_state_write(NcModel* model, int32_t index, const float* src, int64_t numel);
NC_API int32_t nc_model_optim_get_step(const NcModel* model, int64_t* out_step);
NC_API int32_t nc_model_optim_set_step(NcModel* model, int64_t step);

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

/* ---------------------------------------------------------------------------------------------- */
/* Profiling (with NC_CONTEXT_PROFILE)                                                            */

NC_API int32_t nc_model_get_profile(const NcModel* model, NcProfile* out_profile);
NC_API int32_t nc_model_reset_profile(NcModel* model);

#ifdef __cplusplus
}
#endif

#endif /* NANOCHAT_H */
