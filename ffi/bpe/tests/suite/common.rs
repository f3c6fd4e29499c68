// Shared test helpers: a seeded PRNG (no rand dependency), random "nasty"
// Unicode strings, the real-text fixture, and a naive reference encoder
// written straight from tiktoken's definition.
#![allow(dead_code)] // each test module uses a different subset

use std::collections::HashMap;

use nanochat_bpe::{Tokenizer, Trainer};

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Characters chosen to hit every branch of the split pattern and the
/// Unicode classes around it.
const PALETTE: &[&str] = &[
    "a",
    "b",
    "Z",
    "s",
    "S",
    "t",
    "T",
    "d",
    "D",
    "m",
    "M",
    "l",
    "L",
    "v",
    "V",
    "r",
    "R",
    "e",
    "E",
    "x",
    "0",
    "1",
    "7",
    "9",
    "٣",
    "３",
    "Ⅻ",
    "²",
    "½", // digits of other scripts, Nl, No
    " ",
    " ",
    " ",
    "\t",
    "\n",
    "\r",
    "\r\n",
    "\u{0B}",
    "\u{0C}",
    "\u{85}",
    "\u{A0}",
    "\u{2003}",
    "\u{3000}",
    "\u{2028}",
    "\u{1C}",
    "\u{1F}",
    "\u{200B}",
    "\u{FEFF}",
    "'",
    "'",
    "’",
    "\"",
    ".",
    ",",
    "!",
    "?",
    "-",
    "(",
    ")",
    "#",
    "$",
    "/",
    "\\",
    "_",
    "*",
    "…",
    "—",
    "ſ",
    "\u{212A}",
    "ß",
    "é",
    "e\u{301}",
    "\u{308}",
    "\u{301}",
    "ñ",
    "ø",
    "中",
    "文",
    "日本",
    "한",
    "ᄀ",
    "ह",
    "ि",
    "्",
    "ก",
    "ั",
    "α",
    "Ω",
    "ж",
    "ש",
    "ع",
    "😀",
    "👍🏽",
    "🇫🇷",
    "\u{1F600}\u{200D}\u{1F4BB}",
    "\u{E000}",
    "\u{10FFFF}",
];

pub fn random_string(rng: &mut Rng, max_len: usize) -> String {
    let n = rng.below(max_len + 1);
    let mut s = String::new();
    while s.chars().count() < n {
        match rng.below(10) {
            // a run of one palette entry (long whitespace/punctuation/letter runs)
            0 => {
                let p = PALETTE[rng.below(PALETTE.len())];
                for _ in 0..rng.below(12) + 1 {
                    s.push_str(p);
                }
            }
            // any Unicode scalar value
            1 => {
                let c = loop {
                    if let Some(c) = char::from_u32(rng.below(0x11_0000) as u32) {
                        break c;
                    }
                };
                s.push(c);
            }
            _ => s.push_str(PALETTE[rng.below(PALETTE.len())]),
        }
    }
    s
}

/// Real pretraining text committed with the tests (documents separated by 0x1E).
pub fn fixture_docs() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/pretrain_sample.txt");
    let text = std::fs::read_to_string(path).expect("tests/data/pretrain_sample.txt is readable");
    text.split('\u{1E}').map(str::to_string).collect()
}

/// Deterministic English-like synthetic corpus.
pub fn synthetic_docs(seed: u64, n_docs: usize, words_per_doc: usize) -> Vec<String> {
    const WORDS: &[&str] = &[
        "the",
        "of",
        "and",
        "to",
        "in",
        "is",
        "that",
        "whale",
        "ship",
        "captain",
        "sea",
        "water",
        "It's",
        "we'll",
        "they're",
        "I've",
        "don't",
        "1851",
        "42",
        "3.14",
        "(see",
        "note)",
        "--",
        "über",
        "naïve",
        "café",
        "東京",
        "😀",
        "THE",
        "Whale",
        "harpoon",
        "harpooneer",
    ];
    let mut rng = Rng::new(seed);
    (0..n_docs)
        .map(|_| {
            let mut d = String::new();
            for i in 0..words_per_doc {
                if i > 0 {
                    d.push_str(match rng.below(20) {
                        0 => "\n",
                        1 => ", ",
                        2 => ".  ",
                        3 => "\n\n",
                        _ => " ",
                    });
                }
                d.push_str(WORDS[rng.below(WORDS.len())]);
            }
            d
        })
        .collect()
}

pub fn train(docs: &[String], num_ranks: u32, specials: &[&str]) -> Tokenizer {
    let t = Trainer::new(None).unwrap();
    t.feed(docs).unwrap();
    let specials: Vec<String> = specials.iter().map(|s| s.to_string()).collect();
    t.train(num_ranks, &specials).unwrap()
}

/// tiktoken's encode_ordinary spelled out naively: whole chunk if it is a
/// rank, else repeatedly merge the leftmost lowest-ranked adjacent pair,
/// looking ranks up by concatenated bytes.
pub fn reference_encode(tok: &Tokenizer, text: &str) -> Vec<u32> {
    let ranks: HashMap<Vec<u8>, u32> = tok.ranks().enumerate().map(|(i, b)| (b.to_vec(), i as u32)).collect();
    let splitter = nanochat_bpe::Splitter::new_regex(tok.pattern()).unwrap();
    let mut out = Vec::new();
    for chunk in splitter.split(text).unwrap() {
        let b = chunk.as_bytes();
        if let Some(&r) = ranks.get(b) {
            out.push(r);
            continue;
        }
        let mut parts: Vec<Vec<u8>> = b.iter().map(|&x| vec![x]).collect();
        loop {
            let mut best: Option<(u32, usize)> = None;
            for i in 0..parts.len().saturating_sub(1) {
                let cat = [parts[i].as_slice(), parts[i + 1].as_slice()].concat();
                if let Some(&r) = ranks.get(&cat) {
                    if best.is_none_or(|(br, _)| r < br) {
                        best = Some((r, i));
                    }
                }
            }
            let Some((_, i)) = best else { break };
            let right = parts.remove(i + 1);
            parts[i].extend(right);
        }
        out.extend(parts.iter().map(|p| ranks[p]));
    }
    out
}
