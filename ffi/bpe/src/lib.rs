// nanochat_bpe: byte-level BPE for the nanochat Deno port. Training
// reproduces PyPI rustbpe 0.1.0 merge for merge; encoding reproduces
// tiktoken's ids. Rust callers use the re-exports below; the Deno side uses
// the C ABI in ffi.rs (header: include/nanochat_bpe.h).

mod encode;
pub mod error;
pub mod ffi;
mod hash;
pub mod pool;
pub mod split;
mod tokenizer;
mod train;
mod trainer;
pub mod unicode;
pub mod vocab_io;

pub use error::{BpeError, ErrorKind, Result};
pub use pool::set_num_threads;
pub use split::{Splitter, DEFAULT_PATTERN};
pub use tokenizer::Tokenizer;
pub use trainer::{Trainer, TrainerStats};
