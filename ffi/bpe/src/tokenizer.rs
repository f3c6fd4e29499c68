// The trained/loaded tokenizer: token byte strings, special tokens and the
// lookup tables encoding needs. Construction validates everything once so
// encode/decode can assume a consistent vocabulary.

use std::sync::atomic::{AtomicU64, Ordering};

use ahash::AHashMap;

use crate::error::{BpeError, Result};
use crate::hash::{pack, PairMap};
use crate::split::Splitter;

/// Distinguishes tokenizer instances for the per-thread chunk cache.
static NEXT_UID: AtomicU64 = AtomicU64::new(1);

pub struct Tokenizer {
    pub(crate) pattern: String,
    pub(crate) splitter: Splitter,
    pub(crate) num_ranks: u32,
    pub(crate) specials: Vec<String>,
    special_ids: AHashMap<String, u32>,
    /// Bytes of every id (ranks, then specials' UTF-8) back to back.
    token_data: Vec<u8>,
    /// token `id` is token_data[token_offsets[id]..token_offsets[id + 1]].
    token_offsets: Vec<usize>,
    /// Rank bytes -> rank (tiktoken's "encoder").
    pub(crate) encoder: AHashMap<Box<[u8]>, u32>,
    /// (left id, right id) -> rank of bytes(left) ++ bytes(right), for every
    /// such concatenation that is itself a rank. With it, merging two parts
    /// is one integer-keyed lookup instead of hashing their bytes, and the
    /// result is exactly tiktoken's byte-level rank lookup.
    pub(crate) pair_ranks: PairMap<u32>,
    /// Rank of each single byte.
    pub(crate) byte_ids: [u32; 256],
    pub(crate) uid: u64,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("num_ranks", &self.num_ranks)
            .field("specials", &self.specials)
            .field("pattern", &self.pattern)
            .finish()
    }
}

impl Tokenizer {
    /// Build from rank byte strings (index = rank = token id), a split
    /// pattern and special token names (ids follow the ranks in order).
    pub fn from_ranks(ranks: Vec<Vec<u8>>, pattern: &str, specials: &[String]) -> Result<Self> {
        let splitter = Splitter::new(pattern)?;
        let n = ranks.len();
        if n + specials.len() > u32::MAX as usize {
            return Err(BpeError::invalid("vocabulary does not fit in u32 ids"));
        }
        let mut encoder: AHashMap<Box<[u8]>, u32> = AHashMap::with_capacity(n);
        for (id, bytes) in ranks.iter().enumerate() {
            if bytes.is_empty() {
                return Err(BpeError::invalid(format!("rank {id} has empty token bytes")));
            }
            if let Some(prev) = encoder.insert(bytes.clone().into_boxed_slice(), id as u32) {
                return Err(BpeError::invalid(format!(
                    "token bytes {:?} appear twice, at ranks {prev} and {id}",
                    String::from_utf8_lossy(bytes)
                )));
            }
        }
        let mut byte_ids = [0u32; 256];
        for (b, slot) in byte_ids.iter_mut().enumerate() {
            *slot = *encoder.get(&[b as u8][..]).ok_or_else(|| {
                BpeError::invalid(format!("byte 0x{b:02x} has no rank; every single byte must be a token"))
            })?;
        }
        let mut pair_ranks: PairMap<u32> = PairMap::default();
        for (id, bytes) in ranks.iter().enumerate() {
            for k in 1..bytes.len() {
                if let (Some(&l), Some(&r)) = (encoder.get(&bytes[..k]), encoder.get(&bytes[k..])) {
                    pair_ranks.insert(pack(l, r), id as u32);
                }
            }
        }

        Self::check_specials(specials)?;
        let special_ids: AHashMap<String, u32> = specials
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), (n + i) as u32))
            .collect();

        let mut token_offsets = Vec::with_capacity(n + specials.len() + 1);
        let mut token_data = Vec::new();
        token_offsets.push(0);
        for bytes in ranks
            .iter()
            .map(|r| r.as_slice())
            .chain(specials.iter().map(|s| s.as_bytes()))
        {
            token_data.extend_from_slice(bytes);
            token_offsets.push(token_data.len());
        }

        Ok(Tokenizer {
            pattern: pattern.to_string(),
            splitter,
            num_ranks: n as u32,
            specials: specials.to_vec(),
            special_ids,
            token_data,
            token_offsets,
            encoder,
            pair_ranks,
            byte_ids,
            uid: NEXT_UID.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// Special names must be non-empty and distinct.
    pub(crate) fn check_specials(specials: &[String]) -> Result<()> {
        let mut seen = ahash::AHashSet::with_capacity(specials.len());
        for (i, name) in specials.iter().enumerate() {
            if name.is_empty() {
                return Err(BpeError::invalid(format!("special token #{i} has an empty name")));
            }
            if !seen.insert(name.as_str()) {
                return Err(BpeError::invalid(format!("special token {name:?} is listed twice")));
            }
        }
        Ok(())
    }

    /// Build from a merge list: merge i joins ids (l, r) into rank 256 + i.
    pub fn from_merges(merges: &[(u32, u32)], pattern: &str, specials: &[String]) -> Result<Self> {
        let mut ranks: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
        for (i, &(l, r)) in merges.iter().enumerate() {
            let id = 256 + i;
            if l as usize >= id || r as usize >= id {
                return Err(BpeError::invalid(format!("merge {i} refers to a later id ({l}, {r})")));
            }
            let mut t = ranks[l as usize].clone();
            t.extend_from_slice(&ranks[r as usize]);
            ranks.push(t);
        }
        Self::from_ranks(ranks, pattern, specials)
    }

    pub fn pattern(&self) -> &str {
        &self.pattern
    }
    pub fn num_ranks(&self) -> u32 {
        self.num_ranks
    }
    /// Ranks plus specials.
    pub fn vocab_size(&self) -> u32 {
        self.num_ranks + self.specials.len() as u32
    }
    pub fn specials(&self) -> &[String] {
        &self.specials
    }
    pub fn special_id(&self, name: &str) -> Option<u32> {
        self.special_ids.get(name).copied()
    }

    /// Bytes of a token id (a special's name for special ids).
    pub fn token(&self, id: u32) -> Option<&[u8]> {
        let i = id as usize;
        if i + 1 >= self.token_offsets.len() {
            return None;
        }
        Some(&self.token_data[self.token_offsets[i]..self.token_offsets[i + 1]])
    }

    /// Rank byte strings in rank order (what the .tiktoken file holds).
    pub fn ranks(&self) -> impl Iterator<Item = &[u8]> + '_ {
        (0..self.num_ranks).map(move |id| self.token(id).expect("rank id in range"))
    }

    /// Raw byte length of each id; 0 for specials (they are not text).
    pub fn token_byte_lengths(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.ranks().map(|t| t.len() as u32).collect();
        v.resize(self.vocab_size() as usize, 0);
        v
    }

    /// Concatenated bytes of `ids`; specials decode to their names.
    pub fn decode(&self, ids: &[u32]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(ids.len() * 4);
        for &id in ids {
            match self.token(id) {
                Some(t) => out.extend_from_slice(t),
                None => {
                    return Err(BpeError::invalid(format!(
                        "token id {id} is out of range (vocab size {})",
                        self.vocab_size()
                    )))
                }
            }
        }
        Ok(out)
    }
}
