"""PyTorch CPU reference for `deno task bench:train`: nanochat's first-release GPT (written for this
project from the architecture description in reference/nanochat.md) trained with Muon + AdamW, timed per
step. Usage: python3 train_reference_torch.py DEPTH B T VOCAB STEPS THREADS [sft ACCUM]. Prints one JSON line.
With "sft ACCUM": nanochat's SFT step instead: ACCUM padded micro-batches of B rows of the bench's synthetic
lengths (sft_rows below, the same rule as tests/bench/train.ts), targets -1 on the masked prefix and padding.
Needs `pip install torch` (the bench skips it with a note otherwise).
"""
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def rms(x):
    return F.rms_norm(x, (x.size(-1),))


def rotary(x, cos, sin):
    d = x.shape[-1] // 2
    x1, x2 = x[..., :d], x[..., d:]
    return torch.cat([x1 * cos + x2 * sin, -x1 * sin + x2 * cos], dim=-1)


class Block(nn.Module):
    def __init__(self, C, H):
        super().__init__()
        self.H, self.D = H, C // H
        self.c_q = nn.Linear(C, C, bias=False)
        self.c_k = nn.Linear(C, C, bias=False)
        self.c_v = nn.Linear(C, C, bias=False)
        self.attn_proj = nn.Linear(C, C, bias=False)
        self.c_fc = nn.Linear(C, 4 * C, bias=False)
        self.mlp_proj = nn.Linear(4 * C, C, bias=False)

    def forward(self, x, cos, sin):
        B, T, C = x.shape
        h = rms(x)
        q = self.c_q(h).view(B, T, self.H, self.D)
        k = self.c_k(h).view(B, T, self.H, self.D)
        v = self.c_v(h).view(B, T, self.H, self.D)
        q, k = rms(rotary(q, cos, sin)), rms(rotary(k, cos, sin))
        y = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True)
        x = x + self.attn_proj(y.transpose(1, 2).reshape(B, T, C))
        return x + self.mlp_proj(F.relu(self.c_fc(rms(x))).square())


class GPT(nn.Module):
    def __init__(self, depth, vocab, T):
        super().__init__()
        C = depth * 64
        H = max(1, math.ceil(C / 128))
        self.wte = nn.Embedding(vocab, C)
        self.blocks = nn.ModuleList([Block(C, H) for _ in range(depth)])
        self.lm_head = nn.Linear(C, vocab, bias=False)
        D = C // H
        inv = 1.0 / (10000 ** (torch.arange(0, D, 2).float() / D))
        f = torch.outer(torch.arange(T).float(), inv)
        self.register_buffer("cos", f.cos()[None, :, None, :])
        self.register_buffer("sin", f.sin()[None, :, None, :])

    def forward(self, idx, targets, reduction="mean"):
        """Cross-entropy over targets != -1: the mean, or per token (reduction="none", 0 where -1)."""
        T = idx.size(1)
        cos, sin = self.cos[:, :T], self.sin[:, :T]
        x = rms(self.wte(idx))
        for b in self.blocks:
            x = b(x, cos, sin)
        logits = self.lm_head(rms(x))
        logits = 15 * torch.tanh(logits / 15)
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1,
                               reduction=reduction)


def newton_schulz(G):
    a, b, c = 3.4445, -4.7750, 2.0315
    X = G / (G.norm() + 1e-7)
    tall = X.size(0) > X.size(1)
    if tall:
        X = X.T
    for _ in range(5):
        A = X @ X.T
        X = a * X + (b * A + c * A @ A) @ X
    return X.T if tall else X


def muon_adamw(model):
    """nanochat's optimizers: AdamW for the embedding and lm_head, Muon for the block matrices; returns step()."""
    matrices = [p for b in model.blocks for p in b.parameters()]
    adam = torch.optim.AdamW([model.wte.weight, model.lm_head.weight], lr=1e-3, betas=(0.8, 0.95), eps=1e-10,
                             weight_decay=0.0)
    bufs = [torch.zeros_like(p) for p in matrices]

    def step():
        adam.step()
        with torch.no_grad():
            for p, buf in zip(matrices, bufs):
                buf.lerp_(p.grad, 0.05)
                g = p.grad.lerp(buf, 0.95)
                p.add_(newton_schulz(g), alpha=-0.02 * max(1, p.size(0) / p.size(1)) ** 0.5)
    return step


def sft_rows(micro, B, T, vocab):
    """Micro-batch `micro` of the SFT bench: row r is 64 + ((micro*B + r)*97 mod (T-63)) tokens long, its first
    third masked; padded to the longest row. Token ids are a fixed formula."""
    lens = [64 + ((micro * B + r) * 97) % (T - 63) for r in range(B)]
    W = max(lens) - 1
    idx = torch.full((B, W), 1, dtype=torch.long)
    tgt = torch.full((B, W), -1, dtype=torch.long)
    for r, n in enumerate(lens):
        ids = [((micro * B + r) * 7919 + t * 104729) % vocab for t in range(n)]
        idx[r, :n - 1] = torch.tensor(ids[:-1])
        row = torch.tensor(ids[1:])
        row[: n // 3] = -1
        tgt[r, :n - 1] = row
    return idx, tgt


def main():
    depth, B, T, vocab, steps, threads = (int(a) for a in sys.argv[1:7])
    sft = len(sys.argv) > 7 and sys.argv[7] == "sft"
    accum = int(sys.argv[8]) if sft else 1
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = GPT(depth, vocab, T)
    optimizer_step = muon_adamw(model)
    batches = [sft_rows(m, B, T, vocab) for m in range(accum)] if sft else \
        [(torch.randint(0, vocab, (B, T)), torch.randint(0, vocab, (B, T)))]
    times = []
    for s in range(steps + 1):
        t0 = time.perf_counter()
        for idx, tgt in batches:
            loss = model(idx, tgt) / len(batches)
            loss.backward()
        optimizer_step()
        model.zero_grad(set_to_none=True)
        if s > 0:  # the first step warms up allocators and caches
            times.append(time.perf_counter() - t0)
    times.sort()
    print(json.dumps({"torch": torch.__version__, "step_seconds_best": times[0],
                      "step_seconds_median": times[len(times) // 2]}))


if __name__ == "__main__":
    main()
