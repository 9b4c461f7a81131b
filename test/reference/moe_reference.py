#!/usr/bin/python3
"""Independent float32 numpy reference of the sparse MoE blocks moec compiles.

Every layer function has the signature

    fn(x, tensors, config, layer, aux=None) -> (out, topk_indices, topk_weights)

x: [T, H] float32; tensors: dict of Hugging Face tensor names -> float32
arrays (bf16/f16 weights already converted exactly to f32, fp8/MXFP4 weights
dequantized with quant.py; gpt_oss takes the dequantized names
`...experts.gate_up_proj` [E, H, 2F] etc.); config: the parsed
config.json dict; layer: the layer index. The function computes the layer's
whole FFN block (the MoE block for sparse layers, the dense MLP otherwise; for
dense layers the indices and weights are None). No residual, no norm.

The computation follows the Hugging Face transformers implementations: router
in float32, experts visited in ascending index, each expert's output multiplied
by its routing weight and index-added into a zero-initialised f32 output.
Everything is float32 (numpy matmul on float32 arrays, softmax with the max
subtracted). Top-k is "descending, ties to the lower index" (a stable sort);
the returned indices are in that order (for DeepSeek: descending biased/masked
selection score).

If `aux` is a dict it receives extra information: "logits", "probs" or
"scores", "margin" (per token: the distance of the routing decision to the
nearest tie in the score that decides it; inf when there is no decision), and
architecture specifics (switch: "admitted", "expert"; deepseek: "group_mask",
"choice_scores"; expert choice: "capacity"; token choice with capacity:
"capacity", "original_indices").

See README.md for the exact semantics of each architecture.
"""

import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import counter_rng  # noqa: E402

F32 = np.float32

# Noisy top-k gating (moec_generic with router_noise): None evaluates the
# routers without their noise, as inference does (moec's default); a seed
# adds the noise of `moe-run --router-noise-seed SEED` (noisy_logits).
ROUTER_NOISE_SEED = None

ARCHES = ("mixtral", "qwen2_moe", "qwen3_moe", "olmoe", "deepseek_v3",
          "deepseek_v2", "switch_transformers", "gpt_oss", "moec_generic")


# ----------------------------------------------------------------------------
# elementwise pieces, all float32

def _f32(a):
    a = np.asarray(a)
    if a.dtype != np.float32:
        raise TypeError("expected float32, got %s" % a.dtype)
    return a


def linear(x, w):
    """x [N, in] @ w[out, in]^T -> [N, out], float32 (torch.nn.functional.linear)."""
    return np.matmul(_f32(x), _f32(w).T)


# The operand type of the expert FFNs' projections (and the dense / shared
# experts' MLPs): None or "f32" for float32; "bf16" or "f16" rounds both
# operands of each projection to that type (round to nearest even) and sums
# the exact products in float32, as `moe-compile --weight-type` does;
# "mxfp4" quantizes each weight [N, K] to MXFP4 per row and group of 32
# along K with quant.py's "ceil" scale rule (what --weight-type=mxfp4 does
# to weights that are not MXFP4 already) and keeps the activations float32;
# "int8" / "int4" quantize each weight per row and group of FFN_GROUP_SIZE
# values along K (quant.quantize_int, as --weight-type=int8|int4
# --group-size) against float32 activations; "fp8act" (fp8 checkpoints,
# the cuda target's cuBLASLt engine on compute capability 9.0) keeps the
# dequantized weights as they are and reads the activations rounded to bf16
# and then quantized to e4m3 per row and block of 128 (quant.quantize_fp8_rows,
# dequantized exactly) in the projections whose shapes cuBLASLt's
# block-scaled GEMM takes (fp8_block_scaled_fits), and as "bf16" in the others.
# The routers and the shared-expert gate stay float32 either way.
FFN_OPERAND_DTYPE = None
FFN_GROUP_SIZE = 32
# int8 / int4: "int8" quantizes each row of the activations per group too
# (quant.linear_int8_activations, moe-compile's default --int-activations);
# "f32" keeps them float32 against the dequantized weights.
FFN_INT_ACTIVATIONS = "int8"

# The activation dtype of a layer (its input and output, and every
# activation in between, as `moe-import --dtype` writes the graph): None or
# "f32"; "bf16" or "f16" rounds (to nearest even) where the moe dialect's
# semantics round to the dtype: each expert projection's result (after its
# bias), each GLU's result, the shared expert's gated output, and the
# layer's output once after the combine; the input x is a value of that
# type. Router math stays float32 either way.
ACT_DTYPE = None


def round_bf16(a):
    """float32 -> the nearest bfloat16 (ties to even), as float32 values."""
    a = _f32(a)
    u = a.view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16
    out = (r & 0xFFFFFFFF).astype(np.uint32).view(np.float32)
    return np.where(np.isnan(a), a, out)


def round_f16(a):
    """float32 -> the nearest float16 (ties to even), as float32 values."""
    return _f32(a).astype(np.float16).astype(np.float32)


def round_to(a, dtype, kind, keep=()):
    """a rounded to dtype, "bf16" or "f16"; float32 unchanged for None,
    "f32" or a dtype in `keep`. `kind` names the dtype in errors."""
    if dtype in (None, "f32") + keep:
        return _f32(a)
    if dtype == "bf16":
        return round_bf16(a)
    if dtype == "f16":
        return round_f16(a)
    raise ValueError("unknown %s dtype %r" % (kind, dtype))


def round_act(a):
    """An activation rounded to ACT_DTYPE (unchanged for float32)."""
    return round_to(a, ACT_DTYPE, "activation")


