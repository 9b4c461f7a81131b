#!/usr/bin/python3
"""Write a small random MoE checkpoint plus reference inputs/outputs.

    make_checkpoint.py --arch ARCH --out DIR [--dtype f32|bf16|f16] [--shards N]
                       [--seed S] [--tokens 1,7,64,333] [--layers N]
                       [--variant V] [--act A] [--capacity-factor CF]
                       [--weight-format none|fp8|mxfp4] [--ffn-dtype D]
                       [--act-dtype f32|bf16|f16]
                       [--set KEY=JSON ...] [--min-margin M]

ARCH: mixtral qwen2_moe qwen3_moe olmoe deepseek_v3 deepseek_v2
      switch_transformers gpt_oss generic, or "all" (every arch but gpt_oss,
      plus the generic variants, each into DIR/<name>/; with
      --weight-format fp8 only the seven HF arches).

--weight-format fp8 stores the FFN projections (experts, shared experts,
dense MLPs; not routers, gates or biases) as F8_E4M3 codes with a
`<name>_scale_inv` F32 tensor per 128 x 128 block (DeepSeek-V3's format) and
uses larger, ragged default widths. gpt_oss is always written as gpt-oss
ships it, MXFP4 (`--weight-format mxfp4`, its default), or with
`--weight-format none` as plain dequantized tensors.

DIR gets config.json, the weights (model.safetensors, or N shards plus
model.safetensors.index.json), and ref/: manifest.json and, per layer i and
token count T, layer_{i}/x_T{T}.npy, y_T{T}.npy and (sparse layers)
indices_T{T}.npy, weights_T{T}.npy. See README.md.
"""

import argparse
import json
import os
import shutil
import sys
import time
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moe_reference as ref  # noqa: E402
import quant  # noqa: E402
import safetensors_np as st  # noqa: E402

F32 = np.float32
HF_ARCHES = ("mixtral", "qwen2_moe", "qwen3_moe", "olmoe", "deepseek_v3", "deepseek_v2",
             "switch_transformers")
VARIANTS = ("topk", "topk_drop", "topk_reroute", "expert_choice", "dense")
# what --arch all writes besides the HF arches: dir name -> (variant, act)
ALL_GENERIC = {
    "generic_topk_drop": ("topk_drop", "silu"),
    "generic_topk_reroute": ("topk_reroute", "silu"),
    "generic_expert_choice": ("expert_choice", "silu"),
    "generic_dense": ("dense", "silu"),
    "generic_topk_clamped": ("topk", "swiglu_clamped"),
}
TORCH_DTYPE = {"f32": "float32", "bf16": "bfloat16", "f16": "float16"}
# arches that --arch accepts besides HF_ARCHES and generic (not part of "all")
EXTRA_ARCHES = ("gpt_oss",)
WEIGHT_FORMATS = ("none", "fp8", "mxfp4")
# --weight-format fp8: the tensors that are quantized (by name suffix)
FP8_WEIGHT_SUFFIXES = ("gate_proj.weight", "up_proj.weight", "down_proj.weight",
                       "w1.weight", "w2.weight", "w3.weight", "wi.weight", "wo.weight")
# --weight-format fp8: default widths (before --layers and --set), so that the
# 128 x 128 scale blocks are several per matrix and ragged at the edges
FP8_DIMS = {
    "mixtral": dict(hidden_size=200, intermediate_size=136),
    "qwen2_moe": dict(hidden_size=200, moe_intermediate_size=136,
                      shared_expert_intermediate_size=72, intermediate_size=256),
    "qwen3_moe": dict(hidden_size=200, moe_intermediate_size=136, intermediate_size=256),
    "olmoe": dict(hidden_size=200, intermediate_size=136),
    "deepseek_v3": dict(hidden_size=200, moe_intermediate_size=136, intermediate_size=256),
    "deepseek_v2": dict(hidden_size=200, moe_intermediate_size=136, intermediate_size=256),
    "switch_transformers": dict(d_model=200, d_ff=136),
}
FP8_QUANTIZATION_CONFIG = {"quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic",
                           "weight_block_size": [128, 128]}
