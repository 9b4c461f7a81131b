#!/usr/bin/python3
"""Routing at an f32 near-tie, end to end (issue: softmax -> top-k was once
rewritten into top-k on the logits, which is exact only in real arithmetic).

  near_tie.py --checkpoint DIR --moe-run BIN --artifact-dir OUT --bin BINDIR

Takes a Mixtral checkpoint written by make_checkpoint.py and rewrites layer 0's
router so that, for a token x = e_0 (one-hot on hidden unit 0), the logits are
exactly the router's column 0: [0.5, 0, 1e-8, -5, ...]. Expert 0 wins; experts
1 and 2 differ in logit by 1e-8, less than half an ulp of their probability
e^-0.5 / sum, so their f32 probabilities tie and the tie rule (lower expert
index) picks expert 1, where the larger logit would pick expert 2. The script
checks that the reference sees exactly that tie, compiles, runs moe-run and
compares: the same experts, output within 1e-5 of the reference.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "reference"))
import moe_reference as ref  # noqa: E402
import safetensors_np as st  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--bin", required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    path = os.path.join(a.checkpoint, "model.safetensors")
    tensors = st.load_file(path)
    config = json.load(open(os.path.join(a.checkpoint, "config.json")))
    gate = "model.layers.0.block_sparse_moe.gate.weight"
    w = np.array(tensors[gate], dtype=np.float32)
    E, H = w.shape
    col = np.full(E, -5.0, dtype=np.float32)
    col[:3] = [0.5, 0.0, 1e-8]
    w[:, 0] = col
    tensors[gate] = w
    st.save_file(tensors, path)

    x = np.zeros((1, H), dtype=np.float32)
    x[0, 0] = 1.0
    probs = ref.softmax(ref.linear(x, w))
    assert probs[0, 1] == probs[0, 2], "the probabilities must tie in f32"
    assert ref.linear(x, w)[0, 2] > ref.linear(x, w)[0, 1], "the logits must not"
    y_ref, idx_ref, _ = ref.mixtral_moe(x, tensors, config, 0)
    assert idx_ref.tolist() == [[0, 1]], idx_ref.tolist()

    os.makedirs(a.out, exist_ok=True)
    mlir = os.path.join(a.out, "m.mlir")
    art = os.path.join(a.out, "m.moeb")
    xin = os.path.join(a.out, "x.npy")
    yout = os.path.join(a.out, "y.npy")
    np.save(xin, x)
    run = lambda *cmd: subprocess.run(cmd, check=True, capture_output=True, text=True)
    run(os.path.join(a.bin, "moe-import"), a.checkpoint, "--layers", "0", "-o", mlir)
    run(os.path.join(a.bin, "moe-compile"), mlir, "-o", art, "--weight-type=f32",
        "--max-tokens", "4")
    out = run(os.path.join(a.bin, "moe-run"), art, "--function", "layer_0",
              "--input", xin, "--output", yout, "--router-stats").stdout
    y = np.load(yout)
    err = float(np.abs(y - y_ref).max() / np.abs(y_ref).max())
    load = [l for l in out.splitlines() if l.strip().startswith("load:")]
    print("near-tie: reference experts %s, moe-run %s, error %.3g"
          % (idx_ref.tolist(), load[0].strip() if load else "?", err))
    expected = "load: " + " ".join(["1", "1"] + ["0"] * (E - 2))
    print("PASS" if err <= 1e-5 and load and load[0].strip() == expected else "FAIL")


if __name__ == "__main__":
    main()
