#!/usr/bin/python3
"""Sparse upcycling (moe-upcycle) against the NumPy reference.

  upcycle_check.py dense --out DIR [--dtype f32|bf16|f16] [--layers N]
      writes a small dense Llama-style checkpoint (embeddings, attention,
      norms, mlp.gate_proj/up_proj/down_proj, lm_head; a tokenizer.json).
  upcycle_check.py check --dense D --moe M --experts E --top-k K --noise-std S
                         --router-std R --seed N [--moe-run BIN --artifact A]
      checks the upcycled checkpoint M from its definition (docs/import.md,
      "Upcycling"), with test/reference's counter-based generator: the
      config; every other tensor and file copied bit for bit; each expert a
      copy of the dense projection (S = 0) or the copy plus S * rms * N(0, 1);
      the router uniform on [-R*sqrt(3), R*sqrt(3)]. With --moe-run, runs
      every layer of the compiled artifact A at T = 1, 7, 64 and compares
      it, for S = 0, with the DENSE FFN (the upcycled layer equals it
      whatever the router picks), else with the reference's Mixtral block
      of M (tokens within 1e-4 of a routing tie left out).
Prints 'ok ...' lines and 'PASS', or 'FAIL: ...' and exits 1.
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
from counter_rng import normal, uniform  # noqa: E402
import safetensors_np as st  # noqa: E402


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


# moe-upcycle's streams (docs/import.md)
def noise_stream(layer, proj, expert):
    return (layer << 32) | (proj << 24) | expert


def router_stream(layer):
    return (layer << 32) | (3 << 24)


# -- the dense checkpoint -----------------------------------------------------

def write_dense(out, dtype, layers):
    H, F, V, L = 72, 40, 100, layers
    rng = np.random.default_rng(11)
    t = {"model.embed_tokens.weight": rng.standard_normal((V, H)),
         "model.norm.weight": 1 + 0.1 * rng.standard_normal(H),
         "lm_head.weight": rng.standard_normal((V, H)) / np.sqrt(H)}
    for i in range(L):
        p = "model.layers.%d." % i
        for n in ("q_proj", "k_proj", "v_proj", "o_proj"):
            t[p + "self_attn.%s.weight" % n] = rng.standard_normal((H, H)) / np.sqrt(H)
        t[p + "input_layernorm.weight"] = 1 + 0.1 * rng.standard_normal(H)
        t[p + "post_attention_layernorm.weight"] = 1 + 0.1 * rng.standard_normal(H)
        t[p + "mlp.gate_proj.weight"] = rng.standard_normal((F, H)) / np.sqrt(H)
        t[p + "mlp.up_proj.weight"] = rng.standard_normal((F, H)) / np.sqrt(H)
        t[p + "mlp.down_proj.weight"] = rng.standard_normal((H, F)) / np.sqrt(F)
    t = {k: v.astype(np.float32) for k, v in t.items()}
    os.makedirs(out, exist_ok=True)
    if dtype == "bf16":
        st.save_file({k: st.f32_to_bf16_bits(v) for k, v in t.items()},
                     os.path.join(out, "model.safetensors"), dtypes={k: "BF16" for k in t})
    elif dtype == "f16":
        st.save_file({k: v.astype(np.float16) for k, v in t.items()},
                     os.path.join(out, "model.safetensors"))
    else:
        st.save_file(t, os.path.join(out, "model.safetensors"))
    config = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": H,
              "intermediate_size": F, "num_hidden_layers": L, "num_attention_heads": 4,
              "num_key_value_heads": 4, "vocab_size": V, "hidden_act": "silu",
              "rms_norm_eps": 1e-5, "torch_dtype": {"f32": "float32", "bf16": "bfloat16", "f16": "float16"}[dtype]}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(out, "tokenizer.json"), "w") as f:
        f.write('{"version": "1.0", "model": {"type": "BPE"}}\n')
    print("wrote %s (%d layers, %s)" % (out, L, dtype))


# -- the checks ---------------------------------------------------------------

def round_like(values, dtype):
    values = np.asarray(values, np.float64).astype(np.float32)
    if dtype == "BF16":
        return st.bf16_bits_to_f32(st.f32_to_bf16_bits(values))
    if dtype == "F16":
        return values.astype(np.float16).astype(np.float32)
    return values


def check(a):
    dense_cfg = json.load(open(os.path.join(a.dense, "config.json")))
    cfg = json.load(open(os.path.join(a.moe, "config.json")))
    E, k, L = a.experts, a.top_k, dense_cfg["num_hidden_layers"]
    want = dict(model_type="mixtral", architectures=["MixtralForCausalLM"], num_local_experts=E,
                num_experts_per_tok=k, hidden_act="silu")
    for key, value in want.items():
        if cfg.get(key) != value:
            fail("config.json: %s is %r, expected %r" % (key, cfg.get(key), value))
    for key, value in dense_cfg.items():
        if key not in ("model_type", "architectures") and cfg.get(key) != value:
            fail("config.json: %s is %r, the dense config's %r" % (key, cfg.get(key), value))
    print("ok config.json")
    for name in os.listdir(a.dense):
        if not (name.endswith(".safetensors") or name == "config.json"):
            if open(os.path.join(a.dense, name), "rb").read() != \
                    open(os.path.join(a.moe, name), "rb").read():
                fail("%s not copied" % name)

    dense, ddt = st.load_checkpoint(a.dense)
    moe, mdt = st.load_checkpoint(a.moe)
    mlp = {n for n in dense if ".mlp." in n}
    for n in dense:
        if n in mlp:
            continue
        if n not in moe or mdt[n] != ddt[n] or not np.array_equal(moe[n], dense[n]):
            fail("tensor %s not copied bit for bit" % n)
    print("ok %d other tensors copied" % (len(dense) - len(mlp)))
    expected_names = set(dense) - mlp
    bound = a.router_std * np.sqrt(3.0)
    for i in range(L):
        p = "model.layers.%d." % i
        q = p + "block_sparse_moe."
        dt = ddt[p + "mlp.gate_proj.weight"]
        for proj, (dn, mn) in enumerate((("gate_proj", "w1"), ("up_proj", "w3"),
                                          ("down_proj", "w2"))):
            w = st.to_f32(dense[p + "mlp.%s.weight" % dn], dt)
            rms = np.sqrt(np.mean(w.astype(np.float64) ** 2))
            diffs = []
            for e in range(E):
                name = q + "experts.%d.%s.weight" % (e, mn)
                expected_names.add(name)
                if mdt.get(name) != dt:
                    fail("%s has dtype %s, expected %s" % (name, mdt.get(name), dt))
                got = st.to_f32(moe[name], dt)
                if a.noise_std == 0:
                    if not np.array_equal(moe[name], dense[p + "mlp.%s.weight" % dn]):
                        fail("%s is not an exact copy of mlp.%s" % (name, dn))
                    continue
                z = normal(a.seed, noise_stream(i, proj, e), np.arange(w.size)).reshape(w.shape)
                exp = round_like(w.astype(np.float64) + a.noise_std * rms * z, dt)
                # the generator in double, rounded once to the dtype: equal but
                # for a last-place difference of libm's log/cos now and then
                if not np.allclose(got, exp, rtol=0, atol=1e-6 * rms + (1e-2 * rms if dt != "F32" else 0)):
                    fail("%s: the noise differs from its definition (max %g)" % (
                        name, np.abs(got - exp).max()))
                diffs.append(((got - w) / rms).ravel())
            if diffs:
                s = np.concatenate(diffs).std()
                if abs(s / a.noise_std - 1) > 0.05:
                    fail("layer %d %s: noise std %.4g x rms, expected %.4g" % (i, dn, s, a.noise_std))
        gate = q + "gate.weight"
        expected_names.add(gate)
        g = st.to_f32(moe[gate], mdt[gate])
        if g.shape != (E, dense_cfg["hidden_size"]) or mdt[gate] != dt:
            fail("%s: shape %s dtype %s" % (gate, g.shape, mdt[gate]))
        exp = round_like(bound * (2.0 * uniform(a.seed, router_stream(i), np.arange(g.size)) - 1.0),
                         dt).reshape(g.shape)
        if not np.array_equal(g, exp):
            fail("%s differs from its definition (max %g)" % (gate, np.abs(g - exp).max()))
        if np.abs(g).max() > bound * (1 + 1e-2) or abs(g.mean()) > 0.1 * bound:
            fail("%s: not uniform around 0 within %g" % (gate, bound))
    if set(moe) != expected_names:
        fail("unexpected or missing tensors: %s" % sorted(set(moe) ^ expected_names)[:5])
    print("ok %d layers: %d experts each, %s, routers uniform on +-%.4g" % (
        L, E, "exact copies" if a.noise_std == 0 else "noise %g x rms" % a.noise_std, bound))

    if not a.moe_run:
        print("PASS")
        return
    dense32 = {n: st.to_f32(v, ddt[n]) for n, v in dense.items()}
    moe32 = {n: st.to_f32(v, mdt[n]) for n, v in moe.items()}
    rng = np.random.default_rng(5)
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(L):
            for T in (1, 7, 64):
                x = rng.standard_normal((T, dense_cfg["hidden_size"])).astype(np.float32)
                np.save(os.path.join(tmp, "x.npy"), x)
                subprocess.run([a.moe_run, a.artifact, "--layer", str(i), "--input",
                                os.path.join(tmp, "x.npy"), "--output",
                                os.path.join(tmp, "y.npy"), "--quiet"], check=True)
                y = np.load(os.path.join(tmp, "y.npy"))
                keep = np.ones(T, bool)
                if a.noise_std == 0:
                    r = ref.dense_ffn(x, dense32, "model.layers.%d.mlp." % i)
                    what = "the dense FFN"
                else:
                    aux = {}
                    r, _, _ = ref.mixtral_moe(x, moe32, cfg, i, aux)
                    keep = aux["margin"] > 1e-4
                    what = "the reference's Mixtral block (%d of %d tokens clear of ties)" % (
                        keep.sum(), T)
                err = np.abs(y[keep] - r[keep]).max() / max(np.abs(r).max(), 1e-30) \
                    if keep.any() else 0.0
                if err > a.tol:
                    fail("layer %d T=%d: %.3g from %s" % (i, T, err, what))
                print("ok layer %d T=%d: %.2g from %s" % (i, T, err, what))
    print("PASS")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dense")
    d.add_argument("--out", required=True)
    d.add_argument("--dtype", default="f32", choices=("f32", "bf16", "f16"))
    d.add_argument("--layers", type=int, default=2)
    c = sub.add_parser("check")
    for n in ("--dense", "--moe"):
        c.add_argument(n, required=True)
    c.add_argument("--experts", type=int, required=True)
    c.add_argument("--top-k", type=int, required=True)
    c.add_argument("--noise-std", type=float, required=True)
    c.add_argument("--router-std", type=float, required=True)
    c.add_argument("--seed", type=int, required=True)
    c.add_argument("--moe-run")
    c.add_argument("--artifact")
    c.add_argument("--tol", type=float, default=1e-5)
    a = p.parse_args()
    if a.cmd == "dense":
        write_dense(a.out, a.dtype, a.layers)
    else:
        check(a)


if __name__ == "__main__":
    main()
