#!/usr/bin/env python3
"""Reference timings on the same text as examples/bench.rs: PyPI rustbpe
training (time, peak RSS of this process) and Python tiktoken encode MB/s
(single thread and encode_ordinary_batch at 1 and 2 threads) with the ranks
rustbpe learned. Comparison only; needs `pip install rustbpe tiktoken`.

usage: bench_reference.py TEXT_FILE [VOCAB_SIZE=65536] [--no-train-ranks-from DIR]"""
import os
import resource
import sys
import time

import rustbpe
import tiktoken

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_rustbpe import PATTERN, read_docs  # noqa: E402


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    path = sys.argv[1]
    vocab = int(sys.argv[2]) if len(sys.argv) > 2 else 65536
    docs = read_docs(path)
    nbytes = sum(len(d.encode()) for d in docs)
    print(f"file {path}: {len(docs)} documents, {nbytes / 1e6:.1f} MB; peak RSS after loading {peak_mb():.0f} MB")
    t0 = time.perf_counter()
    tok = rustbpe.Tokenizer()
    tok.train_from_iterator(iter(docs), vocab, pattern=PATTERN)
    dt = time.perf_counter() - t0
    print(f"rustbpe train vocab {vocab}: {dt:.2f} s; peak RSS {peak_mb():.0f} MB (includes the Python text)")
    ranks = {bytes(b): r for b, r in tok.get_mergeable_ranks()}
    enc = tiktoken.Encoding(name="bench", pat_str=PATTERN, mergeable_ranks=ranks, special_tokens={})
    for rnd in ("first", "second"):
        t0 = time.perf_counter()
        for d in docs:
            enc.encode_ordinary(d)
        dt = time.perf_counter() - t0
        print(f"tiktoken encode_ordinary single-thread ({rnd} pass): {nbytes / dt / 1e6:.2f} MB/s")
    for threads in (1, 2):
        t0 = time.perf_counter()
        enc.encode_ordinary_batch(docs, num_threads=threads)
        dt = time.perf_counter() - t0
        print(f"tiktoken encode_ordinary_batch {threads} thread(s): {nbytes / dt / 1e6:.2f} MB/s")


if __name__ == "__main__":
    main()
