"""PyTorch CPU reference for `deno task bench:infer`: the GPT of train_reference_torch.py (imported, not
copied) with a simple KV cache written here. Like our Engine, the prompt is prefilled once at batch 1 and
the cache is broadcast to B rows; each step samples (temperature 1, top-k 50) and decodes one token per row.
Usage: python3 infer_reference_torch.py DEPTH B PROMPT_LEN NEW_TOKENS VOCAB SEQ_LEN REPS THREADS.
Prints one JSON line with the best and median time to first token and decode seconds.
Needs `pip install torch` (the bench skips it with a note otherwise).
"""
import json
import sys
import time
from os.path import dirname

import torch
import torch.nn.functional as F

sys.path.insert(0, dirname(__file__))
from train_reference_torch import GPT, rms, rotary  # noqa: E402


class KVCache:
    """Per-layer K and V of shape (B, H, max_len, D), filled up to `pos`."""

    def __init__(self, n_layer, B, H, D, max_len):
        self.k = [torch.empty(B, H, max_len, D) for _ in range(n_layer)]
        self.v = [torch.empty(B, H, max_len, D) for _ in range(n_layer)]
        self.pos = 0

    def broadcast_from(self, one):
        for dst, src in zip(self.k + self.v, one.k + one.v):
            dst[:, :, : one.pos].copy_(src[:, :, : one.pos].expand(dst.size(0), -1, -1, -1))
        self.pos = one.pos


def block_step(blk, x, cos, sin, cache, layer):
    """One block over T new positions starting at cache.pos, attending to the cached ones."""
    B, T, C = x.shape
    h = rms(x)
    q = blk.c_q(h).view(B, T, blk.H, blk.D)
    k = blk.c_k(h).view(B, T, blk.H, blk.D)
    v = blk.c_v(h).view(B, T, blk.H, blk.D)
    q, k = rms(rotary(q, cos, sin)), rms(rotary(k, cos, sin))
    p0, p1 = cache.pos, cache.pos + T
    cache.k[layer][:, :, p0:p1] = k.transpose(1, 2)
    cache.v[layer][:, :, p0:p1] = v.transpose(1, 2)
    keys, vals = cache.k[layer][:, :, :p1], cache.v[layer][:, :, :p1]
    # prefill (p0 = 0) is causal over the prompt; a one-token decode sees every cached position
    y = F.scaled_dot_product_attention(q.transpose(1, 2), keys, vals, is_causal=(T > 1))
    x = x + blk.attn_proj(y.transpose(1, 2).reshape(B, T, C))
    return x + blk.mlp_proj(F.relu(blk.c_fc(rms(x))).square())


def step(model, idx, cache):
    """Logits of the last position of each row for tokens `idx` (B, T) appended to the cache."""
    T = idx.size(1)
    cos = model.cos[:, cache.pos: cache.pos + T]
    sin = model.sin[:, cache.pos: cache.pos + T]
    x = rms(model.wte(idx))
    for i, blk in enumerate(model.blocks):
        x = block_step(blk, x, cos, sin, cache, i)
    cache.pos += T
    logits = model.lm_head(rms(x[:, -1]))
    return 15 * torch.tanh(logits / 15)


def sample(logits, gen, top_k=50):
    vals, ids = torch.topk(logits, top_k, dim=-1)
    probs = F.softmax(vals, dim=-1)
    return ids.gather(-1, torch.multinomial(probs, 1, generator=gen))


def generate(model, prompt, B, new_tokens, gen):
    """Returns (seconds to the first sampled tokens, seconds of new_tokens decode + sample steps)."""
    blk = model.blocks[0]
    L, H, D = len(model.blocks), blk.H, blk.D
    t0 = time.perf_counter()
    one = KVCache(L, 1, H, D, prompt.size(1))
    logits = step(model, prompt, one)
    cache = KVCache(L, B, H, D, prompt.size(1) + new_tokens)
    cache.broadcast_from(one)
    tok = sample(logits.expand(B, -1), gen)
    ttft = time.perf_counter() - t0
    t1 = time.perf_counter()
    for _ in range(new_tokens):
        logits = step(model, tok, cache)
        tok = sample(logits, gen)
    return ttft, time.perf_counter() - t1


def main():
    depth, B, prompt_len, new_tokens, vocab, seq_len, reps, threads = (int(a) for a in sys.argv[1:9])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = GPT(depth, vocab, seq_len).eval()
    gen = torch.Generator().manual_seed(0)
    prompt = torch.randint(0, vocab, (1, prompt_len))
    ttfts, decodes = [], []
    with torch.inference_mode():
        for r in range(reps + 1):
            ttft, dec = generate(model, prompt, B, new_tokens, gen)
            if r > 0:  # the first run warms up allocators and caches
                ttfts.append(ttft)
                decodes.append(dec)
    ttfts.sort()
    decodes.sort()
    print(json.dumps({"torch": torch.__version__, "ttft_best": ttfts[0], "ttft_median": ttfts[len(ttfts) // 2],
                      "decode_best": decodes[0], "decode_median": decodes[len(decodes) // 2]}))


if __name__ == "__main__":
    main()
