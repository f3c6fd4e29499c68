// The C ABI of the compute library (kernels/include/nanochat.h, version 2) as a Deno FFI symbol table.
// Every int32 return is a status (0 = ok); on error `nc_last_error(ctx)` has the message. Long calls
// (training steps, evaluation, optimizer, inference) are `nonblocking`: they run on an FFI worker thread
// and return a Promise, which the header allows (a model may move between threads, one call at a time).
// A few are also declared a second time as synchronous variants (`*_sync` keys bound with `name:`).

const status = "i32" as const;

export const computeSymbols = {
  // library and errors
  nc_abi_version: { parameters: [], result: "i32" },
  nc_abi_check: { parameters: ["i32"], result: status },
  nc_backend_name: { parameters: [], result: "pointer" },
  nc_status_string: { parameters: ["i32"], result: "pointer" },
  nc_last_error: { parameters: ["pointer"], result: "pointer" },

  // devices and context
  nc_device_count: { parameters: ["buffer"], result: status },
  nc_device_info: { parameters: ["i32", "buffer"], result: status },
  nc_context_create: { parameters: ["buffer", "buffer"], result: status },
  nc_context_destroy: { parameters: ["pointer"], result: status },

  // model and parameter table
  nc_count_params: { parameters: ["buffer", "buffer"], result: status },
  nc_model_create: { parameters: ["pointer", "buffer", "buffer"], result: status },
  nc_model_destroy: { parameters: ["pointer"], result: status },
  nc_model_get_config: { parameters: ["pointer", "buffer"], result: status },
  nc_model_num_params: { parameters: ["pointer", "buffer"], result: status },
  nc_model_param_info: { parameters: ["pointer", "i32", "buffer"], result: status },
  nc_model_param_read: { parameters: ["pointer", "i32", "buffer", "i64"], result: status },
  nc_model_param_write: { parameters: ["pointer", "i32", "buffer", "i64"], result: status },
  nc_model_grad_read: { parameters: ["pointer", "i32", "buffer", "i64"], result: status },
  nc_model_init_weights: { parameters: ["pointer", "u64"], result: status },
  nc_model_init_weights_async: {
    name: "nc_model_init_weights",
    parameters: ["pointer", "u64"],
    result: status,
    nonblocking: true,
  },

  // training and evaluation
  nc_model_zero_grad: { parameters: ["pointer"], result: status },
  nc_model_forward_backward: {
    parameters: ["pointer", "buffer", "buffer", "i32", "i32", "f32"],
    result: status,
    nonblocking: true,
  },
  nc_model_forward_backward_weighted: {
    parameters: ["pointer", "buffer", "buffer", "buffer", "i32", "i32", "f64"],
    result: status,
    nonblocking: true,
  },
  nc_model_loss_stats: { parameters: ["pointer", "buffer"], result: status },
  nc_model_forward_losses: {
    parameters: ["pointer", "buffer", "buffer", "i32", "i32", "buffer"],
    result: status,
    nonblocking: true,
  },
  nc_model_forward_logits: {
    parameters: ["pointer", "buffer", "i32", "i32", "buffer"],
    result: status,
    nonblocking: true,
  },
  nc_model_forward_scores: {
    parameters: ["pointer", "buffer", "buffer", "i32", "i32", "buffer", "buffer"],
    result: status,
    nonblocking: true,
  },
  nc_model_forward_logits_at: {
    parameters: ["pointer", "buffer", "i32", "i32", "buffer", "buffer"],
    result: status,
    nonblocking: true,
  },
  nc_model_grad_norm: { parameters: ["pointer", "buffer"], result: status },

  // optimizer
  nc_model_optim_step: { parameters: ["pointer", "buffer"], result: status, nonblocking: true },
  nc_model_optim_num_states: { parameters: ["pointer", "buffer"], result: status },
  nc_model_optim_state_info: { parameters: ["pointer", "i32", "buffer"], result: status },
  nc_model_optim_state_read: { parameters: ["pointer", "i32", "buffer", "i64"], result: status },
  nc_model_optim_state_write: { parameters: ["pointer", "i32", "buffer", "i64"], result: status },
  nc_model_optim_get_step: { parameters: ["pointer", "buffer"], result: status },
  nc_model_optim_set_step: { parameters: ["pointer", "i64"], result: status },

  // communicator
  nc_comm_id_create: { parameters: ["buffer", "buffer"], result: status },
  nc_comm_create: { parameters: ["pointer", "buffer", "i32", "i32", "buffer", "buffer"], result: status },
  nc_comm_destroy: { parameters: ["pointer"], result: status },
  nc_comm_get_rank: { parameters: ["pointer", "buffer", "buffer"], result: status },
  nc_comm_allreduce_sum: { parameters: ["pointer", "buffer", "i64"], result: status, nonblocking: true },
  nc_comm_barrier: { parameters: ["pointer"], result: status, nonblocking: true },
  nc_model_attach_comm: { parameters: ["pointer", "pointer"], result: status },

  // KV cache and inference
  nc_kvcache_create: { parameters: ["pointer", "i32", "i32", "buffer"], result: status },
  nc_kvcache_destroy: { parameters: ["pointer"], result: status },
  nc_kvcache_reset: { parameters: ["pointer"], result: status },
  nc_kvcache_pos: { parameters: ["pointer", "buffer"], result: status },
  nc_kvcache_copy: { parameters: ["pointer", "pointer"], result: status },
  nc_model_prefill: {
    parameters: ["pointer", "pointer", "buffer", "i32", "i32", "buffer"],
    result: status,
    nonblocking: true,
  },
  nc_model_decode: {
    parameters: ["pointer", "pointer", "buffer", "buffer"],
    result: status,
    nonblocking: true,
  },
  nc_model_prefill_sample: {
    parameters: ["pointer", "pointer", "buffer", "i32", "i32", "buffer", "buffer", "buffer", "buffer"],
    result: status,
    nonblocking: true,
  },
  nc_model_decode_sample: {
    parameters: ["pointer", "pointer", "buffer", "buffer", "buffer", "buffer", "buffer"],
    result: status,
    nonblocking: true,
  },
  // A single decode step of a small model takes about a millisecond: the synchronous variants skip the
  // thread hop when the caller prefers that.
  nc_model_decode_sync: {
    name: "nc_model_decode",
    parameters: ["pointer", "pointer", "buffer", "buffer"],
    result: status,
  },
  nc_model_prefill_sample_sync: {
    name: "nc_model_prefill_sample",
    parameters: ["pointer", "pointer", "buffer", "i32", "i32", "buffer", "buffer", "buffer", "buffer"],
    result: status,
  },

  // profiling
  nc_model_get_profile: { parameters: ["pointer", "buffer"], result: status },
  nc_model_reset_profile: { parameters: ["pointer"], result: status },
} as const satisfies Deno.ForeignLibraryInterface;

export type ComputeSymbols = Deno.DynamicLibrary<typeof computeSymbols>["symbols"];

/** What is opened first, alone, so that a library of another ABI version fails with a clear message. */
export const versionSymbols = {
  nc_abi_version: { parameters: [], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;
