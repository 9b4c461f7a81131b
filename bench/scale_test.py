#!/usr/bin/python3
"""The scale test (docs/bench.md, "At real scale"): a synthetic checkpoint of
full-size MoE layers, compiled and served the way a deployment would.

  bench/scale_test.py [--shape mixtral|qwen3] [--layers N] [--work DIR]
                      [--weight-type bf16|f32] [--memory-cap GB] [--keep]

1. Writes a checkpoint with N full-size MoE layers of the named shape (random
   bf16 weights, Hugging Face names, shards of at most 2 GB) under DIR.
2. moe-import, then moe-compile (CPU target) with the peak RSS and wall time
   measured (getrusage of the child); fails when the peak RSS exceeds
   --memory-cap (default 1.5 GB), the bound docs/bench.md promises.
3. Two moe-run processes serve the artifact at once (T = 1, --bench): their
   load times, and their resident memory split into shared (the artifact's
   page-cache pages, counted once by the system) and private (arena, code,
   heap), read from /proc/PID/smaps_rollup while both run.
4. The same with --verify lazy.

Prints one `key: value` line per measurement, and the time to read the
checkpoint and the artifact from the page cache (`cat` equivalents) for
comparison. Needs /usr/bin/python3 with NumPy and the built tools (build/bin).
Not part of `make test`: two Mixtral layers need about 17 GB of disk.
"""
import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
import zlib

import numpy as np

SHAPES = {
    # hidden, ffn, experts, top-k, layers of the real model
    "mixtral": dict(H=4096, F=14336, E=8, k=2, model_layers=32),
    "qwen3": dict(H=2048, F=768, E=128, k=8, model_layers=48),
}
SHARD_BYTES = 2 * 10**9
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "build", "bin")


# Per shape: the router's name, the experts' prefix, and each expert's
# projections as (name, "FH" for [F, H] or "HF" for [H, F]).
NAMES = {
    "mixtral": ("block_sparse_moe.gate.weight", "block_sparse_moe.experts.%d.",
                [("w1", "FH"), ("w2", "HF"), ("w3", "FH")]),
    "qwen3": ("mlp.gate.weight", "mlp.experts.%d.",
              [("gate_proj", "FH"), ("up_proj", "FH"), ("down_proj", "HF")]),
}


def tensor_names(shape, layer, s):
    router, experts, projections = NAMES[shape]
    p = "model.layers.%d." % layer
    yield p + router, (s["E"], s["H"])
    for e in range(s["E"]):
        for name, dims in projections:
            yield p + experts % e + name + ".weight", (s[dims[0]], s[dims[1]])


def write_checkpoint(path, shape, layers):
    s = SHAPES[shape]
    os.makedirs(path, exist_ok=True)
    if shape == "mixtral":
        config = dict(model_type="mixtral", hidden_size=s["H"], intermediate_size=s["F"],
                      num_local_experts=s["E"], num_experts_per_tok=s["k"],
                      num_hidden_layers=layers, hidden_act="silu", torch_dtype="bfloat16")
    else:
        config = dict(model_type="qwen3_moe", hidden_size=s["H"], moe_intermediate_size=s["F"],
                      num_experts=s["E"], num_experts_per_tok=s["k"], norm_topk_prob=True,
                      num_hidden_layers=layers, hidden_act="silu", torch_dtype="bfloat16")
    json.dump(config, open(os.path.join(path, "config.json"), "w"), indent=1)
    # Random bf16 values of magnitude ~ 1/sqrt(K): a block of random bits,
    # varied per tensor (generating every value afresh takes minutes).
    rng = np.random.default_rng(0)
    block = (rng.standard_normal(1 << 22, dtype=np.float32) * 0.02).view(np.uint32)
    block = (block >> 16).astype(np.uint16)
    tensors = [(n, sh) for layer in range(layers) for n, sh in tensor_names(shape, layer, s)]
    shards, current, size = [], [], 0
    for name, sh in tensors:
        nbytes = 2 * sh[0] * sh[1]
        if current and size + nbytes > SHARD_BYTES:
            shards.append(current)
            current, size = [], 0
        current.append((name, sh))
        size += nbytes
    shards.append(current)
    weight_map = {}
    for i, shard in enumerate(shards):
        fname = "model-%05d-of-%05d.safetensors" % (i + 1, len(shards))
        header, offset = {}, 0
        for name, sh in shard:
            nbytes = 2 * sh[0] * sh[1]
            header[name] = dict(dtype="BF16", shape=list(sh), data_offsets=[offset, offset + nbytes])
            offset += nbytes
            weight_map[name] = fname
        text = json.dumps(header).encode()
        text += b" " * (-len(text) % 8)
        with open(os.path.join(path, fname), "wb") as f:
            f.write(len(text).to_bytes(8, "little"))
            f.write(text)
            for j, (name, sh) in enumerate(shard):
                n = sh[0] * sh[1]
                salt = np.uint16(zlib.crc32(name.encode()) & 0x7F)
                done = 0
                while done < n:
                    m = min(n - done, block.size)
                    f.write((block[:m] ^ salt).tobytes())
                    done += m
    json.dump(dict(metadata={}, weight_map=weight_map),
              open(os.path.join(path, "model.safetensors.index.json"), "w"))
    return sum(2 * sh[0] * sh[1] for _, sh in tensors), len(shards)


