// Hashing for maps keyed by a token pair packed into a u64. Pair maps sit in
// the hottest loops of both training and encoding; a single folded multiply
// mixes all 64 bits (hashbrown uses both the top and bottom bits) and is
// much cheaper than a general-purpose hasher.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

#[derive(Default, Clone, Copy)]
pub struct PairHasher(u64);

impl Hasher for PairHasher {
    #[inline(always)]
    fn write_u64(&mut self, x: u64) {
        let p = (x ^ self.0) as u128 * 0x9E37_79B9_7F4A_7C15u128;
        self.0 = (p as u64) ^ ((p >> 64) as u64);
    }
    fn write(&mut self, bytes: &[u8]) {
        // Not used for u64 keys; kept correct for completeness.
        for chunk in bytes.chunks(8) {
            let mut buf = [0u8; 8];
            buf[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(buf));
        }
    }
    #[inline(always)]
    fn finish(&self) -> u64 {
        self.0
    }
}

pub type PairMap<V> = HashMap<u64, V, BuildHasherDefault<PairHasher>>;

/// Pack (left, right) so that ordering the u64 orders the pair lexicographically.
#[inline(always)]
pub fn pack(a: u32, b: u32) -> u64 {
    ((a as u64) << 32) | b as u64
}

#[inline(always)]
pub fn unpack(k: u64) -> (u32, u32) {
    ((k >> 32) as u32, k as u32)
}
