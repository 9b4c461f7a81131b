#!/usr/bin/python3
"""The peer column of `make bench` and of scripts/gpu-check.sh: the same MoE
blocks as moe-bench's named shapes, run by eager PyTorch the way Hugging Face's
modeling code does (a router Linear, softmax/sigmoid, top-k, then a Python loop
over the experts that were hit, gathering their tokens, running the expert MLP
and index_add-ing the weighted result back). No autograd, random weights and
inputs; f32 on the CPU, f32 or bf16 (the whole block, as a bf16 checkpoint
runs) on a GPU.

    torch_peer.py --shapes mixtral-s,olmoe --tokens 1,16,256 --threads 2
prints CSV: shape,T,threads,runs,min_ms,median_ms,max_ms

    torch_peer.py --device cuda --dtype bf16 --shapes mixtral --tokens 1,16
times the block on the GPU; each run starts from the f32 input in host memory
and ends with the f32 output there, as a moe-bench run on a GPU does.

    torch_peer.py --device cuda --device-limits
prints the GPU's measured limits, one `name=value` per line: copy_gbps (a
device-to-device copy, bytes read + written per second), bf16_tflops and
f32_tflops (an 8192^3 matmul; TF32 off, as moec's f32 GEMMs), and where the
GPU has fp8 tensor cores fp8_tflops (the same matmul in e4m3, f32 sums).
"""
import argparse
import contextlib
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
        weights = weights.to(x.dtype)  # f32 from the softmax; bf16 blocks add in bf16, as HF does
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


def times_ms(fn, warmup, reps, min_time):
    """Times fn() (which must return only when its work is done): the list of
    milliseconds of the timed runs."""
    for _ in range(warmup):
        fn()
    ms = []
    start = time.perf_counter()
    while len(ms) < 1000 and (len(ms) < reps or time.perf_counter() - start < min_time):
        t0 = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t0) * 1e3)
    return ms


def device_limits(device):
    """The GPU's copy bandwidth and GEMM rates, best of a few runs."""
    torch.backends.cuda.matmul.allow_tf32 = False
    n = 1 << 28  # 1 GiB of f32
    a = torch.empty(n, device=device)
    b = torch.empty(n, device=device)

    def copy():
        b.copy_(a)
        torch.cuda.synchronize(device)
    ms = times_ms(copy, 3, 10, 0)
    print(f"copy_gbps={2 * 4 * n / min(ms) / 1e6:.1f}")
    del a, b
    m = 8192
    for dtype, name in ((torch.bfloat16, "bf16"), (torch.float32, "f32")):
        x = torch.rand(m, m, device=device, dtype=dtype)
        y = torch.rand(m, m, device=device, dtype=dtype)

        def gemm():
            x @ y
            torch.cuda.synchronize(device)
        ms = times_ms(gemm, 3, 10, 0)
        print(f"{name}_tflops={2 * m ** 3 / min(ms) / 1e9:.1f}")
    # e4m3 x e4m3 with f32 sums (torch._scaled_mm, per-tensor scales), the
    # rate of the fp8 tensor cores that moec's cuBLASLt fp8 GEMMs use; not
    # printed where the GPU or this PyTorch has none.
    try:
        x = torch.rand(m, m, device=device).to(torch.float8_e4m3fn)
        y = torch.rand(m, m, device=device).to(torch.float8_e4m3fn)
        one = torch.ones((), device=device)

        def gemm8():
            torch._scaled_mm(x, y.t(), scale_a=one, scale_b=one, out_dtype=torch.bfloat16)
            torch.cuda.synchronize(device)
        ms = times_ms(gemm8, 3, 10, 0)
        print(f"fp8_tflops={2 * m ** 3 / min(ms) / 1e9:.1f}")
    except (AttributeError, RuntimeError):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shapes", default="mixtral-s,olmoe")
    ap.add_argument("--tokens", default="1,16,64,256,1024")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--min-time", type=float, default=0.5)
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]")
    ap.add_argument("--dtype", default="f32", choices=["f32", "bf16"],
                    help="the block's weights and activations (bf16: a GPU only)")
    ap.add_argument("--device-limits", action="store_true",
                    help="print the GPU's copy bandwidth and GEMM rates and exit")
    args = ap.parse_args()
    gpu = args.device.startswith("cuda")
    if gpu and not torch.cuda.is_available():
        sys.exit(f"torch_peer: --device {args.device}: this PyTorch sees no CUDA device")
    if args.dtype == "bf16" and not gpu:
        sys.exit("torch_peer: --dtype bf16 is for a GPU (--device cuda)")
    if args.device_limits:
        if not gpu:
            sys.exit("torch_peer: --device-limits measures a GPU (--device cuda)")
        device_limits(torch.device(args.device))
        return
    device = torch.device(args.device)
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print("shape,T,threads,runs,min_ms,median_ms,max_ms")
    for name in args.shapes.split(","):
        if name not in SHAPES:
            sys.exit(f"torch_peer: unknown shape '{name}' (known: {', '.join(SHAPES)})")
        H, F, E, k, S, scoring, renorm, gated = SHAPES[name]
        need = 4 * (E * (3 if gated else 2) * H * F + 3 * H * S)
        avail = 0
        if gpu:
            avail = torch.cuda.mem_get_info(device)[0]
        else:
            with open("/proc/meminfo") as f:
                for line in f:
                    if line.startswith("MemAvailable:"):
                        avail = int(line.split()[1]) * 1024
        if avail and need > 0.85 * avail:
            print(f"# {name}: skipped (f32 weights {need / 2**30:.1f} GiB, "
                  f"{avail / 2**30:.1f} GiB available)")
            continue
        # Made on the device where PyTorch can (>= 2.0: torch.device is a
        # context), not initialised on the CPU and copied.
        where = device if hasattr(torch, "set_default_device") else contextlib.nullcontext()
        with torch.no_grad(), where:
            block = Block(H, F, E, k, S, scoring, renorm, gated).to(device, dtype).eval()
            for T in [int(t) for t in args.tokens.split(",")]:
                x = torch.rand(T, H, device="cpu") * 2 - 1
                if gpu:
                    def run():
                        block(x.to(device, dtype)).to("cpu", torch.float32)
                else:
                    def run():
                        block(x)
                ms = times_ms(run, args.warmup, args.reps, args.min_time)
                print(f"{name},{T},{args.threads},{len(ms)},{min(ms):.4f},{statistics.median(ms):.4f},{max(ms):.4f}",
                      flush=True)
        del block
        if gpu:
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
