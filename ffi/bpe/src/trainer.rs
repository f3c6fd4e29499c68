// Streaming trainer front end: texts arrive in batches, are split in
// parallel and counted per unique chunk; `train` then runs the merge loop
// (train.rs) on those counts. Progress and stats live in atomics so another
// thread can read them while training holds the counts lock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use ahash::AHashMap;
use compact_str::CompactString;
use rayon::prelude::*;

use crate::error::{BpeError, Result};
use crate::pool;
use crate::split::{Splitter, DEFAULT_PATTERN};
use crate::tokenizer::Tokenizer;
use crate::train::{train_merges, Words};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrainerStats {
    pub texts: u64,
    pub bytes: u64,
    pub unique_chunks: u64,
    pub total_chunks: u64,
}

pub struct Trainer {
    pattern: String,
    splitter: Splitter,
    counts: Mutex<AHashMap<CompactString, u64>>,
    texts: AtomicU64,
    bytes: AtomicU64,
    unique_chunks: AtomicU64,
    total_chunks: AtomicU64,
    merges_done: AtomicU64,
    merges_total: AtomicU64,
}

impl std::fmt::Debug for Trainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer")
            .field("pattern", &self.pattern)
            .field("stats", &self.stats())
            .finish()
    }
}

type LocalCounts<'t> = (AHashMap<&'t str, u64>, u64);

impl Trainer {
    /// `None` (or the empty string via the C ABI) selects nanochat's pattern.
    pub fn new(pattern: Option<&str>) -> Result<Self> {
        let pattern = pattern.unwrap_or(DEFAULT_PATTERN);
        Ok(Trainer {
            pattern: pattern.to_string(),
            splitter: Splitter::new(pattern)?,
            counts: Mutex::new(AHashMap::new()),
            texts: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            unique_chunks: AtomicU64::new(0),
            total_chunks: AtomicU64::new(0),
            merges_done: AtomicU64::new(0),
            merges_total: AtomicU64::new(0),
        })
    }

    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Split and count a batch of texts (in parallel), then fold the batch's
    /// counts into the running totals.
    pub fn feed<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Result<()> {
        let splitter = &self.splitter;
        let pool = pool::current()?;
        let (local, n_chunks): LocalCounts<'_> = pool.install(|| {
            texts
                .par_iter()
                .try_fold(
                    || (AHashMap::new(), 0u64),
                    |(mut m, mut n): LocalCounts<'_>, t| {
                        splitter.for_each(t.as_ref(), |c| {
                            *m.entry(c).or_insert(0) += 1;
                            n += 1;
                        })?;
                        Ok::<_, BpeError>((m, n))
                    },
                )
                .try_reduce(
                    || (AHashMap::new(), 0u64),
                    |(a, na), (b, nb)| {
                        let (mut big, small) = if a.len() >= b.len() { (a, b) } else { (b, a) };
                        for (k, v) in small {
                            *big.entry(k).or_insert(0) += v;
                        }
                        Ok((big, na + nb))
                    },
                )
        })?;
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        for (k, v) in local {
            match counts.get_mut(k) {
                Some(c) => *c += v,
                None => {
                    counts.insert(CompactString::from(k), v);
                }
            }
        }
        self.unique_chunks.store(counts.len() as u64, Ordering::Relaxed);
        self.total_chunks.fetch_add(n_chunks, Ordering::Relaxed);
        self.texts.fetch_add(texts.len() as u64, Ordering::Relaxed);
        let bytes: usize = texts.iter().map(|t| t.as_ref().len()).sum();
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        Ok(())
    }

    /// The merge list for `num_ranks` ranks (256 bytes + merges). Errors if
    /// nothing was fed or the corpus allows fewer merges than requested.
    pub fn train_merges(&self, num_ranks: u32) -> Result<Vec<(u32, u32)>> {
        if num_ranks < 256 {
            return Err(BpeError::invalid(format!(
                "num_ranks must be at least 256 (one rank per byte), got {num_ranks}"
            )));
        }
        let num_merges = (num_ranks - 256) as usize;
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if counts.is_empty() {
            return Err(BpeError::invalid("no text was fed to the trainer"));
        }
        self.merges_done.store(0, Ordering::Relaxed);
        self.merges_total.store(num_merges as u64, Ordering::Relaxed);
        let words = Words::from_chunks(counts.iter().map(|(k, &v)| (k.as_bytes(), v)), counts.len());
        let pool = pool::current()?;
        let merges = pool.install(|| train_merges(words, num_merges, &self.merges_done));
        drop(counts);
        if merges.len() < num_merges {
            return Err(BpeError::invalid(format!(
                "only {} merges are possible on this corpus but {} were requested \
                 (num_ranks {}); use num_ranks <= {} or feed more text",
                merges.len(),
                num_merges,
                num_ranks,
                256 + merges.len()
            )));
        }
        Ok(merges)
    }

    /// Train and build a tokenizer with `specials` appended after the ranks.
    pub fn train(&self, num_ranks: u32, specials: &[String]) -> Result<Tokenizer> {
        // Reject bad specials before spending minutes on the merge loop.
        Tokenizer::check_specials(specials)?;
        let merges = self.train_merges(num_ranks)?;
        Tokenizer::from_merges(&merges, &self.pattern, specials)
    }

    /// (merges done, merges requested) of the current or last training run.
    pub fn progress(&self) -> (u64, u64) {
        (
            self.merges_done.load(Ordering::Relaxed),
            self.merges_total.load(Ordering::Relaxed),
        )
    }

    pub fn stats(&self) -> TrainerStats {
        TrainerStats {
            texts: self.texts.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            unique_chunks: self.unique_chunks.load(Ordering::Relaxed),
            total_chunks: self.total_chunks.load(Ordering::Relaxed),
        }
    }
}
