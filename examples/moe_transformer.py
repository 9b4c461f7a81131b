#!/usr/bin/python3
"""A small decoder-only MoE transformer in plain PyTorch, then the same model
with its MoE blocks run by moec.

    PYTHONPATH=build/python /usr/bin/python3 examples/moe_transformer.py --bin build/bin

1. Builds the model (token embedding, RMSNorm, causal self-attention with
   rotary positions and a KV cache, and an MoE feed-forward block with
   Mixtral's semantics: softmax router, top-k, renormalized weights, SwiGLU
   experts), with seeded random weights.
2. Saves it as a Hugging Face checkpoint (config.json with model_type
   "mixtral" and model.safetensors, Mixtral's tensor names).
3. Compiles the checkpoint's MoE blocks with moe-import and moe-compile.
4. Replaces the model's MoE blocks by moec.torch.MoeBlock
   (moec.torch.replace_moe_blocks) and compares the next-token logits of both
   models on a prompt, then decodes greedily with each and prints the time
   per token.

Exits with status 1 when the logits differ by more than --tol (1e-5) or the
decoded tokens differ.
"""

import argparse
import copy
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn.functional as F
from torch import nn


# ---------------------------------------------------------------------------
# the model, in plain PyTorch (Hugging Face's Mixtral layout and names)

class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate(x, positions, theta):
    """Rotary position embedding (the half-split form of Llama/Mixtral) of
    x [B, S, heads, d] at positions [S]."""
    d = x.shape[-1]
    inv = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
    angles = positions[:, None].float() * inv[None, :]
    cos = torch.cat([angles.cos(), angles.cos()], -1)[:, None, :]  # [S, 1, d]: every head
    sin = torch.cat([angles.sin(), angles.sin()], -1)[:, None, :]
    x1, x2 = x[..., : d // 2], x[..., d // 2:]
    return x * cos + torch.cat([-x2, x1], -1) * sin


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        H, self.heads = cfg["hidden_size"], cfg["num_attention_heads"]
        self.head_dim, self.theta = H // self.heads, cfg["rope_theta"]
        self.q_proj = nn.Linear(H, H, bias=False)
        self.k_proj = nn.Linear(H, H, bias=False)
        self.v_proj = nn.Linear(H, H, bias=False)
        self.o_proj = nn.Linear(H, H, bias=False)

    def forward(self, x, start, cache):
        B, S, H = x.shape
        shape = (B, S, self.heads, self.head_dim)
        pos = torch.arange(start, start + S)
        q = rotate(self.q_proj(x).view(shape), pos, self.theta).transpose(1, 2)
        k = rotate(self.k_proj(x).view(shape), pos, self.theta).transpose(1, 2)
        v = self.v_proj(x).view(shape).transpose(1, 2)
        if cache is not None:
            if "k" in cache:
                k = torch.cat([cache["k"], k], 2)
                v = torch.cat([cache["v"], v], 2)
            cache["k"], cache["v"] = k, v
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim)
        L = k.shape[2]
        mask = torch.ones(S, L, dtype=torch.bool).tril(L - S)
        scores = scores.masked_fill(~mask, float("-inf"))
        out = (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, S, H)
        return self.o_proj(out)


class Expert(nn.Module):
    def __init__(self, H, F_):
        super().__init__()
        self.w1 = nn.Linear(H, F_, bias=False)  # gate
        self.w2 = nn.Linear(F_, H, bias=False)  # down
        self.w3 = nn.Linear(H, F_, bias=False)  # up

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class SparseMoeBlock(nn.Module):
    """Mixtral's sparse MoE block (as in Hugging Face transformers'
    MixtralSparseMoeBlock): returns (hidden states, router logits)."""

    def __init__(self, cfg):
        super().__init__()
        H, F_ = cfg["hidden_size"], cfg["intermediate_size"]
        self.top_k = cfg["num_experts_per_tok"]
        self.gate = nn.Linear(H, cfg["num_local_experts"], bias=False)
        self.experts = nn.ModuleList(Expert(H, F_) for _ in range(cfg["num_local_experts"]))

    def forward(self, hidden_states):
        B, S, H = hidden_states.shape
        x = hidden_states.view(-1, H)
        router_logits = self.gate(x)
        w = F.softmax(router_logits, dim=1, dtype=torch.float)
        w, chosen = torch.topk(w, self.top_k, dim=-1)
        w = (w / w.sum(dim=-1, keepdim=True)).to(x.dtype)
        out = torch.zeros_like(x)
        for e, expert in enumerate(self.experts):
            rows, slot = torch.where(chosen == e)
            if rows.numel():
                out.index_add_(0, rows, expert(x[rows]) * w[rows, slot, None])
        return out.view(B, S, H), router_logits


class DecoderLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        eps = cfg["rms_norm_eps"]
        self.input_layernorm = RMSNorm(cfg["hidden_size"], eps)
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg["hidden_size"], eps)
        self.block_sparse_moe = SparseMoeBlock(cfg)

    def forward(self, h, start, cache):
        h = h + self.self_attn(self.input_layernorm(h), start, cache)
        moe, _ = self.block_sparse_moe(self.post_attention_layernorm(h))
        return h + moe


class Decoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg["vocab_size"], cfg["hidden_size"])
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg["num_hidden_layers"]))
        self.norm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])


