// Error type shared by the Rust API and the C ABI. The kind maps 1:1 onto the
// C return codes so the FFI layer never has to guess.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad input from the caller (C code 1).
    InvalidArgument,
    /// File-system problem (C code 2).
    Io,
    /// A bug or a caught panic (C code 3).
    Internal,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BpeError {
    pub kind: ErrorKind,
    pub message: String,
}

impl BpeError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::InvalidArgument,
            message: message.into(),
        }
    }
    pub fn io(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Io,
            message: message.into(),
        }
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Internal,
            message: message.into(),
        }
    }
    /// The nonzero status returned across the C ABI.
    pub fn code(&self) -> i32 {
        match self.kind {
            ErrorKind::InvalidArgument => 1,
            ErrorKind::Io => 2,
            ErrorKind::Internal => 3,
        }
    }
}

impl fmt::Display for BpeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for BpeError {}

pub type Result<T> = std::result::Result<T, BpeError>;
