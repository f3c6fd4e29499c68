// Saving and loading a tokenizer directory: `tokenizer.tiktoken` (tiktoken's
// rank format, `base64(bytes) rank` per line) plus `tokenizer.json` (pattern,
// special tokens, rank count). Writes are atomic (temp file + rename) so a
// crash never leaves a half-written tokenizer behind; loads validate
// everything and name the file and line of any problem.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{Map, Value};

use crate::error::{BpeError, Result};
use crate::tokenizer::Tokenizer;

pub const RANKS_FILE: &str = "tokenizer.tiktoken";
pub const META_FILE: &str = "tokenizer.json";

/// Parse tiktoken rank-file contents into byte strings indexed by rank.
/// `source` names the file in error messages. Ranks must be exactly
/// 0..N-1, each once, in any line order.
pub fn parse_ranks(data: &[u8], source: &str) -> Result<Vec<Vec<u8>>> {
    let mut entries: Vec<(usize, Vec<u8>, usize)> = Vec::new();
    for (i, raw) in data.split(|&b| b == b'\n').enumerate() {
        let lineno = i + 1;
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        let line = std::str::from_utf8(line)
            .map_err(|_| BpeError::invalid(format!("{source}: line {lineno}: not ASCII text")))?;
        let mut fields = line.split_ascii_whitespace();
        let (Some(tok), Some(rank), None) = (fields.next(), fields.next(), fields.next()) else {
            return Err(BpeError::invalid(format!(
                "{source}: line {lineno}: expected '<base64 token> <rank>', got {line:?}"
            )));
        };
        let bytes = STANDARD
            .decode(tok)
            .map_err(|e| BpeError::invalid(format!("{source}: line {lineno}: bad base64 {tok:?}: {e}")))?;
        let rank: usize = rank
            .parse()
            .map_err(|_| BpeError::invalid(format!("{source}: line {lineno}: bad rank {rank:?}")))?;
        entries.push((rank, bytes, lineno));
    }
    let n = entries.len();
    if n == 0 {
        return Err(BpeError::invalid(format!("{source}: no ranks found")));
    }
    let mut ranks: Vec<Option<(Vec<u8>, usize)>> = vec![None; n];
    for (rank, bytes, lineno) in entries {
        if rank >= n {
            return Err(BpeError::invalid(format!(
                "{source}: line {lineno}: rank {rank} is out of range; the {n} ranks must be 0..{} with no gaps",
                n - 1
            )));
        }
        if let Some((_, first)) = &ranks[rank] {
            return Err(BpeError::invalid(format!(
                "{source}: rank {rank} appears twice (lines {first} and {lineno})"
            )));
        }
        ranks[rank] = Some((bytes, lineno));
    }
    Ok(ranks
        .into_iter()
        .map(|r| r.expect("every rank filled (pigeonhole)").0)
        .collect())
}

/// Rank-file contents for a tokenizer.
pub fn format_ranks(tok: &Tokenizer) -> Vec<u8> {
    let mut out = Vec::with_capacity(tok.num_ranks() as usize * 16);
    for (rank, bytes) in tok.ranks().enumerate() {
        out.extend_from_slice(STANDARD.encode(bytes).as_bytes());
        out.extend_from_slice(format!(" {rank}\n").as_bytes());
    }
    out
}

fn format_meta(tok: &Tokenizer) -> Vec<u8> {
    let n = tok.num_ranks() as u64;
    let mut specials = Map::new();
    for (i, name) in tok.specials().iter().enumerate() {
        specials.insert(name.clone(), Value::from(n + i as u64));
    }
    let mut root = Map::new();
    root.insert("pattern".into(), Value::from(tok.pattern()));
    root.insert("special_tokens".into(), Value::Object(specials));
    root.insert("num_ranks".into(), Value::from(n));
    let mut s = serde_json::to_vec_pretty(&Value::Object(root)).expect("JSON values serialize");
    s.push(b'\n');
    s
}

