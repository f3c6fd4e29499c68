// Save/load: round trip, atomic output files, and clear errors for broken
// directories and rank files.

use std::fs;
use std::path::PathBuf;

use crate::common::{fixture_docs, train};
use nanochat_bpe::{ErrorKind, Tokenizer, DEFAULT_PATTERN};

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nanochat_bpe_test_{}_{name}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    d
}

fn small_tok() -> Tokenizer {
    train(&fixture_docs()[..20], 600, &["<|bos|>", "<|assistant_end|>"])
}

#[test]
fn save_load_round_trip() {
    let t = small_tok();
    let d = tmpdir("roundtrip");
    t.save(&d).unwrap();
    let names: Vec<String> = fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let mut names = names;
    names.sort();
    assert_eq!(
        names,
        vec!["tokenizer.json", "tokenizer.tiktoken"],
        "no temp files left behind"
    );
    let meta: serde_json::Value = serde_json::from_slice(&fs::read(d.join("tokenizer.json")).unwrap()).unwrap();
    assert_eq!(meta["pattern"], DEFAULT_PATTERN);
    assert_eq!(meta["num_ranks"], 600);
    assert_eq!(meta["special_tokens"]["<|bos|>"], 600);
    assert_eq!(meta["special_tokens"]["<|assistant_end|>"], 601);
    let ranks = fs::read_to_string(d.join("tokenizer.tiktoken")).unwrap();
    assert_eq!(ranks.lines().count(), 600);
    assert_eq!(ranks.lines().next().unwrap(), "AA== 0");

    let u = Tokenizer::load(&d).unwrap();
    assert_eq!(u.vocab_size(), t.vocab_size());
    assert_eq!(u.specials(), t.specials());
    assert!(u.ranks().eq(t.ranks()));
    let text = &fixture_docs()[30];
    assert_eq!(u.encode(text).unwrap(), t.encode(text).unwrap());
    // saving again over the existing files works
    u.save(&d).unwrap();
    fs::remove_dir_all(&d).unwrap();
}

fn broken_dir(name: &str, ranks: &str, meta: &str) -> PathBuf {
    let d = tmpdir(name);
    fs::create_dir_all(&d).unwrap();
    if !ranks.is_empty() {
        fs::write(d.join("tokenizer.tiktoken"), ranks).unwrap();
    }
    if !meta.is_empty() {
        fs::write(d.join("tokenizer.json"), meta).unwrap();
    }
    d
}

fn byte_ranks() -> String {
    use base64::Engine;
    (0..=255u8)
        .map(|b| format!("{} {}\n", base64::engine::general_purpose::STANDARD.encode([b]), b))
        .collect()
}

const META_256: &str = r#"{"pattern": "\\w+|\\s+", "special_tokens": {}, "num_ranks": 256}"#;

fn load_err(d: &PathBuf) -> (ErrorKind, String) {
    let e = Tokenizer::load(d).unwrap_err();
    (e.kind, e.message)
}

#[test]
fn minimal_valid_dir_loads() {
    let d = broken_dir("minimal", &byte_ranks(), META_256);
    let t = Tokenizer::load(&d).unwrap();
    assert_eq!(t.encode("ab c").unwrap(), vec![97, 98, 32, 99]);
}

#[test]
fn missing_files() {
    let (k, m) = load_err(&tmpdir("does_not_exist"));
    assert_eq!(k, ErrorKind::Io);
    assert!(m.contains("tokenizer.tiktoken") && m.contains("not found"), "{m}");
    let d = broken_dir("nometa", &byte_ranks(), "");
    let (k, m) = load_err(&d);
    assert_eq!(k, ErrorKind::Io);
    assert!(m.contains("tokenizer.json") && m.contains("not found"), "{m}");
}

#[test]
fn bad_base64_names_the_line() {
    let ranks = byte_ranks().replacen("AQ== 1", "A?Q== 1", 1);
    let (k, m) = load_err(&broken_dir("b64", &ranks, META_256));
    assert_eq!(k, ErrorKind::InvalidArgument);
    assert!(
        m.contains("line 2") && m.contains("bad base64") && m.contains("tokenizer.tiktoken"),
        "{m}"
    );
}