def round_operand(a):
    """An FFN projection's operand rounded to FFN_OPERAND_DTYPE (unchanged
    for float32 and the quantized types, whose activations stay float32;
    bf16 for "fp8act", whose quantization ffn_linear applies)."""
    dtype = "bf16" if FFN_OPERAND_DTYPE == "fp8act" else FFN_OPERAND_DTYPE
    return round_to(a, dtype, "FFN operand", ("mxfp4", "int8", "int4"))


def fp8_block_scaled_fits(n, k):
    """Whether a projection of weight [n, k] runs on cuBLASLt's block-scaled
    fp8 GEMM on the cuda target (moert::fp8BlockScaledGemmFits): n and k
    multiples of 16, ceil(k / 128) a multiple of 4."""
    return n % 16 == 0 and k % 16 == 0 and ((k + 127) // 128) % 4 == 0


def ffn_weight(w):
    """An FFN projection's weight [N, K] in FFN_OPERAND_DTYPE, as float32."""
    if FFN_OPERAND_DTYPE == "mxfp4":
        import quant  # the reference's own bit-level decoders and quantizers
        blocks, scales = quant.quantize_mxfp4(_f32(w), rule="ceil")
        return quant.dequant_mxfp4(blocks, scales)
    if FFN_OPERAND_DTYPE in ("int8", "int4"):
        import quant
        bits = 8 if FFN_OPERAND_DTYPE == "int8" else 4
        return quant.dequant_int(*quant.quantize_int(_f32(w), bits, FFN_GROUP_SIZE), FFN_GROUP_SIZE)
    return round_operand(w)


def ffn_linear(x, w, bias=None):
    """linear() of an FFN projection, operands in FFN_OPERAND_DTYPE, plus the
    bias (float32) if any; the result rounded to ACT_DTYPE."""
    if FFN_OPERAND_DTYPE in ("int8", "int4") and FFN_INT_ACTIVATIONS == "int8":
        import quant
        bits = 8 if FFN_OPERAND_DTYPE == "int8" else 4
        codes, scales, zeros = quant.quantize_int(_f32(w), bits, FFN_GROUP_SIZE)
        y = quant.linear_int8_activations(_f32(x), codes, scales, zeros, FFN_GROUP_SIZE)
    elif FFN_OPERAND_DTYPE == "fp8act" and fp8_block_scaled_fits(*np.shape(w)):
        import quant
        codes, scales = quant.quantize_fp8_rows(round_bf16(x))
        K = codes.shape[1]
        a = quant.decode_e4m3(codes) * np.repeat(scales, quant.FP8_BLOCK, axis=1)[:, :K]
        y = np.matmul(_f32(a), _f32(w).T)
    else:
        y = np.matmul(round_operand(x), ffn_weight(w).T)
    if bias is not None:
        y = y + _f32(bias)[None, :]
    return round_act(y)


def sigmoid(x):
    """1 / (1 + exp(-x)) in float32, written to avoid overflow warnings."""
    x = _f32(x)
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = F32(1) / (F32(1) + np.exp(-x[pos]))
    neg = ~pos
    e = np.exp(x[neg])
    out[neg] = e / (F32(1) + e)
    return out


def silu(x):
    return _f32(x) * sigmoid(x)


def relu(x):
    return np.maximum(_f32(x), F32(0))


def softmax(x, axis=-1):
    """float32 softmax with the row max subtracted."""
    x = _f32(x)
    m = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - m)
    return e / np.sum(e, axis=axis, keepdims=True)


def swiglu_clamped(gate, up, alpha=1.702, limit=7.0):
    """GPT-OSS activation: g = min(gate, limit), u = clip(up, -limit, limit),
    (u + 1) * (g * sigmoid(alpha * g))."""
    g = np.minimum(_f32(gate), F32(limit))
    u = np.clip(_f32(up), F32(-limit), F32(limit))
    glu = g * sigmoid(g * F32(alpha))
    return (u + F32(1)) * glu


def swiglu_mlp(x, w_gate, w_up, w_down):
    """down(silu(gate x) * (up x)): the Llama/Mixtral/Qwen/DeepSeek MLP."""
    return ffn_linear(round_act(silu(ffn_linear(x, w_gate)) * ffn_linear(x, w_up)), w_down)


def relu_mlp(x, wi, wo):
    """wo(relu(wi x)): the T5/Switch DenseReluDense."""
    return ffn_linear(round_act(relu(ffn_linear(x, wi))), wo)


def dense_ffn(x, tensors, prefix, act="silu"):
    """A dense layer's MLP. act "silu": SwiGLU with {prefix}gate_proj/up_proj/
    down_proj.weight; act "relu": {prefix}wi/wo.weight (Switch)."""
    if act == "silu":
        return swiglu_mlp(x, tensors[prefix + "gate_proj.weight"],
                          tensors[prefix + "up_proj.weight"],
                          tensors[prefix + "down_proj.weight"])
    if act == "relu":
        return relu_mlp(x, tensors[prefix + "wi.weight"], tensors[prefix + "wo.weight"])
    raise ValueError("unsupported dense activation %r" % act)


# ----------------------------------------------------------------------------
# routing pieces

def topk_desc(scores, k):
    """Top-k per row, descending, ties to the lower index.

    Returns (indices [T, k] int32, margin [T] float64) where margin is the gap
    between the k-th and (k+1)-th largest score (inf if k == E or the
    (k+1)-th is -inf)."""
    scores = np.asarray(scores)
    T, E = scores.shape
    if not 1 <= k <= E:
        raise ValueError("k=%d with %d candidates" % (k, E))
    order = np.argsort(-scores, axis=-1, kind="stable")
    idx = order[:, :k].astype(np.int32)
    if k == E:
        margin = np.full(T, np.inf)
    else:
        s = np.take_along_axis(scores, order[:, k - 1:k + 1], axis=-1).astype(np.float64)
        with np.errstate(invalid="ignore"):
            margin = s[:, 0] - s[:, 1]
        margin = np.where(np.isneginf(s[:, 1]), np.inf, margin)
    return idx, margin


