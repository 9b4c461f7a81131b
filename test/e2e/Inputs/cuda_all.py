#!/usr/bin/python3
"""Compiles every checkpoint under a root (make_checkpoint.py --arch all) for
the CUDA target and, with --check, runs each artifact on the GPU against its
reference outputs with check_e2e.py.

  cuda_all.py --root DIR --target cuda:sm_90 --bin BUILD/bin [--cuda-binary cubin]
              [--gemv-max-tokens N] [--spills] [--check --tol 1e-5 [--tol-bf16 2e-2]]

Prints 'compiled NAME (FORMAT, BYTES bytes)' per checkpoint, then with --check
check_e2e.py's lines and 'NAME: ok' or 'NAME: FAIL'; the last line is
'N checkpoints, M failed'. Exits 1 on any failure. A checkpoint whose
directory name ends in _bf16 is checked at --tol-bf16. A checkpoint whose
reference was made with make_checkpoint.py --ffn-dtype bf16|f16 is compiled
with --weight-type of that type and checked at --tol-16 (the same
semantics; only the order of the f32 sums differs). One stored as fp8 or
MXFP4 (--weight-format fp8 | mxfp4) with --ffn-dtype bf16 is compiled with
its weights as they are (--weight-type=fp8 | mxfp4), which the CUDA target
reads as bf16(code · scale) against bf16 activations: the reference's
semantics, checked at --tol-16 too. One made with --act-dtype bf16|f16 is
imported with that --dtype and checked at 1e-2 with at most 2% of the output
elements not bit-identical (check_e2e.py --max-mismatch). An fp8 one made
with --ffn-dtype fp8act (the cuBLASLt engine's reading) is compiled as fp8
and checked at 1e-2.

With --spills each graph's PTX (moe-compile --emit=ptx) also goes through
`ptxas -v` for the target's architecture, and a kernel that spills registers
to local memory (ptxas's "N bytes spill stores" or "spill loads" not 0) is a
failure: 'no spills NAME (K kernels)' or 'NAME: FAIL: kernel K spills ...'.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys


def spills(ptxas, arch, ptx):
    """(kernels, [(kernel, line)] of those that spill) from ptxas -v."""
    r = subprocess.run([ptxas, "-arch=" + arch, "-O3", "-v", ptx, "-o", os.devnull],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("ptxas failed: " + r.stderr.strip()[-500:])
    kernels, bad, current = 0, [], None
    for line in r.stderr.splitlines():
        m = re.search(r"Compiling entry function '([^']+)'", line)
        if m:
            current, kernels = m.group(1), kernels + 1
        m = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m and current and (int(m.group(1)) or int(m.group(2))):
            bad.append((current, line.strip()))
    return kernels, bad


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--root", required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--bin", required=True, help="directory holding moe-import, moe-compile, moe-run")
    p.add_argument("--cuda-binary", default="auto")
    p.add_argument("--max-tokens", default="512")
    p.add_argument("--gemv-max-tokens", default="0",
                   help="moe-compile --cuda-gemv-max-tokens (0: cuBLAS at every T)")
    p.add_argument("--spills", action="store_true",
                   help="fail on a kernel that spills registers (ptxas -v)")
    p.add_argument("--check", action="store_true")
    p.add_argument("--tol", type=float, default=1e-5)
    p.add_argument("--tol-bf16", type=float, default=2e-2)
    p.add_argument("--tol-16", type=float, default=1e-3)
    a = p.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    names = sorted(d for d in os.listdir(a.root)
                   if os.path.exists(os.path.join(a.root, d, "config.json")))
    failed = 0
    for name in names:
        ckpt = os.path.join(a.root, name)
        graph, artifact = ckpt + ".mlir", ckpt + ".moeb"
        manifest = os.path.join(ckpt, "ref", "manifest.json")
        info = json.load(open(manifest)) if os.path.exists(manifest) else {}
        ffn = info.get("ffn_dtype", "f32")
        shipped = info.get("weight_format")
        weight_type = shipped if shipped in ("fp8", "mxfp4") and ffn in ("bf16", "fp8act") else ffn
        act = info.get("act_dtype", "f32")  # 16-bit activations: imported so
        steps = [[os.path.join(a.bin, "moe-import"), ckpt, "-o", graph, "--dtype", act],
                 [os.path.join(a.bin, "moe-compile"), graph, "-o", artifact,
                  "--target", a.target, "--cuda-binary", a.cuda_binary,
                  "--max-tokens", a.max_tokens, "--progress=never", "--weight-type", weight_type,
                  "--cuda-gemv-max-tokens", a.gemv_max_tokens]]
        ok = True
        for cmd in steps:
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                print(f"{name}: FAIL: {' '.join(cmd[:1])}: {r.stderr.strip()}")
                ok = False
                break
        if ok:
            print(f"compiled {name} ({os.path.getsize(artifact)} bytes)")
        if ok and a.spills:
            ptx = ckpt + ".ptx"
            cmd = [os.path.join(a.bin, "moe-compile"), graph, "-o", ptx, "--emit=ptx",
                   "--target", a.target, "--max-tokens", a.max_tokens, "--progress=never",
                   "--weight-type", weight_type, "--cuda-gemv-max-tokens", a.gemv_max_tokens]
            r = subprocess.run(cmd, capture_output=True, text=True)
            ptxas = shutil.which("ptxas") or "/usr/local/cuda/bin/ptxas"
            try:
                if r.returncode != 0:
                    raise RuntimeError("moe-compile --emit=ptx: " + r.stderr.strip())
                kernels, bad = spills(ptxas, a.target.split(":", 1)[1], ptx)
            except RuntimeError as e:
                kernels, bad = 0, [("-", str(e))]
            for kernel, line in bad:
                print(f"{name}: FAIL: kernel {kernel} spills: {line}")
            if not bad:
                print(f"no spills {name} ({kernels} kernels)")
            ok = not bad
        if ok and a.check:
            tol = a.tol_16 if ffn != "f32" else a.tol_bf16 if name.endswith("_bf16") else a.tol
            if ffn == "fp8act":  # e4m3 activations: a rounding that flips moves ~5e-3
                tol = 1e-2
            exact = []
            if act != "f32":  # the reference repeats every rounding
                tol, exact = 1e-2, ["--max-mismatch", "0.02"]
            r = subprocess.run([sys.executable, os.path.join(here, "check_e2e.py"),
                                "--moe-run", os.path.join(a.bin, "moe-run"),
                                "--artifact", artifact, "--checkpoint", ckpt,
                                "--tol", str(tol), "--device", "cuda:0"] + exact,
                               capture_output=True, text=True)
            sys.stdout.write(r.stdout)
            ok = r.returncode == 0
            if not ok:
                sys.stdout.write(r.stderr)
            print(f"{name}: {'ok' if ok else 'FAIL'}")
        failed += not ok
    print(f"{len(names)} checkpoints, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
