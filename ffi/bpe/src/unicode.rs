// Character classes for the hand-written splitter. The tables are derived at
// first use from regex-syntax (the same crate, same version, that fancy-regex
// compiles `\p{L}`, `\p{N}` and `\s` with), so the fast scanner and the regex
// can never disagree about which code point is a letter, number or space.

use std::sync::OnceLock;

use regex_syntax::hir::{Class, HirKind};

pub const OTHER: u8 = 0;
pub const LETTER: u8 = 1;
pub const NUMBER: u8 = 2;
pub const SPACE: u8 = 3;

const NUM_CODE_POINTS: usize = 0x11_0000;

/// Two-stage lookup: stage1 maps a 256-code-point block to a deduplicated
/// 256-byte block in stage2. About 30 KB instead of 1.1 MB, and O(1).
pub struct ClassTable {
    stage1: Vec<u16>,
    stage2: Vec<u8>,
}

impl ClassTable {
    #[inline(always)]
    pub fn class_of(&self, cp: u32) -> u8 {
        // cp comes from decoding valid UTF-8, so cp < 0x110000 and both
        // indexes are in range; the compiler cannot see that, hence `get`.
        let block = self.stage1.get((cp >> 8) as usize).copied().unwrap_or(0) as usize;
        self.stage2[(block << 8) | (cp & 0xFF) as usize]
    }
}

/// Inclusive code point ranges of a single-class regex such as `\p{L}`.
pub fn class_ranges(pattern: &str) -> Option<Vec<(u32, u32)>> {
    let hir = regex_syntax::ParserBuilder::new()
        .unicode(true)
        .build()
        .parse(pattern)
        .ok()?;
    match hir.kind() {
        HirKind::Class(Class::Unicode(c)) => {
            Some(c.ranges().iter().map(|r| (r.start() as u32, r.end() as u32)).collect())
        }
        _ => None,
    }
}

fn build() -> ClassTable {
    let mut flat = vec![OTHER; NUM_CODE_POINTS];
    for (pattern, class) in [(r"\p{L}", LETTER), (r"\p{N}", NUMBER), (r"\s", SPACE)] {
        let ranges = class_ranges(pattern).expect("regex-syntax parses built-in classes");
        for (lo, hi) in ranges {
            for cp in lo..=hi {
                flat[cp as usize] = class;
            }
        }
    }
    let mut stage1 = Vec::with_capacity(NUM_CODE_POINTS >> 8);
    let mut stage2: Vec<u8> = Vec::new();
    let mut seen: ahash::AHashMap<&[u8], u16> = ahash::AHashMap::new();
    for block in flat.chunks(256) {
        let idx = *seen.entry(block).or_insert_with(|| {
            stage2.extend_from_slice(block);
            ((stage2.len() >> 8) - 1) as u16
        });
        stage1.push(idx);
    }
    ClassTable { stage1, stage2 }
}

pub fn table() -> &'static ClassTable {
    static TABLE: OnceLock<ClassTable> = OnceLock::new();
    TABLE.get_or_init(build)
}
