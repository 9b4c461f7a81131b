#!/usr/bin/python3
"""Quantized weight formats of the reference, decoded from their bit layouts.

Only numpy. Every decoder is written from the format's bit layout, and every
encoder picks the nearest value of the decoder's own table (ties to the even
code), so no lookup table is copied from elsewhere.

fp8 e4m3 (OCP 8-bit floating point, "E4M3", the "fn" variant: torch's
float8_e4m3fn, safetensors dtype "F8_E4M3"):
    bit 7 sign, bits 6..3 exponent (bias 7), bits 2..0 mantissa.
    exponent 0: subnormal, m/8 * 2^-6 = m * 2^-9;
    otherwise (1 + m/8) * 2^(e - 7);
    0x7F and 0xFF (all exponent and mantissa bits set) are NaN; there is no
    infinity, so exponent 15 with m < 7 is an ordinary value (the largest
    finite is 0x7E = 1.75 * 2^8 = 448).

Block-scaled fp8 (DeepSeek-V3's released checkpoints, config
"quantization_config": {"quant_method": "fp8", "fmt": "e4m3",
"weight_block_size": [128, 128]}, and moec's --weight-type=fp8):
    a weight [..., N, K] is stored as e4m3 codes [..., N, K] plus a float32
    tensor `<name>_scale_inv` [..., ceil(N/128), ceil(K/128)];
    value[n, k] = decode(code[n, k]) * scale_inv[n // 128, k // 128], the
    product taken in float32 (rounded once). The edge blocks are ragged.
    Quantization (quantize_fp8_block), per 128 x 128 block:
    scale = float32(amax) / 448 in float32 (1.0 for a block of zeros),
    code = encode_e4m3(float32(w / scale)) (round to nearest even,
    saturating at +-448).

e8m0 (OCP Microscaling (MX) spec v1.0, the shared scale of MX formats):
    8 exponent bits, no sign, no mantissa: value 2^(x - 127); 0xFF is NaN.

e2m1 (OCP MX spec v1.0, "FP4"): a 4-bit code, bit 3 sign, bits 2..1
    exponent (bias 1), bit 0 mantissa; exponent 0: subnormal m * 0.5,
    otherwise (1 + m/2) * 2^(e - 1). Magnitudes 0, 0.5, 1, 1.5, 2, 3, 4, 6.
    No NaN or infinity.

MXFP4 as gpt-oss ships it and Hugging Face transformers decodes it
(src/transformers/integrations/mxfp4.py, convert_moe_packed_tensors):
    a weight [..., N, K] (N output features, K input features, K % 32 == 0)
    is stored as `<name>_blocks` uint8 [..., N, K/32, 16] and `<name>_scales`
    uint8 [..., N, K/32]. Byte j of a block holds element 2j in its LOW
    nibble and element 2j + 1 in its HIGH nibble (transformers:
    `sub[:, 0::2] = lut[blk & 0x0F]; sub[:, 1::2] = lut[blk >> 4]`), and
    value = e2m1 * 2^(scale - 127) (torch.ldexp with scale - 127).
    transformers then transposes the result to [..., K, N] for its
    `x @ W` experts; dequant_mxfp4 returns the [..., N, K] form.
    Quantization (quantize_mxfp4), per block of 32 values, rule "ocp" (the
    default, OCP MX spec v1.0 section 6.3): shared exponent
    X = floor(log2(amax)) - 2 (2 = emax of e2m1), clamped to the e8m0 range
    [-127, 127]; each value w / 2^X rounded to the nearest e2m1 (ties to
    even), saturating at +-6 (so a block whose amax / 2^X lies in (6, 8)
    saturates its largest values). Rule "ceil": the smallest X with
    amax / 2^X <= 6 (never saturates; what triton_kernels'
    downcast_to_mxfp does with its default ROUND_UP scale mode, as far as we
    read it). A block of zeros gets X = 0 (scale byte 127).

int8 and int4 per group (moec's --weight-type=int8|int4 --group-size G,
G in 32, 64, 128): a weight [..., N, K] (K % G == 0) is quantized per row
and group of G consecutive values along K, every step in float32 with
round to nearest even, the scale d an IEEE half:
    int8 (symmetric, as llama.cpp's Q8_0): amax = max |v|;
        d = f16(amax / 127); q = clip(rint(v / d), -127, 127);
        value = q * d.
    int4 (an integer zero point, as GPTQ / AWQ): lo = min(0, min v),
        hi = max(0, max v); d = f16((hi - lo) / 15);
        z = clip(rint(-lo / d), 0, 15); q = clip(rint(v / d) + z, 0, 15);
        value = (q - z) * d.
    A group with d = 0 has q = z = 0 (value 0). Both values are exact in
    float32 (a small integer times a half). A d that overflows f16 (inf) is
    refused, as is a value that is not finite.
    With int8 activations (moec's default for these weights, as llama.cpp's
    Q8 dot): each row x of the activations is quantized per group of the
    same G values along K, in float32: s = amax / 127, a = clip(rint(x /
    s), -127, 127) (s = 0, a = 0 for a group of zeros); the group's
    products are the exact integer t = sum (q - z) * a, and the output is
    the sum over groups of t * float32(d * s).
"""