# as in openai/gpt-oss-20b's config.json
MXFP4_QUANTIZATION_CONFIG = {"modules_to_not_convert": ["model.layers.*.self_attn",
                                                        "model.layers.*.mlp.router",
                                                        "model.embed_tokens", "lm_head"],
                             "quant_method": "mxfp4"}


def default_config(arch, variant="topk_drop", act="silu", capacity_factor=None):
    """The small, deliberately odd-shaped default config of each arch."""
    if arch == "mixtral":
        return dict(model_type="mixtral", architectures=["MixtralForCausalLM"],
                    hidden_size=72, intermediate_size=40, num_local_experts=12,
                    num_experts_per_tok=2, num_hidden_layers=2, hidden_act="silu")
    if arch == "qwen2_moe":
        return dict(model_type="qwen2_moe", architectures=["Qwen2MoeForCausalLM"],
                    hidden_size=72, moe_intermediate_size=40,
                    shared_expert_intermediate_size=56, intermediate_size=88,
                    num_experts=12, num_experts_per_tok=3, norm_topk_prob=False,
                    decoder_sparse_step=1, mlp_only_layers=[1], num_hidden_layers=3,
                    hidden_act="silu")
    if arch == "qwen3_moe":
        return dict(model_type="qwen3_moe", architectures=["Qwen3MoeForCausalLM"],
                    hidden_size=72, moe_intermediate_size=40, intermediate_size=88,
                    num_experts=12, num_experts_per_tok=3, norm_topk_prob=True,
                    decoder_sparse_step=1, mlp_only_layers=[], num_hidden_layers=2,
                    hidden_act="silu")
    if arch == "olmoe":
        return dict(model_type="olmoe", architectures=["OlmoeForCausalLM"],
                    hidden_size=72, intermediate_size=40, num_experts=12,
                    num_experts_per_tok=3, norm_topk_prob=False, num_hidden_layers=2,
                    hidden_act="silu")
    if arch == "deepseek_v3":
        return dict(model_type="deepseek_v3", architectures=["DeepseekV3ForCausalLM"],
                    hidden_size=72, moe_intermediate_size=40, intermediate_size=88,
                    n_routed_experts=12, num_experts_per_tok=3, n_shared_experts=1,
                    n_group=4, topk_group=2, norm_topk_prob=True,
                    routed_scaling_factor=2.5, first_k_dense_replace=1, moe_layer_freq=1,
                    scoring_func="sigmoid", topk_method="noaux_tc", num_hidden_layers=3,
                    hidden_act="silu")
    if arch == "deepseek_v2":
        return dict(model_type="deepseek_v2", architectures=["DeepseekV2ForCausalLM"],
                    hidden_size=72, moe_intermediate_size=40, intermediate_size=88,
                    n_routed_experts=12, num_experts_per_tok=3, n_shared_experts=2,
                    n_group=4, topk_group=2, norm_topk_prob=False,
                    routed_scaling_factor=1.5, first_k_dense_replace=1, moe_layer_freq=1,
                    scoring_func="softmax", topk_method="group_limited_greedy",
                    num_hidden_layers=3, hidden_act="silu")
    if arch == "switch_transformers":
        return dict(model_type="switch_transformers",
                    architectures=["SwitchTransformersForConditionalGeneration"],
                    d_model=72, d_ff=40, num_experts=8, expert_capacity=6,
                    num_layers=2, num_decoder_layers=2, encoder_sparse_step=2,
                    decoder_sparse_step=2, dense_act_fn="relu", router_dtype="float32",
                    is_encoder_decoder=True)
    if arch == "gpt_oss":
        return dict(model_type="gpt_oss", architectures=["GptOssForCausalLM"],
                    hidden_size=96, intermediate_size=160, num_local_experts=12,
                    num_experts_per_tok=4, experts_per_token=4, num_hidden_layers=2,
                    hidden_act="silu", swiglu_limit=7.0)
    if arch == "generic":
        if variant not in VARIANTS:
            raise ValueError("unknown variant %r" % variant)
        cfg = dict(model_type="moec_generic", variant=variant, hidden_size=72,
                   intermediate_size=40, num_experts=12, num_experts_per_tok=2,
                   num_hidden_layers=2, norm_topk_prob=True, hidden_act=act,
                   swiglu_alpha=1.702, swiglu_limit=7.0)
        if variant == "topk":
            cfg.update(routing="token_choice", capacity_factor=None, overflow_policy=None)
        elif variant in ("topk_drop", "topk_reroute"):
            pol = variant[5:]
            cf = capacity_factor if capacity_factor is not None else (1.0 if pol == "drop" else 0.75)
            cfg.update(routing="token_choice", capacity_factor=cf, overflow_policy=pol)
        elif variant == "expert_choice":
            cf = capacity_factor if capacity_factor is not None else 2.0
            cfg.update(routing="expert_choice", capacity_factor=cf, overflow_policy=None)
            del cfg["num_experts_per_tok"], cfg["norm_topk_prob"]
        else:
            cfg.update(routing="dense", capacity_factor=None, overflow_policy=None)
            cfg["num_experts_per_tok"] = cfg["num_experts"]
            cfg["norm_topk_prob"] = False
        return cfg
    raise ValueError("unknown arch %r" % arch)


