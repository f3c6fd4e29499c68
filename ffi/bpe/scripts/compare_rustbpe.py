#!/usr/bin/env python3
"""Parity check of nanochat_bpe against PyPI rustbpe (training) and tiktoken
(encoding), plus timings of all three on the same text.

usage: compare_rustbpe.py TEXT_FILE VOCAB_SIZE [--no-encode] [--threads N] [--lib PATH] [--pattern P]

TEXT_FILE: UTF-8 text; documents separated by 0x1E (see dump_parquet_text.py),
otherwise the whole file is cut at line ends into ~64 KB documents.
Both trainers get the same documents and split pattern (nanochat's unless
--pattern is given; a non-default pattern exercises the fancy-regex path). Exit
status 1 on any difference. Needs `pip install rustbpe tiktoken` (comparison
only; neither is a runtime dependency of the library).
"""
import argparse
import base64
import os
import sys
import tempfile
import time

import rustbpe
import tiktoken

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe_ctypes  # noqa: E402

PATTERN = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,2}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"""


def read_docs(path):
    text = open(path, encoding="utf-8", newline="").read()
    if "\x1e" in text:
        return text.split("\x1e")
    docs, start = [], 0
    while start < len(text):
        end = text.find("\n", start + 65536)
        end = len(text) if end < 0 else end + 1
        docs.append(text[start:end])
        start = end
    return docs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("text_file")
    ap.add_argument("vocab_size", type=int)
    ap.add_argument("--no-encode", action="store_true", help="skip the tiktoken encode comparison")
    ap.add_argument("--threads", type=int, default=0, help="threads for nanochat_bpe (0 = all cores)")
    ap.add_argument("--lib", default=None)
    ap.add_argument("--pattern", default=PATTERN, help="split pattern for both (default: nanochat's)")
    args = ap.parse_args()

    docs = read_docs(args.text_file)
    nbytes = sum(len(d.encode()) for d in docs)
    print(f"corpus: {len(docs)} documents, {nbytes / 1e6:.2f} MB; vocab_size {args.vocab_size}")

    t0 = time.perf_counter()
    ref = rustbpe.Tokenizer()
    ref.train_from_iterator(iter(docs), args.vocab_size, pattern=args.pattern)
    t_ref = time.perf_counter() - t0
    ref_ranks = sorted(ref.get_mergeable_ranks(), key=lambda x: x[1])
    print(f"rustbpe train: {t_ref:.2f} s, {len(ref_ranks)} ranks")

    L = bpe_ctypes.Lib(args.lib)
    L.set_num_threads(args.threads)
    t0 = time.perf_counter()
    tr = bpe_ctypes.Trainer(L, "" if args.pattern == PATTERN else args.pattern)
    for i in range(0, len(docs), 8192):
        tr.feed(docs[i : i + 8192])
    tok = tr.train(args.vocab_size)
    t_ours = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as d:
        tok.save(d)
        lines = open(os.path.join(d, "tokenizer.tiktoken"), "rb").read().splitlines()
    ours = []
    for line in lines:
        b64, rank = line.split()
        ours.append((base64.b64decode(b64), int(rank)))
    print(f"nanochat_bpe train: {t_ours:.2f} s, {len(ours)} ranks")

    ok = True
    if len(ours) != len(ref_ranks):
        print(f"MISMATCH: rank counts differ: ours {len(ours)} vs rustbpe {len(ref_ranks)}")
        ok = False
    for (ob, orank), (rb, rrank) in zip(ours, ref_ranks):
        if ob != bytes(rb) or orank != rrank:
            print(f"MISMATCH at rank {rrank}: ours {ob!r} (rank {orank}) vs rustbpe {bytes(rb)!r}")
            ok = False
            break
    if ok:
        print(f"MERGES IDENTICAL: all {len(ours)} ranks match rustbpe")

    if not args.no_encode:
        enc = tiktoken.Encoding(name="cmp", pat_str=args.pattern, mergeable_ranks={b: r for b, r in ours}, special_tokens={})
        t0 = time.perf_counter()
        ref_ids = [enc.encode_ordinary(d) for d in docs]
        t_tk = time.perf_counter() - t0
        t0 = time.perf_counter()
        our_ids = [tok.encode(d) for d in docs]
        t_us = time.perf_counter() - t0
        bad = [i for i in range(len(docs)) if ref_ids[i] != our_ids[i]]
        if bad:
            print(f"ENCODE MISMATCH in {len(bad)} documents, first doc {bad[0]}")
            ok = False
        else:
            print(f"ENCODE IDENTICAL to tiktoken on all {len(docs)} documents ({sum(map(len, ref_ids))} ids)")
        print(f"single-thread encode: tiktoken {nbytes / t_tk / 1e6:.2f} MB/s, nanochat_bpe (via ctypes) {nbytes / t_us / 1e6:.2f} MB/s")
        for threads in (1, 2):
            t0 = time.perf_counter()
            enc.encode_ordinary_batch(docs, num_threads=threads)
            t = time.perf_counter() - t0
            print(f"tiktoken encode_ordinary_batch, {threads} threads: {nbytes / t / 1e6:.2f} MB/s")
        dec_bad = sum(1 for d, ids in zip(docs[:200], our_ids[:200]) if tok.decode(ids) != d.encode())
        if dec_bad:
            print(f"DECODE MISMATCH in {dec_bad} of the first 200 documents")
            ok = False
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
