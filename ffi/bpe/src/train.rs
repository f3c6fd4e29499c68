// The BPE merge loop, reproducing PyPI rustbpe 0.1.0 (nanochat's trainer)
// merge for merge: incremental pair counts, an 8-ary max-heap of merge jobs
// ordered by (count, smaller pair first) with lazy count refresh, and
// per-word left-to-right merges that report pair-count deltas.
//
// Differences are representation only (flat word storage, Vec position lists
// instead of hash sets, a cheaper pair hash); they cannot change the result:
// each pair has at most one live heap entry, counts are sums, and position
// lists are only visited, so iteration order never matters.

use std::cmp::Ordering;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

use dary_heap::OctonaryHeap;
use rayon::prelude::*;

use crate::hash::{pack, unpack, PairMap};

/// One entry per unique chunk: its byte/token ids and how often it occurred.
pub(crate) struct Words {
    ids: Vec<u32>,
    start: Vec<usize>,
    len: Vec<u32>,
    count: Vec<i64>,
}

impl Words {
    /// Chunks shorter than two bytes are dropped: they hold no pair, so
    /// rustbpe's loop never touches them either.
    pub(crate) fn from_chunks<'a>(chunks: impl Iterator<Item = (&'a [u8], u64)>, hint: usize) -> Words {
        let mut w = Words {
            ids: Vec::new(),
            start: Vec::with_capacity(hint),
            len: Vec::with_capacity(hint),
            count: Vec::with_capacity(hint),
        };
        for (bytes, count) in chunks {
            if bytes.len() < 2 || count == 0 {
                continue;
            }
            w.start.push(w.ids.len());
            w.len.push(bytes.len() as u32);
            w.count.push(count as i64);
            w.ids.extend(bytes.iter().map(|&b| b as u32));
        }
        w
    }

    fn num_words(&self) -> usize {
        self.len.len()
    }

    #[inline(always)]
    fn word(&self, w: usize) -> &[u32] {
        &self.ids[self.start[w]..self.start[w] + self.len[w] as usize]
    }
}

struct MergeJob {
    pair: u64,
    count: u64,
    /// Words where the pair may occur (a superset; merging is a no-op elsewhere).
    pos: Vec<u32>,
}