import numpy as np

F32 = np.float32

E4M3_MAX = 448.0
FP8_BLOCK = 128
MX_BLOCK = 32


class QuantError(ValueError):
    pass


# ----------------------------------------------------------------------------
# fp8 e4m3

def decode_e4m3(codes):
    """uint8 e4m3 codes -> float32 values (exact). 0x7F/0xFF -> NaN."""
    c = np.asarray(codes)
    if c.dtype != np.uint8:
        raise TypeError("e4m3 codes must be uint8, got %s" % c.dtype)
    c = c.astype(np.int32)
    sign = c >> 7
    exp = (c >> 3) & 0xF
    man = c & 0x7
    # subnormal: man * 2^-9; normal: (8 + man) * 2^(exp - 10). Both exact in f32.
    sig = np.where(exp == 0, man, 8 + man).astype(np.float32)
    pw = np.where(exp == 0, -9, exp - 10).astype(np.int32)
    mag = np.ldexp(sig, pw).astype(np.float32)
    mag = np.where((c & 0x7F) == 0x7F, F32(np.nan), mag)
    return np.where(sign == 1, -mag, mag).astype(np.float32)


def _encode_nearest_even(x, table):
    """Magnitude codes for |x| by nearest value of `table` (the non-negative
    finite values of a format in code order, ascending, code i = table[i]),
    ties to the even code, saturating at the largest. Returns int64 codes of
    |x| (sign not applied). x must be finite."""
    a = np.abs(np.asarray(x, dtype=np.float64))
    t = np.asarray(table, dtype=np.float64)
    if np.any(np.diff(t) <= 0):
        raise AssertionError("table not strictly ascending")
    hi = np.searchsorted(t, a, side="left")  # t[hi-1] < a <= t[hi]
    hi = np.minimum(hi, len(t) - 1)
    lo = np.maximum(hi - 1, 0)
    dlo = a - t[lo]
    dhi = t[hi] - a
    pick_hi = (dhi < dlo) | ((dhi == dlo) & (hi % 2 == 0))
    code = np.where(pick_hi, hi, lo)
    code = np.where(a >= t[-1], len(t) - 1, code)  # saturate
    code = np.where(a <= t[0], 0, code)
    return code.astype(np.int64)


def e4m3_finite_table():
    """The 127 non-negative finite e4m3 values, codes 0x00..0x7E, as float64."""
    return decode_e4m3(np.arange(0x7F, dtype=np.uint8)).astype(np.float64)


def encode_e4m3(x):
    """float32 values -> uint8 e4m3 codes: round to nearest, ties to the even
    code, finite values beyond +-448 saturate to 0x7E/0xFE. The sign is kept
    (-0.0 -> 0x80). NaN and +-inf have no finite e4m3 value: they become the
    NaN code of their sign (0x7F/0xFF); quantize_fp8_block refuses them."""
    x = np.asarray(x, dtype=np.float32)
    neg = np.signbit(x)
    fin = np.isfinite(x)
    mag = _encode_nearest_even(np.where(fin, x, 0), e4m3_finite_table())
    mag = np.where(fin, mag, 0x7F)
    return (mag | np.where(neg, 0x80, 0)).astype(np.uint8)


