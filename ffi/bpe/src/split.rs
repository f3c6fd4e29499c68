// Pre-tokenization: cutting text into the chunks BPE works inside. The default
// nanochat pattern is handled by a hand-written scanner (many times faster
// than the backtracking regex); any other pattern goes through fancy-regex.
// tests/split_equivalence.rs proves the scanner equal to fancy-regex.

use fancy_regex::Regex;

use crate::error::{BpeError, Result};
use crate::unicode::{self, ClassTable, LETTER, NUMBER, OTHER, SPACE};

/// nanochat's split pattern: GPT-4's, but numbers are split into groups of at
/// most two digits instead of three.
pub const DEFAULT_PATTERN: &str =
    r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,2}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+";

pub enum Splitter {
    /// The scanner in this file; only used when the pattern is exactly DEFAULT_PATTERN.
    Default(&'static ClassTable),
    Regex(Box<Regex>),
}

impl Splitter {
    pub fn new(pattern: &str) -> Result<Self> {
        if pattern == DEFAULT_PATTERN {
            return Ok(Splitter::Default(unicode::table()));
        }
        Self::new_regex(pattern)
    }

    /// Always the regex engine, even for the default pattern (tests, benches).
    pub fn new_regex(pattern: &str) -> Result<Self> {
        let re =
            Regex::new(pattern).map_err(|e| BpeError::invalid(format!("invalid split pattern {pattern:?}: {e}")))?;
        Ok(Splitter::Regex(Box::new(re)))
    }

    /// Call `f` on every chunk of `text`, in order.
    #[inline]
    pub fn for_each<'t>(&self, text: &'t str, mut f: impl FnMut(&'t str)) -> Result<()> {
        match self {
            Splitter::Default(table) => {
                let b = text.as_bytes();
                let mut i = 0;
                while i < b.len() {
                    let j = next_end(table, b, i);
                    // SAFETY: next_end only returns char boundaries of `text`.
                    f(unsafe { text.get_unchecked(i..j) });
                    i = j;
                }
                Ok(())
            }
            Splitter::Regex(re) => {
                for m in re.find_iter(text) {
                    let m = m.map_err(|e| BpeError::invalid(format!("split regex failed: {e}")))?;
                    f(m.as_str());
                }
                Ok(())
            }
        }
    }

    /// Convenience for tests: all chunks as a Vec.
    pub fn split<'t>(&self, text: &'t str) -> Result<Vec<&'t str>> {
        let mut v = Vec::new();
        self.for_each(text, |c| v.push(c))?;
        Ok(v)
    }
}

/// Decode the char starting at byte `i` of valid UTF-8: (code point, length).
#[inline(always)]
fn decode(b: &[u8], i: usize) -> (u32, usize) {
    let b0 = b[i] as u32;
    if b0 < 0x80 {
        return (b0, 1);
    }
    let c1 = (b[i + 1] & 0x3F) as u32;
    if b0 < 0xE0 {
        return (((b0 & 0x1F) << 6) | c1, 2);
    }
    let c2 = (b[i + 2] & 0x3F) as u32;
    if b0 < 0xF0 {
        return (((b0 & 0x0F) << 12) | (c1 << 6) | c2, 3);
    }
    let c3 = (b[i + 3] & 0x3F) as u32;
    (((b0 & 0x07) << 18) | (c1 << 12) | (c2 << 6) | c3, 4)
}

#[inline(always)]
fn is_crlf(c: u32) -> bool {
    c == b'\r' as u32 || c == b'\n' as u32
}

/// End of the run of chars of class `class` starting at `i`.
#[inline(always)]
fn run_end(t: &ClassTable, b: &[u8], mut i: usize, class: u8) -> usize {
    while i < b.len() {
        let (c, l) = decode(b, i);
        if t.class_of(c) != class {
            break;
        }
        i += l;
    }
    i
}

/// End of a run of `\r`/`\n` starting at `i` (the `[\r\n]*` tail of branch 4).
#[inline(always)]
fn crlf_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && (b[i] == b'\r' || b[i] == b'\n') {
        i += 1;
    }
    i
}