class MoeForCausalLM(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.model = Decoder(cfg)
        self.lm_head = nn.Linear(cfg["hidden_size"], cfg["vocab_size"], bias=False)

    def forward(self, tokens, start=0, caches=None):
        h = self.model.embed_tokens(tokens)
        for i, layer in enumerate(self.model.layers):
            h = layer(h, start, None if caches is None else caches[i])
        return self.lm_head(self.model.norm(h))


# ---------------------------------------------------------------------------
# the Hugging Face checkpoint

def save_safetensors(tensors, path):
    """safetensors: an 8-byte header length, a JSON header, then the data."""
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        data = tensors[name].detach().contiguous().to(torch.float32).numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def save_checkpoint(model, cfg, directory):
    os.makedirs(directory, exist_ok=True)
    config = dict(cfg, model_type="mixtral", architectures=["MixtralForCausalLM"],
                  hidden_act="silu", torch_dtype="float32")
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    save_safetensors(model.state_dict(), os.path.join(directory, "model.safetensors"))


# ---------------------------------------------------------------------------

def decode(model, prompt, steps):
    """Greedy decoding with a KV cache: the prompt at once, then one token
    per step. Returns the tokens and the seconds per decoded token."""
    caches = [dict() for _ in model.model.layers]
    logits = model(prompt, 0, caches)
    tokens, pos = [], prompt.shape[1]
    start = time.perf_counter()
    for _ in range(steps):
        nxt = logits[:, -1].argmax(-1, keepdim=True)
        tokens.append(int(nxt))
        logits = model(nxt, pos, caches)
        pos += 1
    return tokens, (time.perf_counter() - start) / steps


def block_time(block, x, runs=200):
    """Seconds per call of block(x), the best of three passes of `runs`."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(runs):
            block(x)
        best = min(best, (time.perf_counter() - start) / runs)
    return best


def tool(bin_dir, name):
    path = os.path.join(bin_dir, name) if bin_dir else shutil.which(name)
    if not path or not os.path.exists(path):
        sys.exit("error: %s not found (pass --bin, the folder of moec's tools)" % name)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", help="the folder of moe-import and moe-compile (default: PATH)")
    ap.add_argument("--out", help="keep the checkpoint and artifact here (default: a temporary folder)")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--intermediate", type=int, default=512)
    ap.add_argument("--experts", type=int, default=8)
    ap.add_argument("--top-k", type=int, default=2)
    ap.add_argument("--vocab", type=int, default=1024)
    ap.add_argument("--prompt", type=int, default=24, help="prompt length in tokens")
    ap.add_argument("--steps", type=int, default=32, help="tokens decoded for the timing")
    ap.add_argument("--threads", type=int, default=1,
                    help="threads of torch and of moec's session (default 1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tol", type=float, default=1e-5)
    args = ap.parse_args()

    import moec
    import moec.torch

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    cfg = dict(vocab_size=args.vocab, hidden_size=args.hidden, intermediate_size=args.intermediate,
               num_hidden_layers=args.layers, num_attention_heads=4,
               num_local_experts=args.experts, num_experts_per_tok=args.top_k,
               rms_norm_eps=1e-5, rope_theta=10000.0, max_position_embeddings=4096)
    model = MoeForCausalLM(cfg).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" not in name:
                p.normal_(0.0, 1.0 / math.sqrt(p.shape[-1]))

    work = args.out or tempfile.mkdtemp(prefix="moe_transformer.")
    ckpt = os.path.join(work, "checkpoint")
    save_checkpoint(model, cfg, ckpt)
    mlir, artifact = os.path.join(work, "model.mlir"), os.path.join(work, "model.moeb")
    subprocess.run([tool(args.bin, "moe-import"), ckpt, "-o", mlir], check=True)
    subprocess.run([tool(args.bin, "moe-compile"), mlir, "-o", artifact, "--max-tokens", "512"],
                   check=True)

    fast = copy.deepcopy(model)
    replaced = moec.torch.replace_moe_blocks(fast, moec.load(artifact), threads=args.threads)
    print("checkpoint: %s (%d layers, H %d, F %d, %d experts, top-%d)" % (
        ckpt, args.layers, args.hidden, args.intermediate, args.experts, args.top_k))
    print("moec blocks: %s" % ", ".join(replaced))

    prompt = torch.randint(0, args.vocab, (1, args.prompt), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = model(prompt)[:, -1]
        got = fast(prompt)[:, -1]
        diff = (ref - got).abs().max().item()
        print("next-token logits: max |torch - moec| = %.3g (largest |logit| %.3g, tolerance %g)" % (
            diff, ref.abs().max().item(), args.tol))
        decode(model, prompt, 2)  # warm-up
        decode(fast, prompt, 2)
        tok_ref, t_ref = decode(model, prompt, args.steps)
        tok_fast, t_fast = decode(fast, prompt, args.steps)
        # the MoE block alone, one token (a decode step's block)
        x = torch.randn(1, 1, args.hidden, generator=torch.Generator().manual_seed(2))
        t_blocks = [block_time(m.model.layers[0].block_sparse_moe, x) for m in (model, fast)]
    print("time per token (%d decoded, %d thread%s): torch %.3f ms, with moec blocks %.3f ms "
          "(%.2fx)" % (args.steps, args.threads, "" if args.threads == 1 else "s",
                       t_ref * 1e3, t_fast * 1e3, t_ref / t_fast))
    print("one MoE block at T = 1: torch %.3f ms, moec %.3f ms (%.2fx)" % (
        t_blocks[0] * 1e3, t_blocks[1] * 1e3, t_blocks[0] / t_blocks[1]))
    same = tok_ref == tok_fast
    print("decoded tokens: %s" % ("identical" if same else "DIFFERENT"))
    if not args.out:
        shutil.rmtree(work)
    if diff > args.tol or not same:
        print("FAIL")
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
