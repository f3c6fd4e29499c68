// The C ABI as a C caller sees it: status codes, bpe_last_error, NULL
// arguments rejected instead of crashing, buffers allocated and freed
// through the library, invalid UTF-8 refused.

use std::ffi::CStr;
use std::ptr::{null, null_mut};

use nanochat_bpe::ffi::*;

/// bpe_last_error falls back to a process-wide "latest failure", so tests
/// that read it must not interleave with each other.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn last_error() -> String {
    unsafe { CStr::from_ptr(bpe_last_error()) }
        .to_str()
        .unwrap()
        .to_string()
}

fn pack(texts: &[&[u8]]) -> (Vec<u8>, Vec<u64>) {
    let mut data = Vec::new();
    let mut offs = vec![0u64];
    for t in texts {
        data.extend_from_slice(t);
        offs.push(data.len() as u64);
    }
    (data, offs)
}

unsafe fn trained(specials: &str) -> *mut BpeTokenizer {
    let mut tr: *mut BpeTrainer = null_mut();
    assert_eq!(bpe_trainer_new(null(), 0, &mut tr), 0);
    let (data, offs) = pack(&[b"hello world, hello there", b"the world says hello"]);
    assert_eq!(bpe_trainer_feed(tr, data.as_ptr(), offs.as_ptr(), 2), 0);
    let mut stats = [0u64; 4];
    assert_eq!(bpe_trainer_stats(tr, stats.as_mut_ptr()), 4);
    assert_eq!(stats[0..2], [2, 44]);
    let mut tok: *mut BpeTokenizer = null_mut();
    let rc = bpe_trainer_train(tr, 270, specials.as_ptr(), specials.len(), &mut tok);
    assert_eq!(rc, 0, "{}", last_error());
    let (mut done, mut total) = (0u64, 0u64);
    bpe_trainer_progress(tr, &mut done, &mut total);
    assert_eq!((done, total), (14, 14));
    bpe_trainer_free(tr);
    tok
}