def fp8_blocks(n):
    """Number of 128-wide blocks along a dimension of n values."""
    return (int(n) + FP8_BLOCK - 1) // FP8_BLOCK


def _expand_blocks(s, N, K, block):
    """[..., nb, kb] -> [..., N, K], each entry covering its block."""
    s = np.repeat(np.repeat(s, block, axis=-2), block, axis=-1)
    return s[..., :N, :K]


def dequant_fp8_block(codes, scale_inv):
    """codes uint8 [..., N, K], scale_inv float32 [..., ceil(N/128), ceil(K/128)]
    -> float32 [..., N, K] = decode(code) * scale_inv[n // 128, k // 128]
    (one float32 multiply)."""
    codes = np.asarray(codes)
    s = np.asarray(scale_inv)
    if codes.ndim < 2:
        raise QuantError("fp8 block scales need a matrix, got shape %s" % (codes.shape,))
    if s.dtype != np.float32:
        raise TypeError("scale_inv must be float32, got %s" % s.dtype)
    N, K = codes.shape[-2:]
    want = codes.shape[:-2] + (fp8_blocks(N), fp8_blocks(K))
    if s.shape != want:
        raise QuantError("scale_inv shape %s, expected %s for codes %s" % (s.shape, want, codes.shape))
    return (decode_e4m3(codes) * _expand_blocks(s, N, K, FP8_BLOCK)).astype(np.float32)


def quantize_fp8_block(w):
    """float32 w [..., N, K] -> (codes uint8 [..., N, K], scale_inv float32
    [..., ceil(N/128), ceil(K/128)]). Per 128 x 128 block (ragged at the
    edges): scale = float32(amax) / 448 in float32, 1.0 for an all-zero
    block; code = encode_e4m3(float32(w / scale)). Non-finite w is refused."""
    w = np.asarray(w)
    if w.dtype != np.float32:
        raise TypeError("quantize_fp8_block wants float32, got %s" % w.dtype)
    if w.ndim < 2:
        raise QuantError("fp8 block scales need a matrix, got shape %s" % (w.shape,))
    if not np.all(np.isfinite(w)):
        raise QuantError("cannot quantize non-finite values to fp8")
    N, K = w.shape[-2:]
    nb, kb = fp8_blocks(N), fp8_blocks(K)
    lead = w.shape[:-2]
    pad = np.zeros(lead + (nb * FP8_BLOCK, kb * FP8_BLOCK), dtype=np.float32)
    pad[..., :N, :K] = np.abs(w)
    amax = pad.reshape(lead + (nb, FP8_BLOCK, kb, FP8_BLOCK)).max(axis=(-3, -1))
    scale = np.where(amax > 0, amax.astype(np.float32) / F32(E4M3_MAX), F32(1)).astype(np.float32)
    q = (w / _expand_blocks(scale, N, K, FP8_BLOCK)).astype(np.float32)
    return encode_e4m3(q), scale


def quantize_fp8_rows(x):
    """float32 x [M, K] -> (codes uint8 [M, K], scales float32 [M,
    ceil(K/128)]): activations quantized per row and block of 128 along K
    (ragged at the end), as the CUDA target's cuBLASLt fp8 GEMMs read them
    (docs/compiler.md, "fp8 weights"; DeepSeek-V3's "dynamic" activation
    scheme): scale = float32(amax) / 448 in float32 (1.0 when amax is 0 or
    NaN), code = encode_e4m3(float32(x / scale)). Non-finite values are not
    refused: a NaN, or an infinity (whose block's scale is then infinite),
    gives NaN codes, so the GEMM's row is NaN."""
    x = np.asarray(x)
    if x.dtype != np.float32 or x.ndim != 2:
        raise TypeError("quantize_fp8_rows wants a float32 matrix, got %s %s" % (x.dtype, x.shape))
    M, K = x.shape
    kb = fp8_blocks(K)
    pad = np.zeros((M, kb * FP8_BLOCK), dtype=np.float32)
    pad[:, :K] = np.abs(x)
    with np.errstate(invalid="ignore"):
        amax = pad.reshape(M, kb, FP8_BLOCK).max(axis=-1)
        scale = np.where(amax > 0, amax / F32(E4M3_MAX), F32(1)).astype(np.float32)
        q = (x / np.repeat(scale, FP8_BLOCK, axis=-1)[:, :K]).astype(np.float32)
    return encode_e4m3(q), scale


