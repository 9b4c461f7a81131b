#!/usr/bin/python3
"""Runs every layer of a checkpoint at every reference token count through
moe-run twice: on one device (--single, an artifact compiled without
--shard-experts) and split over ranks (--sharded R=A.moeb: an artifact
compiled with --shard-experts=R, run by moe-run --ranks R), and compares the
outputs byte for byte (or within --tol, the largest |difference| over the
largest |output|).

  check_ranks.py --moe-run BIN --checkpoint DIR --single A.moeb
                 --sharded 2=B.moeb [--sharded 4=C.moeb ...]
                 [--placement R=LIST ...] [--tol X] [--threads N]
                 [--device DEV] [--nccl] [--router-noise-seed N]

Each (layer, T, R) runs twice: the tokens split evenly, and skewed (rank 0
gets none, rank r about r parts). With --per-rank (capacity routing, whose
capacity applies to each rank's own tokens) the expected output is the
single-device artifact run on each rank's rows on its own, concatenated;
else the single-device run on all T rows. Prints one line per run and
'N passed, M failed' last; exits 1 on a failure.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np


def splits(tokens, ranks):
    even = [tokens // ranks + (1 if r < tokens % ranks else 0) for r in range(ranks)]
    weight = sum(range(ranks)) or 1
    skew = [tokens * r // weight for r in range(ranks)]
    skew[-1] += tokens - sum(skew)
    return [even] if skew == even else [even, skew]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--moe-run", required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--single", required=True)
    p.add_argument("--sharded", action="append", required=True, help="R=ARTIFACT")
    p.add_argument("--placement", action="append", default=[], help="R=E,E,...")
    p.add_argument("--tol", type=float, default=0.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--per-rank", action="store_true")
    p.add_argument("--device", default="cpu", help="moe-run's --device (every rank's)")
    p.add_argument("--nccl", action="store_true", help="moe-run --nccl (the ranks over NCCL)")
    p.add_argument("--router-noise-seed", default=None,
                   help="every run with moe-run --router-noise-seed (noisy routers)")
    a = p.parse_args()
    sharded = [(int(s.split("=", 1)[0]), s.split("=", 1)[1]) for s in a.sharded]
    placements = dict((int(s.split("=", 1)[0]), s.split("=", 1)[1]) for s in a.placement)
    manifest = json.load(open(os.path.join(a.checkpoint, "ref", "manifest.json")))
    passed = failed = 0

    def run(artifact, layer, x, out, extra):
        cmd = [a.moe_run, artifact, "--function", "layer_%d" % layer, "--input", x,
               "--output", out, "--threads", str(a.threads), "--device", a.device, "-q"] + extra
        if a.nccl and extra:
            cmd.append("--nccl")
        if a.router_noise_seed is not None:
            cmd += ["--router-noise-seed", a.router_noise_seed]
        r = subprocess.run(cmd, capture_output=True, text=True)
        return r.returncode, r.stderr.strip()

    with tempfile.TemporaryDirectory() as tmp:
        for layer in manifest["layers"]:
            i = layer["index"]
            d = os.path.join(a.checkpoint, "ref", "layer_%d" % i)
            for key, files in sorted(layer["files"].items(), key=lambda kv: int(kv[0][1:])):
                x = os.path.join(d, files["x"])
                tokens = int(key[1:])
                one = os.path.join(tmp, "one.npy")
                rc, err = run(a.single, i, x, one, [])
                if rc:
                    print("layer_%d %s: single device: moe-run failed: %s" % (i, key, err))
                    failed += 1
                    continue
                want = np.load(one)
                for ranks, artifact in sharded:
                    for split in splits(tokens, ranks):
                        if a.per_rank:
                            want, at, parts = None, 0, []
                            xs = np.load(x)
                            for t in split:
                                if t:
                                    part = os.path.join(tmp, "part.npy")
                                    np.save(os.path.join(tmp, "xpart.npy"), xs[at:at + t])
                                    rc, err = run(a.single, i, os.path.join(tmp, "xpart.npy"),
                                                  part, [])
                                    if rc:
                                        sys.exit("single device on %d rows: %s" % (t, err))
                                    parts.append(np.load(part))
                                at += t
                            want = np.concatenate(parts)
                        out = os.path.join(tmp, "ranks.npy")
                        extra = ["--ranks", str(ranks), "--rank-tokens",
                                 ",".join(map(str, split))]
                        if ranks in placements:
                            extra += ["--placement", placements[ranks]]
                        what = "layer_%d %s ranks=%d split=%s" % (
                            i, key, ranks, ",".join(map(str, split)))
                        rc, err = run(artifact, i, x, out, extra)
                        if rc:
                            print("%s: moe-run failed: %s FAIL" % (what, err))
                            failed += 1
                            continue
                        got = np.load(out)
                        if a.tol == 0:
                            same = got.shape == want.shape and got.tobytes() == want.tobytes()
                            note = "bit-identical" if same else "differs"
                        else:
                            scale = max(float(np.max(np.abs(want))), 1e-30)
                            rel = float(np.max(np.abs(got - want))) / scale if got.size else 0.0
                            same = got.shape == want.shape and rel <= a.tol
                            note = "rel=%.3g" % rel
                        print("%s: %s%s" % (what, note, "" if same else " FAIL"))
                        passed += same
                        failed += not same
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
