// Encoding: equality with a naive tiktoken-style reference (short and long
// chunks, i.e. both merge paths), round trips over awkward text, batch ==
// single, specials and decode errors.

use std::sync::OnceLock;

use crate::common::{fixture_docs, random_string, reference_encode, synthetic_docs, train, Rng};
use nanochat_bpe::{ErrorKind, Tokenizer};

/// One shared tokenizer (training takes a moment) with specials.
fn tok() -> &'static Tokenizer {
    static T: OnceLock<Tokenizer> = OnceLock::new();
    T.get_or_init(|| {
        let mut docs = fixture_docs();
        docs.extend(synthetic_docs(3, 200, 150));
        // long runs so that merges of long repeated chunks exist
        docs.push("a".repeat(300) + " " + &"!".repeat(200) + &" ".repeat(100) + "x");
        train(&docs, 4096, &["<|bos|>", "<|user_start|>"])
    })
}

const AWKWARD: &[&str] = &[
    "",
    "Hello, world! It's 2024; we'll see.",
    "日本語のテキストと中文混合。한국어도。",
    "emoji 😀👍🏽🇫🇷 and ZWJ 👨‍💻 sequences",
    "combining: e\u{301}e\u{301}e\u{301} n\u{303} \u{301}\u{301}\u{301}",
    "           many spaces           ",
    "\t\t\ttabs\t\t",
    "digits 1234567890 ١٢٣٤٥ １２３",
    "line\r\nbreaks\r\n\r\n\nand\n\n\n\nmore\r",
    "'S 'LL 'Ve 'rE DON'T ſ",
    "<|bos|> is not special inside text",
];

#[test]
fn round_trip_awkward_text() {
    let t = tok();
    for s in AWKWARD {
        let ids = t.encode(s).unwrap();
        assert_eq!(t.decode(&ids).unwrap(), s.as_bytes(), "round trip of {s:?}");
    }
    let long_ws = " ".repeat(5000) + "\n" + &"\r\n".repeat(100);
    assert_eq!(t.decode(&t.encode(&long_ws).unwrap()).unwrap(), long_ws.as_bytes());
}

#[test]
fn matches_reference_on_real_and_random_text() {
    let t = tok();
    for d in fixture_docs().iter().take(30) {
        assert_eq!(t.encode(d).unwrap(), reference_encode(t, d));
    }
    let mut rng = Rng::new(99);
    for _ in 0..300 {
        let s = random_string(&mut rng, 200);
        let ids = t.encode(&s).unwrap();
        assert_eq!(ids, reference_encode(t, &s), "text {s:?}");
        assert_eq!(t.decode(&ids).unwrap(), s.as_bytes());
    }
}

#[test]
fn long_chunks_use_the_same_merge_order() {
    // Chunks longer than 64 bytes take the heap path; they must agree with
    // the quadratic reference, including leftmost-first on equal ranks.
    let t = tok();
    let mut rng = Rng::new(5);
    let mut cases = vec![
        "a".repeat(65),
        "a".repeat(301),
        "!".repeat(257),
        "ab".repeat(90),
        "harpooneer".repeat(20),
        " ".repeat(999) + "x",
    ];
    for _ in 0..50 {
        let n = 65 + rng.below(400);
        cases.push((0..n).map(|_| (b'a' + rng.below(4) as u8) as char).collect());
    }
    for s in &cases {
        assert_eq!(t.encode(s).unwrap(), reference_encode(t, s), "len {}", s.len());
    }
}

#[test]
fn repeated_encodes_hit_the_cache_consistently() {
    let t = tok();
    let s = "zyxwvut qqqq zyxwvut qqqq";
    let first = t.encode(s).unwrap();
    for _ in 0..3 {
        assert_eq!(t.encode(s).unwrap(), first);
    }
}

#[test]
fn batch_equals_single() {
    let t = tok();
    let docs = fixture_docs();
    let batch = t.encode_batch(&docs).unwrap();
    assert_eq!(batch.len(), docs.len());
    for (d, ids) in docs.iter().zip(&batch) {
        assert_eq!(&t.encode(d).unwrap(), ids);
    }
}

#[test]
fn specials_and_decode() {
    let t = tok();
    assert_eq!(t.num_ranks(), 4096);
    assert_eq!(t.vocab_size(), 4098);
    assert_eq!(t.special_id("<|bos|>"), Some(4096));
    assert_eq!(t.special_id("<|user_start|>"), Some(4097));
    assert_eq!(t.special_id("<|nope|>"), None);
    // encode_ordinary semantics: the special's name is plain text
    assert!(!t.encode("<|bos|>").unwrap().contains(&4096));
    assert_eq!(t.decode(&[4096, 104]).unwrap(), b"<|bos|>h");
    let lens = t.token_byte_lengths();
    assert_eq!(lens.len(), 4098);
    assert_eq!((lens[b'a' as usize], lens[4096], lens[4097]), (1, 0, 0));
}

#[test]
fn decode_out_of_range_names_the_id() {
    let t = tok();
    let e = t.decode(&[1, 2, 4098, 5]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert!(
        e.message.contains("4098") && e.message.contains("vocab size 4098"),
        "{}",
        e.message
    );
}

#[test]
fn from_merges_encodes_like_rustbpe_example() {
    // (h,i)->256; "hi" is one token, "hip" is [256, 'p'].
    let t = Tokenizer::from_merges(&[(104, 105)], r"\w+|\s+", &[]).unwrap();
    assert_eq!(t.encode("hi hip").unwrap(), vec![256, 32, 256, 112]);
}