# ----------------------------------------------------------------------------
# e8m0, e2m1, MXFP4

def decode_e8m0(x):
    """uint8 e8m0 -> float32 2^(x - 127) (0x00 = 2^-127, an f32 subnormal);
    0xFF -> NaN."""
    x = np.asarray(x)
    if x.dtype != np.uint8:
        raise TypeError("e8m0 must be uint8, got %s" % x.dtype)
    e = np.where(x == 0xFF, 0, x.astype(np.int32) - 127)
    v = np.ldexp(np.ones(x.shape, np.float32), e).astype(np.float32)
    return np.where(x == 0xFF, F32(np.nan), v).astype(np.float32)


def decode_e2m1(nibbles):
    """e2m1 codes 0..15 (any integer dtype) -> float32."""
    n = np.asarray(nibbles).astype(np.int32)
    if np.any((n < 0) | (n > 15)):
        raise QuantError("e2m1 codes must be 0..15")
    sign = (n >> 3) & 1
    exp = (n >> 1) & 3
    man = n & 1
    # subnormal: man * 2^-1; normal: (2 + man) * 2^(exp - 2)
    sig = np.where(exp == 0, man, 2 + man).astype(np.float32)
    pw = np.where(exp == 0, -1, exp - 2).astype(np.int32)
    mag = np.ldexp(sig, pw).astype(np.float32)
    return np.where(sign == 1, -mag, mag).astype(np.float32)


def e2m1_finite_table():
    """The 8 non-negative e2m1 values, codes 0..7, as float64."""
    return decode_e2m1(np.arange(8)).astype(np.float64)


def encode_e2m1(x):
    """float values -> e2m1 codes (uint8 0..15): nearest, ties to the even
    code, saturating at +-6, sign kept (-0.0 -> 8). x must be finite."""
    x = np.asarray(x, dtype=np.float32)
    if not np.all(np.isfinite(x)):
        raise QuantError("cannot encode non-finite values to e2m1")
    mag = _encode_nearest_even(x, e2m1_finite_table())
    return (mag | np.where(np.signbit(x), 8, 0)).astype(np.uint8)


def unpack_fp4(blocks):
    """uint8 [..., G, 16] -> e2m1 codes [..., G, 32]: byte j -> elements 2j
    (low nibble) and 2j + 1 (high nibble)."""
    b = np.asarray(blocks)
    out = np.empty(b.shape[:-1] + (b.shape[-1] * 2,), dtype=np.uint8)
    out[..., 0::2] = b & 0x0F
    out[..., 1::2] = b >> 4
    return out


def pack_fp4(codes):
    """e2m1 codes [..., G, 32] -> uint8 [..., G, 16] (inverse of unpack_fp4)."""
    c = np.asarray(codes, dtype=np.uint8)
    if c.shape[-1] % 2:
        raise QuantError("odd number of fp4 codes")
    return (c[..., 0::2] | (c[..., 1::2] << 4)).astype(np.uint8)


def dequant_mxfp4(blocks, scales):
    """blocks uint8 [..., N, G, 16], scales uint8 [..., N, G] -> float32
    [..., N, G * 32]: value = e2m1(nibble) * 2^(scale - 127); element 2j of
    a block is byte j's low nibble, element 2j + 1 its high nibble. A scale
    byte 0xFF gives NaN."""
    blocks = np.asarray(blocks)
    scales = np.asarray(scales)
    if blocks.dtype != np.uint8 or scales.dtype != np.uint8:
        raise TypeError("mxfp4 blocks and scales must be uint8")
    if blocks.ndim < 3 or blocks.shape[-1] != 16 or blocks.shape[:-1] != scales.shape:
        raise QuantError("mxfp4 blocks %s do not match scales %s ([..., N, G, 16] and [..., N, G])"
                         % (blocks.shape, scales.shape))
    vals = decode_e2m1(unpack_fp4(blocks))  # [..., N, G, 32]
    with np.errstate(over="ignore"):  # 6 * 2^127 is +-inf in float32, as in torch
        out = np.ldexp(vals, scales.astype(np.int32)[..., None] - 127).astype(np.float32)
    out = np.where((scales == 0xFF)[..., None], F32(np.nan), out)
    return out.reshape(blocks.shape[:-2] + (blocks.shape[-2] * 32,)).astype(np.float32)


