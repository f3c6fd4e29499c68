"""nanochat's own CORE evaluation (nanochat/core_eval.py, nanochat/gpt.py and its RustBPETokenizer class)
on OUR checkpoint and tokenizer, for `deno task bench:eval` (timing) and tests/bench/core_crosscheck.ts
(per-example agreement). Nothing of nanochat is copied: its files are taken at run time from the checkout or
bare git repo named by $NANOCHAT_REPO (commit $NANOCHAT_COMMIT, default c75fe54 = version A), extracted with
`git archive` into a temp dir. The tokenizer is tiktoken over our tokenizer.tiktoken ranks, wrapped in
nanochat's RustBPETokenizer (its training-only imports, `rustbpe` and HF `tokenizers`, are stubbed).
The model's max_seq_len is set to its context, so nanochat crops long prompts exactly as we do.

Usage: python3 core_reference_torch.py CONFIG.json, where CONFIG has checkpoint, meta, tokenizer_dir,
bundle, max_per_task, tasks (labels, or null for all), threads. Prints one JSON line:
{"torch": version, "threads": n, "tasks": [{"label", "examples", "seconds", "correct": "0110..."}]}
or {"skipped": "why"} when torch, tiktoken or the nanochat sources are unavailable.
"""
import base64
import json
import os
import random
import struct
import subprocess
import sys
import tarfile
import io
import tempfile
import time
import types


def skip(why):
    print(json.dumps({"skipped": why}))
    sys.exit(0)


def nanochat_sources():
    repo = os.environ.get("NANOCHAT_REPO")
    if not repo:
        skip("NANOCHAT_REPO is not set (a nanochat checkout or bare git repo)")
    commit = os.environ.get("NANOCHAT_COMMIT", "c75fe54")
    tmp = tempfile.mkdtemp(prefix="nanochat-src-")
    try:
        tar = subprocess.run(["git", "-C", repo, "archive", commit, "nanochat"], check=True, capture_output=True).stdout
    except (subprocess.CalledProcessError, FileNotFoundError) as e:
        skip(f"cannot read nanochat {commit} from {repo}: {e}")
    tarfile.open(fileobj=io.BytesIO(tar)).extractall(tmp)
    return tmp


def stub_training_imports():
    """nanochat/tokenizer.py imports HF tokenizers and rustbpe at module level; CORE uses neither."""
    sys.modules.setdefault("rustbpe", types.ModuleType("rustbpe"))
    if "tokenizers" not in sys.modules:
        tk = types.ModuleType("tokenizers")
        tk.Tokenizer = tk.Regex = object
        tk.pre_tokenizers = tk.decoders = types.ModuleType("x")
        models = types.ModuleType("tokenizers.models")
        models.BPE = object
        trainers = types.ModuleType("tokenizers.trainers")
        trainers.BpeTrainer = object
        sys.modules.update({"tokenizers": tk, "tokenizers.models": models, "tokenizers.trainers": trainers})


def read_safetensors(path, torch):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", f"{name}: only F32 checkpoints are supported"
        a, b = info["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[a:b]), dtype=torch.float32).reshape(info["shape"])
    return out


def main():
    cfg = json.load(open(sys.argv[1]))
    try:
        import torch
    except ImportError:
        skip("torch not importable (set BENCH_TORCH_PATH)")
    try:
        import tiktoken
    except ImportError:
        skip("tiktoken not importable (pip install --target DIR tiktoken; set BENCH_TIKTOKEN_PATH)")
    import yaml

    sys.path.insert(0, nanochat_sources())
    stub_training_imports()
    from nanochat.core_eval import evaluate_example
    from nanochat.gpt import GPT, GPTConfig
    from nanochat.tokenizer import RustBPETokenizer

    torch.set_num_threads(cfg["threads"])
    meta = json.load(open(cfg["meta"]))["config"]
    config = GPTConfig(sequence_len=meta["sequenceLen"], vocab_size=meta["vocabSize"], n_layer=meta["nLayer"],
                       n_head=meta["nHead"], n_kv_head=meta["nKvHead"], n_embd=meta["nEmbd"])
    model = GPT(config)
    model.load_state_dict(read_safetensors(cfg["checkpoint"], torch), strict=True)
    model.eval()
    model.max_seq_len = config.sequence_len  # crop as our evaluator does (nanochat's max_seq_len path)

    tdir = cfg["tokenizer_dir"]
    spec = json.load(open(os.path.join(tdir, "tokenizer.json")))
    ranks = {}
    for line in open(os.path.join(tdir, "tokenizer.tiktoken"), "rb"):
        tok, rank = line.split()
        ranks[base64.b64decode(tok)] = int(rank)
    enc = tiktoken.Encoding(name="ours", pat_str=spec["pattern"], mergeable_ranks=ranks,
                            special_tokens=spec["special_tokens"])
    tokenizer = RustBPETokenizer(enc, "<|bos|>")

    bundle = cfg["bundle"]
    tasks = yaml.safe_load(open(os.path.join(bundle, "core.yaml")))["icl_tasks"]
    out = []
    for task in tasks:
        if cfg.get("tasks") and task["label"] not in cfg["tasks"]:
            continue
        meta_task = {"task_type": task["icl_task_type"], "num_fewshot": task["num_fewshot"][0],
                     "continuation_delimiter": task.get("continuation_delimiter", " ")}
        with open(os.path.join(bundle, "eval_data", task["dataset_uri"])) as f:
            data = [json.loads(line.strip()) for line in f]
        random.Random(1337).shuffle(data)  # as base_eval.evaluate_model
        if cfg["max_per_task"] > 0:
            data = data[: cfg["max_per_task"]]
        t0 = time.perf_counter()
        correct = [int(bool(evaluate_example(i, model, tokenizer, data, "cpu", meta_task))) for i in range(len(data))]
        out.append({"label": task["label"], "examples": len(data), "seconds": time.perf_counter() - t0,
                    "correct": "".join(map(str, correct))})
    print(json.dumps({"torch": torch.__version__, "threads": cfg["threads"], "tasks": out}))


if __name__ == "__main__":
    main()
