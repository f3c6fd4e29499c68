// The C ABI (documented in include/nanochat_bpe.h). Every exported body runs
// under catch_unwind so no panic crosses into the host; errors become a
// status code plus a thread-local message. Buffers handed out are boxed
// slices and must come back through the matching bpe_free_* with the same
// length.

// The safety contract of every export (valid pointers, lengths, handles) is
// stated once in include/nanochat_bpe.h rather than per function.
#![allow(clippy::missing_safety_doc)]

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::ffi::{c_char, CString};
use std::panic::{self, catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Once};

use crate::error::{BpeError, Result};
use crate::pool;
use crate::tokenizer::Tokenizer;
use crate::trainer::Trainer;

pub type BpeTrainer = Trainer;
pub type BpeTokenizer = Tokenizer;

thread_local! {
    /// Outcome of this thread's latest call: (completion number, message or "").
    static LAST_CALL: RefCell<(u64, CString)> = RefCell::new((0, CString::default()));
    static IN_FFI: Cell<bool> = const { Cell::new(false) };
}

/// Numbers call completions process-wide, so "which happened last" is defined.
static COMPLETIONS: AtomicU64 = AtomicU64::new(1);

// Deno runs `nonblocking` calls on a worker thread but reads the error from the
// main thread, so failures are also kept process-wide. The last RECENT_KEPT
// stay allocated, so a pointer handed out by bpe_last_error survives other
// threads' later failures (up to that many).
const RECENT_KEPT: usize = 32;
static RECENT_ERRORS: Mutex<VecDeque<(u64, CString)>> = Mutex::new(VecDeque::new());

/// Record how a call ended ("" = success) for bpe_last_error.
fn record_outcome(msg: &str) {
    let seq = COMPLETIONS.fetch_add(1, Ordering::Relaxed);
    let c = CString::new(msg.replace('\0', "\\0")).unwrap_or_default();
    if !msg.is_empty() {
        if let Ok(mut g) = RECENT_ERRORS.lock() {
            if g.len() == RECENT_KEPT {
                g.pop_front();
            }
            g.push_back((seq, c.clone()));
        }
    }
    let _ = LAST_CALL.try_with(|e| *e.borrow_mut() = (seq, c));
}

/// Panics inside the library are reported through bpe_last_error, so the
/// default hook's stderr message is suppressed for them (the host owns the
/// terminal). Panics elsewhere in the process still reach the previous hook.
fn install_quiet_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let prev = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let ours = IN_FFI.try_with(|f| f.get()).unwrap_or(false)
                || pool::IS_POOL_THREAD.try_with(|f| f.get()).unwrap_or(false);
            if !ours {
                prev(info);
            }
        }));
    });
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

/// Run `f` with panics caught; returns its value or `fallback`.
fn shielded<T>(fallback: T, f: impl FnOnce() -> Result<T>) -> (T, i32) {
    install_quiet_panic_hook();
    let _ = IN_FFI.try_with(|x| x.set(true));
    let r = catch_unwind(AssertUnwindSafe(f));
    let _ = IN_FFI.try_with(|x| x.set(false));
    match r {
        Ok(Ok(v)) => {
            record_outcome("");
            (v, 0)
        }
        Ok(Err(e)) => {
            record_outcome(&e.message);
            (fallback, e.code())
        }
        Err(p) => {
            record_outcome(&format!("internal error (panic): {}", panic_message(&*p)));
            (fallback, 3)
        }
    }
}

/// For exports that cannot fail (queries, progress): panics are still caught,
/// but the error state is left alone.
fn quiet<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    install_quiet_panic_hook();
    let _ = IN_FFI.try_with(|x| x.set(true));
    let r = catch_unwind(AssertUnwindSafe(f));
    let _ = IN_FFI.try_with(|x| x.set(false));
    r.unwrap_or(fallback)
}

/// For functions returning a status code.
fn status(f: impl FnOnce() -> Result<()>) -> i32 {
    shielded((), f).1
}

unsafe fn bytes_arg<'a>(p: *const u8, len: usize, what: &str) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(BpeError::invalid(format!("{what} is NULL but its length is {len}")));
    }
    Ok(std::slice::from_raw_parts(p, len))
}

unsafe fn str_arg<'a>(p: *const u8, len: usize, what: &str) -> Result<&'a str> {
    let b = bytes_arg(p, len, what)?;
    std::str::from_utf8(b).map_err(|e| BpeError::invalid(format!("{what} is not valid UTF-8: {e}")))
}

unsafe fn ref_arg<'a, T>(p: *const T, what: &str) -> Result<&'a T> {
    p.as_ref().ok_or_else(|| BpeError::invalid(format!("{what} is NULL")))
}

