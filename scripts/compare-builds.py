#!/usr/bin/python3
"""Checks that two builds of moec compute the same bits.

  scripts/compare-builds.py BIN_A BIN_B [--tokens 1,7,64,333] [--work DIR] [--keep]
                            [--ptx]

BIN_A and BIN_B are folders holding moe-import, moe-compile and moe-run (a
build's bin/, or a copy of it kept from before a change). Every checkpoint that
test/reference/make_checkpoint.py writes with --arch all (each HF architecture
and each generic routing variant), plus a bf16-weight (--weight-type=bf16) and
an f16-weight compile and a row-major (--pack-weights=false) one, is imported
and compiled for the CPU by each build; every layer runs at every T, and the
output and every auxiliary output (router statistics and indices) must be
equal byte for byte. With --ptx, each checkpoint is also compiled for the
CUDA target (sm_90; f32, bf16 weights with the grouped GEMV up to T = 8, f16
weights) and every kernel's PTX must be byte-identical to one kernel of the
other build's (kernels are matched by their text with the entry's own name
masked, so a kernel that was renamed still matches). It prints one line per
checkpoint and compile, and ends with 'N passed, N failed'; the exit status
is 1 if anything differs or fails.

Use it around a change that must not change behaviour: copy build/bin aside
before the change, rebuild, then compare the copy with build/bin.
"""
import argparse
import filecmp
import re
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
MAKE_CHECKPOINT = os.path.join(HERE, "..", "test", "reference", "make_checkpoint.py")

# (name, checkpoint folder under the --arch all output, moe-compile flags)
EXTRA_COMPILES = [
    ("mixtral-bf16-weights", "mixtral", ["--weight-type=bf16"]),
    ("qwen2_moe-f16-weights", "qwen2_moe", ["--weight-type=f16"]),
    ("mixtral-row-major", "mixtral", ["--pack-weights=false"]),
]


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(cmd), p.stderr.strip()))
    return p.stdout


def build_outputs(bin_dir, ckpt, flags, max_tokens, out_dir):
    """Imports, compiles and runs every layer at every T with one build; the
    outputs go to out_dir/<layer>_<T>/."""
    os.makedirs(out_dir)
    mlir = os.path.join(out_dir, "graph.mlir")
    moeb = os.path.join(out_dir, "model.moeb")
    run([os.path.join(bin_dir, "moe-import"), ckpt, "-o", mlir])
    run([os.path.join(bin_dir, "moe-compile"), mlir, "-o", moeb,
         "--max-tokens", str(max_tokens)] + flags)
    manifest = json.load(open(os.path.join(ckpt, "ref", "manifest.json")))
    runs = []
    for layer in manifest["layers"]:
        i = layer["index"]
        for key, files in layer["files"].items():
            d = os.path.join(out_dir, "layer_%d_%s" % (i, key))
            os.makedirs(os.path.join(d, "aux"))
            run([os.path.join(bin_dir, "moe-run"), moeb, "--function", "layer_%d" % i,
                 "--input", os.path.join(ckpt, "ref", "layer_%d" % i, files["x"]),
                 "--output", os.path.join(d, "y.npy"), "--save-aux",
                 os.path.join(d, "aux"), "--threads", "2"])
            runs.append(d)
    return runs


CUDA_COMPILES = [[], ["--weight-type=bf16", "--cuda-gemv-max-tokens", "8"],
                 ["--weight-type=f16"]]


def ptx_kernels(bin_dir, ckpt, flags, work):
    """Each kernel's PTX (.entry to its closing brace), its own name masked."""
    mlir = os.path.join(work, "graph.mlir")
    run([os.path.join(bin_dir, "moe-import"), ckpt, "-o", mlir])
    ptx = run([os.path.join(bin_dir, "moe-compile"), mlir, "--target=cuda:sm_90",
               "--emit=ptx", "--max-tokens", "64"] + flags)
    return sorted(m.group(0).replace(m.group(1), "KERNEL")
                  for m in re.finditer(r"\.entry (\w+)\((.*?)\n}\n", ptx, re.S))


