// Integration tests, compiled as ONE test binary: each separate binary would
// pay the release profile's full LTO link again, which dominates
// `cargo test --release` time on a 2-core machine.

mod common;
mod encode_tests;
mod ffi_tests;
mod split_equivalence;
mod train_tests;
mod vocab_io_tests;
