"""Reference numbers for `deno task bench:tokenizer`: PyPI rustbpe training and Python tiktoken encoding.

Usage: python3 tokenizer_reference.py train CORPUS.jsonl VOCAB_SIZE
       python3 tokenizer_reference.py encode TOKENIZER_DIR TEXTS.jsonl THREADS
Prints one JSON line. Needs `pip install rustbpe tiktoken` (the bench says so when they are missing).
"""
import base64
import json
import resource
import sys
import time


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def train(corpus_path, vocab_size):
    import rustbpe

    texts = read_jsonl(corpus_path)
    t0 = time.perf_counter()
    tok = rustbpe.Tokenizer()
    pattern = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,2}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"""
    tok.train_from_iterator(iter(texts), vocab_size - 9, pattern=pattern)
    seconds = time.perf_counter() - t0
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "peak_rss_bytes": rss_kb * 1024}))


def encode(tokenizer_dir, texts_path, threads):
    import tiktoken

    ranks = {}
    with open(f"{tokenizer_dir}/tokenizer.tiktoken", "rb") as f:
        for line in f:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    meta = json.load(open(f"{tokenizer_dir}/tokenizer.json"))
    enc = tiktoken.Encoding("ours", pat_str=meta["pattern"], mergeable_ranks=ranks,
                            special_tokens=meta["special_tokens"])
    texts = read_jsonl(texts_path)
    nbytes = sum(len(t.encode("utf-8")) for t in texts)
    enc.encode_ordinary(texts[0])  # warm up
    t0 = time.perf_counter()
    single = [enc.encode_ordinary(t) for t in texts]
    t_single = time.perf_counter() - t0
    t0 = time.perf_counter()
    enc.encode_ordinary_batch(texts, num_threads=int(threads))
    t_batch = time.perf_counter() - t0
    tokens = sum(len(x) for x in single)
    print(json.dumps({"bytes": nbytes, "tokens": tokens, "single_seconds": t_single, "batch_seconds": t_batch}))


if __name__ == "__main__":
    if sys.argv[1] == "train":
        train(sys.argv[2], int(sys.argv[3]))
    else:
        encode(sys.argv[2], sys.argv[3], sys.argv[4])