def compare(dir_a, dir_b):
    """The files under dir_a and dir_b (both trees) that differ or exist in
    one only; the compiled IR and artifact themselves may differ."""
    diffs = []
    for root, _, files in os.walk(dir_a):
        rel = os.path.relpath(root, dir_a)
        for f in files:
            if f in ("graph.mlir", "model.moeb"):
                continue
            a = os.path.join(root, f)
            b = os.path.join(dir_b, rel, f)
            if not os.path.exists(b) or not filecmp.cmp(a, b, shallow=False):
                diffs.append(os.path.join(rel, f))
    for root, _, files in os.walk(dir_b):
        rel = os.path.relpath(root, dir_b)
        diffs += [os.path.join(rel, f) for f in files
                  if not os.path.exists(os.path.join(dir_a, rel, f))]
    return diffs


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("bin_a")
    p.add_argument("bin_b")
    p.add_argument("--tokens", default="1,7,64,333")
    p.add_argument("--work", help="folder for checkpoints and outputs (default: a temporary one)")
    p.add_argument("--keep", action="store_true", help="keep --work's contents")
    p.add_argument("--ptx", action="store_true",
                   help="also compare every CUDA kernel's PTX")
    a = p.parse_args()
    for d in (a.bin_a, a.bin_b):
        for tool in ("moe-import", "moe-compile", "moe-run"):
            if not os.access(os.path.join(d, tool), os.X_OK):
                sys.exit("error: %s has no executable %s" % (d, tool))
    max_tokens = max(int(t) for t in a.tokens.split(","))
    work = a.work or tempfile.mkdtemp(prefix="moec-compare-")
    try:
        ck_root = os.path.join(work, "checkpoints")
        if not os.path.isdir(ck_root):
            subprocess.run([sys.executable, MAKE_CHECKPOINT, "--arch", "all", "--out", ck_root,
                            "--tokens", a.tokens, "-q"], check=True)
        compiles = [(name, name, []) for name in sorted(os.listdir(ck_root))] + EXTRA_COMPILES
        passed = failed = 0
        for name, ck, flags in compiles:
            ckpt = os.path.join(ck_root, ck)
            outs = []
            try:
                for tag, bin_dir in (("a", a.bin_a), ("b", a.bin_b)):
                    out = os.path.join(work, "out", name, tag)
                    shutil.rmtree(out, ignore_errors=True)
                    runs = build_outputs(bin_dir, ckpt, flags, max_tokens, out)
                    outs.append(out)
            except RuntimeError as e:
                print("%-24s FAIL %s" % (name, e))
                failed += 1
                continue
            diffs = compare(*outs)
            if diffs:
                print("%-24s FAIL differs: %s" % (name, ", ".join(sorted(diffs)[:8])))
                failed += 1
            else:
                print("%-24s identical (%d runs)" % (name, len(runs)))
                passed += 1
        if a.ptx:
            for name in sorted(os.listdir(ck_root)):
                for flags in CUDA_COMPILES:
                    tag = "%s cuda %s" % (name, " ".join(flags) or "f32")
                    try:
                        kernels = []
                        for side, bin_dir in (("a", a.bin_a), ("b", a.bin_b)):
                            d = os.path.join(work, "ptx", name, side)
                            os.makedirs(d, exist_ok=True)
                            kernels.append(ptx_kernels(bin_dir, os.path.join(ck_root, name),
                                                       flags, d))
                    except RuntimeError as e:
                        print("%-24s FAIL %s" % (tag, e))
                        failed += 1
                        continue
                    if kernels[0] == kernels[1] and kernels[0]:
                        print("%-24s identical PTX (%d kernels)" % (tag, len(kernels[0])))
                        passed += 1
                    else:
                        print("%-24s FAIL PTX differs (%d vs %d kernels)"
                              % (tag, len(kernels[0]), len(kernels[1])))
                        failed += 1
        print("%d passed, %d failed" % (passed, failed))
        return 1 if failed else 0
    finally:
        if not a.keep and not a.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
