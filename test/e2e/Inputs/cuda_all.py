#!/usr/bin/python3
"""Compiles every checkpoint under a root (make_checkpoint.py --arch all) for
the CUDA target and, with --check, runs each artifact on the GPU against its
reference outputs with check_e2e.py.

  cuda_all.py --root DIR --target cuda:sm_90 --bin BUILD/bin [--cuda-binary cubin]
              [--gemv-max-tokens N] [--check --tol 1e-5 [--tol-bf16 2e-2]]

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
elements not bit-identical (check_e2e.py --max-mismatch).
"""
import argparse
import json
import os
import subprocess
import sys


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--root", required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--bin", required=True, help="directory holding moe-import, moe-compile, moe-run")
    p.add_argument("--cuda-binary", default="auto")
    p.add_argument("--max-tokens", default="512")
    p.add_argument("--gemv-max-tokens", default="0",
                   help="moe-compile --cuda-gemv-max-tokens (0: cuBLAS at every T)")
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
        weight_type = shipped if shipped in ("fp8", "mxfp4") and ffn == "bf16" else ffn
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
        if ok and a.check:
            tol = a.tol_16 if ffn != "f32" else a.tol_bf16 if name.endswith("_bf16") else a.tol
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
