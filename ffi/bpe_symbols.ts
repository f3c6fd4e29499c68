// The C ABI of the Rust BPE library (ffi/bpe/include/nanochat_bpe.h) as a Deno FFI symbol table.
// Every int32 return is a status (0 = ok); on error `bpe_last_error` has the message.

const status = "i32" as const;

export const bpeSymbols = {
  bpe_last_error: { parameters: [], result: "pointer" },
  bpe_set_num_threads: { parameters: ["u32"], result: status },
  bpe_trainer_new: { parameters: ["buffer", "usize", "buffer"], result: status },
  bpe_trainer_feed: { parameters: ["pointer", "buffer", "buffer", "usize"], result: status },
  // Training runs for seconds to minutes: off the main thread so progress can be polled meanwhile.
  bpe_trainer_train: {
    parameters: ["pointer", "u32", "buffer", "usize", "buffer"],
    result: status,
    nonblocking: true,
  },
  bpe_trainer_progress: { parameters: ["pointer", "buffer", "buffer"], result: "void" },
  bpe_trainer_stats: { parameters: ["pointer", "buffer"], result: "u64" },
  bpe_trainer_free: { parameters: ["pointer"], result: "void" },
  bpe_tokenizer_load: { parameters: ["buffer", "usize", "buffer"], result: status },
  bpe_tokenizer_from_ranks: {
    parameters: ["buffer", "usize", "buffer", "usize", "buffer", "usize", "buffer"],
    result: status,
  },
  bpe_tokenizer_save: { parameters: ["pointer", "buffer", "usize"], result: status },
  bpe_tokenizer_free: { parameters: ["pointer"], result: "void" },
  bpe_vocab_size: { parameters: ["pointer"], result: "u32" },
  bpe_num_ranks: { parameters: ["pointer"], result: "u32" },
  bpe_special_id: { parameters: ["pointer", "buffer", "usize", "buffer"], result: status },
  bpe_encode: { parameters: ["pointer", "buffer", "usize", "buffer", "buffer"], result: status },
  bpe_encode_batch: {
    parameters: ["pointer", "buffer", "buffer", "usize", "buffer", "buffer", "buffer"],
    result: status,
  },
  bpe_decode: { parameters: ["pointer", "buffer", "usize", "buffer", "buffer"], result: status },
  bpe_token_bytes: { parameters: ["pointer", "buffer", "usize"], result: status },
  bpe_pattern: { parameters: ["pointer", "buffer", "buffer"], result: status },
  bpe_free_u32: { parameters: ["pointer", "usize"], result: "void" },
  bpe_free_u64: { parameters: ["pointer", "usize"], result: "void" },
  bpe_free_bytes: { parameters: ["pointer", "usize"], result: "void" },
} as const satisfies Deno.ForeignLibraryInterface;

export type BpeSymbols = Deno.DynamicLibrary<typeof bpeSymbols>["symbols"];
