#!/usr/bin/python3
"""Self-checks of the numerical reference (safetensors_np, moe_reference,
make_checkpoint). Prints one line per check and 'N passed, M failed' last;
exits 1 if any check failed.

    check_reference.py [-v] [-k SUBSTRING]

Besides invariants, every architecture is compared against a second,
deliberately naive implementation written here from the specification:
per-token Python loops in float64 with sorted(key=(-score, index)) for top-k.
"""

import argparse
import json
import math
import os
import shutil
import struct
import sys
import tempfile
import time
import traceback

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_checkpoint as mk  # noqa: E402
import moe_reference as ref  # noqa: E402
import safetensors_np as st  # noqa: E402

F32 = np.float32
CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


class Fail(Exception):
    pass


def expect(cond, msg="expectation failed"):
    if not cond:
        raise Fail(msg)


def close(a, b, rtol, atol, what):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    expect(a.shape == b.shape, "%s: shape %s vs %s" % (what, a.shape, b.shape))
    if not np.allclose(a, b, rtol=rtol, atol=atol):
        err = np.max(np.abs(a - b) / (atol + rtol * np.abs(b)))
        raise Fail("%s: max scaled error %.3g" % (what, err))


def same_bits(a, b, what):
    a, b = np.asarray(a), np.asarray(b)
    expect(a.dtype == b.dtype and a.shape == b.shape,
           "%s: %s%s vs %s%s" % (what, a.dtype, a.shape, b.dtype, b.shape))
    expect(a.tobytes() == b.tobytes(), "%s: bits differ" % what)


# ============================================================================
# naive float64 implementation, per token, straight from the spec

def n_rank(scores, among=None):
    cand = range(len(scores)) if among is None else among
    return sorted(cand, key=lambda e: (-scores[e], e))


def n_softmax(v):
    e = np.exp(v - np.max(v))
    return e / e.sum()


def n_sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def n_swiglu(xv, g, u, d, act="silu", alpha=1.702, limit=7.0):
    a, b = g @ xv, u @ xv
    if act == "silu":
        h = a * n_sigmoid(a) * b
    else:
        a = np.minimum(a, limit)
        b = np.clip(b, -limit, limit)
        h = (b + 1.0) * a * n_sigmoid(alpha * a)
    return d @ h


def n_mlp(t, p, xv):
    return n_swiglu(xv, t[p + "gate_proj.weight"], t[p + "up_proj.weight"], t[p + "down_proj.weight"])


