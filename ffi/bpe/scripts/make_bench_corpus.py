#!/usr/bin/env python3
"""Build a ~100 MB timing corpus when only a few MB of pretraining text exist:
the parquet documents, then whole UTF-8 text files from --extra globs (e.g.
.jsonl data, Python's standard library sources) until --target-mb is reached.
Documents are separated by 0x1E. Timing input only, never training data.

usage: make_bench_corpus.py OUT [--target-mb 100] [--extra GLOB ...]"""
import argparse
import glob

import pyarrow.parquet as pq
import os
import sysconfig

# the shared offline data sits beside the repository: <repo>/../shared/data
SHARED_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..", "shared", "data")

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--target-mb", type=float, default=100)
ap.add_argument("--parquet", default=os.path.join(SHARED_DATA, "pretrain", "*.parquet"))
ap.add_argument("--extra", nargs="*", default=[
    os.path.join(SHARED_DATA, "**", "*.jsonl"),
    # the running Python's standard library: plenty of real source text on any machine
    os.path.join(sysconfig.get_paths()["stdlib"], "**", "*.py"),
    "/usr/share/doc/**/*.txt",
])
args = ap.parse_args()
target = int(args.target_mb * 1e6)

docs, size = [], 0
for path in sorted(glob.glob(args.parquet)):
    for d in pq.read_table(path, columns=["text"]).column("text").to_pylist():
        docs.append(d)
        size += len(d.encode())
for pattern in args.extra:
    for path in sorted(glob.glob(pattern, recursive=True)):
        if size >= target:
            break
        try:
            d = open(path, encoding="utf-8").read().replace("\x1e", " ")
        except (UnicodeDecodeError, OSError):
            continue
        docs.append(d)
        size += len(d.encode())
with open(args.out, "w", encoding="utf-8", newline="") as f:
    f.write("\x1e".join(docs))
print(f"wrote {len(docs)} documents, {size / 1e6:.1f} MB to {args.out}")