def hidden_size(arch, cfg):
    return cfg["d_model"] if arch == "switch_transformers" else cfg["hidden_size"]


def init_scale(name, shape, cfg):
    """Standard deviation of a tensor's random init."""
    if name.endswith("e_score_correction_bias"):
        return 0.05  # large enough to change many selections vs. the unbiased scores
    if cfg.get("model_type") == "gpt_oss":
        if name.endswith("bias"):
            return 0.5  # large enough that a missing bias shows
        if name.endswith("experts.gate_up_proj"):
            return 4.0 / np.sqrt(shape[-1])  # so that the +-7 clamps are reached
    s = 1.0 / np.sqrt(shape[-1])
    if cfg.get("hidden_act") == "swiglu_clamped" and (
            name.endswith("experts.gate_proj") or name.endswith("experts.up_proj")):
        s *= 4.0  # so that |gate|, |up| exceed the clamp limit 7 regularly
    return s


def random_tensor(seed, name, shape, scale):
    """Deterministic in (seed, name) only: independent of dtype and order."""
    rng = np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])
    return rng.standard_normal(shape, dtype=np.float32) * F32(scale)


def is_fp8_weight(name):
    """Whether --weight-format fp8 stores this tensor as F8_E4M3."""
    return name.endswith(FP8_WEIGHT_SUFFIXES)


def _store_plain(name, w, dtype, stored, dtypes, values):
    if dtype == "f32":
        stored[name] = w
        values[name] = w
    elif dtype == "bf16":
        bits = st.f32_to_bf16_bits(w)
        stored[name] = bits
        dtypes[name] = "BF16"
        values[name] = st.bf16_bits_to_f32(bits)
    elif dtype == "f16":
        h = w.astype(np.float16)
        stored[name] = h
        values[name] = h.astype(np.float32)
    else:
        raise ValueError("unknown dtype %r" % dtype)


