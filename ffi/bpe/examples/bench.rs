// Benchmark: training time + peak RSS, single-thread encode MB/s, and batch
// encode MB/s at 1 and 2 threads, on one text file.
//
//   cargo run --release --example bench -- FILE [--vocab N] [--tokenizer DIR]
//
// FILE: UTF-8 text, documents separated by 0x1E (scripts/dump_parquet_text.py),
// otherwise cut at line ends into ~64 KB documents. Without --tokenizer the
// tokenizer is trained on FILE (default vocab 65536 ranks).

use std::time::Instant;

use nanochat_bpe::{set_num_threads, Tokenizer, Trainer};

fn read_docs(path: &str) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("readable UTF-8 text file");
    if text.contains('\u{1E}') {
        return text.split('\u{1E}').map(str::to_string).collect();
    }
    let mut docs = Vec::new();
    let mut rest = text.as_str();
    while !rest.is_empty() {
        let cut = match rest.get(65536..).and_then(|t| t.find('\n')) {
            Some(i) => 65536 + i + 1,
            None => rest.len(),
        };
        let (a, b) = rest.split_at(cut);
        docs.push(a.to_string());
        rest = b;
    }
    docs
}

fn status_kb(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// CPU seconds (user + system) used by this process so far, from /proc.
fn cpu_seconds() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // fields after the ")" of the command name; utime and stime are the 12th and 13th
    let rest = s.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    ticks / 100.0 // USER_HZ is 100 on Linux
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let file = args
        .first()
        .expect("usage: bench FILE [--vocab N] [--tokenizer DIR]")
        .clone();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let vocab: u32 = opt("--vocab").map(|v| v.parse().expect("--vocab N")).unwrap_or(65536);

    let docs = read_docs(&file);
    let total: usize = docs.iter().map(String::len).sum();
    let mb = total as f64 / 1e6;
    println!("file {file}: {} documents, {mb:.1} MB", docs.len());

    let tok = match opt("--tokenizer") {
        Some(dir) => Tokenizer::load(&dir).expect("load tokenizer"),
        None => {
            set_num_threads(0).unwrap();
            // Reset the peak-RSS mark so it measures training, not file loading.
            let _ = std::fs::write("/proc/self/clear_refs", "5");
            let rss0 = status_kb("VmRSS:");
            let t0 = Instant::now();
            let trainer = Trainer::new(None).unwrap();
            for batch in docs.chunks(8192) {
                trainer.feed(batch).unwrap();
            }
            let t_feed = t0.elapsed().as_secs_f64();
            let tok = trainer.train(vocab, &["<|bos|>".to_string()]).expect("train");
            let t_all = t0.elapsed().as_secs_f64();
            let s = trainer.stats();
            drop(trainer);
            println!(
                "train vocab {vocab} on {} threads: {t_all:.2} s (ingest {t_feed:.2} s, merges {:.2} s); \
                 {} unique / {} total chunks; RSS before {} MB, peak during training {} MB",
                nanochat_bpe::pool::num_threads(),
                t_all - t_feed,
                s.unique_chunks,
                s.total_chunks,
                rss0 / 1024,
                status_kb("VmHWM:") / 1024
            );
            tok
        }
    };

    // Each timing is the best of 3 runs (the machine is shared and noisy);
    // the first single-thread run is also shown, as it starts with a cold cache.
    let best = |f: &dyn Fn() -> usize| -> (f64, f64, usize) {
        let mut times = Vec::new();
        let mut n = 0;
        for _ in 0..3 {
            let t0 = Instant::now();
            n = f();
            times.push(t0.elapsed().as_secs_f64());
        }
        let first = times[0];
        (first, times.into_iter().fold(f64::MAX, f64::min), n)
    };
    let (first, dt, n) = best(&|| docs.iter().map(|d| tok.encode(d).unwrap().len()).sum());
    println!(
        "encode single-thread: {:.2} MB/s best of 3 (first run {:.2} MB/s); {n} ids, {:.3} bytes/id",
        mb / dt,
        mb / first,
        total as f64 / n as f64
    );
    for threads in [1usize, 2] {
        set_num_threads(threads).unwrap();
        let cpu0 = cpu_seconds();
        let t0 = Instant::now();
        let (_, dt, _) = best(&|| tok.encode_batch(&docs).unwrap().len());
        // CPU/wall shows whether the threads really ran in parallel (a busy
        // shared machine starves them; then the MB/s says little about scaling).
        let par = (cpu_seconds() - cpu0) / t0.elapsed().as_secs_f64();
        println!(
            "encode_batch {threads} thread(s): {:.2} MB/s best of 3 (CPU/wall {par:.2})",
            mb / dt
        );
    }
}
