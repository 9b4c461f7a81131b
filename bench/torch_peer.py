#!/usr/bin/python3
"""The peer column of `make bench`: the same MoE blocks as moe-bench's named
shapes, run by eager PyTorch the way Hugging Face's modeling code does (a
router Linear, softmax/sigmoid, top-k, then a Python loop over the experts that
were hit, gathering their tokens, running the expert MLP and index_add-ing the
weighted result back). f32, no autograd, random weights and inputs.

    torch_peer.py --shapes mixtral-s,olmoe --tokens 1,16,256 --threads 2
prints CSV: shape,T,threads,runs,min_ms,median_ms,max_ms
"""
import argparse
import statistics
import sys
import time

try:
    import torch
    import torch.nn.functional as Fn
except ImportError:
    print("# torch_peer: python3-torch is not installed; no peer column", file=sys.stderr)
    sys.exit(3)

# name: H, F, E, k, shared F, scoring, renormalize, gated (moe-bench --list-shapes)
SHAPES = {
    "mixtral": (4096, 14336, 8, 2, 0, "softmax", True, True),
    "mixtral-s": (1024, 2816, 8, 2, 0, "softmax", True, True),
    "olmoe": (2048, 1024, 64, 8, 0, "softmax", False, True),
    "qwen3": (2048, 768, 128, 8, 0, "softmax", True, True),
    "deepseek-v3": (7168, 2048, 256, 8, 2048, "sigmoid", True, True),
    "switch": (768, 3072, 8, 1, 0, "softmax", False, False),
}


class Block(torch.nn.Module):
    """HF-style sparse MoE block (MixtralSparseMoeBlock's forward loop)."""

    def __init__(self, H, F, E, k, S, scoring, renormalize, gated):
        super().__init__()
        self.E, self.k, self.scoring, self.renormalize, self.gated = E, k, scoring, renormalize, gated
        self.gate = torch.nn.Linear(H, E, bias=False)
        self.w1 = torch.nn.ModuleList(torch.nn.Linear(H, F, bias=False) for _ in range(E)) if gated else None
        self.w3 = torch.nn.ModuleList(torch.nn.Linear(H, F, bias=False) for _ in range(E))
        self.w2 = torch.nn.ModuleList(torch.nn.Linear(F, H, bias=False) for _ in range(E))
        self.shared = None
        if S:
            self.shared = torch.nn.ModuleList([torch.nn.Linear(H, S, bias=False), torch.nn.Linear(H, S, bias=False),
                                               torch.nn.Linear(S, H, bias=False)])

    def expert(self, e, x):
        if self.gated:
            return self.w2[e](Fn.silu(self.w1[e](x)) * self.w3[e](x))
        return self.w2[e](Fn.relu(self.w3[e](x)))

    def forward(self, x):
        logits = self.gate(x)
        probs = torch.sigmoid(logits) if self.scoring == "sigmoid" else Fn.softmax(logits, dim=1, dtype=torch.float)
        weights, selected = torch.topk(probs, self.k, dim=-1)
        if self.renormalize:
            weights = weights / weights.sum(dim=-1, keepdim=True)
        out = torch.zeros_like(x)
        mask = Fn.one_hot(selected, num_classes=self.E).permute(2, 1, 0)
        hit = torch.nonzero(mask.sum(dim=(-1, -2)) > 0).flatten().tolist()
        for e in hit:
            idx, top = torch.where(mask[e])
            y = self.expert(e, x[top]) * weights[top, idx, None]
            out.index_add_(0, top, y)
        if self.shared is not None:
            up, gate, down = self.shared
            out = out + down(Fn.silu(gate(x)) * up(x))
        return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shapes", default="mixtral-s,olmoe")
    ap.add_argument("--tokens", default="1,16,64,256,1024")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--min-time", type=float, default=0.5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print("shape,T,threads,runs,min_ms,median_ms,max_ms")
    for name in args.shapes.split(","):
        if name not in SHAPES:
            sys.exit(f"torch_peer: unknown shape '{name}' (known: {', '.join(SHAPES)})")
        H, F, E, k, S, scoring, renorm, gated = SHAPES[name]
        need = 4 * (E * (3 if gated else 2) * H * F + 3 * H * S)
        avail = 0
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
        if avail and need > 0.85 * avail:
            print(f"# {name}: skipped (f32 weights {need / 2**30:.1f} GiB)")
            continue
        with torch.no_grad():
            block = Block(H, F, E, k, S, scoring, renorm, gated).eval()
            for T in [int(t) for t in args.tokens.split(",")]:
                x = torch.rand(T, H) * 2 - 1
                for _ in range(args.warmup):
                    block(x)
                ms = []
                start = time.perf_counter()
                while len(ms) < 1000 and (len(ms) < args.reps or time.perf_counter() - start < args.min_time):
                    t0 = time.perf_counter()
                    block(x)
                    ms.append((time.perf_counter() - t0) * 1e3)
                print(f"{name},{T},{args.threads},{len(ms)},{min(ms):.4f},{statistics.median(ms):.4f},{max(ms):.4f}",
                      flush=True)
        del block


if __name__ == "__main__":
    main()