def make_gpt_oss_weights(cfg, seed, dtype, weight_format):
    """GPT-OSS. The expert matrices are drawn in the orientation the MXFP4
    blocks use ([E, 2F, H] for gate_up with gate/up rows interleaved,
    [E, H, F] for down; rows = output features), named after the
    dequantized parameter; the reference gets their transposes, as
    transformers' convert_moe_packed_tensors gives them. mxfp4: stored as
    `<name>_blocks` U8 [..., N, K/32, 16] and `<name>_scales` U8 [..., N, K/32];
    none: stored dequantized-style as `<name>` in --dtype. Router and biases
    are stored in --dtype."""
    stored, dtypes, values = {}, {}, {}
    for name, shape in ref.param_shapes("gpt_oss", cfg).items():
        if name.endswith("experts.gate_up_proj") or name.endswith("experts.down_proj"):
            rows = (shape[0], shape[2], shape[1])  # [E, N, K]
            w = random_tensor(seed, name, rows, init_scale(name, rows, cfg))
            if weight_format == "mxfp4":
                blocks, scales = quant.quantize_mxfp4(w)
                stored[name + "_blocks"] = blocks
                stored[name + "_scales"] = scales
                values[name] = np.ascontiguousarray(np.swapaxes(quant.dequant_mxfp4(blocks, scales), 1, 2))
            elif weight_format == "none":
                tmp = {}
                _store_plain(name, np.ascontiguousarray(np.swapaxes(w, 1, 2)), dtype, stored, dtypes, tmp)
                values[name] = tmp[name]
            else:
                raise ValueError("gpt_oss: weight format %r not supported (mxfp4 or none)" % weight_format)
            continue
        w = random_tensor(seed, name, shape, init_scale(name, shape, cfg))
        _store_plain(name, w, dtype, stored, dtypes, values)
    return stored, dtypes, values


def make_weights(arch, cfg, seed, dtype, weight_format="none"):
    """-> (stored tensors for the file, dtype overrides, f32 values for the reference).

    weight_format "fp8": the FFN projections (is_fp8_weight) are stored as
    F8_E4M3 codes plus `<name>_scale_inv` (F32), quantized from the same
    random f32 weights; the reference values are the dequantized weights."""
    if arch == "gpt_oss":
        return make_gpt_oss_weights(cfg, seed, dtype, weight_format)
    if weight_format not in ("none", "fp8"):
        raise ValueError("%s: weight format %r not supported (none or fp8)" % (arch, weight_format))
    stored, dtypes, values = {}, {}, {}
    for name, shape in ref.param_shapes(arch, cfg).items():
        w = random_tensor(seed, name, shape, init_scale(name, shape, cfg))
        if weight_format == "fp8" and is_fp8_weight(name):
            codes, scale_inv = quant.quantize_fp8_block(w)
            stored[name] = codes
            dtypes[name] = "F8_E4M3"
            stored[name + quant.SCALE_INV_SUFFIX] = scale_inv
            values[name] = quant.dequant_fp8_block(codes, scale_inv)
        else:
            keep_f32 = name.endswith("e_score_correction_bias")
            _store_plain(name, w, "f32" if keep_f32 else dtype, stored, dtypes, values)
    return stored, dtypes, values


def make_input(arch, cfg, values, layer, T, seed, min_margin, max_rounds=200):
    """Random x [T, H] f32 (values of ACT_DTYPE); tokens whose routing decision is within min_margin
    of a tie are redrawn (so a correct implementation with another f32
    summation order makes the same decisions). Returns (x, redrawn count)."""
    rng = np.random.default_rng([seed, 1000003, layer, T])
    x = ref.round_act(rng.standard_normal((T, hidden_size(arch, cfg)), dtype=np.float32))
    redrawn = 0
    if min_margin <= 0 or ref.layer_info(arch, cfg, layer)["kind"] != "sparse":
        return x, 0
    for _ in range(max_rounds):
        aux = {}
        ref.forward_layer(arch, x, values, cfg, layer, aux)
        bad = np.nonzero(aux["margin"] < min_margin)[0]
        if bad.size == 0:
            return x, redrawn
        x[bad] = ref.round_act(rng.standard_normal((bad.size, x.shape[1]), dtype=np.float32))
        redrawn += int(bad.size)
    raise RuntimeError("could not clear near-ties in layer %d, T=%d" % (layer, T))


def resolve_weight_format(arch, weight_format):
    """None -> the arch's default ("mxfp4" for gpt_oss, else "none"); checks
    that the arch supports the format."""
    if weight_format is None:
        return "mxfp4" if arch == "gpt_oss" else "none"
    if weight_format not in WEIGHT_FORMATS:
        raise ValueError("unknown weight format %r" % weight_format)
    ok = {"none": True, "fp8": arch in HF_ARCHES, "mxfp4": arch == "gpt_oss"}[weight_format]
    if not ok:
        raise ValueError("--weight-format %s is not supported for --arch %s (fp8: %s; mxfp4: gpt_oss)"
                         % (weight_format, arch, " ".join(HF_ARCHES)))
    return weight_format