/// After `'`, does a contraction follow? Mirrors `'(?i:[sdmt]|ll|ve|re)`:
/// returns the end of the match. Case-insensitive matching in Unicode mode
/// also lets U+017F (long s) stand for `s`; the other letters have no
/// non-ASCII case variants (checked by a test against regex-syntax).
#[inline(always)]
fn contraction_end(b: &[u8], i1: usize) -> Option<usize> {
    if i1 >= b.len() {
        return None;
    }
    let (c2, l2) = decode(b, i1);
    match c2 {
        0x73 | 0x53 | 0x64 | 0x44 | 0x6D | 0x4D | 0x74 | 0x54 | 0x17F => return Some(i1 + l2),
        _ => {}
    }
    let i2 = i1 + l2;
    if i2 >= b.len() {
        return None;
    }
    let c3 = b[i2] | 0x20; // ASCII lower-case; non-ASCII bytes never equal l/e after this
    let ok = match c2 {
        0x6C | 0x4C => c3 == b'l',               // ll
        0x76 | 0x56 | 0x72 | 0x52 => c3 == b'e', // ve, re
        _ => false,
    };
    if ok && b[i2] < 0x80 {
        Some(i2 + 1)
    } else {
        None
    }
}

/// End of the match of DEFAULT_PATTERN that starts at `i` (every position
/// starts a match, so consecutive matches tile the text). The branches are
/// tried in the regex's order, as leftmost-first alternation does.
#[inline]
pub(crate) fn next_end(t: &ClassTable, b: &[u8], i: usize) -> usize {
    let n = b.len();
    let (c, l) = decode(b, i);
    let i1 = i + l;
    // 1: '(?i:[sdmt]|ll|ve|re)
    if c == b'\'' as u32 {
        if let Some(e) = contraction_end(b, i1) {
            return e;
        }
    }
    let k = t.class_of(c);
    match k {
        // 2 with an empty prefix: \p{L}+
        LETTER => return run_end(t, b, i1, LETTER),
        // 3: \p{N}{1,2}
        NUMBER => {
            if i1 < n {
                let (c2, l2) = decode(b, i1);
                if t.class_of(c2) == NUMBER {
                    return i1 + l2;
                }
            }
            return i1;
        }
        _ => {}
    }
    if !is_crlf(c) && i1 < n {
        let (c2, l2) = decode(b, i1);
        let k2 = t.class_of(c2);
        // 2 with a one-char prefix: [^\r\n\p{L}\p{N}]?+\p{L}+
        if k2 == LETTER {
            return run_end(t, b, i1 + l2, LETTER);
        }
        // 4 with the leading space: ' '[^\s\p{L}\p{N}]++[\r\n]*
        if c == b' ' as u32 && k2 == OTHER {
            return crlf_end(b, run_end(t, b, i1 + l2, OTHER));
        }
    }
    // 4 without the space: [^\s\p{L}\p{N}]++[\r\n]*
    if k == OTHER {
        return crlf_end(b, run_end(t, b, i1, OTHER));
    }
    debug_assert_eq!(k, SPACE);
    // Whitespace run [i, j); remember where its last \r/\n ends and where its
    // last char starts.
    let mut last_nl = if is_crlf(c) { i1 } else { 0 };
    let mut last_start = i;
    let mut j = i1;
    while j < n {
        let (c2, l2) = decode(b, j);
        if t.class_of(c2) != SPACE {
            break;
        }
        if is_crlf(c2) {
            last_nl = j + l2;
        }
        last_start = j;
        j += l2;
    }
    // 5: \s*[\r\n] -- greedy, so it backtracks to the last newline of the run.
    if last_nl != 0 {
        return last_nl;
    }
    // 6: \s+(?!\S) -- the whole run at end of text, else all but its last char.
    if j == n {
        return j;
    }
    if last_start > i {
        return last_start;
    }
    // 7: \s+ -- a single whitespace char before a non-space.
    j
}