def naive_layer(arch, X, t, cfg, layer):
    """-> (y [T, H] float64, routes). routes: None for dense layers, else a list
    per token of dict expert -> weight (dropped copies absent); for switch a
    list of (expert, p_max, admitted); for expert choice a list per expert of
    dict token -> score; for capacity variants, also the final [T, k] array."""
    T = X.shape[0]
    Y = np.zeros(X.shape)
    routes = []
    extra = None
    if arch == "mixtral":
        p = "model.layers.%d.block_sparse_moe." % layer
        k = cfg["num_experts_per_tok"]
        for i in range(T):
            pr = n_softmax(t[p + "gate.weight"] @ X[i])
            sel = n_rank(pr)[:k]
            tot = sum(pr[e] for e in sel)
            r = {e: pr[e] / tot for e in sel}
            for e in sorted(r):
                q = p + "experts.%d." % e
                Y[i] += r[e] * n_swiglu(X[i], t[q + "w1.weight"], t[q + "w3.weight"], t[q + "w2.weight"])
            routes.append(r)
        return Y, routes, extra
    if arch in ("qwen2_moe", "qwen3_moe", "olmoe"):
        p = "model.layers.%d.mlp." % layer
        if arch == "olmoe":
            sparse = True
        else:
            step = cfg.get("decoder_sparse_step", 1)
            sparse = (layer not in cfg.get("mlp_only_layers", [])) and cfg["num_experts"] > 0 \
                and (layer + 1) % step == 0
        if not sparse:
            return np.stack([n_mlp(t, p, X[i]) for i in range(T)]), None, None
        k = cfg["num_experts_per_tok"]
        for i in range(T):
            pr = n_softmax(t[p + "gate.weight"] @ X[i])
            sel = n_rank(pr)[:k]
            tot = sum(pr[e] for e in sel) if cfg.get("norm_topk_prob", False) else 1.0
            r = {e: pr[e] / tot for e in sel}
            for e in sorted(r):
                Y[i] += r[e] * n_mlp(t, p + "experts.%d." % e, X[i])
            if arch == "qwen2_moe":
                g = n_sigmoid(t[p + "shared_expert_gate.weight"] @ X[i])[0]
                Y[i] += g * n_mlp(t, p + "shared_expert.", X[i])
            routes.append(r)
        return Y, routes, extra
    if arch in ("deepseek_v3", "deepseek_v2"):
        p = "model.layers.%d.mlp." % layer
        if not (layer >= cfg.get("first_k_dense_replace", 0) and layer % cfg.get("moe_layer_freq", 1) == 0):
            return np.stack([n_mlp(t, p, X[i]) for i in range(T)]), None, None
        E, k = cfg["n_routed_experts"], cfg["num_experts_per_tok"]
        G, TG = cfg.get("n_group", 1), cfg.get("topk_group", 1)
        gs = E // G
        rsf = cfg.get("routed_scaling_factor", 1.0)
        for i in range(T):
            lg = t[p + "gate.weight"] @ X[i]
            if arch == "deepseek_v3":
                s = n_sigmoid(lg)
                q = s + t[p + "gate.e_score_correction_bias"]
                gsc = [sum(sorted(q[g * gs:(g + 1) * gs], reverse=True)[:2]) for g in range(G)]
                keep = n_rank(gsc)[:TG]
                allowed = [e for e in range(E) if e // gs in keep]
                sel = n_rank(q, allowed)[:k]
                w = {e: s[e] for e in sel}
                if cfg.get("norm_topk_prob", True):
                    tot = sum(w.values()) + 1e-20
                    w = {e: v / tot for e, v in w.items()}
                w = {e: v * rsf for e, v in w.items()}
            else:
                s = n_softmax(lg)
                if cfg.get("topk_method", "greedy") == "group_limited_greedy":
                    gsc = [max(s[g * gs:(g + 1) * gs]) for g in range(G)]
                    keep = n_rank(gsc)[:TG]
                    sel = n_rank(s, [e for e in range(E) if e // gs in keep])[:k]
                else:
                    sel = n_rank(s)[:k]
                w = {e: s[e] for e in sel}
                if k > 1 and cfg.get("norm_topk_prob", False):
                    tot = sum(w.values()) + 1e-20
                    w = {e: v / tot for e, v in w.items()}
                else:
                    w = {e: v * rsf for e, v in w.items()}
            for e in sorted(w):
                Y[i] += w[e] * n_mlp(t, p + "experts.%d." % e, X[i])
            Y[i] += n_mlp(t, p + "shared_experts.", X[i])
            routes.append(w)
        return Y, routes, extra
    if arch == "switch_transformers":
        nl = cfg["num_layers"]
        if layer < nl:
            b, step, p = layer, cfg["encoder_sparse_step"], "encoder.block.%d.layer.1." % layer
        else:
            b = layer - nl
            step, p = cfg["decoder_sparse_step"], "decoder.block.%d.layer.2." % b
        sparse = step > 0 and (step == 1 or b % step == 1)
        if not sparse:
            q = p + "DenseReluDense."
            return np.stack([t[q + "wo.weight"] @ np.maximum(t[q + "wi.weight"] @ X[i], 0)
                             for i in range(T)]), None, None
        p += "mlp."
        count = {}
        for i in range(T):
            pr = n_softmax(t[p + "router.classifier.weight"] @ X[i])
            e = n_rank(pr)[0]
            count[e] = count.get(e, 0) + 1
            adm = count[e] <= cfg["expert_capacity"]
            if adm:
                q = p + "experts.expert_%d." % e
                h = t[q + "wo.weight"] @ np.maximum(t[q + "wi.weight"] @ X[i], 0)
            else:
                h = X[i]
            Y[i] = pr[e] * h
            routes.append((e, pr[e], adm))
        return Y, routes, extra
    if arch == "moec_generic":
        p = "layers.%d." % layer
        Wr = t[p + "router.weight"]
        Gt, Ut, Dt = t[p + "experts.gate_proj"], t[p + "experts.up_proj"], t[p + "experts.down_proj"]
        E = Wr.shape[0]
        a = dict(act=cfg.get("hidden_act", "silu"), alpha=cfg.get("swiglu_alpha", 1.702),
                 limit=cfg.get("swiglu_limit", 7.0))

        def ex(e, xv):
            return n_swiglu(xv, Gt[e], Ut[e], Dt[e], **a)

        P = np.stack([n_softmax(Wr @ X[i]) for i in range(T)])
        if cfg["routing"] == "expert_choice":
            C = min(T, math.ceil(cfg["capacity_factor"] * T / E))
            for e in range(E):
                toks = sorted(range(T), key=lambda j: (-P[j, e], j))[:C]
                routes.append({j: P[j, e] for j in toks})
            for e in range(E):
                for j, sc in routes[e].items():
                    Y[j] += sc * ex(e, X[j])
            return Y, routes, extra
        if cfg["routing"] == "dense":
            for i in range(T):
                for e in range(E):
                    Y[i] += P[i, e] * ex(e, X[i])
                routes.append({e: P[i, e] for e in range(E)})
            return Y, routes, extra
        k = cfg["num_experts_per_tok"]
        sels, ws = [], []
        for i in range(T):
            sel = n_rank(P[i])[:k]
            tot = sum(P[i, e] for e in sel) if cfg.get("norm_topk_prob", True) else 1.0
            sels.append(sel)
            ws.append([P[i, e] / tot for e in sel])
        final = np.array(sels, dtype=np.int64)
        cf = cfg.get("capacity_factor")
        if cf is not None:
            C = math.ceil(cf * (T * k) / E)
            load = [0] * E
            taken = [set(s) for s in sels]
            final = -np.ones((T, k), dtype=np.int64)
            for slot in range(k):
                for i in range(T):
                    e = sels[i][slot]
                    if load[e] < C:
                        final[i, slot] = e
                        load[e] += 1
                    elif cfg["overflow_policy"] == "reroute":
                        for e2 in n_rank(P[i]):
                            if e2 not in taken[i] and load[e2] < C:
                                final[i, slot] = e2
                                load[e2] += 1
                                taken[i].add(e2)
                                break
        for i in range(T):
            r = {}
            for slot in range(k):
                e = int(final[i, slot])
                if e >= 0:
                    r[e] = ws[i][slot]
            for e in sorted(r):
                Y[i] += r[e] * ex(e, X[i])
            routes.append(r)
        return Y, routes, final
    raise ValueError(arch)


def ref_routes(arch, cfg, layer, idx, w):
    """The reference's indices/weights in the naive routes format."""
    if arch == "switch_transformers":
        return [(int(i), float(v), True) if i >= 0 else (None, float(v), False)
                for i, v in zip(idx[:, 0], w[:, 0])]
    if arch == "moec_generic" and cfg["routing"] == "expert_choice":
        return [{int(tk): float(v) for tk, v in zip(idx[e], w[e])} for e in range(idx.shape[0])]
    return [{int(e): float(v) for e, v in zip(idx[i], w[i]) if e >= 0} for i in range(idx.shape[0])]


def compare_routes(arch, got, want, what):
    expect(len(got) == len(want), "%s: %d vs %d routes" % (what, len(got), len(want)))
    for j, (g, n) in enumerate(zip(got, want)):
        if arch == "switch_transformers":
            e, pm, adm = n
            expect(g[2] == adm, "%s: token %d admitted %s vs %s" % (what, j, g[2], adm))
            expect(not adm or g[0] == e, "%s: token %d expert %s vs %s" % (what, j, g[0], e))
            expect(abs(g[1] - pm) <= 1e-5 * abs(pm) + 1e-7, "%s: token %d p_max" % (what, j))
            continue
        expect(set(g) == set(n), "%s: row %d picks %s vs naive %s" % (what, j, sorted(g), sorted(n)))
        for e in g:
            expect(abs(g[e] - n[e]) <= 1e-5 * abs(n[e]) + 1e-7,
                   "%s: row %d expert %d weight %.9g vs %.9g" % (what, j, e, g[e], n[e]))


# ============================================================================
# bf16

@check
def bf16_all_patterns_round_trip():
    u = np.arange(65536, dtype=np.uint32).astype(np.uint16)
    f = st.bf16_bits_to_f32(u)
    back = st.f32_to_bf16_bits(f)
    nan = np.isnan(f)
    expect(nan.sum() == 2 * 127, "expected 254 NaN patterns")
    same_bits(back[~nan], u[~nan], "non-NaN bf16 -> f32 -> bf16")
    expect(np.all(np.isnan(st.bf16_bits_to_f32(back[nan]))), "NaN stays NaN")
    expect(np.all((back[nan] >> 15) == (u[nan] >> 15)), "NaN keeps its sign")


@check
def bf16_rounding_cases():
    cases = {  # f32 bits -> expected bf16 bits
        0x3F800000: 0x3F80,  # 1.0
        0x3F808000: 0x3F80,  # tie, even stays
        0x3F818000: 0x3F82,  # tie, odd rounds up
        0x3F808001: 0x3F81,  # above tie
        0x3F807FFF: 0x3F80,  # below tie
        0x80000000: 0x8000,  # -0
        0x00008000: 0x0000,  # subnormal tie to even
        0x00018000: 0x0002,
        0x7F7FFFFF: 0x7F80,  # max f32 -> +inf
        0xFF7FFFFF: 0xFF80,
        0x7F7F7FFF: 0x7F7F,  # largest that does not overflow
        0x7F800000: 0x7F80,  # inf
        0xFF800000: 0xFF80,
    }
    src = np.array(list(cases), dtype=np.uint32).view(np.float32)
    got = st.f32_to_bf16_bits(src)
    for (k, v), g in zip(cases.items(), got):
        expect(int(g) == v, "f32 0x%08X -> 0x%04X, want 0x%04X" % (k, g, v))
    for nanbits in (0x7F800001, 0x7FC00000, 0xFFFFFFFF, 0x7F80FFFF, 0xFFC00001):
        b = st.f32_to_bf16_bits(np.array([nanbits], dtype=np.uint32).view(np.float32))
        expect(np.isnan(st.bf16_bits_to_f32(b))[0], "NaN 0x%08X lost" % nanbits)
    expect(st.f32_to_bf16_bits(np.zeros((3, 0, 2), np.float32)).shape == (3, 0, 2), "empty shape")


@check
def bf16_matches_float64_nearest_even():
    rng = np.random.default_rng(7)
    bits = rng.integers(0, 2 ** 32, size=200000, dtype=np.uint64).astype(np.uint32)
    f = bits.view(np.float32)
    fin = np.isfinite(f)
    f, bits = f[fin], bits[fin]
    got = st.f32_to_bf16_bits(f)
    lo = (bits >> 16).astype(np.uint32)
    hi = lo + 1
    vlo = (lo << 16).view(np.float32).astype(np.float64)
    vhi = (hi << 16).view(np.float32).astype(np.float64)
    # when hi is +-inf, round as if it were +-2^128 (IEEE overflow rule)
    vhi = np.where(np.isinf(vhi), np.sign(vhi) * 2.0 ** 128, vhi)
    with np.errstate(invalid="ignore", over="ignore"):
        x = f.astype(np.float64)
        dlo, dhi = np.abs(x - vlo), np.abs(vhi - x)
    want = np.where(dlo < dhi, lo, np.where(dhi < dlo, hi, np.where(lo % 2 == 0, lo, hi)))
    same_bits(got.astype(np.uint32), want.astype(np.uint32), "bf16 rounding vs f64 nearest-even")


# ============================================================================
# safetensors

def _sample_tensors():
    rng = np.random.default_rng(3)
    return {
        "a.f32": rng.standard_normal((3, 5)).astype(np.float32),
        "b.f16": rng.standard_normal((7,)).astype(np.float16),
        "c.bf16": st.f32_to_bf16_bits(rng.standard_normal((2, 3, 5)).astype(np.float32)),
        "d.i32": np.arange(-4, 5, dtype=np.int32),
        "e.scalar": np.array(2.5, dtype=np.float32),
        "f.empty": np.zeros((0, 4), dtype=np.float32),
        "g.odd": rng.standard_normal((1, 1, 3)).astype(np.float16),
    }


@check
def safetensors_round_trip_and_layout():
    d = tempfile.mkdtemp()
    try:
        ts = _sample_tensors()
        path = os.path.join(d, "x.safetensors")
        st.save_file(ts, path, metadata={"format": "pt", "k": "v"})
        blob = open(path, "rb").read()
        (n,) = struct.unpack("<Q", blob[:8])
        expect((8 + n) % 8 == 0, "8 + header length not a multiple of 8")
        hdr = blob[8:8 + n]
        expect(hdr.startswith(b"{"), "header starts with {")
        expect(hdr.rstrip(b" ").endswith(b"}") and set(hdr[len(hdr.rstrip(b" ")):]) <= {0x20},
               "header padded with spaces")
        j = json.loads(hdr)
        expect(j["__metadata__"] == {"format": "pt", "k": "v"}, "metadata")
        expect(j["c.bf16"]["dtype"] == "BF16" and j["b.f16"]["dtype"] == "F16"
               and j["a.f32"]["dtype"] == "F32" and j["d.i32"]["dtype"] == "I32", "dtypes")
        expect(j["e.scalar"]["shape"] == [] and j["f.empty"]["shape"] == [0, 4], "shapes")
        spans = sorted(v["data_offsets"] for k, v in j.items() if k != "__metadata__")
        pos = 0
        for b, e in spans:
            expect(b == pos, "offsets contiguous")
            pos = e
        expect(pos == len(blob) - 8 - n, "offsets cover the data")
        got, dts, meta = st.load_file_full(path)
        expect(set(got) == set(ts), "names")
        for k in ts:
            same_bits(got[k], ts[k], k)
        expect(meta == {"format": "pt", "k": "v"}, "metadata read back")
        f32 = st.load_file(path, bf16_as_f32=True)["c.bf16"]
        same_bits(f32, st.bf16_bits_to_f32(ts["c.bf16"]), "bf16_as_f32")
        # bytes are reproducible
        st.save_file(ts, path + "2", metadata={"format": "pt", "k": "v"})
        expect(open(path + "2", "rb").read() == blob, "writer deterministic")
    finally:
        shutil.rmtree(d)


@check
def safetensors_reads_hand_built_file():
    hdr = b'{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' \
          b'"h":{"dtype":"BF16","shape":[1],"data_offsets":[8,10]}}'
    blob = struct.pack("<Q", len(hdr)) + hdr + struct.pack("<ff", 1.0, -2.0) + struct.pack("<H", 0x4049)
    t, dts, meta = st.deserialize(blob)
    same_bits(t["w"], np.array([1.0, -2.0], np.float32), "hand-built F32")
    expect(dts["h"] == "BF16" and t["h"].dtype == np.uint16 and int(t["h"][0]) == 0x4049, "hand-built BF16")
    expect(abs(float(st.bf16_bits_to_f32(t["h"])[0]) - 3.140625) == 0, "bf16 0x4049 = 3.140625")
    expect(meta is None, "no metadata")


@check
def safetensors_rejects_bad_files():
    blob = st.serialize({"a": np.ones((4,), np.float32), "b": np.ones((2,), np.float32)})
    bad = {
        "truncated data": blob[:-1],
        "extra data": blob + b"\0" * 4,
        "header past end": struct.pack("<Q", 10 ** 6) + blob[8:],
        "short": blob[:5],
        "not json": struct.pack("<Q", 8) + b"{nojson}" + b"\0" * 24,
    }
    for what, b in bad.items():
        try:
            st.deserialize(b)
        except st.SafetensorsError:
            continue
        raise Fail("accepted a file with %s" % what)
    hdr = b'{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}'
    try:
        st.deserialize(struct.pack("<Q", len(hdr)) + hdr + b"\0" * 8)
    except st.SafetensorsError:
        return
    raise Fail("accepted a shape/offset mismatch")


@check
def safetensors_sharded_round_trip():
    d = tempfile.mkdtemp()
    try:
        ts = _sample_tensors()
        files = st.write_sharded(d, ts, 3)
        expect(files == ["model-0000%d-of-00003.safetensors" % i for i in (1, 2, 3)], "names %s" % files)
        idx = json.load(open(os.path.join(d, "model.safetensors.index.json")))
        expect(idx["metadata"]["total_size"] == sum(a.nbytes for a in ts.values()), "total_size")
        expect(set(idx["weight_map"]) == set(ts) and set(idx["weight_map"].values()) == set(files),
               "weight_map")
        for f in files:
            part = st.load_file(os.path.join(d, f))
            expect(part and all(idx["weight_map"][k] == f for k in part), "shard %s content" % f)
            expect(st.read_header(os.path.join(d, f))[1] == {"format": "pt"}, "shard metadata")
        got, dts = st.load_checkpoint(d)
        expect(set(got) == set(ts), "all tensors")
        for k in ts:
            same_bits(got[k], ts[k], k)
        try:
            st.write_sharded(d, {"a": ts["a.f32"]}, 2)
        except st.SafetensorsError:
            pass
        else:
            raise Fail("2 shards of 1 tensor accepted")
    finally:
        shutil.rmtree(d)


# ============================================================================
# elementwise / routing units

@check
def activation_units():
    x = np.array([-100, -20, -1, 0, 1, 20, 100], np.float32)
    with np.errstate(over="ignore"):
        want = 1.0 / (1.0 + np.exp(-x.astype(np.float64)))
    close(ref.sigmoid(x), want, 1e-6, 1e-40, "sigmoid")
    close(ref.silu(x), x * want, 1e-6, 1e-40, "silu")
    sm = ref.softmax(np.array([[1000.0, 1000.0, -1000.0], [0.0, 1.0, 2.0]], np.float32))
    expect(np.all(np.isfinite(sm)), "softmax finite with large logits")
    close(sm[0], [0.5, 0.5, 0.0], 0, 1e-7, "softmax large")
    g = np.array([10.0, -3.0, 0.5, 7.0], np.float32)
    u = np.array([-10.0, 9.0, 0.25, 3.0], np.float32)
    gg, uu = np.minimum(g.astype(np.float64), 7), np.clip(u.astype(np.float64), -7, 7)
    want = (uu + 1) * gg / (1 + np.exp(-1.702 * gg))
    close(ref.swiglu_clamped(g, u), want, 1e-6, 0, "clamped swiglu")
    expect(ref.swiglu_clamped(g, u).dtype == np.float32, "clamped swiglu f32")
    idx, m = ref.topk_desc(np.array([[0.2, 0.5, 0.5, 0.1], [1, 1, 1, 1]], np.float32), 2)
    same_bits(idx, np.array([[1, 2], [0, 1]], np.int32), "top-k ties to lower index")
    expect(ref.token_choice_capacity(7, 2, 12, 1.0) == 2 and ref.token_choice_capacity(64, 2, 12, 0.75) == 8
           and ref.expert_choice_capacity(5, 12, 2.0) == 1 and ref.expert_choice_capacity(3, 2, 4.0) == 3,
           "capacity formulas")


@check
def reroute_policy_small_example():
    # 4 tokens, 3 experts, k=1, C = ceil(1.0 * 4 / 3) = 2; all prefer expert 0.
    probs = np.array([[.6, .3, .1], [.6, .1, .3], [.5, .3, .2], [.4, .35, .25]], np.float32)
    idx = np.zeros((4, 1), np.int32)
    fin = ref.assign_with_capacity(probs, idx, 2, "reroute")
    same_bits(fin, np.array([[0], [0], [1], [1]], np.int32), "reroute")
    fin = ref.assign_with_capacity(probs, idx, 2, "drop")
    same_bits(fin, np.array([[0], [0], [-1], [-1]], np.int32), "drop")
    # slot-major priority: token 1's slot 0 beats token 0's slot 1
    probs = np.array([[.5, .4, .1], [.1, .5, .4]], np.float32)
    idx = np.array([[0, 1], [1, 2]], np.int32)
    # C = 1. slot 0: t0 -> 0, t1 -> 1. slot 1: t0 wants 1 (full) and is rerouted to
    # 2 (its best unchosen expert with room); t1 wants 2 (now full), its only
    # unchosen expert 0 is full -> dropped.
    fin = ref.assign_with_capacity(probs, idx, 1, "reroute")
    same_bits(fin, np.array([[0, 2], [1, -1]], np.int32), "slot-major reroute")
    fin = ref.assign_with_capacity(probs, idx, 1, "drop")
    same_bits(fin, np.array([[0, -1], [1, 2]], np.int32), "slot-major drop")


# ============================================================================
# checkpoints

ALL_NAMES = list(mk.HF_ARCHES) + list(mk.ALL_GENERIC)
TOKENS = (1, 7, 64, 333)
_TMP = {}


def _build(name, out, **kw):
    if name in mk.ALL_GENERIC:
        v, a = mk.ALL_GENERIC[name]
        return mk.build("generic", out, variant=v, act=a, quiet=True, **kw)
    return mk.build(name, out, quiet=True, **kw)


def tmpdir():
    if "root" not in _TMP:
        _TMP["root"] = tempfile.mkdtemp(prefix="moec_ref_check_")
    return _TMP["root"]


def built(name, dtype="f32", shards=1):
    key = (name, dtype, shards)
    if key not in _TMP:
        out = os.path.join(tmpdir(), "%s_%s_%d" % (name, dtype, shards))
        _build(name, out, dtype=dtype, shards=shards, tokens=TOKENS)
        _TMP[key] = out
    return _TMP[key]


def load_ref(d, layer, T, what):
    p = os.path.join(d, "ref", "layer_%d" % layer, "%s_T%d.npy" % (what, T))
    return np.load(p) if os.path.exists(p) else None


@check
def generate_all_is_fast():
    t0 = time.time()
    mk.main(["--arch", "all", "--out", os.path.join(tmpdir(), "all"), "--tokens", "1,7,64,333", "-q"])
    dt = time.time() - t0
    print("    (all archs at T=1,7,64,333 in %.2f s)" % dt)
    expect(dt < 10.0, "generation took %.1f s" % dt)
    for name in ALL_NAMES:
        _TMP[(name, "f32", 1)] = os.path.join(tmpdir(), "all", name)


@check
def generation_is_deterministic():
    for name in ("deepseek_v3", "switch_transformers", "generic_topk_reroute"):
        a, b = os.path.join(tmpdir(), "det_a_" + name), os.path.join(tmpdir(), "det_b_" + name)
        for o in (a, b):
            _build(name, o, dtype="bf16", shards=2, seed=11, tokens=(7, 64))
        fa = sorted(os.path.relpath(os.path.join(r, f), a) for r, _, fs in os.walk(a) for f in fs)
        fb = sorted(os.path.relpath(os.path.join(r, f), b) for r, _, fs in os.walk(b) for f in fs)
        expect(fa == fb, "file lists differ")
        for f in fa:
            expect(open(os.path.join(a, f), "rb").read() == open(os.path.join(b, f), "rb").read(),
                   "%s/%s differs between runs" % (name, f))
    c = os.path.join(tmpdir(), "det_c")
    _build("deepseek_v3", c, dtype="bf16", shards=2, seed=12, tokens=(7,))
    expect(open(os.path.join(c, "ref/layer_1/y_T7.npy"), "rb").read()
           != open(os.path.join(tmpdir(), "det_a_deepseek_v3/ref/layer_1/y_T7.npy"), "rb").read(),
           "seed has no effect")


@check
def layer_patterns():
    want = {"mixtral": "SS", "qwen2_moe": "SDS", "qwen3_moe": "SS", "olmoe": "SS",
            "deepseek_v3": "DSS", "deepseek_v2": "DSS", "switch_transformers": "DSDS"}
    for name, pat in want.items():
        m = json.load(open(os.path.join(built(name), "ref", "manifest.json")))
        got = "".join("S" if e["kind"] == "sparse" else "D" for e in m["layers"])
        expect(got == pat, "%s: layers %s, want %s" % (name, got, pat))
        for e in m["layers"]:
            has = load_ref(built(name), e["index"], 7, "indices") is not None
            expect(has == (e["kind"] == "sparse"), "%s layer %d indices file" % (name, e["index"]))


def _verify_checkpoint(name, dtype, shards, naive=True):
    d = built(name, dtype, shards)
    cfg = json.load(open(os.path.join(d, "config.json")))
    arch = ref.arch_of(cfg)
    tensors, dts = st.load_checkpoint(d)
    expect(set(tensors) == set(ref.param_shapes(arch, cfg)), "tensor names")
    for n, a in tensors.items():
        expect(tuple(a.shape) == tuple(ref.param_shapes(arch, cfg)[n]), "%s shape" % n)
        want = "F32" if (dtype == "f32" or n.endswith("e_score_correction_bias")) else dtype.upper()
        expect(dts[n] == want, "%s stored as %s, want %s" % (n, dts[n], want))
    vals = {n: st.to_f32(a, dts[n]) for n, a in tensors.items()}
    v64 = {n: a.astype(np.float64) for n, a in vals.items()}
    man = json.load(open(os.path.join(d, "ref", "manifest.json")))
    for layer in range(ref.num_layers(arch, cfg)):
        for T in TOKENS:
            x, y = load_ref(d, layer, T, "x"), load_ref(d, layer, T, "y")
            idx, w = load_ref(d, layer, T, "indices"), load_ref(d, layer, T, "weights")
            what = "%s/%s/shards%d layer %d T=%d" % (name, dtype, shards, layer, T)
            expect(x.dtype == np.float32 and y.dtype == np.float32 and x.shape == y.shape, what + ": x/y")
            aux = {}
            y2, idx2, w2 = ref.forward_layer(arch, x, vals, cfg, layer, aux)
            same_bits(y2, y, what + ": y recomputed from the stored checkpoint")
            if idx is None:
                expect(idx2 is None, what + ": missing indices")
            else:
                expect(idx.dtype == np.int32 and w.dtype == np.float32, what + ": index/weight dtypes")
                same_bits(idx2, idx, what + ": indices")
                same_bits(w2, w, what + ": weights")
                expect(np.all(aux["margin"] >= man["min_margin"]), what + ": input has a near-tie")
            if naive:
                yn, routes, final = naive_layer(arch, x.astype(np.float64), v64, cfg, layer)
                scale = max(1.0, float(np.max(np.abs(yn))))
                close(y, yn, 1e-4, 1e-5 * scale, what + ": y vs naive float64")
                if routes is not None:
                    compare_routes(arch, ref_routes(arch, cfg, layer, idx, w), routes, what)
                if final is not None and cfg.get("capacity_factor") is not None:
                    same_bits(idx.astype(np.int64), final, what + ": capacity assignment vs naive")


def _make_arch_check(name, dtype, shards, naive):
    def fn():
        _verify_checkpoint(name, dtype, shards, naive)
    fn.__name__ = "checkpoint_%s_%s_shards%d%s" % (name, dtype, shards, "" if naive else "_reload")
    return fn


for _n in ALL_NAMES:
    CHECKS.append(_make_arch_check(_n, "f32", 1, True))
for _n in ALL_NAMES:
    CHECKS.append(_make_arch_check(_n, "bf16", 3, _n in ("deepseek_v3", "qwen2_moe", "generic_topk_reroute")))
for _n in ("mixtral", "switch_transformers", "deepseek_v2"):
    CHECKS.append(_make_arch_check(_n, "f16", 2, _n == "switch_transformers"))


def _layers(name, kind="sparse"):
    d = built(name)
    cfg = json.load(open(os.path.join(d, "config.json")))
    arch = ref.arch_of(cfg)
    tensors = st.load_checkpoint_f32(d)
    out = []
    for i in range(ref.num_layers(arch, cfg)):
        if ref.layer_info(arch, cfg, i)["kind"] == kind:
            out.append((i, d, cfg, arch, tensors))
    return out


def _route_basics(idx, w, T, k, E, allow_drop=False):
    expect(idx.shape == (T, k) and w.shape == (T, k), "shapes %s %s" % (idx.shape, w.shape))
    lo = -1 if allow_drop else 0
    expect(np.all((idx >= lo) & (idx < E)), "indices out of range")
    for row in idx:
        r = row[row >= 0]
        expect(len(set(r.tolist())) == len(r), "duplicate expert in a token's row %s" % row)


@check
def invariants_softmax_topk():
    for name in ("mixtral", "qwen2_moe", "qwen3_moe", "olmoe"):
        for i, d, cfg, arch, t in _layers(name):
            E = cfg.get("num_experts", cfg.get("num_local_experts"))
            k = cfg["num_experts_per_tok"]
            norm = name == "mixtral" or cfg.get("norm_topk_prob", False)
            for T in TOKENS:
                x, idx, w = (load_ref(d, i, T, s) for s in ("x", "indices", "weights"))
                _route_basics(idx, w, T, k, E)
                sums = w.astype(np.float64).sum(-1)
                if norm:
                    expect(np.all(np.abs(sums - 1) < 1e-6), "%s: renormalized weights sum %s" % (name, sums.max()))
                else:
                    expect(np.all(sums < 1) and np.all(sums > k / E), "%s: raw top-k probs" % name)
                expect(np.all(np.diff(w, axis=-1) <= 0), "%s: weights not descending" % name)


@check
def invariants_qwen2_shared_expert_and_dense_layer():
    d = built("qwen2_moe")
    cfg = json.load(open(os.path.join(d, "config.json")))
    t = st.load_checkpoint_f32(d)
    x, y = load_ref(d, 1, 64, "x"), load_ref(d, 1, 64, "y")
    same_bits(ref.swiglu_mlp(x, t["model.layers.1.mlp.gate_proj.weight"], t["model.layers.1.mlp.up_proj.weight"],
                             t["model.layers.1.mlp.down_proj.weight"]), y, "dense layer 1")
    expect(t["model.layers.1.mlp.gate_proj.weight"].shape == (cfg["intermediate_size"], cfg["hidden_size"]), "dense width")
    x = load_ref(d, 2, 64, "x")
    y_no_shared, _, _ = ref.qwen3_moe_moe(x, t, dict(cfg, mlp_only_layers=[1]), 2)
    y = load_ref(d, 2, 64, "y")
    shared = y.astype(np.float64) - y_no_shared
    p = "model.layers.2.mlp."
    want = ref.sigmoid(ref.linear(x, t[p + "shared_expert_gate.weight"])) * ref.dense_ffn(x, t, p + "shared_expert.")
    close(shared, want, 1e-4, 1e-5, "shared expert part")
    expect(np.max(np.abs(want)) > 1e-2, "shared expert contributes")


@check
def invariants_deepseek_v3():
    for i, d, cfg, arch, t in _layers("deepseek_v3"):
        E, k, G, TG = cfg["n_routed_experts"], cfg["num_experts_per_tok"], cfg["n_group"], cfg["topk_group"]
        rsf = cfg["routed_scaling_factor"]
        p = "model.layers.%d.mlp." % i
        changed = 0
        for T in TOKENS:
            x, idx, w = (load_ref(d, i, T, s) for s in ("x", "indices", "weights"))
            _route_basics(idx, w, T, k, E)
            groups = idx // (E // G)
            expect(all(len(set(r.tolist())) <= TG for r in groups), "more than topk_group groups used")
            s = ref.sigmoid(ref.linear(x, t[p + "gate.weight"]))
            sel = np.take_along_axis(s, idx, -1).astype(np.float64)
            close(w, sel / sel.sum(-1, keepdims=True) * rsf, 2e-7, 0, "weights = unbiased s, normalized, scaled")
            q = sel + t[p + "gate.e_score_correction_bias"][idx]
            if T == 333:
                expect(not np.allclose(w, q / q.sum(-1, keepdims=True) * rsf, rtol=1e-3),
                       "weights look biased")
            close(w.astype(np.float64).sum(-1), np.full(T, rsf), 1e-6, 0, "weights sum to routed_scaling_factor")
            tb = dict(t)
            tb[p + "gate.e_score_correction_bias"] = np.zeros(E, np.float32)
            _, idx0, _ = ref.deepseek_v3_moe(x, tb, cfg, i)
            changed += sum(set(a.tolist()) != set(b.tolist()) for a, b in zip(idx, idx0))
        expect(changed > 0.1 * sum(TOKENS), "bias changed only %d selections" % changed)
        print("    (layer %d: the correction bias changes %d of %d selections)" % (i, changed, sum(TOKENS)))


@check
def invariants_deepseek_v2():
    for i, d, cfg, arch, t in _layers("deepseek_v2"):
        E, k, G, TG = cfg["n_routed_experts"], cfg["num_experts_per_tok"], cfg["n_group"], cfg["topk_group"]
        p = "model.layers.%d.mlp." % i
        expect(t[p + "shared_experts.gate_proj.weight"].shape[0] == cfg["moe_intermediate_size"] * cfg["n_shared_experts"],
               "shared width")
        limited = 0
        for T in TOKENS:
            x, idx, w = (load_ref(d, i, T, s) for s in ("x", "indices", "weights"))
            _route_basics(idx, w, T, k, E)
            expect(all(len(set(r.tolist())) <= TG for r in idx // (E // G)), "more than topk_group groups")
            pr = ref.softmax(ref.linear(x, t[p + "gate.weight"]))
            close(w, np.take_along_axis(pr, idx, -1) * cfg["routed_scaling_factor"], 1e-7, 0, "w = p * rsf")
            g, _ = ref.topk_desc(pr, k)
            limited += sum(set(a.tolist()) != set(b.tolist()) for a, b in zip(idx, g))
        expect(limited > 0, "group limit never mattered")
    # greedy + normalization path (k > 1): weights sum to 1 (+1e-20), no scaling
    i, d, cfg, arch, t = _layers("deepseek_v2")[0]
    x = load_ref(d, i, 64, "x")
    c2 = dict(cfg, topk_method="greedy", norm_topk_prob=True)
    _, idx, w = ref.deepseek_v2_moe(x, t, c2, i)
    close(w.astype(np.float64).sum(-1), np.ones(64), 1e-6, 0, "v2 normalized weights")
    c3 = dict(cfg, topk_method="greedy", norm_topk_prob=True, num_experts_per_tok=1)
    _, idx, w = ref.deepseek_v2_moe(x, t, c3, i)
    pr = ref.softmax(ref.linear(x, t["model.layers.%d.mlp.gate.weight" % i]))
    close(w[:, 0], pr.max(-1) * cfg["routed_scaling_factor"], 1e-7, 0, "v2 k=1 ignores norm, scales")


@check
def invariants_switch():
    dropped_at_64 = 0
    for i, d, cfg, arch, t in _layers("switch_transformers"):
        E, C = cfg["num_experts"], cfg["expert_capacity"]
        for T in TOKENS:
            x, y, idx, w = (load_ref(d, i, T, s) for s in ("x", "y", "indices", "weights"))
            _route_basics(idx, w, T, 1, E, allow_drop=True)
            drop = idx[:, 0] < 0
            same_bits(y[drop], w[drop] * x[drop], "dropped tokens are exactly p_max * x")
            counts = np.bincount(idx[idx >= 0], minlength=E)
            expect(np.all(counts <= C), "capacity exceeded")
            aux = {}
            ref.forward_layer(arch, x, t, cfg, i, aux)
            for e in range(E):
                toks = np.nonzero(aux["expert"] == e)[0]
                expect(np.all(idx[toks[:C], 0] == e) and np.all(idx[toks[C:], 0] == -1),
                       "expert %d did not admit its first C tokens" % e)
            close(w[:, 0], aux["probs"].max(-1), 0, 0, "weights are p_max")
            if T == 64:
                dropped_at_64 += int(drop.sum())
            if T == 1:
                expect(not drop.any(), "dropped at T=1")
    expect(dropped_at_64 > 0, "no token dropped at T=64")


@check
def invariants_generic():
    for name in ("generic_topk_drop", "generic_topk_reroute"):
        seen_drop = seen_reroute = 0
        for i, d, cfg, arch, t in _layers(name):
            E, k = cfg["num_experts"], cfg["num_experts_per_tok"]
            for T in TOKENS:
                x, idx, w = (load_ref(d, i, T, s) for s in ("x", "indices", "weights"))
                _route_basics(idx, w, T, k, E, allow_drop=True)
                C = ref.token_choice_capacity(T, k, E, cfg["capacity_factor"])
                expect(np.all(np.bincount(idx[idx >= 0], minlength=E) <= C), "capacity exceeded")
                close(w.astype(np.float64).sum(-1), np.ones(T), 1e-6, 0, "weights renormalized before capacity")
                aux = {}
                ref.forward_layer(arch, x, t, cfg, i, aux)
                orig = aux["original_indices"]
                seen_drop += int(np.sum(idx < 0))
                seen_reroute += int(np.sum((idx >= 0) & (idx != orig)))
                if cfg["overflow_policy"] == "drop":
                    expect(np.all((idx == orig) | (idx == -1)), "drop policy moved a copy")
        expect(seen_drop > 0, "%s: nothing dropped" % name)
        expect((seen_reroute > 0) == (name == "generic_topk_reroute"), "%s: reroutes %d" % (name, seen_reroute))
    for i, d, cfg, arch, t in _layers("generic_expert_choice"):
        E = cfg["num_experts"]
        for T in TOKENS:
            idx, w = load_ref(d, i, T, "indices"), load_ref(d, i, T, "weights")
            C = min(T, math.ceil(cfg["capacity_factor"] * T / E))
            expect(idx.shape == (E, C) and w.shape == (E, C), "expert choice shapes")
            expect(all(len(set(r.tolist())) == C for r in idx), "duplicate tokens in an expert")
            expect(np.all(np.diff(w, axis=-1) <= 0), "expert choice scores descending")
    for i, d, cfg, arch, t in _layers("generic_dense"):
        for T in TOKENS:
            idx, w = load_ref(d, i, T, "indices"), load_ref(d, i, T, "weights")
            same_bits(idx, np.tile(np.arange(cfg["num_experts"], dtype=np.int32), (T, 1)), "dense indices")
            close(w.astype(np.float64).sum(-1), np.ones(T), 1e-6, 0, "dense weights = softmax")
    clamped = 0
    for i, d, cfg, arch, t in _layers("generic_topk_clamped"):
        x = load_ref(d, i, 333, "x")
        g = np.einsum("th,efh->tef", x, t["layers.%d.experts.gate_proj" % i])
        u = np.einsum("th,efh->tef", x, t["layers.%d.experts.up_proj" % i])
        clamped += int(np.sum(g > 7.0)) + int(np.sum(np.abs(u) > 7.0))
    expect(clamped > 100, "clamp limit rarely reached (%d)" % clamped)


@check
def cli_sharded_bf16_single_arch():
    out = os.path.join(tmpdir(), "cli_mixtral")
    mk.main(["--arch", "mixtral", "--out", out, "--dtype", "bf16", "--shards", "4", "--seed", "5",
             "--tokens", "3,5", "--layers", "3", "--set", "hidden_size=75", "--set", "intermediate_size=43", "-q"])
    cfg = json.load(open(os.path.join(out, "config.json")))
    expect(cfg["num_hidden_layers"] == 3 and cfg["hidden_size"] == 75 and cfg["torch_dtype"] == "bfloat16", "config")
    files = sorted(f for f in os.listdir(out) if f.endswith(".safetensors"))
    expect(files == ["model-0000%d-of-00004.safetensors" % i for i in range(1, 5)], "shards %s" % files)
    expect(not os.path.exists(os.path.join(out, "model.safetensors")), "stray single file")
    t = st.load_checkpoint_f32(out)
    expect(t["model.layers.2.block_sparse_moe.experts.11.w2.weight"].shape == (75, 43), "override shapes")
    x = load_ref(out, 2, 5, "x")
    y, _, _ = ref.mixtral_moe(x, t, cfg, 2)
    same_bits(y, load_ref(out, 2, 5, "y"), "cli reference")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-k", default="", help="run only checks whose name contains this")
    ap.add_argument("-v", action="store_true", help="print tracebacks")
    a = ap.parse_args()
    passed = failed = 0
    t0 = time.time()
    try:
        for fn in CHECKS:
            if a.k not in fn.__name__:
                continue
            t1 = time.time()
            try:
                fn()
                passed += 1
                print("PASS %s (%.2f s)" % (fn.__name__, time.time() - t1))
            except Exception as e:  # noqa: BLE001
                failed += 1
                print("FAIL %s: %s: %s" % (fn.__name__, type(e).__name__, e))
                if a.v:
                    traceback.print_exc()
    finally:
        if "root" in _TMP:
            shutil.rmtree(_TMP["root"], ignore_errors=True)
    print("total %.1f s" % (time.time() - t0))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