impl PartialEq for MergeJob {
    fn eq(&self, other: &Self) -> bool {
        self.count == other.count && self.pair == other.pair
    }
}
impl Eq for MergeJob {}
impl PartialOrd for MergeJob {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for MergeJob {
    /// Max-heap on count; on equal counts the smaller (a, b) pops first.
    /// `pack` keeps lexicographic pair order.
    fn cmp(&self, other: &Self) -> Ordering {
        self.count.cmp(&other.count).then_with(|| other.pair.cmp(&self.pair))
    }
}

struct PairInfo {
    count: i64,
    pos: Vec<u32>,
}

/// Initial pair counts and the words containing each pair, in parallel.
fn count_pairs(words: &Words) -> PairMap<PairInfo> {
    (0..words.num_words())
        .into_par_iter()
        .with_min_len(1024)
        .fold(PairMap::default, |mut m: PairMap<PairInfo>, w| {
            let c = words.count[w];
            for p in words.word(w).windows(2) {
                let e = m.entry(pack(p[0], p[1])).or_insert_with(|| PairInfo {
                    count: 0,
                    pos: Vec::new(),
                });
                e.count += c;
                // Pairs of one word are visited together, so checking the
                // last entry is enough to keep the list free of repeats.
                if e.pos.last() != Some(&(w as u32)) {
                    e.pos.push(w as u32);
                }
            }
            m
        })
        .reduce(PairMap::default, |a, b| {
            let (mut big, small) = if a.len() >= b.len() { (a, b) } else { (b, a) };
            for (k, info) in small {
                match big.get_mut(&k) {
                    Some(e) => {
                        e.count += info.count;
                        e.pos.extend_from_slice(&info.pos);
                    }
                    None => {
                        big.insert(k, info);
                    }
                }
            }
            big
        })
}

/// Replace every non-overlapping (a, b), left to right, by `new_id` in place
/// and report pair-count deltas exactly as rustbpe's `Word::merge_pair`:
/// for each replaced occurrence with x = previous output token and
/// y = next input token: (x,a) -1, (x,new) +1, (a,b) -1, (b,y) -1, (new,y) +1.
/// Returns the new length.
#[inline]
fn merge_word(ids: &mut [u32], a: u32, b: u32, new_id: u32, mut emit: impl FnMut(u64, i64)) -> usize {
    let n = ids.len();
    // Skip the untouched prefix (and the whole word when the pair is gone).
    let mut i = match ids.windows(2).position(|p| p[0] == a && p[1] == b) {
        Some(i) => i,
        None => return n,
    };
    let mut w = i;
    while i < n {
        if i + 1 < n && ids[i] == a && ids[i + 1] == b {
            if w > 0 {
                let x = ids[w - 1];
                emit(pack(x, a), -1);
                emit(pack(x, new_id), 1);
            }
            emit(pack(a, b), -1);
            if i + 2 < n {
                let y = ids[i + 2];
                emit(pack(b, y), -1);
                emit(pack(new_id, y), 1);
            }
            ids[w] = new_id;
            i += 2;
        } else {
            ids[w] = ids[i];
            i += 1;
        }
        w += 1;
    }
    w
}

/// Run up to `num_merges` merges; merge i creates id 256 + i from the
/// returned pair. Stops early when no pair is left. Must run inside the
/// rayon pool meant for it. `done` is bumped after every merge.
pub(crate) fn train_merges(mut words: Words, num_merges: usize, done: &AtomicU64) -> Vec<(u32, u32)> {
    let initial = count_pairs(&words);
    let mut pair_counts: PairMap<i64> = PairMap::default();
    pair_counts.reserve(initial.len());
    let mut jobs = Vec::with_capacity(initial.len());
    for (pair, info) in initial {
        pair_counts.insert(pair, info.count);
        if info.count > 0 {
            jobs.push(MergeJob {
                pair,
                count: info.count as u64,
                pos: info.pos,
            });
        }
    }
    let mut heap = OctonaryHeap::from(jobs);

    let mut merges: Vec<(u32, u32)> = Vec::with_capacity(num_merges);
    let mut updates: PairMap<Vec<u32>> = PairMap::default();
    while merges.len() < num_merges {
        let Some(mut top) = heap.pop() else { break };
        // Lazy refresh, as rustbpe: drop dead pairs, requeue stale counts.
        let current = pair_counts.get(&top.pair).copied().unwrap_or(0);
        if current <= 0 {
            continue;
        }
        if top.count != current as u64 {
            top.count = current as u64;
            heap.push(top);
            continue;
        }

        let new_id = 256 + merges.len() as u32;
        let (a, b) = unpack(top.pair);
        merges.push((a, b));
        for &w in &top.pos {
            let wi = w as usize;
            let cnt = words.count[wi];
            let start = words.start[wi];
            let len = words.len[wi] as usize;
            let new_len = merge_word(&mut words.ids[start..start + len], a, b, new_id, |pair, delta| {
                *pair_counts.entry(pair).or_insert(0) += delta * cnt;
                if delta > 0 {
                    let v = updates.entry(pair).or_default();
                    if v.last() != Some(&w) {
                        v.push(w);
                    }
                }
            });
            words.len[wi] = new_len as u32;
        }
        for (pair, pos) in updates.drain() {
            let cnt = pair_counts.get(&pair).copied().unwrap_or(0);
            if cnt > 0 {
                heap.push(MergeJob {
                    pair,
                    count: cnt as u64,
                    pos,
                });
            }
        }
        done.store(merges.len() as u64, AtomicOrdering::Relaxed);
    }
    merges
}

#[cfg(test)]
mod tests {
    use super::*;

    type Deltas = Vec<((u32, u32), i64)>;

    fn deltas(ids: &[u32], a: u32, b: u32, new_id: u32) -> (Vec<u32>, Deltas) {
        let mut v = ids.to_vec();
        let mut d = Vec::new();
        let n = merge_word(&mut v, a, b, new_id, |p, x| d.push((unpack(p), x)));
        v.truncate(n);
        (v, d)
    }

    #[test]
    fn merge_word_overlapping_run() {
        // "aaaa" with (a,a): left-to-right gives [Z, Z]. Deltas: first
        // occurrence (a,a)-1, (a,a)-1 [right neighbour], (Z,a)+1; second
        // occurrence has left x=Z: (Z,a)-1, (Z,Z)+1, (a,a)-1.
        let (v, d) = deltas(&[97, 97, 97, 97], 97, 97, 256);
        assert_eq!(v, vec![256, 256]);
        assert_eq!(
            d,
            vec![
                ((97, 97), -1),
                ((97, 97), -1),
                ((256, 97), 1),
                ((256, 97), -1),
                ((256, 256), 1),
                ((97, 97), -1),
            ]
        );
    }

    #[test]
    fn merge_word_absent_pair_is_noop() {
        let (v, d) = deltas(&[1, 2, 3], 4, 5, 9);
        assert_eq!(v, vec![1, 2, 3]);
        assert!(d.is_empty());
    }

    #[test]
    fn merge_word_middle() {
        // [1,2,3,1,2] with (1,2)->9: [9,3,9]
        let (v, d) = deltas(&[1, 2, 3, 1, 2], 1, 2, 9);
        assert_eq!(v, vec![9, 3, 9]);
        let mut net = std::collections::BTreeMap::new();
        for (p, x) in d {
            *net.entry(p).or_insert(0) += x;
        }
        let net: Vec<_> = net.into_iter().filter(|&(_, x)| x != 0).collect();
        assert_eq!(
            net,
            vec![((1, 2), -2), ((2, 3), -1), ((3, 1), -1), ((3, 9), 1), ((9, 3), 1)]
        );
    }
}