def min_adjacent_gap(scores):
    """Per row, the smallest gap between consecutive sorted scores."""
    s = np.sort(np.asarray(scores, dtype=np.float64), axis=-1)
    if s.shape[1] < 2:
        return np.full(s.shape[0], np.inf)
    return np.min(np.diff(s, axis=-1), axis=-1)


def accumulate_experts(x, indices, weights, expert_fn, num_experts):
    """HF-style combine: out = 0; for e ascending: tokens routed to e (any slot),
    out.index_add_(tokens, expert_fn(e, x[tokens]) * w[tokens, slot]).
    indices < 0 mean "not dispatched" and are skipped."""
    x = _f32(x)
    out = np.zeros(x.shape, dtype=np.float32)
    for e in range(num_experts):
        tok, slot = np.nonzero(indices == e)
        if tok.size == 0:
            continue
        y = expert_fn(e, x[tok])
        np.add.at(out, tok, y * weights[tok, slot][:, None])
    return out


def _check_act(config, key="hidden_act"):
    act = config.get(key, "silu")
    if act != "silu":
        raise ValueError("%s=%r is not supported (only silu)" % (key, act))


# ----------------------------------------------------------------------------
# Mixtral

def mixtral_moe(x, tensors, config, layer, aux=None):
    """Mixtral: softmax over E -> top-k -> renormalize (always)."""
    _check_act(config)
    p = "model.layers.%d.block_sparse_moe." % layer
    E = config["num_local_experts"]
    k = config["num_experts_per_tok"]
    logits = linear(x, tensors[p + "gate.weight"])
    probs = softmax(logits)
    idx, margin = topk_desc(probs, k)
    w = np.take_along_axis(probs, idx, axis=-1)
    w = w / np.sum(w, axis=-1, keepdims=True)

    def expert(e, xs):
        q = p + "experts.%d." % e
        return swiglu_mlp(xs, tensors[q + "w1.weight"], tensors[q + "w3.weight"],
                          tensors[q + "w2.weight"])

    out = accumulate_experts(x, idx, w, expert, E)
    if aux is not None:
        aux.update(logits=logits, probs=probs, margin=margin)
    return out, idx, w


# ----------------------------------------------------------------------------
# Qwen2-MoE / Qwen3-MoE / OLMoE

def qwen_is_sparse(config, layer):
    return (layer not in config.get("mlp_only_layers", []) and config["num_experts"] > 0
            and (layer + 1) % config.get("decoder_sparse_step", 1) == 0)


def _softmax_topk_experts(x, tensors, p, E, k, norm, aux):
    """softmax -> top-k -> optional renormalize (no epsilon), gate/up/down_proj experts."""
    logits = linear(x, tensors[p + "gate.weight"])
    probs = softmax(logits)
    idx, margin = topk_desc(probs, k)
    w = np.take_along_axis(probs, idx, axis=-1)
    if norm:
        w = w / np.sum(w, axis=-1, keepdims=True)

    def expert(e, xs):
        q = p + "experts.%d." % e
        return swiglu_mlp(xs, tensors[q + "gate_proj.weight"], tensors[q + "up_proj.weight"],
                          tensors[q + "down_proj.weight"])

    out = accumulate_experts(x, idx, w, expert, E)
    if aux is not None:
        aux.update(logits=logits, probs=probs, margin=margin)
    return out, idx, w


def qwen2_moe_moe(x, tensors, config, layer, aux=None):
    """Qwen2-MoE: routed (softmax, top-k, renormalize iff norm_topk_prob) +
    sigmoid(shared_expert_gate x) * shared_expert(x). Dense layers: SwiGLU MLP
    of width intermediate_size."""
    _check_act(config)
    p = "model.layers.%d.mlp." % layer
    if not qwen_is_sparse(config, layer):
        return dense_ffn(x, tensors, p), None, None
    out, idx, w = _softmax_topk_experts(x, tensors, p, config["num_experts"],
                                        config["num_experts_per_tok"],
                                        config.get("norm_topk_prob", False), aux)
    shared = dense_ffn(x, tensors, p + "shared_expert.")
    gate = sigmoid(linear(x, tensors[p + "shared_expert_gate.weight"]))  # [T, 1]
    out = out + round_act(gate * shared)
    return out, idx, w


def qwen3_moe_moe(x, tensors, config, layer, aux=None):
    """Qwen3-MoE: like Qwen2-MoE without the shared expert."""
    _check_act(config)
    p = "model.layers.%d.mlp." % layer
    if not qwen_is_sparse(config, layer):
        return dense_ffn(x, tensors, p), None, None
    return _softmax_topk_experts(x, tensors, p, config["num_experts"],
                                 config["num_experts_per_tok"],
                                 config.get("norm_topk_prob", False), aux)


def olmoe_moe(x, tensors, config, layer, aux=None):
    """OLMoE: softmax, top-k, renormalize iff norm_topk_prob. All layers sparse;
    intermediate_size is the expert width."""
    _check_act(config)
    p = "model.layers.%d.mlp." % layer
    return _softmax_topk_experts(x, tensors, p, config["num_experts"],
                                 config["num_experts_per_tok"],
                                 config.get("norm_topk_prob", False), aux)


# ----------------------------------------------------------------------------
# DeepSeek V2 / V3