fn out_arg<T>(p: *mut T, what: &str) -> Result<()> {
    if p.is_null() {
        Err(BpeError::invalid(format!("output pointer {what} is NULL")))
    } else {
        Ok(())
    }
}

/// Texts i = data[offsets[i]..offsets[i+1]], each checked to be UTF-8.
unsafe fn texts_arg<'a>(data: *const u8, offsets: *const u64, n: usize) -> Result<Vec<&'a str>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    if offsets.is_null() {
        return Err(BpeError::invalid("offsets is NULL"));
    }
    let offs = std::slice::from_raw_parts(offsets, n + 1);
    for i in 0..n {
        if offs[i] > offs[i + 1] {
            return Err(BpeError::invalid(format!(
                "offsets must not decrease: offsets[{i}] = {} > offsets[{}] = {}",
                offs[i],
                i + 1,
                offs[i + 1]
            )));
        }
    }
    let total = usize::try_from(offs[n]).map_err(|_| BpeError::invalid("offsets exceed the address space"))?;
    let data = bytes_arg(data, total, "data")?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let t = &data[offs[i] as usize..offs[i + 1] as usize];
        out.push(std::str::from_utf8(t).map_err(|e| {
            BpeError::invalid(format!(
                "text {i} is not valid UTF-8 (first bad byte at offset {} of the text)",
                e.valid_up_to()
            ))
        })?);
    }
    Ok(out)
}

fn specials_arg(s: &str) -> Vec<String> {
    s.split('\n').filter(|x| !x.is_empty()).map(str::to_string).collect()
}

#[cfg(unix)]
fn path_arg(b: &[u8]) -> Result<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    if b.is_empty() {
        return Err(BpeError::invalid("directory path is empty"));
    }
    Ok(PathBuf::from(std::ffi::OsStr::from_bytes(b)))
}

#[cfg(not(unix))]
fn path_arg(b: &[u8]) -> Result<PathBuf> {
    let s = std::str::from_utf8(b).map_err(|_| BpeError::invalid("directory path is not valid UTF-8"))?;
    if s.is_empty() {
        return Err(BpeError::invalid("directory path is empty"));
    }
    Ok(PathBuf::from(s))
}

/// Hand a Vec to C as (pointer, length); never NULL, even when empty.
fn export<T>(v: Vec<T>) -> (*mut T, usize) {
    let b = v.into_boxed_slice();
    let len = b.len();
    (Box::into_raw(b) as *mut T, len)
}

unsafe fn free_exported<T>(p: *mut T, len: usize) {
    if !p.is_null() {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(p, len)))
        }));
    }
}

// ---------------------------------------------------------------- errors, threads

#[no_mangle]
pub extern "C" fn bpe_last_error() -> *const c_char {
    // The outcome of whichever ended last: this thread's latest call, or a
    // failure on any thread after it (e.g. a call the host ran on a worker).
    let recent = RECENT_ERRORS
        .lock()
        .ok()
        .and_then(|g| g.back().map(|(seq, c)| (*seq, c.as_ptr())));
    LAST_CALL
        .try_with(|e| {
            let e = e.borrow();
            match recent {
                Some((seq, p)) if seq > e.0 => p,
                _ => e.1.as_ptr(),
            }
        })
        .unwrap_or_else(|_| recent.map_or(EMPTY.as_ptr() as *const c_char, |(_, p)| p))
}

static EMPTY: &[u8] = b"\0";

#[no_mangle]
pub extern "C" fn bpe_set_num_threads(n: u32) -> i32 {
    status(|| pool::set_num_threads(n as usize))
}

// ---------------------------------------------------------------- trainer