def run_measured(cmd):
    """Runs cmd; returns (wall seconds, peak RSS bytes of the child, stderr)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.time()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.time() - t
    if p.returncode != 0:
        sys.exit("error: %s failed:\n%s" % (" ".join(cmd), p.stderr))
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if peak <= before:
        print("note: peak RSS of this child is at most that of an earlier one")
    return wall, peak * 1024, p.stderr + p.stdout


def read_seconds(paths):
    """Seconds to read the files (as `cat` would), from the page cache or disk."""
    t = time.time()
    for p in paths:
        with open(p, "rb") as f:
            while f.read(64 << 20):
                pass
    return time.time() - t


def smaps(pid):
    out = {}
    try:
        for line in open("/proc/%d/smaps_rollup" % pid):
            parts = line.split()
            if len(parts) >= 3 and parts[2] == "kB":
                out[parts[0].rstrip(":")] = int(parts[1]) * 1024
    except OSError:
        pass
    return out


def serve_two(artifact, x, function, verify):
    """Two moe-run processes at once; their resident memory at its peak while
    both are alive, and their load times."""
    cmd = [os.path.join(BIN, "moe-run"), artifact, "--input", x, "--function", function,
           "--verify", verify, "--bench", "400", "--threads", "1"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    best = [{}, {}]
    while all(p.poll() is None for p in procs):
        for i, p in enumerate(procs):
            m = smaps(p.pid)
            if m.get("Rss", 0) > best[i].get("Rss", 0):
                best[i] = m
        time.sleep(0.05)
    outs = [p.communicate() for p in procs]
    for p, (o, e) in zip(procs, outs):
        if p.returncode != 0:
            sys.exit("error: moe-run failed:\n" + e)
    loads = []
    for o, _ in outs:
        for line in o.splitlines():
            if line.startswith("load_s="):
                kv = dict(w.split("=") for w in line.split())
                loads.append((float(kv["load_s"]), float(kv["session_s"])))
    return best, loads


def mib(b):
    return "%.1f MiB" % (b / 2**20)


def gib(b):
    return "%.2f GiB" % (b / 2**30)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shape", choices=sorted(SHAPES), default="mixtral")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--work", default=os.path.join(ROOT, "build", "scale-test"))
    ap.add_argument("--weight-type", default="bf16", choices=["bf16", "f32"])
    ap.add_argument("--memory-cap", type=float, default=1.5, help="GB")
    ap.add_argument("--keep", action="store_true", help="keep the checkpoint and artifact")
    a = ap.parse_args()
    ckpt = os.path.join(a.work, "%s-%d" % (a.shape, a.layers))
    cpu = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")]
    print("cpu: %s x %d" % (cpu[0] if cpu else "?", os.cpu_count()))
    print("shape: %s, %d layers, %s weights" % (a.shape, a.layers, a.weight_type))
    if not os.path.exists(os.path.join(ckpt, "model.safetensors.index.json")):
        t = time.time()
        total, shards = write_checkpoint(ckpt, a.shape, a.layers)
        print("checkpoint: %s in %d shards, written in %.1f s" % (gib(total), shards, time.time() - t))
    files = [os.path.join(ckpt, f) for f in sorted(os.listdir(ckpt)) if f.endswith(".safetensors")]
    total = sum(os.path.getsize(f) for f in files)
    print("checkpoint_bytes: %d (%s)" % (total, gib(total)))
    read_seconds(files)  # warm the page cache as a second compile would find it
    print("checkpoint_read_s: %.2f" % read_seconds(files))

    graph = os.path.join(a.work, "graph.mlir")
    artifact = os.path.join(a.work, "model.moeb")
    run_measured([os.path.join(BIN, "moe-import"), ckpt, "-o", graph])
    wall, peak, _ = run_measured([os.path.join(BIN, "moe-compile"), graph, "-o", artifact,
                                  "--weight-type=" + a.weight_type, "--max-tokens", "64"])
    size = os.path.getsize(artifact)
    print("compile_s: %.1f" % wall)
    print("compile_peak_rss: %d (%s)" % (peak, gib(peak)))
    print("artifact_bytes: %d (%s)" % (size, gib(size)))
    print("artifact_read_s: %.2f" % read_seconds([artifact]))

    x = os.path.join(a.work, "x.npy")
    np.save(x, np.random.default_rng(1).standard_normal((1, SHAPES[a.shape]["H"]), dtype=np.float32))
    for verify in ("full", "lazy"):
        mem, loads = serve_two(artifact, x, "layer_0", verify)
        for i, (m, (load, session)) in enumerate(zip(mem, loads)):
            private = m.get("Private_Clean", 0) + m.get("Private_Dirty", 0)
            shared = m.get("Shared_Clean", 0) + m.get("Shared_Dirty", 0)
            print("serve_%s_%d: load_s=%.3f session_s=%.3f rss=%s shared=%s private=%s anon=%s"
                  % (verify, i, load, session, gib(m.get("Rss", 0)), gib(shared), mib(private),
                     mib(m.get("Anonymous", 0))))
    failed = peak > a.memory_cap * 1e9
    if failed:
        print("error: moe-compile's peak RSS %s is over the cap of %.1f GB" % (gib(peak), a.memory_cap))
    if not a.keep:
        shutil.rmtree(a.work)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