def deepseek_is_sparse(config, layer):
    return (layer >= config.get("first_k_dense_replace", 0)
            and layer % config.get("moe_layer_freq", 1) == 0)


def _group_limit(choice, group_scores, topk_group):
    """Keep the topk_group best groups (ties to the lower group); experts of the
    other groups get -inf. Returns (masked choice, expert mask, group margin)."""
    T, E = choice.shape
    G = group_scores.shape[1]
    gidx, gmargin = topk_desc(group_scores, topk_group)
    keep = np.zeros((T, G), dtype=bool)
    np.put_along_axis(keep, gidx.astype(np.int64), True, axis=-1)
    mask = np.repeat(keep, E // G, axis=1)
    return np.where(mask, choice, F32(-np.inf)).astype(np.float32), mask, gmargin


def _deepseek_experts(x, tensors, p, E, idx, w):
    def expert(e, xs):
        q = p + "experts.%d." % e
        return swiglu_mlp(xs, tensors[q + "gate_proj.weight"], tensors[q + "up_proj.weight"],
                          tensors[q + "down_proj.weight"])
    routed = accumulate_experts(x, idx, w, expert, E)
    return routed + dense_ffn(x, tensors, p + "shared_experts.")


def _check_groups(E, G, topk_group, k, min_group_size):
    if G < 1 or E % G:
        raise ValueError("n_group=%d does not divide n_routed_experts=%d" % (G, E))
    if E // G < min_group_size:
        raise ValueError("groups of %d experts, need >= %d" % (E // G, min_group_size))
    if not 1 <= topk_group <= G:
        raise ValueError("topk_group=%d with n_group=%d" % (topk_group, G))
    if topk_group * (E // G) < k:
        raise ValueError("topk_group groups hold fewer than k experts")


def deepseek_v3_moe(x, tensors, config, layer, aux=None):
    """DeepSeek-V3 (noaux_tc): s = sigmoid(logits), q = s + bias (selection
    only), group score = sum of the 2 largest q per group, keep topk_group
    groups, top-k of q, w = s[idx], normalize (+1e-20) iff norm_topk_prob, then
    * routed_scaling_factor. out = routed + shared_experts(x)."""
    _check_act(config)
    p = "model.layers.%d.mlp." % layer
    if not deepseek_is_sparse(config, layer):
        return dense_ffn(x, tensors, p), None, None
    if config.get("scoring_func", "sigmoid") != "sigmoid":
        raise ValueError("deepseek_v3 needs scoring_func sigmoid")
    E = config["n_routed_experts"]
    k = config["num_experts_per_tok"]
    G = config.get("n_group", 1)
    TG = config.get("topk_group", 1)
    _check_groups(E, G, TG, k, 2)
    T = x.shape[0]
    logits = linear(x, tensors[p + "gate.weight"])
    s = sigmoid(logits)
    bias = _f32(tensors[p + "gate.e_score_correction_bias"])
    q = s + bias[None, :]
    top2 = -np.sort(-q.reshape(T, G, E // G), axis=-1)[:, :, :2]
    group_scores = top2[:, :, 0] + top2[:, :, 1]
    qm, mask, gmargin = _group_limit(q, group_scores, TG)
    idx, emargin = topk_desc(qm, k)
    w = np.take_along_axis(s, idx, axis=-1)
    if config.get("norm_topk_prob", True):
        w = w / (np.sum(w, axis=-1, keepdims=True) + F32(1e-20))
    w = w * F32(config.get("routed_scaling_factor", 1.0))
    out = _deepseek_experts(x, tensors, p, E, idx, w)
    if aux is not None:
        aux.update(logits=logits, scores=s, choice_scores=q, group_scores=group_scores,
                   group_mask=mask, margin=np.minimum(gmargin, emargin))
    return out, idx, w


def deepseek_v2_moe(x, tensors, config, layer, aux=None):
    """DeepSeek-V2: p = softmax(logits); topk_method "greedy": top-k of p;
    "group_limited_greedy": group score = max p in the group, keep topk_group
    groups, top-k of the rest. w = p[idx]; if k > 1 and norm_topk_prob:
    w /= sum + 1e-20 (no scaling), else w *= routed_scaling_factor.
    out = routed + shared_experts(x)."""
    _check_act(config)
    p = "model.layers.%d.mlp." % layer
    if not deepseek_is_sparse(config, layer):
        return dense_ffn(x, tensors, p), None, None
    if config.get("scoring_func", "softmax") != "softmax":
        raise ValueError("deepseek_v2 needs scoring_func softmax")
    E = config["n_routed_experts"]
    k = config["num_experts_per_tok"]
    T = x.shape[0]
    logits = linear(x, tensors[p + "gate.weight"])
    probs = softmax(logits)
    method = config.get("topk_method", "greedy")
    extra = {}
    if method in ("greedy", "gready"):  # "gready" is the remote code's spelling
        idx, margin = topk_desc(probs, k)
    elif method == "group_limited_greedy":
        G = config.get("n_group", 1)
        TG = config.get("topk_group", 1)
        _check_groups(E, G, TG, k, 1)
        group_scores = probs.reshape(T, G, E // G).max(axis=-1)
        pm, mask, gmargin = _group_limit(probs, group_scores, TG)
        idx, emargin = topk_desc(pm, k)
        margin = np.minimum(gmargin, emargin)
        extra = dict(group_scores=group_scores, group_mask=mask)
    else:
        raise ValueError("unsupported topk_method %r" % method)
    w = np.take_along_axis(probs, idx, axis=-1)
    if k > 1 and config.get("norm_topk_prob", False):
        w = w / (np.sum(w, axis=-1, keepdims=True) + F32(1e-20))
    else:
        w = w * F32(config.get("routed_scaling_factor", 1.0))
    out = _deepseek_experts(x, tensors, p, E, idx, w)
    if aux is not None:
        aux.update(logits=logits, probs=probs, margin=margin, **extra)
    return out, idx, w


# ----------------------------------------------------------------------------
# Switch Transformers

def switch_layer(config, layer):
    """Our layer index -> (stack, block, sparse, prefix of the FFN sublayer).
    Layers 0..num_layers-1 are encoder blocks, the rest decoder blocks."""
    nl = config["num_layers"]
    if layer < nl:
        stack, b, step, sub = "encoder", layer, config.get("encoder_sparse_step", 1), 1
    else:
        b = layer - nl
        if b >= config.get("num_decoder_layers", nl):
            raise ValueError("layer %d out of range" % layer)
        stack, step, sub = "decoder", config.get("decoder_sparse_step", 1), 2
    sparse = step > 0 and (step == 1 or b % step == 1)
    return stack, b, sparse, "%s.block.%d.layer.%d." % (stack, b, sub)


def switch_route(logits, capacity):
    """p = softmax; expert = argmax (ties lower); a token is admitted iff it is
    among the first `capacity` tokens (token order) routed to its expert.
    Returns (probs, expert [T] int32, p_max [T], admitted [T] bool)."""
    probs = softmax(logits)
    expert = np.argmax(probs, axis=-1).astype(np.int32)
    pmax = np.take_along_axis(probs, expert[:, None].astype(np.int64), axis=-1)[:, 0]
    onehot = np.zeros(probs.shape, dtype=np.int64)
    onehot[np.arange(len(expert)), expert] = 1
    priority = np.cumsum(onehot, axis=0)[np.arange(len(expert)), expert]
    admitted = priority <= capacity
    return probs, expert, pmax, admitted


def switch_transformers_moe(x, tensors, config, layer, aux=None):
    """Switch Transformers (top-1 with expert capacity).

    out[t] = p_max[t] * (expert(x[t]) if admitted else x[t]).
    Returns indices [T, 1] int32 = the argmax expert for admitted tokens and -1
    for dropped tokens, weights [T, 1] = p_max (for every token, since a dropped
    token's output is p_max * x). Dense blocks: wo(relu(wi x)), None, None.
    All T tokens are one sequence for the capacity count.
    """
    act = config.get("dense_act_fn", "relu")
    if act != "relu":
        raise ValueError("dense_act_fn=%r not supported (only relu)" % act)
    _, _, sparse, p = switch_layer(config, layer)
    if not sparse:
        return dense_ffn(x, tensors, p + "DenseReluDense.", act="relu"), None, None
    p += "mlp."
    E = config["num_experts"]
    C = config["expert_capacity"]
    x = _f32(x)
    logits = linear(x, tensors[p + "router.classifier.weight"])
    probs, expert, pmax, admitted = switch_route(logits, C)
    nxt = x.copy()
    for e in range(E):
        tok = np.nonzero(admitted & (expert == e))[0]
        if tok.size:
            q = p + "experts.expert_%d." % e
            nxt[tok] = relu_mlp(x[tok], tensors[q + "wi.weight"], tensors[q + "wo.weight"])
    out = pmax[:, None] * nxt
    idx = np.where(admitted, expert, -1).astype(np.int32)[:, None]
    if aux is not None:
        ps = -np.sort(-probs.astype(np.float64), axis=-1)
        margin = ps[:, 0] - ps[:, 1] if E > 1 else np.full(len(x), np.inf)
        aux.update(logits=logits, probs=probs, expert=expert, admitted=admitted,
                   capacity=C, margin=margin)
    return out, idx, pmax[:, None].copy()


# ----------------------------------------------------------------------------
# GPT-OSS

def gpt_oss_moe(x, tensors, config, layer, aux=None):
    """GPT-OSS (transformers models/gpt_oss/modeling_gpt_oss.py, GptOssMLP).

    Router (GptOssTopKRouter): logits = x Wr^T + br; top-k of the logits
    (ties to the lower index); w = softmax over the k selected logits.
    Experts (GptOssExperts), in the dequantized layout transformers uses:
    gate_up_proj [E, H, 2F], gate_up_proj_bias [E, 2F], down_proj [E, F, H],
    down_proj_bias [E, H]:
        gate_up = x @ gate_up_proj[e] + gate_up_proj_bias[e]
        gate, up = gate_up[:, 0::2], gate_up[:, 1::2]     (interleaved)
        gate = min(gate, limit); up = clip(up, -limit, limit)
        glu = gate * sigmoid(gate * alpha)
        out_e = ((up + 1) * glu) @ down_proj[e] + down_proj_bias[e]
    combined as sum over the selected experts (ascending) of out_e * w.
    alpha = config swiglu_alpha (1.702), limit = config swiglu_limit (7.0).
    Every layer is sparse."""
    p = "model.layers.%d.mlp." % layer
    E = config["num_local_experts"]
    k = config["num_experts_per_tok"]
    alpha = F32(config.get("swiglu_alpha", 1.702))
    limit = F32(config.get("swiglu_limit", 7.0))
    logits = linear(x, tensors[p + "router.weight"]) + _f32(tensors[p + "router.bias"])[None, :]
    idx, margin = topk_desc(logits, k)
    w = softmax(np.take_along_axis(logits, idx, axis=-1))
    gu, gub = tensors[p + "experts.gate_up_proj"], tensors[p + "experts.gate_up_proj_bias"]
    dn, dnb = tensors[p + "experts.down_proj"], tensors[p + "experts.down_proj_bias"]

    def expert(e, xs):
        h = ffn_linear(xs, gu[e].T, gub[e])
        gate, up = h[:, 0::2], h[:, 1::2]
        gate = np.minimum(gate, limit)
        up = np.clip(up, -limit, limit)
        glu = gate * sigmoid(gate * alpha)
        a = round_act((up + F32(1)) * glu)
        return ffn_linear(a, dn[e].T, dnb[e])

    out = accumulate_experts(x, idx, w, expert, E)
    if aux is not None:
        aux.update(logits=logits, margin=margin)
    return out, idx, w


# ----------------------------------------------------------------------------
# generic variants over a plain parameter set
#
# params: {"router": [E, H], "gate": [E, F, H], "up": [E, F, H], "down": [E, H, F]}
# act: "silu" (SwiGLU) or "swiglu_clamped" (GPT-OSS, with alpha and limit).

def generic_expert_fn(params, act="silu", alpha=1.702, limit=7.0):
    gate, up, down = params["gate"], params["up"], params["down"]

    def expert(e, xs):
        g = ffn_linear(xs, gate[e])
        u = ffn_linear(xs, up[e])
        if act == "silu":
            h = silu(g) * u
        elif act == "swiglu_clamped":
            h = swiglu_clamped(g, u, alpha, limit)
        else:
            raise ValueError("unsupported act %r" % act)
        return ffn_linear(round_act(h), down[e])
    return expert


def token_choice_capacity(T, k, E, capacity_factor):
    """C = ceil(capacity_factor * (T * k) / E), in float64."""
    return int(math.ceil(float(capacity_factor) * float(T * k) / float(E)))


def expert_choice_capacity(T, E, capacity_factor):
    """C = min(T, ceil(capacity_factor * T / E)), in float64."""
    return min(T, int(math.ceil(float(capacity_factor) * float(T) / float(E))))


def assign_with_capacity(probs, idx, capacity, policy):
    """Token-choice capacity. Copies (t, slot) are admitted in priority order
    slot-major (every token's slot 0 in token order, then slot 1, ...), for
    both policies. An admitted copy takes one unit of its expert's capacity C.
      drop:    an overflowing copy is dropped (-1).
      reroute: an overflowing copy goes to the token's most probable expert
               that the token has not already chosen (its original top-k
               experts and the experts its earlier copies were rerouted to)
               and that still has room (ties to lower index); else dropped.
    Returns final indices [T, k] int32 (-1 = dropped)."""
    if policy not in ("drop", "reroute"):
        raise ValueError("unknown overflow policy %r" % policy)
    T, k = idx.shape
    E = probs.shape[1]
    count = np.zeros(E, dtype=np.int64)
    final = np.full((T, k), -1, dtype=np.int32)
    pref = np.argsort(-probs, axis=-1, kind="stable")
    chosen = [set(int(e) for e in idx[t]) for t in range(T)]
    for s in range(k):
        for t in range(T):
            e = int(idx[t, s])
            if count[e] < capacity:
                final[t, s] = e
                count[e] += 1
            elif policy == "reroute":
                for e2 in pref[t]:
                    e2 = int(e2)
                    if e2 not in chosen[t] and count[e2] < capacity:
                        final[t, s] = e2
                        count[e2] += 1
                        chosen[t].add(e2)
                        break
    return final


def softplus(x):
    """log(1 + exp(x)) in float64, without overflow."""
    x = np.asarray(x, dtype=np.float64)
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def noisy_logits(x, logits, w_noise, seed, stream):
    """KeepTopK's H(x) (Shazeer et al., 2017): logits[t, e] +
    f32(normal(seed, stream, t*E + e) * softplus(x w_noise^T)[t, e]), the
    normal values from counter_rng, the product in float64."""
    T, E = logits.shape
    z = counter_rng.normal(seed, stream, np.arange(T * E, dtype=np.uint64)).reshape(T, E)
    n = (z * softplus(linear(x, w_noise))).astype(F32)
    return (logits + n).astype(F32)


def topk_moe(x, params, k, norm_topk_prob=True, capacity_factor=None, policy="drop",
             act="silu", alpha=1.702, limit=7.0, aux=None, noise=None):
    """Token-choice top-k: p = softmax(x Wr^T); top-k (ties lower); w = p[idx],
    renormalized (w / sum w) iff norm_topk_prob. With capacity_factor, each
    expert takes at most C = ceil(cf * T * k / E) copies (see
    assign_with_capacity); dropped copies contribute 0; rerouted copies keep
    their original weight. With noise = (w_noise, seed, stream) the logits
    are noisy_logits'. Returns (out, final indices [T, k] (-1 = dropped),
    weights [T, k] (the routing weights, unchanged by drops/reroutes))."""
    x = _f32(x)
    T = x.shape[0]
    E = params["router"].shape[0]
    logits = linear(x, params["router"])
    if noise is not None:
        logits = noisy_logits(x, logits, *noise)
    probs = softmax(logits)
    idx, margin = topk_desc(probs, k)
    w = np.take_along_axis(probs, idx, axis=-1)
    if norm_topk_prob:
        w = w / np.sum(w, axis=-1, keepdims=True)
    final = idx
    C = None
    if capacity_factor is not None:
        C = token_choice_capacity(T, k, E, capacity_factor)
        final = assign_with_capacity(probs, idx, C, policy)
        # the slot order decides the admission priority, so the order inside
        # the top-k (and, for reroute, the whole preference order) is a decision
        if policy == "reroute":
            margin = min_adjacent_gap(probs)
        else:
            margin = min_adjacent_gap(np.sort(probs, axis=-1)[:, max(0, E - k - 1):])
    out = accumulate_experts(x, final, w, generic_expert_fn(params, act, alpha, limit), E)
    if aux is not None:
        aux.update(logits=logits, probs=probs, margin=margin, capacity=C,
                   original_indices=idx)
    return out, final, w


def expert_choice_moe(x, params, capacity_factor, act="silu", alpha=1.702, limit=7.0,
                      aux=None):
    """Expert choice: scores = softmax over experts per token [T, E]; expert e
    takes its C = min(T, ceil(cf * T / E)) highest-score tokens (ties to the
    lower token index); out[t] = sum over experts e (ascending) that took t of
    scores[t, e] * expert_e(x[t]).
    Returns (out, indices [E, C] int32: the tokens each expert took, in
    descending score order, weights [E, C] f32: their scores)."""
    x = _f32(x)
    T = x.shape[0]
    E = params["router"].shape[0]
    logits = linear(x, params["router"])
    scores = softmax(logits)
    C = expert_choice_capacity(T, E, capacity_factor)
    order = np.argsort(-scores.T, axis=-1, kind="stable")  # [E, T]
    tok = order[:, :C].astype(np.int32)
    w = np.take_along_axis(scores.T, tok.astype(np.int64), axis=-1)
    expert = generic_expert_fn(params, act, alpha, limit)
    out = np.zeros(x.shape, dtype=np.float32)
    for e in range(E):
        t = tok[e].astype(np.int64)
        np.add.at(out, t, expert(e, x[t]) * w[e][:, None])
    if aux is not None:
        margin = np.full(T, np.inf)
        if C < T:
            st = np.take_along_axis(scores.T, order[:, C - 1:C + 1], axis=-1).astype(np.float64)
            gap = st[:, 0] - st[:, 1]
            for e in range(E):
                for j in (C - 1, C):
                    t = order[e, j]
                    margin[t] = min(margin[t], gap[e])
        aux.update(logits=logits, scores=scores, capacity=C, margin=margin)
    return out, tok, w


def dense_mixture_moe(x, params, act="silu", alpha=1.702, limit=7.0, aux=None):
    """Dense mixture: k = E, no renormalization; every expert weighted by its
    softmax score, summed in ascending expert order. Returns (out, indices
    [T, E] = 0..E-1, weights [T, E] = the softmax scores)."""
    x = _f32(x)
    T = x.shape[0]
    E = params["router"].shape[0]
    logits = linear(x, params["router"])
    probs = softmax(logits)
    idx = np.tile(np.arange(E, dtype=np.int32), (T, 1))
    out = accumulate_experts(x, idx, probs, generic_expert_fn(params, act, alpha, limit), E)
    if aux is not None:
        aux.update(logits=logits, probs=probs, margin=np.full(T, np.inf))
    return out, idx, probs


def generic_params(tensors, layer):
    p = "layers.%d." % layer
    params = {"router": tensors[p + "router.weight"], "gate": tensors[p + "experts.gate_proj"],
              "up": tensors[p + "experts.up_proj"], "down": tensors[p + "experts.down_proj"]}
    if p + "router.noise.weight" in tensors:
        params["router_noise"] = tensors[p + "router.noise.weight"]
    return params


def moec_generic_moe(x, tensors, config, layer, aux=None):
    """Checkpoint form of the generic variants (model_type "moec_generic"),
    dispatching on config["routing"]: "token_choice" (capacity_factor null =
    no capacity; overflow_policy drop|reroute), "expert_choice", "dense"."""
    params = generic_params(tensors, layer)
    act = config.get("hidden_act", "silu")
    a = dict(act=act, alpha=config.get("swiglu_alpha", 1.702),
             limit=config.get("swiglu_limit", 7.0), aux=aux)
    routing = config["routing"]
    if config.get("router_noise") and routing != "token_choice":
        raise ValueError("router_noise needs token_choice routing")
    if routing == "token_choice":
        noise = None
        if config.get("router_noise") and ROUTER_NOISE_SEED is not None:
            # moe-import names layer i's function layer_i; its one router
            noise = (params["router_noise"], ROUTER_NOISE_SEED,
                     counter_rng.noise_stream("layer_%d" % layer, 0))
        return topk_moe(x, params, config["num_experts_per_tok"],
                        config.get("norm_topk_prob", True), config.get("capacity_factor"),
                        config.get("overflow_policy", "drop"), noise=noise, **a)
    if routing == "expert_choice":
        return expert_choice_moe(x, params, config["capacity_factor"], **a)
    if routing == "dense":
        return dense_mixture_moe(x, params, **a)
    raise ValueError("unknown routing %r" % routing)


# ----------------------------------------------------------------------------
# per-architecture dispatch and tensor inventory

LAYER_FN = {
    "mixtral": mixtral_moe,
    "qwen2_moe": qwen2_moe_moe,
    "qwen3_moe": qwen3_moe_moe,
    "olmoe": olmoe_moe,
    "deepseek_v3": deepseek_v3_moe,
    "deepseek_v2": deepseek_v2_moe,
    "switch_transformers": switch_transformers_moe,
    "gpt_oss": gpt_oss_moe,
    "moec_generic": moec_generic_moe,
}


def forward_layer(arch, x, tensors, config, layer, aux=None):
    """One layer: (out, indices, weights); x holds ACT_DTYPE values and out
    is rounded to ACT_DTYPE once, after the combine."""
    if ACT_DTYPE not in (None, "f32") and not np.array_equal(round_act(x), x):
        raise ValueError("x holds values that are not %s" % ACT_DTYPE)
    out, idx, w = LAYER_FN[arch](x, tensors, config, layer, aux)
    return round_act(out), idx, w


def num_layers(arch, config):
    if arch == "switch_transformers":
        return config["num_layers"] + config.get("num_decoder_layers", config["num_layers"])
    return config["num_hidden_layers"]


def layer_info(arch, config, layer):
    """-> dict(kind = "sparse"|"dense", routing = "token_choice"|"expert_choice"|
    "dense_mixture"|None, prefix = the FFN block's tensor-name prefix)."""
    if arch == "mixtral":
        return dict(kind="sparse", routing="token_choice",
                    prefix="model.layers.%d.block_sparse_moe." % layer)
    if arch in ("qwen2_moe", "qwen3_moe", "olmoe", "deepseek_v3", "deepseek_v2"):
        if arch == "olmoe":
            sparse = True
        elif arch.startswith("qwen"):
            sparse = qwen_is_sparse(config, layer)
        else:
            sparse = deepseek_is_sparse(config, layer)
        return dict(kind="sparse" if sparse else "dense",
                    routing="token_choice" if sparse else None,
                    prefix="model.layers.%d.mlp." % layer)
    if arch == "switch_transformers":
        _, _, sparse, p = switch_layer(config, layer)
        return dict(kind="sparse" if sparse else "dense",
                    routing="token_choice" if sparse else None,
                    prefix=p + ("mlp." if sparse else "DenseReluDense."))
    if arch == "gpt_oss":
        return dict(kind="sparse", routing="token_choice", prefix="model.layers.%d.mlp." % layer)
    if arch == "moec_generic":
        r = config["routing"]
        return dict(kind="sparse", routing="dense_mixture" if r == "dense" else r,
                    prefix="layers.%d." % layer)
    raise ValueError("unknown arch %r" % arch)


def _swiglu_shapes(prefix, H, F):
    return {prefix + "gate_proj.weight": (F, H), prefix + "up_proj.weight": (F, H),
            prefix + "down_proj.weight": (H, F)}


def param_shapes(arch, config):
    """Every tensor of the (FFN part of the) checkpoint: dict name -> shape."""
    out = {}
    L = num_layers(arch, config)
    for i in range(L):
        info = layer_info(arch, config, i)
        p = info["prefix"]
        if arch == "mixtral":
            H, F, E = config["hidden_size"], config["intermediate_size"], config["num_local_experts"]
            out[p + "gate.weight"] = (E, H)
            for e in range(E):
                q = p + "experts.%d." % e
                out.update({q + "w1.weight": (F, H), q + "w3.weight": (F, H), q + "w2.weight": (H, F)})
        elif arch in ("qwen2_moe", "qwen3_moe", "olmoe"):
            H = config["hidden_size"]
            if info["kind"] == "dense":
                out.update(_swiglu_shapes(p, H, config["intermediate_size"]))
                continue
            E = config["num_experts"]
            F = config["intermediate_size"] if arch == "olmoe" else config["moe_intermediate_size"]
            out[p + "gate.weight"] = (E, H)
            for e in range(E):
                out.update(_swiglu_shapes(p + "experts.%d." % e, H, F))
            if arch == "qwen2_moe":
                out.update(_swiglu_shapes(p + "shared_expert.", H,
                                          config["shared_expert_intermediate_size"]))
                out[p + "shared_expert_gate.weight"] = (1, H)
        elif arch in ("deepseek_v3", "deepseek_v2"):
            H = config["hidden_size"]
            if info["kind"] == "dense":
                out.update(_swiglu_shapes(p, H, config["intermediate_size"]))
                continue
            E, F = config["n_routed_experts"], config["moe_intermediate_size"]
            out[p + "gate.weight"] = (E, H)
            if arch == "deepseek_v3":
                out[p + "gate.e_score_correction_bias"] = (E,)
            for e in range(E):
                out.update(_swiglu_shapes(p + "experts.%d." % e, H, F))
            out.update(_swiglu_shapes(p + "shared_experts.", H, F * config["n_shared_experts"]))
        elif arch == "switch_transformers":
            H, F = config["d_model"], config["d_ff"]
            if info["kind"] == "dense":
                out.update({p + "wi.weight": (F, H), p + "wo.weight": (H, F)})
                continue
            out[p + "router.classifier.weight"] = (config["num_experts"], H)
            for e in range(config["num_experts"]):
                q = p + "experts.expert_%d." % e
                out.update({q + "wi.weight": (F, H), q + "wo.weight": (H, F)})
        elif arch == "gpt_oss":
            # the dequantized layout (transformers' GptOssExperts); the
            # MXFP4 checkpoint stores the experts as _blocks/_scales
            H, F, E = config["hidden_size"], config["intermediate_size"], config["num_local_experts"]
            q = p + "experts."
            out.update({p + "router.weight": (E, H), p + "router.bias": (E,),
                        q + "gate_up_proj": (E, H, 2 * F), q + "gate_up_proj_bias": (E, 2 * F),
                        q + "down_proj": (E, F, H), q + "down_proj_bias": (E, H)})
        elif arch == "moec_generic":
            H, F, E = config["hidden_size"], config["intermediate_size"], config["num_experts"]
            out.update({p + "router.weight": (E, H), p + "experts.gate_proj": (E, F, H),
                        p + "experts.up_proj": (E, F, H), p + "experts.down_proj": (E, H, F)})
            if config.get("router_noise"):
                out[p + "router.noise.weight"] = (E, H)
        else:
            raise ValueError("unknown arch %r" % arch)
    return out


def arch_of(config):
    mt = config.get("model_type")
    if mt not in LAYER_FN:
        raise ValueError("unknown model_type %r" % mt)
    return mt
