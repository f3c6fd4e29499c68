// The hand-written scanner must cut text exactly where fancy-regex does for
// the default pattern: checked on real text and on seeded random Unicode.
// Set NANOCHAT_BPE_TEXT=/path/to/file.txt to also check a large file.

use crate::common::{fixture_docs, random_string, Rng};
use nanochat_bpe::unicode::class_ranges;
use nanochat_bpe::{Splitter, DEFAULT_PATTERN};

fn assert_same_split(fast: &Splitter, slow: &Splitter, text: &str) {
    let a = fast.split(text).unwrap();
    let b = slow.split(text).unwrap();
    if a != b {
        let i = a
            .iter()
            .zip(&b)
            .position(|(x, y)| x != y)
            .unwrap_or(a.len().min(b.len()));
        panic!(
            "split differs at chunk {i}: scanner {:?} vs regex {:?}\ntext: {text:?}",
            a.get(i..(i + 3).min(a.len())),
            b.get(i..(i + 3).min(b.len()))
        );
    }
}

fn splitters() -> (Splitter, Splitter) {
    let fast = Splitter::new(DEFAULT_PATTERN).unwrap();
    assert!(
        matches!(fast, Splitter::Default(_)),
        "default pattern must select the scanner"
    );
    (fast, Splitter::new_regex(DEFAULT_PATTERN).unwrap())
}

#[test]
fn scanner_matches_regex_on_real_text() {
    let (fast, slow) = splitters();
    let docs = fixture_docs();
    assert!(docs.len() > 50);
    for d in &docs {
        assert_same_split(&fast, &slow, d);
    }
    if let Ok(path) = std::env::var("NANOCHAT_BPE_TEXT") {
        let text = std::fs::read_to_string(&path).unwrap();
        for d in text.split('\u{1E}') {
            assert_same_split(&fast, &slow, d);
        }
    }
}

#[test]
fn scanner_matches_regex_on_random_unicode() {
    let (fast, slow) = splitters();
    let mut rng = Rng::new(20240601);
    for _ in 0..20_000 {
        let s = random_string(&mut rng, 40);
        assert_same_split(&fast, &slow, &s);
    }
    for _ in 0..200 {
        let s = random_string(&mut rng, 2000);
        assert_same_split(&fast, &slow, &s);
    }
}

#[test]
fn scanner_matches_regex_on_edge_cases() {
    let (fast, slow) = splitters();
    let cases = [
        "",
        " ",
        "  ",
        "\n",
        "\r\n",
        " \n ",
        "a",
        "'",
        "''",
        "'s",
        "'S",
        "'ll",
        "'LL",
        "'lL",
        "'Ve",
        "'RE",
        "'ſ",
        "'\u{212A}",
        "'x",
        "'l",
        "'le",
        "don't",
        "DON'T",
        "I'M",
        "we'LL",
        "'sorry",
        "x'",
        "hello  world",
        "hello   \n\n  world  ",
        "   ",
        "\t\tx",
        "a\u{A0}b",
        "1234567",
        "12a34",
        "٣٣٣",
        "!!!\n\n",
        " !!!\r\n\r\nx",
        " ?",
        "? ",
        "...",
        "e\u{301}\u{301}",
        "\u{301}abc",
        "😀😀 😀",
        "  \u{3000}x",
        "x\u{85}\u{85}",
        "\u{1C}\u{1D}",
        "a\r\n\r\n\tb",
        "\n \n \n ",
    ];
    for c in cases {
        assert_same_split(&fast, &slow, c);
    }
}

#[test]
fn contraction_case_folds_match_regex_syntax() {
    // The scanner hard-codes which chars `(?i:...)` accepts after an
    // apostrophe; derive the truth from regex-syntax and compare.
    let set = |p: &str| -> Vec<u32> { class_ranges(p).unwrap().into_iter().flat_map(|(a, b)| a..=b).collect() };
    let mut sdmt = vec!['s', 'S', 'd', 'D', 'm', 'M', 't', 'T', 'ſ']
        .into_iter()
        .map(|c| c as u32)
        .collect::<Vec<_>>();
    sdmt.sort();
    assert_eq!(set("(?i:[sdmt])"), sdmt);
    assert_eq!(set("(?i:l)"), vec!['L' as u32, 'l' as u32]);
    assert_eq!(set("(?i:v)"), vec!['V' as u32, 'v' as u32]);
    assert_eq!(set("(?i:r)"), vec!['R' as u32, 'r' as u32]);
    assert_eq!(set("(?i:e)"), vec!['E' as u32, 'e' as u32]);
}

#[test]
fn custom_pattern_uses_regex() {
    let s = Splitter::new(r"\w+|\s+").unwrap();
    assert!(matches!(s, Splitter::Regex(_)));
    assert_eq!(s.split("ab  cd").unwrap(), vec!["ab", "  ", "cd"]);
    assert!(Splitter::new("(unclosed").is_err());
}
