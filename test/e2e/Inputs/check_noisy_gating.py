#!/usr/bin/python3
"""Noisy top-k gating (moe-run --router-noise-seed) against the reference.

  check_noisy_gating.py --moe-run BIN --artifact A.moeb --checkpoint DIR --seed S [--tol 1e-5]

For every layer and reference token count of DIR (make_checkpoint.py --arch
generic --set router_noise=true), runs the layer with the noise of seed S on
1 and 2 threads and checks that
  - both runs are bit-identical (outputs, indices, logits: the generator
    depends on (seed, router, token, expert) alone);
  - the router's logits (router_logits.<i>) equal the reference's noisy
    logits (moe_reference.noisy_logits: counter_rng's normal values times
    softplus(x Wnoise)) within 1e-5 of the largest;
  - each token's experts equal the reference's, and its output row within
    --tol of the largest reference value, for tokens whose noisy routing is
    clear of a tie by 1e-4 (the generator's libm calls and the dot
    products' order may differ from NumPy's by an ulp);
  - the noise changes the routing: some token's experts differ from the
    noise-free reference's, and seed S + 1 gives other logits than S.
Prints one line per (layer, T), then 'N passed, M failed'; exits 1 on failure.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "reference"))
import moe_reference as ref  # noqa: E402
import safetensors_np as st  # noqa: E402


def run(a, tmp, layer, x_path, seed, threads):
    out = os.path.join(tmp, "y_%d_%d.npy" % (seed, threads))
    aux = os.path.join(tmp, "aux_%d_%d" % (seed, threads))
    subprocess.run([a.moe_run, a.artifact, "--layer", str(layer), "--input", x_path,
                    "--output", out, "--threads", str(threads), "--router-noise-seed", str(seed),
                    "--save-aux", aux, "--quiet"], check=True)
    return (np.load(out), np.load(os.path.join(aux, "router_indices.0.npy")),
            np.load(os.path.join(aux, "router_logits.0.npy")),
            np.load(os.path.join(aux, "router_stats.0.npy")))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--moe-run", required=True)
    p.add_argument("--artifact", required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--tol", type=float, default=1e-5)
    a = p.parse_args()
    cfg = json.load(open(os.path.join(a.checkpoint, "config.json")))
    manifest = json.load(open(os.path.join(a.checkpoint, "ref", "manifest.json")))
    tensors = st.load_checkpoint_f32(a.checkpoint)
    passed = failed = changed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for layer in manifest["layers"]:
            i = layer["index"]
            for key in sorted(layer["files"], key=lambda k: int(k[1:])):
                T = int(key[1:])
                x_path = os.path.join(a.checkpoint, "ref", "layer_%d" % i, "x_T%d.npy" % T)
                x = np.load(x_path)
                y1, idx1, lg1, stats1 = run(a, tmp, i, x_path, a.seed, 1)
                y2, idx2, lg2, stats2 = run(a, tmp, i, x_path, a.seed, 2)
                _, _, lg3, _ = run(a, tmp, i, x_path, a.seed + 1, 1)
                ref.ROUTER_NOISE_SEED = a.seed
                aux = {}
                r, ridx, _ = ref.moec_generic_moe(x, tensors, cfg, i, aux)
                ref.ROUTER_NOISE_SEED = None
                plain = np.load(os.path.join(a.checkpoint, "ref", "layer_%d" % i,
                                             "indices_T%d.npy" % T))
                problems = []
                if not (np.array_equal(y1, y2) and np.array_equal(idx1, idx2) and
                        np.array_equal(lg1, lg2) and np.array_equal(stats1, stats2)):
                    problems.append("1 and 2 threads differ")
                scale = max(np.abs(aux["logits"]).max(), 1e-30)
                lerr = np.abs(lg1 - aux["logits"]).max() / scale
                if lerr > 1e-5:
                    problems.append("logits %.3g from the reference's noisy logits" % lerr)
                clear = aux["margin"] > 1e-4
                if not np.array_equal(idx1[clear], ridx[clear]):
                    problems.append("experts differ on %d clear tokens" %
                                    int((idx1[clear] != ridx[clear]).any(axis=1).sum()))
                err = np.abs(y1[clear] - r[clear]).max() / max(np.abs(r).max(), 1e-30) \
                    if clear.any() else 0.0
                if err > a.tol:
                    problems.append("output %.3g from the reference" % err)
                if np.array_equal(lg1, lg3):
                    problems.append("seeds %d and %d give the same logits" % (a.seed, a.seed + 1))
                moved = int((np.sort(idx1, axis=1) != np.sort(plain, axis=1)).any(axis=1).sum())
                changed += moved
                line = "layer_%d T%d: logits %.2g, output %.2g (%d of %d tokens clear of ties), " \
                       "%d tokens routed elsewhere than without noise" % (
                           i, T, lerr, err, int(clear.sum()), T, moved)
                if problems:
                    failed += 1
                    print("FAIL %s: %s" % (line, "; ".join(problems)))
                else:
                    passed += 1
                    print("ok   %s" % line)
    if changed == 0:
        failed += 1
        print("FAIL: the noise changed no token's experts")
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