/// Pattern and specials (in id order) from tokenizer.json, checked against
/// the rank count of the rank file.
fn parse_meta(data: &[u8], source: &str, num_ranks: usize) -> Result<(String, Vec<String>)> {
    let bad = |msg: String| BpeError::invalid(format!("{source}: {msg}"));
    let v: Value = serde_json::from_slice(data).map_err(|e| bad(format!("not valid JSON: {e}")))?;
    let obj = v.as_object().ok_or_else(|| bad("expected a JSON object".into()))?;
    let pattern = obj
        .get("pattern")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("missing string field \"pattern\"".into()))?;
    let declared = obj
        .get("num_ranks")
        .and_then(Value::as_u64)
        .ok_or_else(|| bad("missing integer field \"num_ranks\"".into()))?;
    if declared != num_ranks as u64 {
        return Err(bad(format!(
            "num_ranks is {declared} but {RANKS_FILE} holds {num_ranks} ranks"
        )));
    }
    let specials = match obj.get("special_tokens") {
        None => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(bad("\"special_tokens\" must be an object of name -> id".into())),
    };
    let mut by_id: Vec<(u64, String)> = Vec::with_capacity(specials.len());
    for (name, id) in specials {
        let id = id
            .as_u64()
            .ok_or_else(|| bad(format!("special token {name:?} has a non-integer id {id}")))?;
        by_id.push((id, name));
    }
    by_id.sort();
    for (i, (id, name)) in by_id.iter().enumerate() {
        let want = (num_ranks + i) as u64;
        if *id != want {
            return Err(bad(format!(
                "special token {name:?} has id {id}, expected {want}: special ids must be {num_ranks}..{} with no gaps or repeats",
                num_ranks + by_id.len() - 1
            )));
        }
    }
    Ok((pattern.to_string(), by_id.into_iter().map(|(_, n)| n).collect()))
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => BpeError::io(format!("{}: file not found", path.display())),
        _ => BpeError::io(format!("{}: cannot read: {e}", path.display())),
    })
}

/// Write `data` to `dir/name` via a temp file in the same directory + rename.
fn write_atomic(dir: &Path, name: &str, data: &[u8]) -> Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let final_path = dir.join(name);
    let tmp: PathBuf = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let io = |what: &str, p: &Path, e: std::io::Error| BpeError::io(format!("{}: {what}: {e}", p.display()));
    let result = (|| {
        let mut f = fs::File::create(&tmp).map_err(|e| io("cannot create", &tmp, e))?;
        f.write_all(data).map_err(|e| io("cannot write", &tmp, e))?;
        f.sync_all().map_err(|e| io("cannot sync", &tmp, e))?;
        fs::rename(&tmp, &final_path).map_err(|e| io("cannot rename into place", &final_path, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

impl Tokenizer {
    /// Write tokenizer.tiktoken and tokenizer.json into `dir` (created if needed).
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        fs::create_dir_all(dir)
            .map_err(|e| BpeError::io(format!("{}: cannot create directory: {e}", dir.display())))?;
        write_atomic(dir, RANKS_FILE, &format_ranks(self))?;
        write_atomic(dir, META_FILE, &format_meta(self))
    }

    /// Load a directory written by `save` (or by nanochat's Python side in
    /// the same format) and rebuild the encoder tables.
    pub fn load(dir: impl AsRef<Path>) -> Result<Tokenizer> {
        let dir = dir.as_ref();
        let ranks_path = dir.join(RANKS_FILE);
        let meta_path = dir.join(META_FILE);
        let ranks_src = ranks_path.display().to_string();
        let ranks = parse_ranks(&read_file(&ranks_path)?, &ranks_src)?;
        let (pattern, specials) = parse_meta(&read_file(&meta_path)?, &meta_path.display().to_string(), ranks.len())?;
        Tokenizer::from_ranks(ranks, &pattern, &specials).map_err(|e| BpeError {
            kind: e.kind,
            message: format!("{}: {}", dir.display(), e.message),
        })
    }

    /// Build from rank-file contents (e.g. GPT-2 / GPT-4 files for comparisons).
    pub fn from_rank_file(data: &[u8], pattern: &str, specials: &[String]) -> Result<Tokenizer> {
        let ranks = parse_ranks(data, "rank file")?;
        Tokenizer::from_ranks(ranks, pattern, specials)
    }
}
