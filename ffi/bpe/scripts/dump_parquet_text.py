#!/usr/bin/env python3
"""Dump the `text` column of pretraining parquet shards into one file, documents
separated by the ASCII record separator (0x1E). The compare script and the Rust
bench read that format. Needs pyarrow (verification only, not a runtime dep).

usage: dump_parquet_text.py OUT [--glob '../shared/data/pretrain/*.parquet']
                                [--max-bytes N] [--repeat K]
--repeat K writes the corpus K times (to reach ~100 MB for timing runs when
only a few MB of real text are available)."""
import argparse
import glob

import pyarrow.parquet as pq
import os

# the shared offline data sits beside the repository: <repo>/../shared/data
SHARED_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..", "shared", "data")

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--glob", default=os.path.join(SHARED_DATA, "pretrain", "*.parquet"))
ap.add_argument("--max-bytes", type=int, default=0, help="stop after about this many bytes (0 = all)")
ap.add_argument("--repeat", type=int, default=1)
args = ap.parse_args()

docs = []
size = 0
for path in sorted(glob.glob(args.glob)):
    for doc in pq.read_table(path, columns=["text"]).column("text").to_pylist():
        docs.append(doc)
        size += len(doc.encode())
        if args.max_bytes and size >= args.max_bytes:
            break
    if args.max_bytes and size >= args.max_bytes:
        break
with open(args.out, "w", encoding="utf-8", newline="") as f:
    for r in range(args.repeat):
        for i, doc in enumerate(docs):
            if r or i:
                f.write("\x1e")
            f.write(doc)
print(f"wrote {len(docs) * args.repeat} documents, {size * args.repeat / 1e6:.1f} MB to {args.out}")