def quantize_mxfp4(w, rule="ocp"):
    """float32 w [..., N, K], K % 32 == 0 -> (blocks uint8 [..., N, K/32, 16],
    scales uint8 [..., N, K/32]). rule "ocp": X = floor(log2 amax) - 2,
    values saturate at +-6; rule "ceil": the smallest X with amax/2^X <= 6.
    X is clamped to [-127, 127]; an all-zero block gets X = 0."""
    w = np.asarray(w)
    if w.dtype != np.float32:
        raise TypeError("quantize_mxfp4 wants float32, got %s" % w.dtype)
    if w.ndim < 2 or w.shape[-1] % MX_BLOCK:
        raise QuantError("mxfp4 needs [..., N, K] with K a multiple of 32, got %s" % (w.shape,))
    if not np.all(np.isfinite(w)):
        raise QuantError("cannot quantize non-finite values to mxfp4")
    if rule not in ("ocp", "ceil"):
        raise ValueError("unknown mxfp4 scale rule %r" % rule)
    g = w.reshape(w.shape[:-1] + (w.shape[-1] // MX_BLOCK, MX_BLOCK))
    amax = np.abs(g).max(axis=-1).astype(np.float64)
    _, ex = np.frexp(amax)  # amax = f * 2^ex, f in [0.5, 1): floor(log2 amax) = ex - 1
    X = (ex - 1 - 2).astype(np.int64)
    if rule == "ceil":
        X = np.where(amax > 6.0 * np.ldexp(1.0, X), X + 1, X)
    X = np.where(amax > 0, X, 0)
    X = np.clip(X, -127, 127)
    q = np.ldexp(g.astype(np.float64), -X[..., None])  # exact: a power-of-two scaling
    codes = encode_e2m1(q.astype(np.float32))
    return pack_fp4(codes), (X + 127).astype(np.uint8)


# ----------------------------------------------------------------------------
# int8 / int4 per group

INT_GROUPS = (32, 64, 128)


def quantize_int(w, bits, group):
    """float32 w [..., N, K] -> (codes int32 [..., N, K], scales float16
    [..., N, K/G], zero points int32 [..., N, K/G]; all zero for int8), per
    the rules in the module docstring."""
    w = np.asarray(w)
    if w.dtype != np.float32:
        raise TypeError("quantize_int wants float32, got %s" % w.dtype)
    if bits not in (8, 4) or group not in INT_GROUPS:
        raise ValueError("int%d with group %d: bits 8 or 4, group 32, 64 or 128" % (bits, group))
    if w.ndim < 2 or w.shape[-1] % group:
        raise QuantError("int%d needs [..., N, K] with K a multiple of %d, got %s" % (bits, group, w.shape))
    if not np.all(np.isfinite(w)):
        raise QuantError("cannot quantize non-finite values to int%d" % bits)
    g = w.reshape(w.shape[:-1] + (w.shape[-1] // group, group))
    lo = np.minimum(g.min(axis=-1), F32(0))
    hi = np.maximum(g.max(axis=-1), F32(0))
    if bits == 8:
        span = (np.maximum(-lo, hi) / F32(127)).astype(np.float32)
    else:
        span = ((hi - lo).astype(np.float32) / F32(15)).astype(np.float32)
    with np.errstate(over="ignore"):
        d16 = span.astype(np.float16)
    if not np.all(np.isfinite(d16)):
        raise QuantError("an int%d scale overflows float16" % bits)
    d = d16.astype(np.float32)
    live = d > 0
    safe = np.where(live, d, F32(1))
    if bits == 8:
        z = np.zeros(d.shape, dtype=np.int32)
        q = np.clip(np.rint(g / safe[..., None]), -127, 127)
    else:
        z = np.where(live, np.clip(np.rint(-lo / safe), 0, 15), 0).astype(np.int32)
        q = np.clip(np.rint(g / safe[..., None]) + z[..., None].astype(np.float32), 0, 15)
    q = np.where(live[..., None], q, 0).astype(np.int32)
    return q.reshape(w.shape), d16, z


def quantize_activations_int8(x, group):
    """float32 x [T, K] -> (codes int32 [T, K], scales float32 [T, K/G])."""
    x = np.asarray(x, dtype=np.float32)
    g = x.reshape(x.shape[:-1] + (x.shape[-1] // group, group))
    s = (np.abs(g).max(axis=-1) / F32(127)).astype(np.float32)
    live = s > 0
    safe = np.where(live, s, F32(1))
    a = np.clip(np.rint(g / safe[..., None]), -127, 127)
    a = np.where(live[..., None], a, 0).astype(np.int32)
    return a.reshape(x.shape), s


def linear_int8_activations(x, codes, scales, zeros, group):
    """x [T, K] float32 against an int weight (quantize_int's codes [N, K],
    scales [N, K/G], zeros [N, K/G]) with int8 activations -> [T, N]
    float32: per group the exact integer sum, times float32(d * s)."""
    a, s = quantize_activations_int8(x, group)
    T, K = a.shape
    N = codes.shape[0]
    G = K // group
    w = (codes.reshape(N, G, group) - zeros[..., None]).astype(np.int64)
    ag = a.reshape(T, G, group).astype(np.int64)
    t = np.einsum("tgk,ngk->tng", ag, w)  # exact integers
    ds = (scales.astype(np.float32)[None, :, :] * s[:, None, :]).astype(np.float32)
    return (t.astype(np.float64) * ds.astype(np.float64)).sum(axis=-1).astype(np.float32)


def dequant_int(codes, scales, zeros, group):
    """(codes, f16 scales, zero points) of quantize_int -> float32 values."""
    q = codes.reshape(codes.shape[:-1] + (codes.shape[-1] // group, group)).astype(np.float32)
    v = (q - zeros[..., None].astype(np.float32)) * scales.astype(np.float32)[..., None]
    return v.reshape(codes.shape).astype(np.float32)


# ----------------------------------------------------------------------------
# whole checkpoints

SCALE_INV_SUFFIX = "_scale_inv"


def dequantize_tensors(tensors, dtypes):
    """A checkpoint as read (dict name -> array, dict name -> safetensors
    dtype) -> dict name -> float32 values, in the names the reference uses:
    - an F8_E4M3 tensor W is dequantized with its `W_scale_inv` companion
      (which is dropped); an F8_E4M3 tensor without one is an error;
    - a pair `X_blocks` / `X_scales` (U8) becomes X = the MXFP4 values,
      transposed over the last two axes as transformers does
      ([..., N, K] -> [..., K, N]: gate_up_proj [E, H, 2F], down_proj [E, F, H]);
    - anything else is converted exactly (BF16/F16/F32)."""
    from safetensors_np import to_f32  # local: safetensors_np imports this module lazily too
    out = {}
    used = set()
    for n in sorted(tensors):
        a, dt = tensors[n], dtypes[n]
        if dt == "F8_E4M3":
            sn = n + SCALE_INV_SUFFIX
            if sn not in tensors:
                raise QuantError("F8_E4M3 tensor %s has no %s" % (n, sn))
            s = to_f32(tensors[sn], dtypes[sn])
            out[n] = dequant_fp8_block(a, s)
            used.add(sn)
        elif n.endswith("_blocks") and dt == "U8":
            base = n[:-len("_blocks")]
            sn = base + "_scales"
            if sn not in tensors:
                raise QuantError("%s has no %s" % (n, sn))
            out[base] = np.ascontiguousarray(np.swapaxes(dequant_mxfp4(a, tensors[sn]), -1, -2))
            used.add(sn)
    for n in sorted(tensors):
        if n in out or n in used or (n.endswith("_blocks") and n[:-7] in out):
            continue
        out[n] = to_f32(tensors[n], dtypes[n])
    return out
