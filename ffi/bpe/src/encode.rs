// Encoding text to ids with tiktoken's exact semantics: split, then per
// chunk either one whole-chunk lookup or byte-level BPE that repeatedly
// merges the adjacent pair with the lowest rank (leftmost on ties).

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use ahash::AHashMap;
use rayon::prelude::*;

use crate::error::Result;
use crate::hash::pack;
use crate::pool;
use crate::tokenizer::Tokenizer;

/// Chunks up to this many bytes use the quadratic scan (no allocation);
/// longer ones a heap over a linked list (O(n log n)).
const SMALL_CHUNK: usize = 64;
/// Chunks longer than this are not cached (rare, and would bloat the cache).
const MAX_CACHED_CHUNK: usize = 256;
/// Cache entries per thread before it is wiped and refilled.
const CACHE_LIMIT: usize = 1 << 16;
const NONE: u32 = u32::MAX;

/// Per-thread memo of chunk -> ids for chunks that are not a single token.
/// Keyed by tokenizer uid so two tokenizers never share entries.
#[derive(Default)]
struct ChunkCache {
    owner: u64,
    map: AHashMap<Box<[u8]>, Box<[u32]>>,
}

thread_local! {
    static CACHE: RefCell<ChunkCache> = RefCell::new(ChunkCache::default());
}

impl Tokenizer {
    /// Encode as tiktoken's `encode_ordinary`: special token names in the
    /// text are ordinary text.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let mut out = Vec::with_capacity(text.len() / 4 + 1);
        self.encode_into(text, &mut out)?;
        Ok(out)
    }

    /// Append the ids of `text` to `out`.
    pub fn encode_into(&self, text: &str, out: &mut Vec<u32>) -> Result<()> {
        CACHE.with(|cell| {
            let mut cache = cell.borrow_mut();
            if cache.owner != self.uid {
                cache.map.clear();
                cache.owner = self.uid;
            }
            let map = &mut cache.map;
            self.splitter
                .for_each(text, |chunk| self.encode_chunk(chunk.as_bytes(), out, map))
        })
    }

    /// Encode many texts in parallel on the shared pool; order is preserved.
    pub fn encode_batch<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Result<Vec<Vec<u32>>> {
        let pool = pool::current()?;
        pool.install(|| texts.par_iter().map(|t| self.encode(t.as_ref())).collect())
    }

    #[inline]
    fn encode_chunk(&self, piece: &[u8], out: &mut Vec<u32>, cache: &mut AHashMap<Box<[u8]>, Box<[u32]>>) {
        if let Some(&id) = self.encoder.get(piece) {
            out.push(id);
            return;
        }
        if piece.len() > MAX_CACHED_CHUNK {
            self.bpe(piece, out);
            return;
        }
        if let Some(ids) = cache.get(piece) {
            out.extend_from_slice(ids);
            return;
        }
        let start = out.len();
        self.bpe(piece, out);
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(piece.into(), out[start..].into());
    }

    /// Rank of the token bytes(l) ++ bytes(r), or NONE.
    #[inline(always)]
    fn pair_rank(&self, l: u32, r: u32) -> u32 {
        self.pair_ranks.get(&pack(l, r)).copied().unwrap_or(NONE)
    }

    /// Byte-pair merge of one chunk (known not to be a single token).
    pub(crate) fn bpe(&self, piece: &[u8], out: &mut Vec<u32>) {
        if piece.len() <= SMALL_CHUNK {
            self.bpe_small(piece, out)
        } else {
            self.bpe_large(piece, out)
        }
    }

    /// tiktoken's own algorithm: keep the rank of every adjacent pair, merge
    /// the first minimum, refresh the two neighbours.
    fn bpe_small(&self, piece: &[u8], out: &mut Vec<u32>) {
        let n = piece.len();
        let mut ids = [0u32; SMALL_CHUNK];
        let mut ranks = [NONE; SMALL_CHUNK];
        for (slot, &b) in ids.iter_mut().zip(piece) {
            *slot = self.byte_ids[b as usize];
        }
        for i in 0..n.saturating_sub(1) {
            ranks[i] = self.pair_rank(ids[i], ids[i + 1]);
        }
        let mut len = n;
        while len > 1 {
            let mut best = NONE;
            let mut at = 0;
            for (i, &r) in ranks[..len - 1].iter().enumerate() {
                if r < best {
                    best = r;
                    at = i;
                }
            }
            if best == NONE {
                break;
            }
            // ids[at] absorbs ids[at + 1]; the pair entry at+1 disappears.
            ids[at] = best;
            ids.copy_within(at + 2..len, at + 1);
            if at + 2 < len {
                ranks.copy_within(at + 2..len - 1, at + 1);
            }
            len -= 1;
            ranks[len - 1] = NONE;
            if at + 1 < len {
                ranks[at] = self.pair_rank(ids[at], ids[at + 1]);
            } else {
                ranks[at] = NONE;
            }
            if at > 0 {
                ranks[at - 1] = self.pair_rank(ids[at - 1], ids[at]);
            }
        }
        out.extend_from_slice(&ids[..len]);
    }

    /// Same result as bpe_small for long chunks: a min-heap of (rank, start
    /// position) gives "lowest rank, leftmost first"; stale entries are
    /// recognised because a node's or its neighbour's id changed.
    fn bpe_large(&self, piece: &[u8], out: &mut Vec<u32>) {
        let n = piece.len();
        let mut ids: Vec<u32> = piece.iter().map(|&b| self.byte_ids[b as usize]).collect();
        let mut next: Vec<u32> = (1..=n as u32).map(|i| if i as usize == n { NONE } else { i }).collect();
        let mut prev: Vec<u32> = (0..n as u32).map(|i| if i == 0 { NONE } else { i - 1 }).collect();
        let mut alive = vec![true; n];
        let mut heap: BinaryHeap<Reverse<(u32, u32, u32, u32)>> = BinaryHeap::with_capacity(n);
        for i in 0..n - 1 {
            let r = self.pair_rank(ids[i], ids[i + 1]);
            if r != NONE {
                heap.push(Reverse((r, i as u32, ids[i], ids[i + 1])));
            }
        }
        while let Some(Reverse((rank, p, l, r))) = heap.pop() {
            let p = p as usize;
            if !alive[p] || ids[p] != l {
                continue;
            }
            let q = next[p];
            if q == NONE || ids[q as usize] != r {
                continue;
            }
            let q = q as usize;
            ids[p] = rank;
            alive[q] = false;
            next[p] = next[q];
            if next[q] != NONE {
                prev[next[q] as usize] = p as u32;
            }
            if prev[p] != NONE {
                let pp = prev[p] as usize;
                let nr = self.pair_rank(ids[pp], ids[p]);
                if nr != NONE {
                    heap.push(Reverse((nr, pp as u32, ids[pp], ids[p])));
                }
            }
            if next[p] != NONE {
                let nn = next[p] as usize;
                let nr = self.pair_rank(ids[p], ids[nn]);
                if nr != NONE {
                    heap.push(Reverse((nr, p as u32, ids[p], ids[nn])));
                }
            }
        }
        let mut i = 0u32;
        while i != NONE {
            out.push(ids[i as usize]);
            i = next[i as usize];
        }
    }
}