def build(arch, out, dtype="f32", shards=1, seed=0, tokens=(1, 7, 64, 333), layers=None,
          variant="topk_drop", act="silu", capacity_factor=None, overrides=None,
          min_margin=1e-4, quiet=False, weight_format=None):
    """Write one checkpoint directory. Returns the config dict."""
    weight_format = resolve_weight_format(arch, weight_format)
    if (weight_format != "none" and ref.FFN_OPERAND_DTYPE not in (None, "f32", "mxfp4", "int8", "int4")
            and not (weight_format in ("fp8", "mxfp4") and ref.FFN_OPERAND_DTYPE == "bf16")
            and not (weight_format == "fp8" and ref.FFN_OPERAND_DTYPE == "fp8act")):
        raise ValueError("--ffn-dtype %s cannot be combined with --weight-format %s"
                         % (ref.FFN_OPERAND_DTYPE, weight_format))
    cfg = default_config(arch, variant, act, capacity_factor)
    if weight_format == "fp8":
        cfg.update(FP8_DIMS[arch])
    if layers is not None:
        if arch == "switch_transformers":
            cfg["num_layers"] = cfg["num_decoder_layers"] = layers
        else:
            cfg["num_hidden_layers"] = layers
    if weight_format == "fp8":
        cfg["quantization_config"] = json.loads(json.dumps(FP8_QUANTIZATION_CONFIG))
    elif weight_format == "mxfp4":
        cfg["quantization_config"] = json.loads(json.dumps(MXFP4_QUANTIZATION_CONFIG))
    cfg.update(overrides or {})
    cfg["torch_dtype"] = TORCH_DTYPE[dtype]
    rarch = "moec_generic" if arch == "generic" else arch

    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    stored, dtypes, values = make_weights(rarch, cfg, seed, dtype, weight_format)
    for old in os.listdir(out):
        if old.endswith(".safetensors") or old == "model.safetensors.index.json":
            os.remove(os.path.join(out, old))
    if shards > 1:
        st.write_sharded(out, stored, shards, dtypes=dtypes)
    else:
        st.save_file(stored, os.path.join(out, "model.safetensors"), {"format": "pt"}, dtypes)

    shutil.rmtree(os.path.join(out, "ref"), ignore_errors=True)  # no stale reference files
    manifest = dict(arch=rarch, dtype=dtype, ffn_dtype=ref.FFN_OPERAND_DTYPE or "f32", ffn_group_size=ref.FFN_GROUP_SIZE, ffn_int_activations=ref.FFN_INT_ACTIVATIONS, seed=seed, tokens=list(tokens),
                    min_margin=min_margin, layers=[])
    if weight_format != "none" or arch == "gpt_oss":  # absent otherwise: older outputs stay byte-identical
        manifest["weight_format"] = weight_format
    if ref.ACT_DTYPE not in (None, "f32"):
        manifest["act_dtype"] = ref.ACT_DTYPE
    for i in range(ref.num_layers(rarch, cfg)):
        info = ref.layer_info(rarch, cfg, i)
        d = os.path.join(out, "ref", "layer_%d" % i)
        os.makedirs(d, exist_ok=True)
        entry = dict(index=i, **info, files={})
        for T in tokens:
            x, redrawn = make_input(rarch, cfg, values, i, T, seed, min_margin)
            aux = {}
            y, idx, w = ref.forward_layer(rarch, x, values, cfg, i, aux)
            files = {"x": "x_T%d.npy" % T, "y": "y_T%d.npy" % T}
            np.save(os.path.join(d, files["x"]), x)
            np.save(os.path.join(d, files["y"]), y.astype(np.float32))
            if idx is not None:
                files["indices"] = "indices_T%d.npy" % T
                files["weights"] = "weights_T%d.npy" % T
                np.save(os.path.join(d, files["indices"]), idx.astype(np.int32))
                np.save(os.path.join(d, files["weights"]), w.astype(np.float32))
            if idx is not None and "logits" in aux:
                # The logit terms of the router statistics, in float64: the
                # softmax probabilities summed over tokens (one per expert)
                # and the z-loss, mean over tokens of logsumexp(logits)².
                lg = np.asarray(aux["logits"], dtype=np.float64)
                m = lg.max(axis=1, keepdims=True)
                ex = np.exp(lg - m)
                lse = np.log(ex.sum(axis=1)) + m[:, 0]
                terms = np.concatenate([(ex / ex.sum(axis=1, keepdims=True)).sum(axis=0),
                                        [np.mean(lse * lse)]])
                files["router_terms"] = "router_terms_T%d.npy" % T
                np.save(os.path.join(d, files["router_terms"]), terms)
            extra = {"redrawn_tokens": redrawn}
            if "capacity" in aux and aux["capacity"] is not None:
                extra["capacity"] = int(aux["capacity"])
            if "admitted" in aux:
                extra["dropped_tokens"] = int(np.sum(~aux["admitted"]))
            if rarch == "moec_generic" and cfg["routing"] == "token_choice" \
                    and cfg.get("capacity_factor") is not None:
                extra["dropped_copies"] = int(np.sum(idx < 0))
                extra["rerouted_copies"] = int(np.sum((idx >= 0) & (idx != aux["original_indices"])))
            files.update(extra)
            entry["files"]["T%d" % T] = files
        manifest["layers"].append(entry)
    with open(os.path.join(out, "ref", "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    if not quiet:
        kinds = "".join("S" if e["kind"] == "sparse" else "D" for e in manifest["layers"])
        wf = "" if weight_format == "none" else " " + weight_format
        print("%s: %s %s%s, %d tensors, layers %s" % (out, rarch, dtype, wf, len(stored), kinds))
    return cfg


def _parse_set(items):
    out = {}
    for it in items or []:
        if "=" not in it:
            raise SystemExit("--set wants KEY=JSON, got %r" % it)
        k, v = it.split("=", 1)
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", required=True, choices=HF_ARCHES + EXTRA_ARCHES + ("generic", "all"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--dtype", default="f32", choices=("f32", "bf16", "f16"))
    ap.add_argument("--ffn-dtype", default=None,
                    choices=("f32", "bf16", "f16", "mxfp4", "int8", "int4", "fp8act"),
                    help="the reference's expert FFN operand type (default f32): bf16/f16 round both "
                         "operands of each FFN projection (moe-compile --weight-type); mxfp4 "
                         "quantizes each FFN weight per row and 32 values (quant.py, rule ceil) "
                         "against f32 activations (also of a quantized --weight-format's "
                         "dequantized weights); int8/int4 quantize per row and --group-size values "
                         "(quant.quantize_int) against f32 activations; bf16/f16 not with a "
                         "quantized --weight-format, except bf16 with fp8 or mxfp4: the "
                         "dequantized values rounded to bf16 (exact for mxfp4) against bf16 "
                         "activations (the cuda target's fp8 and mxfp4 semantics); fp8act, with "
                         "--weight-format fp8: the dequantized weights against the activations "
                         "rounded to bf16 and quantized to e4m3 per row and block of 128 where "
                         "cuBLASLt's block-scaled GEMM fits (the cuda target's engine on compute "
                         "capability 9.0), bf16 elsewhere")
    ap.add_argument("--act-dtype", default="f32", choices=("f32", "bf16", "f16"),
                    help="the layers' activation dtype (moe-import --dtype): x is drawn "
                         "as values of it and the reference rounds to it where the moe "
                         "dialect does (moe_reference.ACT_DTYPE); the .npy files stay float32")
    ap.add_argument("--group-size", type=int, default=32, choices=(32, 64, 128),
                    help="--ffn-dtype int8/int4: the values along K per scale (default 32)")
    ap.add_argument("--int-activations", default="int8", choices=("int8", "f32"),
                    help="--ffn-dtype int8/int4: the activations quantized per group to int8 "
                         "(default, as moe-compile's --int-activations) or kept f32")
    ap.add_argument("--weight-format", default=None, choices=WEIGHT_FORMATS,
                    help="none (default; gpt_oss: mxfp4): fp8 stores the FFN projections as "
                         "F8_E4M3 + <name>_scale_inv [ceil(N/128), ceil(K/128)] F32 (HF arches) "
                         "with larger ragged default widths; mxfp4: gpt_oss as shipped")
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tokens", default="1,7,64,333")
    ap.add_argument("--layers", type=int, default=None)
    ap.add_argument("--variant", default="topk_drop", choices=VARIANTS,
                    help="generic only: routing variant")
    ap.add_argument("--act", default="silu", choices=("silu", "swiglu_clamped"),
                    help="generic only: expert activation")
    ap.add_argument("--capacity-factor", type=float, default=None,
                    help="generic only: capacity factor (topk_drop 1.0, topk_reroute 0.75, "
                         "expert_choice 2.0 by default)")
    ap.add_argument("--set", action="append", metavar="KEY=JSON",
                    help="override a config key (applied after the defaults and --layers)")
    ap.add_argument("--min-margin", type=float, default=1e-4,
                    help="redraw input tokens whose routing is this close to a tie (0: never)")
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args(argv)
    tokens = [int(t) for t in a.tokens.split(",") if t]
    if not tokens or min(tokens) < 1:
        raise SystemExit("--tokens wants positive integers")
    overrides = _parse_set(a.set)
    quantized = a.weight_format not in (None, "none") or (a.arch == "gpt_oss" and a.weight_format is None)
    if (quantized and a.ffn_dtype not in (None, "mxfp4", "int8", "int4")
            and not (a.weight_format in ("fp8", "mxfp4", None) and a.ffn_dtype == "bf16"
                     and (a.weight_format is not None or a.arch == "gpt_oss"))
            and not (a.weight_format == "fp8" and a.ffn_dtype == "fp8act")):
        raise SystemExit("--ffn-dtype cannot be combined with a quantized weight format (%s): the "
                         "reference computes quantized checkpoints from the dequantized weights in f32"
                         % (a.weight_format or "mxfp4"))
    if a.ffn_dtype == "fp8act" and a.weight_format != "fp8":
        raise SystemExit("--ffn-dtype fp8act is the cuda target's reading of fp8 weights: it "
                         "needs --weight-format fp8")
    if a.arch == "all" and a.weight_format == "mxfp4":
        raise SystemExit("--weight-format mxfp4 is for --arch gpt_oss only")
    if a.arch != "all":
        try:
            resolve_weight_format(a.arch, a.weight_format)
        except ValueError as e:
            raise SystemExit(str(e))
    ref.FFN_OPERAND_DTYPE = a.ffn_dtype or "f32"
    ref.FFN_GROUP_SIZE = a.group_size
    ref.ACT_DTYPE = a.act_dtype
    ref.FFN_INT_ACTIVATIONS = a.int_activations
    t0 = time.time()
    common = dict(dtype=a.dtype, shards=a.shards, seed=a.seed, tokens=tokens, layers=a.layers,
                  overrides=overrides, min_margin=a.min_margin, quiet=a.quiet,
                  weight_format=a.weight_format)
    if a.arch == "all":
        for arch in HF_ARCHES:
            build(arch, os.path.join(a.out, arch), **common)
        if a.weight_format in (None, "none"):
            for name, (variant, act) in ALL_GENERIC.items():
                build("generic", os.path.join(a.out, name), variant=variant, act=act,
                      capacity_factor=a.capacity_factor, **common)
    else:
        build(a.arch, a.out, variant=a.variant, act=a.act, capacity_factor=a.capacity_factor,
              **common)
    if not a.quiet:
        print("done in %.2f s" % (time.time() - t0))


if __name__ == "__main__":
    main()