#[test]
fn happy_path() {
    let _g = serial();
    unsafe {
        let tok = trained("<|bos|>\n<|eos|>\n");
        assert_eq!(last_error(), "");
        assert_eq!(bpe_vocab_size(tok), 272);
        assert_eq!(bpe_num_ranks(tok), 270);
        let mut id = 0u32;
        assert_eq!(bpe_special_id(tok, b"<|eos|>".as_ptr(), 7, &mut id), 0);
        assert_eq!(id, 271);

        let text = "hello world";
        let (mut ids, mut n) = (null_mut(), 0usize);
        assert_eq!(bpe_encode(tok, text.as_ptr(), text.len(), &mut ids, &mut n), 0);
        let (mut bytes, mut blen) = (null_mut(), 0usize);
        assert_eq!(bpe_decode(tok, ids, n, &mut bytes, &mut blen), 0);
        assert_eq!(std::slice::from_raw_parts(bytes, blen), text.as_bytes());
        bpe_free_u32(ids, n);
        bpe_free_bytes(bytes, blen);

        // empty input still yields a valid (non-NULL) buffer
        assert_eq!(bpe_encode(tok, null(), 0, &mut ids, &mut n), 0);
        assert!(!ids.is_null());
        assert_eq!(n, 0);
        bpe_free_u32(ids, n);

        let (data, offs) = pack(&[b"hello", b"", b"world hello"]);
        let (mut ids, mut n, mut oo) = (null_mut(), 0usize, null_mut());
        assert_eq!(
            bpe_encode_batch(tok, data.as_ptr(), offs.as_ptr(), 3, &mut ids, &mut n, &mut oo),
            0
        );
        let o = std::slice::from_raw_parts(oo, 4).to_vec();
        assert_eq!((o[0], o[1], o[2], o[3] as usize), (0, o[1], o[1], n));
        bpe_free_u32(ids, n);
        bpe_free_u64(oo, 4);

        let mut lens = vec![0u32; 272];
        assert_eq!(bpe_token_bytes(tok, lens.as_mut_ptr(), 272), 0);
        assert_eq!((lens[65], lens[270], lens[271]), (1, 0, 0));

        let (mut p, mut plen) = (null_mut(), 0usize);
        assert_eq!(bpe_pattern(tok, &mut p, &mut plen), 0);
        assert_eq!(
            std::slice::from_raw_parts(p, plen),
            nanochat_bpe::DEFAULT_PATTERN.as_bytes()
        );
        bpe_free_bytes(p, plen);

        let dir = std::env::temp_dir().join(format!("nanochat_bpe_ffi_{}", std::process::id()));
        let d = dir.to_str().unwrap();
        assert_eq!(bpe_tokenizer_save(tok, d.as_ptr(), d.len()), 0);
        let mut tok2 = null_mut();
        assert_eq!(bpe_tokenizer_load(d.as_ptr(), d.len(), &mut tok2), 0);
        assert_eq!(bpe_vocab_size(tok2), 272);
        let ranks = std::fs::read(dir.join("tokenizer.tiktoken")).unwrap();
        let mut tok3 = null_mut();
        let sp = "<|x|>";
        assert_eq!(
            bpe_tokenizer_from_ranks(ranks.as_ptr(), ranks.len(), null(), 0, sp.as_ptr(), sp.len(), &mut tok3),
            0
        );
        assert_eq!(bpe_vocab_size(tok3), 271);
        bpe_tokenizer_free(tok2);
        bpe_tokenizer_free(tok3);
        bpe_tokenizer_free(tok);
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[test]
fn null_arguments_are_errors_not_crashes() {
    let _g = serial();
    unsafe {
        let mut tok: *mut BpeTokenizer = null_mut();
        let mut tr: *mut BpeTrainer = null_mut();
        let (mut ids, mut n) = (null_mut(), 0usize);
        assert_eq!(bpe_trainer_new(null(), 0, null_mut()), 1);
        assert!(last_error().contains("NULL"), "{}", last_error());
        assert_eq!(bpe_trainer_new(null(), 5, &mut tr), 1);
        assert_eq!(bpe_trainer_feed(null_mut(), null(), null(), 1), 1);
        assert_eq!(bpe_trainer_train(null_mut(), 300, null(), 0, &mut tok), 1);
        assert_eq!(bpe_encode(null(), b"x".as_ptr(), 1, &mut ids, &mut n), 1);
        assert_eq!(bpe_decode(null(), null(), 0, null_mut(), null_mut()), 1);
        assert_eq!(bpe_tokenizer_load(null(), 0, &mut tok), 1);
        assert_eq!(bpe_tokenizer_save(null(), null(), 0), 1);
        assert_eq!(bpe_special_id(null(), null(), 0, null_mut()), 1);
        assert_eq!(bpe_token_bytes(null(), null_mut(), 0), 1);
        assert_eq!(bpe_pattern(null(), null_mut(), null_mut()), 1);
        assert_eq!(
            bpe_encode_batch(null(), null(), null(), 0, null_mut(), null_mut(), null_mut()),
            1
        );
        assert_eq!(bpe_vocab_size(null()), 0);
        assert_eq!(bpe_num_ranks(null()), 0);
        assert_eq!(bpe_trainer_stats(null(), null_mut()), 0);
        bpe_trainer_progress(null(), null_mut(), null_mut());
        bpe_trainer_free(null_mut());
        bpe_tokenizer_free(null_mut());
        bpe_free_u32(null_mut(), 0);
        bpe_free_u64(null_mut(), 3);
        bpe_free_bytes(null_mut(), 0);
        // a later success on this thread clears the message
        assert_eq!(bpe_trainer_new(null(), 0, &mut tr), 0);
        assert_eq!(last_error(), "");
        bpe_trainer_free(tr);
    }
}

#[test]
fn error_codes_and_messages() {
    let _g = serial();
    unsafe {
        let mut tr: *mut BpeTrainer = null_mut();
        assert_eq!(bpe_trainer_new(b"(".as_ptr(), 1, &mut tr), 1);
        assert!(last_error().contains("invalid split pattern"));
        assert_eq!(bpe_trainer_new(null(), 0, &mut tr), 0);

        // invalid UTF-8 is refused and names the text
        let (data, offs) = pack(&[b"fine", b"bad \xff byte"]);
        assert_eq!(bpe_trainer_feed(tr, data.as_ptr(), offs.as_ptr(), 2), 1);
        assert!(last_error().contains("text 1 is not valid UTF-8"), "{}", last_error());
        // decreasing offsets
        let offs = [4u64, 2];
        assert_eq!(bpe_trainer_feed(tr, data.as_ptr(), offs.as_ptr(), 1), 1);

        let mut tok = null_mut();
        assert_eq!(bpe_trainer_train(tr, 300, null(), 0, &mut tok), 1);
        assert!(last_error().contains("no text was fed"));
        let (data, offs) = pack(&[b"abab"]);
        assert_eq!(bpe_trainer_feed(tr, data.as_ptr(), offs.as_ptr(), 1), 0);
        assert_eq!(bpe_trainer_train(tr, 200, null(), 0, &mut tok), 1);
        assert!(last_error().contains("at least 256"));
        assert_eq!(bpe_trainer_train(tr, 300, null(), 0, &mut tok), 1);
        assert!(last_error().contains("only 2 merges"), "{}", last_error());
        let sp = "<|a|>\n<|a|>";
        assert_eq!(bpe_trainer_train(tr, 257, sp.as_ptr(), sp.len(), &mut tok), 1);
        assert!(last_error().contains("listed twice"));
        assert_eq!(bpe_trainer_train(tr, 258, null(), 0, &mut tok), 0);

        let (mut out, mut n) = (null_mut(), 0usize);
        let bad = [1u32, 999];
        assert_eq!(bpe_decode(tok, bad.as_ptr(), 2, &mut out, &mut n), 1);
        assert!(last_error().contains("token id 999") && last_error().contains("vocab size 258"));
        let mut id = 0;
        assert_eq!(bpe_special_id(tok, b"<|x|>".as_ptr(), 5, &mut id), 1);
        let mut lens = [0u32; 3];
        assert_eq!(bpe_token_bytes(tok, lens.as_mut_ptr(), 3), 1);
        assert_eq!(bpe_encode(tok, b"\xc3".as_ptr(), 1, &mut (null_mut()), &mut n), 1);

        let missing = "/nonexistent/nanochat_bpe_dir";
        let mut t2 = null_mut();
        assert_eq!(bpe_tokenizer_load(missing.as_ptr(), missing.len(), &mut t2), 2);
        assert!(last_error().contains("tokenizer.tiktoken: file not found"));
        let junk = b"not base64!! 0\n";
        assert_eq!(
            bpe_tokenizer_from_ranks(junk.as_ptr(), junk.len(), null(), 0, null(), 0, &mut t2),
            1
        );
        assert!(last_error().contains("line 1"));

        assert_eq!(bpe_set_num_threads(2), 0);
        assert_eq!(bpe_set_num_threads(0), 0);
        bpe_tokenizer_free(tok);
        bpe_trainer_free(tr);
    }
}

#[test]
fn last_error_of_another_thread_is_visible() {
    // Deno's `nonblocking` symbols run on a worker thread while the caller
    // reads bpe_last_error on the main thread: the latest outcome wins.
    let _g = serial();
    unsafe {
        let mut tr: *mut BpeTrainer = null_mut();
        // an older failure on this thread...
        assert_eq!(bpe_trainer_new(b"(".as_ptr(), 1, &mut tr), 1);
        assert_eq!(bpe_trainer_new(null(), 0, &mut tr), 0);
        let tr_addr = tr as usize;
        // ...then a failure on a worker thread
        let rc = std::thread::spawn(move || {
            let mut tok = null_mut();
            bpe_trainer_train(tr_addr as *mut BpeTrainer, 300, null(), 0, &mut tok)
        })
        .join()
        .unwrap();
        assert_eq!(rc, 1);
        assert!(last_error().contains("no text was fed"), "{}", last_error());
        // polling progress/stats (as a host does during training) keeps it
        let mut stats = [0u64; 4];
        assert_eq!(bpe_trainer_stats(tr, stats.as_mut_ptr()), 4);
        bpe_trainer_progress(tr, null_mut(), null_mut());
        assert!(last_error().contains("no text was fed"), "{}", last_error());

        // A thread that failed and nothing failed since sees its own message.
        let own = std::thread::spawn(move || {
            let mut tok = null_mut();
            bpe_trainer_train(tr_addr as *mut BpeTrainer, 100, null(), 0, &mut tok);
            last_error()
        })
        .join()
        .unwrap();
        assert!(own.contains("at least 256"), "{own}");
        // and this thread now sees that newer failure too, until its next call
        assert!(last_error().contains("at least 256"), "{}", last_error());
        let mut id = 0u32;
        assert_eq!(bpe_set_num_threads(0), 0);
        assert_eq!(last_error(), "");
        assert_eq!(bpe_special_id(null(), null(), 0, &mut id), 1);
        assert!(last_error().contains("tokenizer is NULL"));
        bpe_trainer_free(tr);
    }
}
