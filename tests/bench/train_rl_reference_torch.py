"""PyTorch CPU reference for the RL row of `deno task bench:train`: one chat_rl step of nanochat's loop on
the GPT of train_reference_torch.py with the KV-cache sampling of infer_reference_torch.py (both imported,
not copied). Per problem: the prompt is prefilled once and broadcast to B rows, SAMPLES/B sampling passes
of NEW_TOKENS tokens each (temperature 1, top-k 50), then per pass the per-token cross-entropy over the
sampled tokens times the row's advantage, divided by (valid tokens x passes x problems), backward; one
Muon + AdamW step at the end. Advantages alternate +-0.5 by row (a random model earns no reward, and the
work of a step does not depend on the values).
Usage: python3 train_rl_reference_torch.py DEPTH VOCAB SEQ_LEN PROMPT_LEN PROBLEMS SAMPLES B NEW_TOKENS
STEPS THREADS. Prints one JSON line (best and median step seconds, sequences and sampled tokens per step).
"""
import json
import sys
import time
from os.path import dirname

import torch

sys.path.insert(0, dirname(__file__))
from infer_reference_torch import KVCache, sample, step  # noqa: E402
from train_reference_torch import GPT, muon_adamw  # noqa: E402


def rollout(model, prompt, B, new_tokens, gen):
    """B sampled continuations of `prompt` (1, P): the rows' full sequences (B, P + new_tokens)."""
    blk = model.blocks[0]
    L, H, D = len(model.blocks), blk.H, blk.D
    one = KVCache(L, 1, H, D, prompt.size(1))
    logits = step(model, prompt, one)
    cache = KVCache(L, B, H, D, prompt.size(1) + new_tokens)
    cache.broadcast_from(one)
    toks = [sample(logits.expand(B, -1), gen)]
    for _ in range(new_tokens - 1):
        toks.append(sample(step(model, toks[-1], cache), gen))
    return torch.cat([prompt.expand(B, -1)] + toks, dim=1)


def rl_step(model, optimizer_step, prompts, samples, B, new_tokens, gen):
    passes = samples // B
    for prompt in prompts:
        model.eval()
        with torch.inference_mode():
            seqs = [rollout(model, prompt, B, new_tokens, gen) for _ in range(passes)]
        model.train()
        for ids in seqs:
            ids = ids.clone()
            inputs, targets = ids[:, :-1], ids[:, 1:].clone()
            targets[:, : prompt.size(1) - 1] = -1  # the prompt is not trained on
            adv = torch.tensor([0.5 if r % 2 == 0 else -0.5 for r in range(B)])
            ce = model(inputs, targets, reduction="none").view_as(inputs)
            valid = (targets >= 0).sum().clamp(min=1)
            loss = (ce * adv.unsqueeze(-1)).sum() / (valid * passes * len(prompts))
            loss.backward()
    optimizer_step()
    model.zero_grad(set_to_none=True)


def main():
    depth, vocab, seq_len, prompt_len, problems, samples, B, new_tokens, steps, threads = (
        int(a) for a in sys.argv[1:11])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = GPT(depth, vocab, seq_len)
    optimizer_step = muon_adamw(model)
    gen = torch.Generator().manual_seed(0)
    prompts = [torch.randint(0, vocab, (1, prompt_len)) for _ in range(problems)]
    times = []
    for s in range(steps + 1):
        t0 = time.perf_counter()
        rl_step(model, optimizer_step, prompts, samples, B, new_tokens, gen)
        if s > 0:  # the first step warms up allocators and caches
            times.append(time.perf_counter() - t0)
    times.sort()
    print(json.dumps({"torch": torch.__version__, "step_seconds_best": times[0],
                      "step_seconds_median": times[len(times) // 2], "sequences": problems * samples,
                      "sampled_tokens": problems * samples * new_tokens}))


if __name__ == "__main__":
    main()