#[no_mangle]
pub unsafe extern "C" fn bpe_trainer_new(pattern: *const u8, pattern_len: usize, out: *mut *mut BpeTrainer) -> i32 {
    status(|| {
        out_arg(out, "out")?;
        let p = str_arg(pattern, pattern_len, "pattern")?;
        let t = Trainer::new(if p.is_empty() { None } else { Some(p) })?;
        *out = Box::into_raw(Box::new(t));
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn bpe_trainer_feed(
    t: *mut BpeTrainer,
    data: *const u8,
    offsets: *const u64,
    n_texts: usize,
) -> i32 {
    status(|| {
        let t = ref_arg(t, "trainer")?;
        let texts = texts_arg(data, offsets, n_texts)?;
        t.feed(&texts)
    })
}

#[no_mangle]
pub unsafe extern "C" fn bpe_trainer_train(
    t: *mut BpeTrainer,
    num_ranks: u32,
    specials: *const u8,
    specials_len: usize,
    out: *mut *mut BpeTokenizer,
) -> i32 {
    status(|| {
        let t = ref_arg(t, "trainer")?;
        out_arg(out, "out")?;
        let specials = specials_arg(str_arg(specials, specials_len, "specials")?);
        let tok = t.train(num_ranks, &specials)?;
        *out = Box::into_raw(Box::new(tok));
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn bpe_trainer_progress(t: *const BpeTrainer, done: *mut u64, total: *mut u64) {
    // Polled while training runs elsewhere: reads atomics only and leaves the
    // error state alone, so polling cannot hide a failure of the training call.
    quiet((), || {
        let (d, n) = t.as_ref().map(|t| t.progress()).unwrap_or((0, 0));
        if !done.is_null() {
            *done = d;
        }
        if !total.is_null() {
            *total = n;
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn bpe_trainer_stats(t: *const BpeTrainer, out4: *mut u64) -> u64 {
    // Like bpe_trainer_progress: atomics only, error state untouched.
    quiet(0, || match (t.as_ref(), out4.is_null()) {
        (Some(t), false) => {
            let s = t.stats();
            let out = std::slice::from_raw_parts_mut(out4, 4);
            out.copy_from_slice(&[s.texts, s.bytes, s.unique_chunks, s.total_chunks]);
            4
        }
        _ => 0,
    })
}

#[no_mangle]
pub unsafe extern "C" fn bpe_trainer_free(t: *mut BpeTrainer) {
    if !t.is_null() {
        let _ = catch_unwind(AssertUnwindSafe(|| drop(Box::from_raw(t))));
    }
}

// ---------------------------------------------------------------- tokenizer lifecycle

#[no_mangle]
pub unsafe extern "C" fn bpe_tokenizer_load(dir: *const u8, dir_len: usize, out: *mut *mut BpeTokenizer) -> i32 {
    status(|| {
        out_arg(out, "out")?;
        let dir = path_arg(bytes_arg(dir, dir_len, "dir")?)?;
        *out = Box::into_raw(Box::new(Tokenizer::load(dir)?));
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn bpe_tokenizer_from_ranks(
    tiktoken_file_bytes: *const u8,
    len: usize,
    pattern: *const u8,
    pattern_len: usize,
    specials: *const u8,
    specials_len: usize,
    out: *mut *mut BpeTokenizer,
) -> i32 {
    status(|| {
        out_arg(out, "out")?;
        let data = bytes_arg(tiktoken_file_bytes, len, "tiktoken_file_bytes")?;
        let p = str_arg(pattern, pattern_len, "pattern")?;
        let p = if p.is_empty() { crate::split::DEFAULT_PATTERN } else { p };
        let specials = specials_arg(str_arg(specials, specials_len, "specials")?);
        *out = Box::into_raw(Box::new(Tokenizer::from_rank_file(data, p, &specials)?));
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn bpe_tokenizer_save(tok: *const BpeTokenizer, dir: *const u8, dir_len: usize) -> i32 {
    status(|| {
        let tok = ref_arg(tok, "tokenizer")?;
        let dir = path_arg(bytes_arg(dir, dir_len, "dir")?)?;
        tok.save(dir)
    })
}

#[no_mangle]
pub unsafe extern "C" fn bpe_tokenizer_free(tok: *mut BpeTokenizer) {
    if !tok.is_null() {
        let _ = catch_unwind(AssertUnwindSafe(|| drop(Box::from_raw(tok))));
    }
}

// ---------------------------------------------------------------- queries

#[no_mangle]
pub unsafe extern "C" fn bpe_vocab_size(tok: *const BpeTokenizer) -> u32 {
    quiet(0, || tok.as_ref().map(|t| t.vocab_size()).unwrap_or(0))
}

#[no_mangle]
pub unsafe extern "C" fn bpe_num_ranks(tok: *const BpeTokenizer) -> u32 {
    quiet(0, || tok.as_ref().map(|t| t.num_ranks()).unwrap_or(0))
}

#[no_mangle]
pub unsafe extern "C" fn bpe_special_id(
    tok: *const BpeTokenizer,
    name: *const u8,
    len: usize,
    out_id: *mut u32,
) -> i32 {
    status(|| {
        let tok = ref_arg(tok, "tokenizer")?;
        out_arg(out_id, "out_id")?;
        let name = str_arg(name, len, "name")?;
        *out_id = tok
            .special_id(name)
            .ok_or_else(|| BpeError::invalid(format!("{name:?} is not a special token of this tokenizer")))?;
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn bpe_token_bytes(tok: *const BpeTokenizer, out: *mut u32, n: usize) -> i32 {
    status(|| {
        let tok = ref_arg(tok, "tokenizer")?;
        out_arg(out, "out")?;
        if n != tok.vocab_size() as usize {
            return Err(BpeError::invalid(format!(
                "n is {n} but the vocab size is {}",
                tok.vocab_size()
            )));
        }
        std::slice::from_raw_parts_mut(out, n).copy_from_slice(&tok.token_byte_lengths());
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn bpe_pattern(tok: *const BpeTokenizer, out_bytes: *mut *mut u8, out_len: *mut usize) -> i32 {
    status(|| {
        let tok = ref_arg(tok, "tokenizer")?;
        out_arg(out_bytes, "out_bytes")?;
        out_arg(out_len, "out_len")?;
        let (p, l) = export(tok.pattern().as_bytes().to_vec());
        *out_bytes = p;
        *out_len = l;
        Ok(())
    })
}

// ---------------------------------------------------------------- encode / decode

#[no_mangle]
pub unsafe extern "C" fn bpe_encode(
    tok: *const BpeTokenizer,
    text: *const u8,
    len: usize,
    out_ids: *mut *mut u32,
    out_len: *mut usize,
) -> i32 {
    status(|| {
        let tok = ref_arg(tok, "tokenizer")?;
        out_arg(out_ids, "out_ids")?;
        out_arg(out_len, "out_len")?;
        let text = str_arg(text, len, "text")?;
        let (p, l) = export(tok.encode(text)?);
        *out_ids = p;
        *out_len = l;
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn bpe_encode_batch(
    tok: *const BpeTokenizer,
    data: *const u8,
    offsets: *const u64,
    n_texts: usize,
    out_ids: *mut *mut u32,
    out_len: *mut usize,
    out_offsets: *mut *mut u64,
) -> i32 {
    status(|| {
        let tok = ref_arg(tok, "tokenizer")?;
        out_arg(out_ids, "out_ids")?;
        out_arg(out_len, "out_len")?;
        out_arg(out_offsets, "out_offsets")?;
        let texts = texts_arg(data, offsets, n_texts)?;
        let per_text = tok.encode_batch(&texts)?;
        let total: usize = per_text.iter().map(Vec::len).sum();
        let mut ids = Vec::with_capacity(total);
        let mut offs = Vec::with_capacity(n_texts + 1);
        offs.push(0u64);
        for v in &per_text {
            ids.extend_from_slice(v);
            offs.push(ids.len() as u64);
        }
        drop(per_text);
        let (p, l) = export(ids);
        let (po, _) = export(offs);
        *out_ids = p;
        *out_len = l;
        *out_offsets = po;
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn bpe_decode(
    tok: *const BpeTokenizer,
    ids: *const u32,
    n: usize,
    out_bytes: *mut *mut u8,
    out_len: *mut usize,
) -> i32 {
    status(|| {
        let tok = ref_arg(tok, "tokenizer")?;
        out_arg(out_bytes, "out_bytes")?;
        out_arg(out_len, "out_len")?;
        let ids: &[u32] = if n == 0 {
            &[]
        } else if ids.is_null() {
            return Err(BpeError::invalid(format!("ids is NULL but n is {n}")));
        } else {
            std::slice::from_raw_parts(ids, n)
        };
        let (p, l) = export(tok.decode(ids)?);
        *out_bytes = p;
        *out_len = l;
        Ok(())
    })
}

// ---------------------------------------------------------------- freeing buffers

#[no_mangle]
pub unsafe extern "C" fn bpe_free_u32(p: *mut u32, len: usize) {
    free_exported(p, len)
}

#[no_mangle]
pub unsafe extern "C" fn bpe_free_u64(p: *mut u64, len: usize) {
    free_exported(p, len)
}

#[no_mangle]
pub unsafe extern "C" fn bpe_free_bytes(p: *mut u8, len: usize) {
    free_exported(p, len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_become_status_3_with_message() {
        let rc = status(|| panic!("boom {}", 42));
        assert_eq!(rc, 3);
        let msg = unsafe { std::ffi::CStr::from_ptr(bpe_last_error()) }
            .to_str()
            .unwrap()
            .to_string();
        assert_eq!(msg, "internal error (panic): boom 42");
        // a panic on a pool worker thread is caught too
        let rc = status(|| {
            let pool = pool::current()?;
            pool.install(|| rayon::join(|| (), || panic!("in worker")));
            Ok(())
        });
        assert_eq!(rc, 3);
        assert_eq!(status(|| Ok(())), 0);
    }
}
