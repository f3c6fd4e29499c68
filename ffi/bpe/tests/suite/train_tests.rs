// Training: hand-worked merge sequences (including the tie-break toward the
// smaller pair), determinism across runs and thread counts, and errors.

use crate::common::{fixture_docs, synthetic_docs};
use nanochat_bpe::{set_num_threads, ErrorKind, Trainer};

fn merges(texts: &[&str], num_ranks: u32) -> Vec<(u32, u32)> {
    let t = Trainer::new(None).unwrap();
    t.feed(texts).unwrap();
    t.train_merges(num_ranks).unwrap()
}

const A: u32 = b'a' as u32;
const B: u32 = b'b' as u32;
const C: u32 = b'c' as u32;
const D: u32 = b'd' as u32;

#[test]
fn hand_computed_merges_single_word() {
    // "aaabdaaabac" is one chunk (all letters), count 1.
    // pairs: (a,a)x4 (a,b)x2 (b,d) (d,a) (b,a) (a,c)
    // 1. (a,a)=4 -> 256; left-to-right "aaa" -> [256 a]:  256 a b d 256 a b a c
    // 2. (256,a)=2 and (a,b)=2 tie: the smaller pair (97,98) wins -> 257
    //                                                   256 257 d 256 257 a c
    // 3. (256,257)=2 -> 258:                            258 d 258 a c
    // 4. all count 1: (258,d) (d,258) (258,a) (a,c); smallest (97,99) -> 259
    //                                                   258 d 258 259
    // 5. (258,100) (100,258) (258,259): smallest (100,258) -> 260: 258 260 259
    // 6. (258,260) < (260,259) -> 261:                  261 259
    // 7. (261,259) -> 262, and nothing is left to merge.
    let m = merges(&["aaabdaaabac"], 263);
    assert_eq!(
        m,
        vec![(A, A), (A, B), (256, 257), (A, C), (D, 258), (258, 260), (261, 259)]
    );

    let tok = Trainer::new(None).map(|t| {
        t.feed(&["aaabdaaabac"]).unwrap();
        t.train(263, &[]).unwrap()
    });
    let tok = tok.unwrap();
    assert_eq!(tok.token(258).unwrap(), b"aaab");
    assert_eq!(tok.token(262).unwrap(), b"aaabdaaabac");
    assert_eq!(tok.encode("aaabdaaabac").unwrap(), vec![262]);
}

#[test]
fn hand_computed_merges_with_counts() {
    // Chunks (default pattern): "hug" x2, " hug" x1, " hugs" x1, " pug" x1,
    // " pun" x1, " bun" x2.
    // (u,g) = 2+1+1+1 = 5 -> 256 "ug"
    // (h,256) = 2+1+1 = 4 -> 257 "hug"
    // (u,n) = 1+2 = 3 -> 258 "un"
    // now every remaining pair has count <= 2; the count-2 pairs are
    // (' ',b)=(32,98), (' ',p)=(32,112), (' ',257)=(32,257), (b,258)=(98,258):
    // smallest first -> 259 " b" (which also removes (b,258)),
    // then (32,112) -> 260 " p", then (32,257) beats the new (259,258) -> 261 " hug".
    let m = merges(&["hug pug pun bun hugs", "hug hug bun"], 262);
    let sp = b' ' as u32;
    assert_eq!(
        m,
        vec![
            (b'u' as u32, b'g' as u32),
            (b'h' as u32, 256),
            (b'u' as u32, b'n' as u32),
            (sp, B),
            (sp, b'p' as u32),
            (sp, 257),
        ]
    );
}

#[test]
fn too_many_merges_requested_is_an_error_naming_the_possible_count() {
    let t = Trainer::new(None).unwrap();
    t.feed(&["aaabdaaabac"]).unwrap();
    let e = t.train_merges(300).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert!(e.message.contains("only 7 merges"), "{}", e.message);
}

#[test]
fn num_ranks_below_256_is_an_error() {
    let t = Trainer::new(None).unwrap();
    t.feed(&["hello"]).unwrap();
    let e = t.train(255, &[]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert!(e.message.contains("at least 256"), "{}", e.message);
    // exactly 256 = bytes only, no merges
    assert_eq!(t.train(256, &[]).unwrap().num_ranks(), 256);
}

#[test]
fn empty_corpus_is_an_error() {
    let t = Trainer::new(None).unwrap();
    let e = t.train(300, &[]).unwrap_err();
    assert!(e.message.contains("no text was fed"), "{}", e.message);
    t.feed(&[""]).unwrap();
    assert!(t.train(300, &[]).unwrap_err().message.contains("no text was fed"));
}

#[test]
fn invalid_pattern_is_an_error() {
    assert_eq!(Trainer::new(Some("(")).unwrap_err().kind, ErrorKind::InvalidArgument);
}

#[test]
fn stats_and_progress() {
    let t = Trainer::new(None).unwrap();
    t.feed(&["hello world", "hello"]).unwrap();
    t.feed(&["hi"]).unwrap();
    let s = t.stats();
    assert_eq!((s.texts, s.bytes, s.unique_chunks, s.total_chunks), (3, 18, 3, 4));
    assert_eq!(t.progress(), (0, 0));
    t.train(260, &[]).unwrap();
    assert_eq!(t.progress(), (4, 4));
}

#[test]
fn deterministic_across_runs_batching_and_thread_counts() {
    let mut docs = synthetic_docs(7, 300, 200);
    docs.extend(fixture_docs());
    let run = |threads: usize, batch: usize| {
        set_num_threads(threads).unwrap();
        let t = Trainer::new(None).unwrap();
        for b in docs.chunks(batch) {
            t.feed(b).unwrap();
        }
        t.train_merges(1500).unwrap()
    };
    let base = run(1, docs.len());
    assert_eq!(base.len(), 1500 - 256);
    assert_eq!(run(1, docs.len()), base);
    assert_eq!(run(2, 17), base);
    assert_eq!(run(4, 100), base);
    set_num_threads(0).unwrap();
}

#[test]
fn custom_pattern_training() {
    // With a whitespace-only split the space joins nothing: "ab ab ab" gives
    // chunks "ab" x3 and " " x2, so the only merge is (a,b).
    let t = Trainer::new(Some(r"\S+|\s+")).unwrap();
    t.feed(&["ab ab ab"]).unwrap();
    assert_eq!(t.train_merges(257).unwrap(), vec![(A, B)]);
    let tok = t.train(257, &[]).unwrap();
    assert_eq!(tok.pattern(), r"\S+|\s+");
}

#[test]
fn progress_is_readable_from_another_thread_during_training() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let t = Arc::new(Trainer::new(None).unwrap());
    t.feed(&synthetic_docs(11, 400, 300)).unwrap();
    t.feed(&fixture_docs()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let poller = {
        let (t, stop) = (t.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                seen.push(t.progress());
                std::thread::yield_now();
            }
            seen
        })
    };
    t.train(3000, &[]).unwrap();
    stop.store(true, Ordering::Relaxed);
    let seen = poller.join().unwrap();
    assert!(!seen.is_empty());
    for w in seen.windows(2) {
        assert!(w[0].0 <= w[1].0 || w[1].1 == 0, "progress went backwards: {w:?}");
    }
    assert!(seen.iter().all(|&(d, n)| d <= n));
    assert_eq!(t.progress(), (2744, 2744));
}
