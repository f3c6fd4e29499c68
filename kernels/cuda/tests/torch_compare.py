"""torch_compare.py — the cuda backend against PyTorch on the same weights (device_check.sh).

nanochat_cuda_selftest --dump DIR writes the check model's weights, a batch, and the cuda backend's
logits, loss and gradients (.npy). This script rebuilds nanochat A's GPT in PyTorch (written from the
architecture: rmsnorm'd embedding, blocks of rotary + QK-norm causal GQA attention and a relu^2 MLP,
final norm, untied lm_head, logit softcap 15), runs it in fp32 and under bf16 autocast (nanochat's
training precision), and reports the error of the library and of PyTorch bf16 against PyTorch fp32.
The library passes when its error is within 3x PyTorch bf16's own (or under 1e-2) for the logits,
the loss and every gradient. Exit 0 pass, 1 fail. Needs only torch (the .npy files are read here).

    python3 torch_compare.py DIR
"""
import ast
import json
import struct
import sys

import torch
import torch.nn.functional as F


def load_npy(path):
    with open(path, "rb") as f:
        raw = f.read()
    assert raw[:6] == b"\x93NUMPY", path
    hlen = struct.unpack("<H", raw[8:10])[0]
    header = ast.literal_eval(raw[10 : 10 + hlen].decode())
    dtype = {"<f4": torch.float32, "<i4": torch.int32}[header["descr"]]
    data = torch.frombuffer(bytearray(raw[10 + hlen :]), dtype=dtype)
    return data.reshape(header["shape"])


def rotary(x, cos, sin):
    d = x.shape[-1] // 2
    x1, x2 = x[..., :d], x[..., d:]
    return torch.cat([x1 * cos + x2 * sin, x1 * (-sin) + x2 * cos], dim=-1)


def norm(x):
    return F.rms_norm(x, (x.size(-1),), eps=torch.finfo(torch.float32).eps)


def forward(cfg, params, idx, targets):
    B, T = idx.shape
    C, H, Hkv, L = cfg["n_embd"], cfg["n_head"], cfg["n_kv_head"], cfg["n_layer"]
    D = C // H
    inv_freq = 1.0 / (cfg["rotary_base"] ** (torch.arange(0, D, 2, dtype=torch.float64) / D))
    freqs = torch.outer(torch.arange(T, dtype=torch.float64), inv_freq)
    cos = freqs.cos().float().to(idx.device)[None, :, None, :]
    sin = freqs.sin().float().to(idx.device)[None, :, None, :]
    x = norm(F.embedding(idx.long(), params[0]))
    for l in range(L):
        wq, wk, wv, wp, wfc, wmp = params[1 + 6 * l : 7 + 6 * l]
        h = norm(x)
        q = F.linear(h, wq).view(B, T, H, D)
        k = F.linear(h, wk).view(B, T, Hkv, D)
        v = F.linear(h, wv).view(B, T, Hkv, D)
        q, k = norm(rotary(q, cos, sin)), norm(rotary(k, cos, sin))
        y = F.scaled_dot_product_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True, enable_gqa=True
        )
        x = x + F.linear(y.transpose(1, 2).reshape(B, T, C), wp)
        x = x + F.linear(F.relu(F.linear(norm(x), wfc)).square(), wmp)
    logits = F.linear(norm(x), params[-1]).float()
    cap = cfg["softcap"]
    if cap > 0:
        logits = cap * torch.tanh(logits / cap)
    loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.long().view(-1), ignore_index=-1)
    return logits, loss


def run(cfg, weights, idx, targets, device, bf16):
    params = [w.clone().to(device).requires_grad_(True) for w in weights]
    with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=bf16):
        logits, loss = forward(cfg, params, idx.to(device), targets.to(device))
    loss.backward()
    return logits.detach().float().cpu(), loss.detach().float().cpu(), [p.grad.float().cpu() for p in params]


def rel(a, b):
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()


def main():
    d = sys.argv[1]
    cfg = json.load(open(f"{d}/config.json"))
    n = 2 + 6 * cfg["n_layer"]
    weights = [load_npy(f"{d}/param_{i}.npy") for i in range(n)]
    weights[0] = weights[0].reshape(cfg["vocab_size"], cfg["n_embd"])
    idx, targets = load_npy(f"{d}/inputs.npy"), load_npy(f"{d}/targets.npy")
    lib_logits, lib_loss = load_npy(f"{d}/logits.npy"), load_npy(f"{d}/loss.npy")
    lib_grads = [load_npy(f"{d}/grad_{i}.npy").reshape(weights[i].shape) for i in range(n)]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    ref_logits, ref_loss, ref_grads = run(cfg, weights, idx, targets, device, bf16=False)
    bf_logits, bf_loss, bf_grads = run(cfg, weights, idx, targets, device, bf16=True)
    rows = [("logits", rel(lib_logits, ref_logits), rel(bf_logits, ref_logits)),
            ("loss", rel(lib_loss, ref_loss.reshape(1)), rel(bf_loss.reshape(1), ref_loss.reshape(1)))]
    names = ["wte"] + [f"h{l}.{k}" for l in range(cfg["n_layer"]) for k in ("c_q", "c_k", "c_v", "attn.c_proj", "c_fc", "mlp.c_proj")] + ["lm_head"]
    for i in range(n):
        rows.append((f"grad {names[i]}", rel(lib_grads[i], ref_grads[i]), rel(bf_grads[i], ref_grads[i])))
    print(f"torch {torch.__version__} on {device}: error vs PyTorch fp32 (max |diff| / max |ref|)")
    print(f"  {'':24} {'library':>10} {'torch bf16':>11}")
    failed = 0
    for name, lib, bf in rows:
        ok = lib <= max(3 * bf, 1e-2)
        failed += not ok
        print(f"  {'ok  ' if ok else 'FAIL'} {name:20} {lib:10.3e} {bf:11.3e}")
    print("torch comparison passed" if failed == 0 else f"torch comparison: {failed} FAILED")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