#[test]
fn bad_rank_lines() {
    let (_, m) = load_err(&broken_dir("dup", &byte_ranks().replacen(" 1\n", " 0\n", 1), META_256));
    assert!(m.contains("rank 0 appears twice (lines 1 and 2)"), "{m}");
    let (_, m) = load_err(&broken_dir(
        "gap",
        &byte_ranks().replacen(" 255\n", " 300\n", 1),
        META_256,
    ));
    assert!(m.contains("line 256") && m.contains("out of range"), "{m}");
    let (_, m) = load_err(&broken_dir("fields", &byte_ranks().replacen(" 7\n", "\n", 1), META_256));
    assert!(m.contains("line 8") && m.contains("expected"), "{m}");
    let (_, m) = load_err(&broken_dir(
        "rank",
        &byte_ranks().replacen(" 7\n", " seven\n", 1),
        META_256,
    ));
    assert!(m.contains("bad rank"), "{m}");
    // the same bytes under two ranks
    let extra = byte_ranks() + "YQ== 256\n";
    let meta = META_256.replace("256", "257");
    let (_, m) = load_err(&broken_dir("dupbytes", &extra, &meta));
    assert!(m.contains("appear twice"), "{m}");
}

#[test]
fn missing_single_byte_rank() {
    use base64::Engine;
    let mut ranks = byte_ranks().lines().skip(1).map(|l| l.to_string()).collect::<Vec<_>>();
    ranks.push(format!("{} 0", base64::engine::general_purpose::STANDARD.encode(b"xy")));
    let (_, m) = load_err(&broken_dir("nobyte", &ranks.join("\n"), META_256));
    assert!(m.contains("byte 0x00 has no rank"), "{m}");
}

#[test]
fn bad_meta() {
    let (_, m) = load_err(&broken_dir("json", &byte_ranks(), "{not json"));
    assert!(m.contains("tokenizer.json") && m.contains("not valid JSON"), "{m}");
    let (_, m) = load_err(&broken_dir("count", &byte_ranks(), &META_256.replace("256", "300")));
    assert!(m.contains("num_ranks is 300"), "{m}");
    let meta = r#"{"pattern": "x", "special_tokens": {"<|a|>": 257}, "num_ranks": 256}"#;
    let (_, m) = load_err(&broken_dir("special", &byte_ranks(), meta));
    assert!(m.contains("\"<|a|>\" has id 257, expected 256"), "{m}");
    let meta = r#"{"special_tokens": {}, "num_ranks": 256}"#;
    let (_, m) = load_err(&broken_dir("nopattern", &byte_ranks(), meta));
    assert!(m.contains("\"pattern\""), "{m}");
}

#[test]
fn specials_are_loaded_in_id_order() {
    let meta = r#"{"pattern": "x", "special_tokens": {"<|b|>": 257, "<|a|>": 256}, "num_ranks": 256}"#;
    let t = Tokenizer::load(broken_dir("order", &byte_ranks(), meta)).unwrap();
    assert_eq!(t.specials(), &["<|a|>".to_string(), "<|b|>".to_string()]);
    assert_eq!(t.special_id("<|b|>"), Some(257));
}

#[test]
fn from_rank_file_with_non_identity_byte_ranks() {
    // GPT-2 style: single bytes need not have rank == byte value.
    use base64::Engine;
    let e = base64::engine::general_purpose::STANDARD;
    let mut lines: Vec<String> = (0..=255u8)
        .map(|b| format!("{} {}", e.encode([b]), 255 - b as u32))
        .collect();
    lines.push(format!("{} 256", e.encode(b"ab")));
    let t = Tokenizer::from_rank_file(lines.join("\n").as_bytes(), r"\w+|\s+", &["<|end|>".into()]).unwrap();
    assert_eq!(t.encode("abc").unwrap(), vec![256, 255 - 99]);
    assert_eq!(t.decode(&[256, 257]).unwrap(), b"ab<|end|>");
}
