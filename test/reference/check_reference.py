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
import quant  # noqa: E402
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
    if arch == "gpt_oss":
        p = "model.layers.%d.mlp." % layer
        k = cfg["num_experts_per_tok"]
        alpha, limit = cfg.get("swiglu_alpha", 1.702), cfg.get("swiglu_limit", 7.0)
        GU, GUb = t[p + "experts.gate_up_proj"], t[p + "experts.gate_up_proj_bias"]
        D, Db = t[p + "experts.down_proj"], t[p + "experts.down_proj_bias"]
        for i in range(T):
            lg = t[p + "router.weight"] @ X[i] + t[p + "router.bias"]
            sel = n_rank(lg)[:k]
            ex = np.exp(np.array([lg[e] for e in sel]) - max(lg[e] for e in sel))
            r = {e: ex[j] / ex.sum() for j, e in enumerate(sel)}
            for e in sorted(r):
                gu = X[i] @ GU[e] + GUb[e]
                g = np.minimum(gu[0::2], limit)
                u = np.clip(gu[1::2], -limit, limit)
                h = (u + 1.0) * g * n_sigmoid(alpha * g)
                Y[i] += r[e] * (h @ D[e] + Db[e])
            routes.append(r)
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
    if kw.get("weight_format") is None:
        kw.pop("weight_format", None)
    if name in mk.ALL_GENERIC:
        v, a = mk.ALL_GENERIC[name]
        return mk.build("generic", out, variant=v, act=a, quiet=True, **kw)
    return mk.build(name, out, quiet=True, **kw)


def tmpdir():
    if "root" not in _TMP:
        _TMP["root"] = tempfile.mkdtemp(prefix="moec_ref_check_")
    return _TMP["root"]


def built(name, dtype="f32", shards=1, wf=None):
    key = (name, dtype, shards) if wf is None else (name, dtype, shards, wf)
    if key not in _TMP:
        out = os.path.join(tmpdir(), "%s_%s_%d%s" % (name, dtype, shards, "" if wf is None else "_" + wf))
        _build(name, out, dtype=dtype, shards=shards, tokens=TOKENS, weight_format=wf)
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


