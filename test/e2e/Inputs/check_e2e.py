#!/usr/bin/python3
"""Runs every layer of a compiled checkpoint at every reference token count
through moe-run and compares with the reference outputs written by
test/reference/make_checkpoint.py.

  check_e2e.py --moe-run BIN --artifact A.moeb --checkpoint DIR --tol 1e-5 [--threads N]
               [--max-mismatch FRAC]

Prints one line per (layer, T) with the relative error (max |y - ref| /
max |ref|) and, for token-choice layers, whether each token's experts (the
router_indices aux output) equal the reference's and whether the per-expert
load does; the last line is 'N passed, M failed'. Exits 1 on failure. The
reference redraws tokens whose routing is within 1e-4 of a tie, so every
token's experts are expected to match. With --max-mismatch (16-bit
activations, whose every rounding the reference repeats), at most that
fraction of the output's elements (or 4 elements) may differ from the
reference's at all (a different f32 summation order flips a rounding now
and then, and a flipped intermediate changes a few outputs).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--moe-run", required=True)
    p.add_argument("--artifact", required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--tol", type=float, required=True)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--max-mismatch", type=float, default=None)
    a = p.parse_args()
    manifest = json.load(open(os.path.join(a.checkpoint, "ref", "manifest.json")))
    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for layer in manifest["layers"]:
            i = layer["index"]
            for key, files in sorted(layer["files"].items(), key=lambda kv: int(kv[0][1:])):
                d = os.path.join(a.checkpoint, "ref", "layer_%d" % i)
                out = os.path.join(tmp, "y.npy")
                aux = os.path.join(tmp, "aux")
                os.makedirs(aux, exist_ok=True)
                for f in os.listdir(aux):
                    os.remove(os.path.join(aux, f))
                cmd = [a.moe_run, a.artifact, "--function", "layer_%d" % i,
                       "--input", os.path.join(d, files["x"]), "--output", out,
                       "--router-stats", "--save-aux", aux, "--device", a.device]
                if a.threads:
                    cmd += ["--threads", str(a.threads)]
                run = subprocess.run(cmd, capture_output=True, text=True)
                if run.returncode != 0:
                    print("layer_%d %s: moe-run failed: %s" % (i, key, run.stderr.strip()))
                    failed += 1
                    continue
                y = np.load(out)
                ref = np.load(os.path.join(d, files["y"]))
                err = float(np.abs(y - ref).max() / max(np.abs(ref).max(), 1e-30))
                ok = err <= a.tol and y.shape == ref.shape
                note = ""
                if a.max_mismatch is not None and y.shape == ref.shape:
                    differ = int(np.count_nonzero(y != ref))
                    note = " mismatch=%d/%d" % (differ, y.size)
                    ok = ok and differ <= max(4, a.max_mismatch * y.size)
                if "indices" in files and layer.get("routing") == "token_choice":
                    idx = np.load(os.path.join(d, files["indices"]))
                    m = re.search(r"load:([ 0-9]+)", run.stdout)
                    if m:
                        load = [int(v) for v in m.group(1).split()]
                        valid = idx[idx >= 0]
                        expected = np.bincount(valid, minlength=len(load)).tolist()
                        if files.get("capacity") is not None:
                            # With a capacity, router stats count the router's
                            # choices; the reference's indices are where the
                            # copies went (dropped: -1, rerouted: elsewhere).
                            same = sum(load) == idx.size
                            what = "total matches (capacity)"
                        else:
                            same = load == expected
                            what = "same"
                        note += " load=%s" % (what if same else "DIFFERENT %s vs %s" % (load, expected))
                        ok = ok and same
                    stats_path = os.path.join(aux, "router_stats.0.npy")
                    if "router_terms" in files and os.path.exists(stats_path):
                        # [load_0 .. load_{E-1}, cv, lb loss, z-loss, T] against
                        # the reference's float64 logit terms (and cv from load).
                        st = np.load(stats_path).astype(np.float64)
                        terms = np.load(os.path.join(d, files["router_terms"]))
                        E = len(terms) - 1
                        load_, T_ = st[:E], st[E + 3]
                        want = [load_.std() / load_.mean(),
                                E * np.sum((load_ / T_) * (terms[:E] / T_)), terms[E]]
                        got = st[E:E + 3]
                        close = T_ == idx.shape[0] and np.allclose(got, want, rtol=1e-4, atol=1e-6)
                        note += " stats=%s" % ("same" if close else "DIFFERENT %s vs %s" % (
                            got.tolist(), [float(v) for v in want]))
                        ok = ok and close
                    chosen_path = os.path.join(aux, "router_indices.0.npy")
                    if os.path.exists(chosen_path):
                        chosen = np.sort(np.load(chosen_path), axis=1)
                        if files.get("capacity") is None:
                            same = chosen.shape == idx.shape and (chosen == np.sort(idx, axis=1)).all()
                        elif not files.get("rerouted_copies"):
                            # Admitted copies are a subset of the router's choices.
                            same = all(set(r[r >= 0]) <= set(c) for r, c in zip(idx, chosen))
                        else:
                            same = True  # rerouted copies go where the router did not choose
                        note += " experts=%s" % ("same" if same else "DIFFERENT")
                        ok = ok and same
                    else:
                        note += " experts=MISSING (no router_indices.0 output)"
                        ok = False
                print("layer_%d %s: rel_err=%.3g %s%s" % (i, key, err, "ok" if ok else "FAIL", note))
                passed += ok
                failed += not ok
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