def _stored_layout(arch, cfg, dtype, wf):
    """name -> (dtype string, shape) that a checkpoint should hold."""
    out = {}
    for n, shape in ref.param_shapes(arch, cfg).items():
        plain = "F32" if (dtype == "f32" or n.endswith("e_score_correction_bias")) else dtype.upper()
        if wf == "fp8" and mk.is_fp8_weight(n):
            out[n] = ("F8_E4M3", tuple(shape))
            out[n + "_scale_inv"] = ("F32", tuple(shape[:-2]) + tuple(-(-d // 128) for d in shape[-2:]))
        elif wf == "mxfp4" and n.endswith(("experts.gate_up_proj", "experts.down_proj")):
            E, K, N = shape  # dequantized [E, K, N]; stored by rows [E, N, K/32, 16]
            out[n + "_blocks"] = ("U8", (E, N, K // 32, 16))
            out[n + "_scales"] = ("U8", (E, N, K // 32))
        else:
            out[n] = (plain, tuple(shape))
    return out


def _verify_checkpoint(name, dtype, shards, naive=True, wf=None):
    d = built(name, dtype, shards, wf)
    cfg = json.load(open(os.path.join(d, "config.json")))
    arch = ref.arch_of(cfg)
    tensors, dts = st.load_checkpoint(d)
    man = json.load(open(os.path.join(d, "ref", "manifest.json")))
    fmt = man.get("weight_format", "none")
    expect(fmt == (wf or ("mxfp4" if arch == "gpt_oss" else "none")), "manifest weight_format %s" % fmt)
    layout = _stored_layout(arch, cfg, dtype, fmt)
    expect(set(tensors) == set(layout), "tensor names: %s" % sorted(set(tensors) ^ set(layout))[:4])
    for n, a in tensors.items():
        expect(tuple(a.shape) == layout[n][1], "%s shape %s, want %s" % (n, a.shape, layout[n][1]))
        expect(dts[n] == layout[n][0], "%s stored as %s, want %s" % (n, dts[n], layout[n][0]))
    if fmt == "none":
        vals = {n: st.to_f32(a, dts[n]) for n, a in tensors.items()}
    else:
        vals = quant.dequantize_tensors(tensors, dts)
        expect(set(vals) == set(ref.param_shapes(arch, cfg)), "dequantized names")
    v64 = {n: a.astype(np.float64) for n, a in vals.items()}
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


def _make_arch_check(name, dtype, shards, naive, wf=None):
    def fn():
        _verify_checkpoint(name, dtype, shards, naive, wf)
    fn.__name__ = "checkpoint_%s_%s%s_shards%d%s" % (name, dtype, "" if wf is None else "_" + wf, shards,
                                                    "" if naive else "_reload")
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


# ============================================================================
# quantized formats (quant.py), each against the spec written out again here

def n_e4m3(code):
    """An e4m3 code's value from the spec, in float64 (None for NaN)."""
    s, e, m = code >> 7, (code >> 3) & 15, code & 7
    if e == 15 and m == 7:
        return None
    v = (m / 8.0) * 2.0 ** -6 if e == 0 else (1.0 + m / 8.0) * 2.0 ** (e - 7)
    return -v if s else v


def n_e2m1(code):
    s, e, m = (code >> 3) & 1, (code >> 1) & 3, code & 1
    v = m * 0.5 if e == 0 else (1.0 + m / 2.0) * 2.0 ** (e - 1)
    return -v if s else v


def n_nearest_even(x, table):
    """Brute force: the code of the table value nearest to |x| (ties: even code),
    saturating at the last."""
    a = abs(float(x))
    if a >= table[-1]:
        return len(table) - 1
    best = min(range(len(table)), key=lambda c: (abs(a - table[c]), c % 2))
    return best


@check
def e4m3_known_codes_and_all_256():
    d = quant.decode_e4m3(np.arange(256, dtype=np.uint8))
    expect(d.dtype == np.float32, "decode dtype")
    known = {0x00: 0.0, 0x01: 2.0 ** -9, 0x07: 7 * 2.0 ** -9, 0x08: 2.0 ** -6, 0x38: 1.0,
             0x7E: 448.0, 0xFE: -448.0, 0x40: 2.0, 0x3F: 1.875, 0x77: 240.0, 0x78: 256.0, 0x80: -0.0}
    for c, v in known.items():
        expect(float(d[c]) == v, "e4m3 0x%02X = %r, want %r" % (c, float(d[c]), v))
    expect(np.signbit(d[0x80]) and not np.signbit(d[0x00]), "signed zeros")
    expect(np.isnan(d[0x7F]) and np.isnan(d[0xFF]) and int(np.isnan(d).sum()) == 2, "exactly 0x7F/0xFF NaN")
    expect(not np.any(np.isinf(d)), "no infinities")
    for c in range(256):
        v = n_e4m3(c)
        expect((v is None and np.isnan(d[c])) or float(d[c]) == v, "e4m3 0x%02X vs spec" % c)
    expect(float(np.nanmax(d)) == 448.0 and float(np.nanmin(d)) == -448.0, "range +-448")


@check
def e4m3_encode_round_trip_ties_and_saturation():
    codes = np.array([c for c in range(256) if (c & 0x7F) != 0x7F], dtype=np.uint8)
    same_bits(quant.encode_e4m3(quant.decode_e4m3(codes)), codes, "encode(decode(c)) for the 254 finite codes")
    table = [n_e4m3(c) for c in range(0x7F)]
    for c in range(0x7E):
        mid = (table[c] + table[c + 1]) / 2.0
        expect(float(np.float32(mid)) == mid, "midpoint exact in f32")
        even = c if c % 2 == 0 else c + 1
        for sign in (1.0, -1.0):
            got = int(quant.encode_e4m3(np.array([sign * mid], np.float32))[0])
            want = even | (0x80 if sign < 0 else 0)
            expect(got == want, "tie %r -> 0x%02X, want 0x%02X" % (sign * mid, got, want))
        below = np.nextafter(np.float32(mid), np.float32(0))
        above = np.nextafter(np.float32(mid), np.float32(1e9))
        expect(int(quant.encode_e4m3(np.array([below], np.float32))[0]) == c, "just below a midpoint")
        expect(int(quant.encode_e4m3(np.array([above], np.float32))[0]) == c + 1, "just above a midpoint")
    sat = np.array([448.0, 449.0, 464.0, 480.0, 1e6, 3e38, -449.0, -1e30], np.float32)
    same_bits(quant.encode_e4m3(sat), np.array([0x7E] * 6 + [0xFE] * 2, np.uint8), "saturation at +-448")
    odd = quant.encode_e4m3(np.array([np.nan, np.inf, -np.inf, -0.0, 2.0 ** -11], np.float32))
    same_bits(odd, np.array([0x7F, 0x7F, 0xFF, 0x80, 0x00], np.uint8), "NaN/inf -> NaN code, -0, underflow")
    # random floats over the whole range against the brute-force nearest-even
    rng = np.random.default_rng(5)
    x = (rng.standard_normal(3000) * np.exp2(rng.uniform(-14, 10, 3000))).astype(np.float32)
    got = quant.encode_e4m3(x)
    for xi, g in zip(x, got):
        want = n_nearest_even(xi, table) | (0x80 if xi < 0 else 0)
        expect(int(g) == want, "encode(%r) = 0x%02X, want 0x%02X" % (float(xi), g, want))


@check
def fp8_block_quantize_dequantize():
    rng = np.random.default_rng(9)
    w = rng.standard_normal((2, 300, 200)).astype(np.float32)
    # very different magnitudes per block, and an all-zero block
    w[0, :128, :128] *= np.float32(1e-3)
    w[1, 256:, 128:] *= np.float32(300.0)
    w[0, 128:256, 128:] = 0
    codes, s = quant.quantize_fp8_block(w)
    expect(codes.dtype == np.uint8 and codes.shape == w.shape, "codes")
    expect(s.dtype == np.float32 and s.shape == (2, 3, 2), "scale_inv shape %s" % (s.shape,))
    deq = quant.dequant_fp8_block(codes, s)
    expect(deq.dtype == np.float32 and deq.shape == w.shape, "dequant shape")
    for b in range(2):
        for i in range(3):
            for j in range(2):
                blk = (b, slice(128 * i, 128 * (i + 1)), slice(128 * j, 128 * (j + 1)))
                amax = float(np.max(np.abs(w[blk])))
                if amax == 0:
                    expect(s[b, i, j] == 1.0 and not codes[blk].any(), "all-zero block: scale 1, codes 0")
                    continue
                expect(s[b, i, j] == np.float32(np.float32(amax) / np.float32(448)), "scale = amax / 448 in f32")
                expect(np.max(np.abs(deq[blk].astype(np.float64) - w[blk])) <= amax * 2.0 ** -4,
                       "block error above 2^-4 amax")
                # the largest value lands on +-448 (scale rounding may put it just above: saturation)
                expect(int(np.max(codes[blk] & 0x7F)) == 0x7E, "block amax not at 448")
                # each code is the nearest e4m3 (ties even) of float32(w / scale)
                q = (w[blk] / s[b, i, j]).astype(np.float32)
                same_bits(codes[blk], quant.encode_e4m3(q), "codes = RNE(w / scale)")
                # half an ulp at each value's own binade (plus f32 rounding of q)
                dq = quant.decode_e4m3(codes[blk]).astype(np.float64)
                ulp = np.exp2(np.maximum(np.floor(np.log2(np.maximum(np.abs(dq), 2.0 ** -6))), -6) - 3)
                expect(np.all(np.abs(dq - q) <= ulp / 2 * (1 + 1e-6)), "code more than half an ulp away")
    # dequantization is one f32 product with the block's scale
    want = (quant.decode_e4m3(codes).astype(np.float64)
            * np.repeat(np.repeat(s, 128, 1), 128, 2)[:, :300, :200]).astype(np.float32)
    same_bits(deq, want, "decode * scale rounded once to f32")
    # ragged edge blocks pick the right scale
    ones = np.full((130, 129), 0x38, np.uint8)
    sc = np.array([[2.0, 3.0], [5.0, 7.0]], np.float32)
    dq = quant.dequant_fp8_block(ones, sc)
    expect(dq[127, 127] == 2 and dq[127, 128] == 3 and dq[128, 127] == 5 and dq[129, 128] == 7, "edge blocks")
    for bad in (np.ones((2, 2), np.float32), np.ones((2, 3), np.float32)):
        try:
            quant.dequant_fp8_block(ones, bad[:1] if bad.shape == (2, 2) else bad)
        except quant.QuantError:
            continue
        raise Fail("wrong scale shape accepted")
    try:
        quant.quantize_fp8_block(np.array([[np.inf]], np.float32))
    except quant.QuantError:
        pass
    else:
        raise Fail("inf quantized")


@check
def e2m1_e8m0_known_values():
    d = quant.decode_e2m1(np.arange(16))
    same_bits(d, np.array([0, .5, 1, 1.5, 2, 3, 4, 6, -0.0, -.5, -1, -1.5, -2, -3, -4, -6], np.float32), "e2m1 table")
    for c in range(16):
        expect(float(d[c]) == n_e2m1(c), "e2m1 %d vs spec" % c)
    same_bits(quant.encode_e2m1(d), np.arange(16, dtype=np.uint8), "e2m1 round trip")
    x = np.array([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, 7.0, 100.0, -5.0, -0.25, 0.26, 5.01], np.float32)
    same_bits(quant.encode_e2m1(x), np.array([0, 2, 2, 4, 4, 6, 6, 7, 7, 14, 8, 1, 7], np.uint8),
              "e2m1 ties to even, saturation")
    e = quant.decode_e8m0(np.array([0, 1, 126, 127, 128, 254, 255], np.uint8))
    expect(float(e[0]) == 2.0 ** -127 and float(e[1]) == 2.0 ** -126 and float(e[2]) == 0.5
           and float(e[3]) == 1.0 and float(e[4]) == 2.0 and float(e[5]) == 2.0 ** 127 and np.isnan(e[6]),
           "e8m0 values %s" % e)


def n_mxfp4_row(blocks, scales, idx):
    """One dequantized row [K] from blocks [..., N, G, 16], scales [..., N, G]:
    element k is in byte k//2 of block k//32 (k even: low nibble)."""
    b, sc = blocks[idx], scales[idx]
    out = []
    for k in range(b.shape[0] * 32):
        byte = int(b[k // 32, (k % 32) // 2])
        nib = byte & 15 if k % 2 == 0 else byte >> 4
        out.append(n_e2m1(nib) * 2.0 ** (int(sc[k // 32]) - 127))
    return np.array(out)


@check
def mxfp4_nibble_order_and_round_trip():
    # byte 0x21: element 0 = low nibble 1 (0.5), element 1 = high nibble 2 (1.0)
    blocks = np.zeros((1, 1, 16), np.uint8)
    blocks[0, 0, 0] = 0x21
    blocks[0, 0, 15] = 0xF7  # element 30 = 6, element 31 = -6
    got = quant.dequant_mxfp4(blocks, np.array([[128]], np.uint8))
    expect(got.shape == (1, 32) and got[0, 0] == 1.0 and got[0, 1] == 2.0 and got[0, 30] == 12.0
           and got[0, 31] == -12.0 and not got[0, 2:30].any(), "low nibble = even element, scale 2^1")
    # exactly representable blocks round-trip bit for bit (rule ocp: amax in {4, 6} * 2^X)
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 16, size=(3, 5, 4, 32)).astype(np.uint8)
    codes[..., 7] = rng.choice([6, 7, 14, 15], size=codes.shape[:-1])  # some +-4 or +-6 in each block
    X = rng.integers(-20, 20, size=codes.shape[:-1])
    w = (quant.decode_e2m1(codes).astype(np.float64) * np.exp2(X)[..., None]).astype(np.float32).reshape(3, 5, 128)
    b, sc = quant.quantize_mxfp4(w)
    expect(b.shape == (3, 5, 4, 16) and sc.shape == (3, 5, 4), "mxfp4 shapes")
    same_bits(sc, (X + 127).astype(np.uint8), "shared exponents")
    same_bits(quant.unpack_fp4(b), codes, "codes")
    same_bits(quant.dequant_mxfp4(b, sc), w, "exact round trip")
    for idx in ((0, 0), (2, 4), (1, 3)):
        close(quant.dequant_mxfp4(b, sc)[idx], n_mxfp4_row(b, sc, idx), 0, 0, "vs the naive row decoder")
    # random values: X = floor(log2 amax) - 2, codes nearest-even of w / 2^X, saturating at 6
    w = (rng.standard_normal((4, 8, 96)) * np.exp2(rng.uniform(-8, 8, (4, 8, 1)))).astype(np.float32)
    w[0, 0, :32] = 0
    table = [n_e2m1(c) for c in range(8)]
    for rule in ("ocp", "ceil"):
        b, sc = quant.quantize_mxfp4(w, rule)
        g = w.reshape(4, 8, 3, 32).astype(np.float64)
        amax = np.abs(g).max(-1)
        Xs = sc.astype(np.int64) - 127
        expect(Xs[0, 0, 0] == 0, "zero block gets 2^0")
        nz = amax > 0
        r = amax[nz] / np.exp2(Xs[nz])
        if rule == "ocp":
            expect(np.all((r >= 4) & (r < 8)), "ocp: amax / 2^X in [4, 8)")
        else:
            expect(np.all((r > 3) & (r <= 6)), "ceil: amax / 2^X in (3, 6]")
        cds = quant.unpack_fp4(b)
        for idx in [(0, 1, 2), (3, 7, 0), (2, 2, 1)]:
            for j in range(32):
                v = g[idx][j] / 2.0 ** Xs[idx]
                want = n_nearest_even(v, table) | (8 if np.signbit(np.float32(g[idx][j])) else 0)
                expect(int(cds[idx][j]) == want, "%s code %s[%d]" % (rule, idx, j))
        deq = quant.dequant_mxfp4(b, sc).reshape(4, 8, 3, 32)
        bound = np.exp2(Xs)[..., None] * (2.0 if rule == "ocp" else 1.0)
        expect(np.all(np.abs(deq - g) <= bound), "%s: error above the step" % rule)


@check
def safetensors_u8_and_f8_e4m3():
    d = tempfile.mkdtemp()
    try:
        codes = np.arange(256, dtype=np.uint8).reshape(16, 16)
        u8 = np.arange(10, dtype=np.uint8)
        path = os.path.join(d, "q.safetensors")
        st.save_file({"w": codes, "u": u8, "s": np.ones((1, 1), np.float32)}, path, dtypes={"w": "F8_E4M3"})
        infos, _, _ = st.read_header(path)
        expect(infos["w"]["dtype"] == "F8_E4M3" and infos["u"]["dtype"] == "U8", "header dtypes")
        expect(infos["w"]["data_offsets"][1] - infos["w"]["data_offsets"][0] == 256, "one byte per code")
        t, dts, _ = st.load_file_full(path)
        same_bits(t["w"], codes, "F8_E4M3 codes read back as uint8")
        same_bits(t["u"], u8, "U8")
        expect(dts["w"] == "F8_E4M3" and dts["u"] == "U8", "dtypes read back")
        same_bits(st.to_f32(t["u"], "U8"), u8.astype(np.float32), "U8 to f32")
        try:
            st.to_f32(t["w"], "F8_E4M3")
        except st.SafetensorsError as e:
            expect("scale" in str(e), "refusal says why")
        else:
            raise Fail("to_f32 converted F8_E4M3 silently")
        same_bits(st.to_f32(t["w"], "F8_E4M3", fp8_unscaled=True), quant.decode_e4m3(codes), "explicit decode")
        try:
            st.save_file({"w": codes.astype(np.int8)}, path, dtypes={"w": "F8_E4M3"})
        except st.SafetensorsError:
            pass
        else:
            raise Fail("int8 stored as F8_E4M3")
    finally:
        shutil.rmtree(d)


# ============================================================================
# quantized checkpoints

FP8_ARCHES = list(mk.HF_ARCHES)
for _n in FP8_ARCHES:
    CHECKS.append(_make_arch_check(_n, "f32", 1, _n in ("mixtral", "qwen3_moe", "deepseek_v3"), "fp8"))
CHECKS.append(_make_arch_check("deepseek_v3", "bf16", 3, False, "fp8"))
CHECKS.append(_make_arch_check("gpt_oss", "f32", 1, True, "mxfp4"))
CHECKS.append(_make_arch_check("gpt_oss", "bf16", 2, True, "mxfp4"))
CHECKS.append(_make_arch_check("gpt_oss", "f32", 1, True, "none"))


@check
def fp8_checkpoints_scales_dims_and_config():
    for name in FP8_ARCHES:
        d = built(name, "f32", 1, "fp8")
        cfg = json.load(open(os.path.join(d, "config.json")))
        expect(cfg["quantization_config"] == {"quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic",
                                              "weight_block_size": [128, 128]}, "%s quantization_config" % name)
        tensors, dts = st.load_checkpoint(d)
        try:
            st.load_checkpoint_f32(d)
        except st.SafetensorsError:
            pass
        else:
            raise Fail("load_checkpoint_f32 converted fp8 without scales")
        fp8 = [n for n in tensors if dts[n] == "F8_E4M3"]
        expect(fp8 and all(mk.is_fp8_weight(n) for n in fp8), "%s: fp8 tensors" % name)
        expect(not any(n.endswith(("gate.weight", "classifier.weight", "bias")) and dts[n] == "F8_E4M3"
                       for n in tensors), "router quantized")
        ragged = multi = 0
        for n in fp8:
            N, K = tensors[n].shape
            s = tensors[n + "_scale_inv"]
            expect(s.shape == (-(-N // 128), -(-K // 128)) and dts[n + "_scale_inv"] == "F32", "%s scale shape" % n)
            ragged += (N % 128 != 0) + (K % 128 != 0)
            multi += (N > 128) + (K > 128)
            # the codes are the quantized random f32 weights
            if n.endswith(("experts.0.gate_proj.weight", "experts.1.w2.weight", "shared_experts.up_proj.weight",
                           "mlp.down_proj.weight", "expert_0.wo.weight")):
                shape = ref.param_shapes(ref.arch_of(cfg), cfg)[n]
                c2, s2 = quant.quantize_fp8_block(mk.random_tensor(0, n, shape, mk.init_scale(n, shape, cfg)))
                same_bits(c2, tensors[n], n + " codes")
                same_bits(s2, s, n + " scales")
        expect(ragged > 0 and multi > 0, "%s: blocks not ragged/multiple" % name)
        vals = st.load_checkpoint_f32(d, dequantize=True)
        some = fp8[0]
        expect(not np.array_equal(vals[some], mk.random_tensor(0, some, vals[some].shape, 1.0)), "dequantized")
    expect(mk.FP8_DIMS["deepseek_v3"]["hidden_size"] == 200, "documented dims")
    # --ffn-dtype is refused with a quantized format (but bf16 with fp8 or mxfp4: the
    # cuda target's reading); fp8 is refused for generic
    for argv in (["--arch", "mixtral", "--weight-format", "fp8", "--ffn-dtype", "f16"],
                 ["--arch", "gpt_oss", "--ffn-dtype", "f32"],
                 ["--arch", "generic", "--weight-format", "fp8"],
                 ["--arch", "qwen3_moe", "--weight-format", "mxfp4"]):
        try:
            mk.main(argv + ["--out", os.path.join(tmpdir(), "refused"), "-q"])
        except SystemExit as e:
            expect(isinstance(e.code, str) and "--" in e.code, "%s: no message" % argv)
            continue
        raise Fail("accepted %s" % argv)
    expect(not os.path.exists(os.path.join(tmpdir(), "refused", "config.json")), "refused run wrote files")


@check
def quantized_with_bf16_operands():
    # --weight-format fp8|mxfp4 --ffn-dtype bf16: the same checkpoint, a
    # reference whose FFN operands are the dequantized weights and the
    # activations rounded to bf16 (the cuda target's fp8 and mxfp4 semantics):
    # close to the f32 one, but not equal.
    for arch, fmt in (("qwen3_moe", "fp8"), ("gpt_oss", "mxfp4")):
        outs = {}
        for ffn in ("f32", "bf16"):
            outs[ffn] = os.path.join(tmpdir(), "%s_ops_%s" % (fmt, ffn))
            mk.main(["--arch", arch, "--out", outs[ffn], "--weight-format", fmt, "--tokens", "9",
                     "--layers", "1", "-q"] + (["--ffn-dtype", ffn] if ffn != "f32" else []))
        a, b = (open(os.path.join(outs[f], "model.safetensors"), "rb").read() for f in ("f32", "bf16"))
        expect(a == b, "the %s weights differ" % fmt)
        ya, yb = (load_ref(outs[f], 0, 9, "y") for f in ("f32", "bf16"))
        rel = np.abs(ya - yb).max() / np.abs(ya).max()
        expect(1e-4 < rel < 2e-2, "bf16 operands changed the %s output by %g (relative)" % (fmt, rel))
        manifest = json.load(open(os.path.join(outs["bf16"], "ref", "manifest.json")))
        expect(manifest["ffn_dtype"] == "bf16" and manifest["weight_format"] == fmt, "manifest")


@check
def activation_dtype_rounds_where_the_dialect_does():
    # --act-dtype bf16|f16: x and y hold values of that type; the output
    # differs from the f32 computation on the same x (every intermediate
    # rounding counts), and an x that is not of that type is refused.
    for act, rnd in (("bf16", ref.round_bf16), ("f16", ref.round_f16)):
        out = os.path.join(tmpdir(), "act_" + act)
        mk.main(["--arch", "qwen2_moe", "--out", out, "--dtype", "bf16", "--act-dtype", act,
                 "--tokens", "9", "-q"])
        manifest = json.load(open(os.path.join(out, "ref", "manifest.json")))
        expect(manifest["act_dtype"] == act, "manifest act_dtype")
        cfg = json.load(open(os.path.join(out, "config.json")))
        tensors = st.load_file(os.path.join(out, "model.safetensors"), bf16_as_f32=True)
        for layer in range(cfg["num_hidden_layers"]):
            x, y = load_ref(out, layer, 9, "x"), load_ref(out, layer, 9, "y")
            same_bits(rnd(x), x, "x of %s" % act)
            same_bits(rnd(y), y, "y of %s" % act)
            try:
                ref.ACT_DTYPE = act
                yr, _, _ = ref.forward_layer("qwen2_moe", x, tensors, cfg, layer)
                same_bits(yr, y, "the reference's y again (%s)" % act)
                bad = x.copy()
                bad[0, 0] = np.float32(1 + 2.0 ** -20)
                try:
                    ref.forward_layer("qwen2_moe", bad, tensors, cfg, layer)
                    expect(False, "an x that is not %s was accepted" % act)
                except ValueError:
                    pass
                ref.ACT_DTYPE = None
                yf, _, _ = ref.forward_layer("qwen2_moe", x, tensors, cfg, layer)
            finally:
                ref.ACT_DTYPE = None
            differ = np.count_nonzero(rnd(yf) != y)
            expect(differ > y.size // 10,
                   "%s: only %d of %d elements change without the inner roundings" % (act, differ, y.size))


@check
def fp8_cli_set_overrides():
    out = os.path.join(tmpdir(), "cli_fp8")
    mk.main(["--arch", "qwen3_moe", "--out", out, "--weight-format", "fp8", "--tokens", "5", "--layers", "1",
             "--set", "hidden_size=130", "--set", "moe_intermediate_size=257", "--shards", "2", "-q"])
    t, dts = st.load_checkpoint(out)
    n = "model.layers.0.mlp.experts.3.down_proj.weight"
    expect(t[n].shape == (130, 257) and t[n + "_scale_inv"].shape == (2, 3) and dts[n] == "F8_E4M3", "shapes")
    cfg = json.load(open(os.path.join(out, "config.json")))
    vals = st.load_checkpoint_f32(out, dequantize=True)
    x = load_ref(out, 0, 5, "x")
    y, _, _ = ref.qwen3_moe_moe(x, vals, cfg, 0)
    same_bits(y, load_ref(out, 0, 5, "y"), "cli fp8 reference")


@check
def gpt_oss_checkpoint_layout_and_invariants():
    d = built("gpt_oss", "f32", 1, "mxfp4")
    cfg = json.load(open(os.path.join(d, "config.json")))
    expect(cfg["model_type"] == "gpt_oss" and cfg["quantization_config"]["quant_method"] == "mxfp4"
           and "model.layers.*.mlp.router" in cfg["quantization_config"]["modules_to_not_convert"], "config")
    E, k, H, F = cfg["num_local_experts"], cfg["num_experts_per_tok"], cfg["hidden_size"], cfg["intermediate_size"]
    expect(H % 32 == 0 and F % 32 == 0 and H % 128 and F % 128, "dims multiple of 32, not of 128")
    tensors, dts = st.load_checkpoint(d)
    p = "model.layers.1.mlp.experts."
    expect(tensors[p + "gate_up_proj_blocks"].shape == (E, 2 * F, H // 32, 16), "gate_up blocks [E, 2F, H/32, 16]")
    expect(tensors[p + "down_proj_blocks"].shape == (E, H, F // 32, 16), "down blocks [E, H, F/32, 16]")
    vals = st.load_checkpoint_f32(d, dequantize=True)
    # the dequantized layout equals the naive decoder's rows, transposed (transformers)
    gu = vals[p + "gate_up_proj"]
    expect(gu.shape == (E, H, 2 * F) and vals[p + "down_proj"].shape == (E, F, H), "dequantized shapes")
    for e, n in ((0, 0), (3, 1), (E - 1, 2 * F - 1)):
        close(gu[e, :, n], n_mxfp4_row(tensors[p + "gate_up_proj_blocks"], tensors[p + "gate_up_proj_scales"],
                                       (e, n)), 0, 0, "gate_up row %d of expert %d" % (n, e))
    # same matrices as the unquantized (none) checkpoint, up to MXFP4 rounding
    dn = built("gpt_oss", "f32", 1, "none")
    plain = st.load_checkpoint_f32(dn)
    for q in ("gate_up_proj", "down_proj"):
        w = np.ascontiguousarray(np.swapaxes(plain[p + q], 1, 2))
        b, s = quant.quantize_mxfp4(w)
        same_bits(b, tensors[p + q + "_blocks"], q + " blocks = quantized plain weights")
        same_bits(s, tensors[p + q + "_scales"], q + " scales")
    for n in ("router.weight", "router.bias", "experts.down_proj_bias"):
        same_bits(plain["model.layers.1.mlp." + n], vals["model.layers.1.mlp." + n], n + " unquantized")
    clamped = changed = 0
    for i in range(cfg["num_hidden_layers"]):
        pi = "model.layers.%d.mlp." % i
        for T in TOKENS:
            x, idx, w = (load_ref(d, i, T, s) for s in ("x", "indices", "weights"))
            _route_basics(idx, w, T, k, E)
            close(w.astype(np.float64).sum(-1), np.ones(T), 1e-6, 0, "softmax over the top-k sums to 1")
            expect(np.all(np.diff(w, axis=-1) <= 0), "weights descending")
            lg = x.astype(np.float64) @ vals[pi + "router.weight"].T.astype(np.float64)
            nb, _ = ref.topk_desc(lg.astype(np.float32), k)
            changed += sum(set(a.tolist()) != set(b.tolist()) for a, b in zip(idx, nb))
            h = np.einsum("th,ehf->tef", x, vals[pi + "experts.gate_up_proj"]) + vals[pi + "experts.gate_up_proj_bias"]
            clamped += int(np.sum(h[..., 0::2] > 7)) + int(np.sum(np.abs(h[..., 1::2]) > 7))
    expect(changed > 0, "the router bias never mattered")
    expect(clamped > 100, "clamp rarely reached (%d)" % clamped)



@check
def counter_rng_definition():
    """counter_rng: splitmix64's published first output from state 0
    (0xE220A8397B1DCDAF = mix(0)), independent draws per index and stream,
    and normal values with mean 0 and variance 1."""
    import counter_rng as cr
    expect(int(cr.mix(0)) == 0xE220A8397B1DCDAF, "mix(0) is not splitmix64's first output")
    u = cr.uniform(5, 9, np.arange(200000, dtype=np.uint64))
    expect(u.min() > 0 and u.max() < 1 and abs(u.mean() - 0.5) < 0.005, "uniform not in (0, 1)")
    z = cr.normal(5, 9, np.arange(200000, dtype=np.uint64))
    expect(abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01, "normal: mean %g std %g" % (z.mean(), z.std()))
    expect(not np.array_equal(z[:100], cr.normal(5, 10, np.arange(100, dtype=np.uint64))),
           "two streams draw the same values")
    expect(cr.noise_stream("layer_0", 1) == cr.fnv1a32("layer_0") * 256 + 1, "noise_stream")
    expect(cr.fnv1a32("a") == 0xE40C292C, "FNV-1a of 'a'")


@check
def noisy_gating_reference():
    """The noisy router: noise ignored without a seed (the plain top-k), and
    with one the logits move by normal(t*E + e) * softplus(x Wnoise), checked
    against a second computation in float64."""
    rng = np.random.default_rng(3)
    T, H, E = 9, 16, 6
    x = rng.standard_normal((T, H)).astype(np.float32)
    wg = (rng.standard_normal((E, H)) / 4).astype(np.float32)
    wn = (rng.standard_normal((E, H)) / 4).astype(np.float32)
    logits = ref.linear(x, wg)
    noisy = ref.noisy_logits(x, logits, wn, 7, 123)
    import counter_rng as cr
    z = cr.normal(7, 123, np.arange(T * E, dtype=np.uint64)).reshape(T, E)
    sp = np.log1p(np.exp(x.astype(np.float64) @ wn.T.astype(np.float64)))
    close(noisy, logits + z * sp, 1e-5, 1e-5, "noisy logits")
    tensors = {"layers.0.router.weight": wg, "layers.0.router.noise.weight": wn,
               "layers.0.experts.gate_proj": rng.standard_normal((E, 5, H)).astype(np.float32),
               "layers.0.experts.up_proj": rng.standard_normal((E, 5, H)).astype(np.float32),
               "layers.0.experts.down_proj": rng.standard_normal((E, H, 5)).astype(np.float32)}
    cfg = dict(routing="token_choice", num_experts_per_tok=2, norm_topk_prob=True,
               router_noise=True)
    plain_cfg = dict(cfg, router_noise=False)
    out0, idx0, _ = ref.moec_generic_moe(x, tensors, cfg, 0)
    out1, idx1, _ = ref.moec_generic_moe(x, tensors, plain_cfg, 0)
    same_bits(out0, out1, "noise ignored without a seed")
    ref.ROUTER_NOISE_SEED = 7
    try:
        aux = {}
        out2, idx2, _ = ref.moec_generic_moe(x, tensors, cfg, 0, aux)
    finally:
        ref.ROUTER_NOISE_SEED = None
    want = ref.noisy_logits(x, logits, wn, 7, cr.noise_stream("layer_0", 0))
    same_bits(aux["logits"], want, "the layer's noisy logits")
    expect(not np.array_equal(idx2, idx0), "the noise changed no token's experts")


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
