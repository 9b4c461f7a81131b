#!/usr/bin/python3
"""Pure-numpy reader and writer of the safetensors format.

File layout (https://github.com/huggingface/safetensors):

    [8 bytes]  N, little-endian u64: length of the JSON header
    [N bytes]  JSON header, UTF-8, padded with spaces (0x20) so that 8 + N is a
               multiple of 8 (what the Rust library writes):
                 {"__metadata__": {"k": "v", ...},        (optional, str -> str)
                  "name": {"dtype": "F32", "shape": [..],
                           "data_offsets": [begin, end]}, ...}
               offsets are relative to the first byte after the header.
    [rest]     the data, little-endian, C order, tensors back to back.

bfloat16 is represented in numpy as uint16 bit patterns. When writing, a
uint16 array is stored as "BF16" unless `dtypes` says otherwise ("U16");
when reading, "BF16" tensors come back as uint16 (use bf16_bits_to_f32, or
load_file(..., bf16_as_f32=True)).

Only numpy and the standard library are used.
"""

import json
import os
import struct
import sys

import numpy as np

# safetensors dtype string -> numpy dtype (little-endian).
DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"),
    "U32": np.dtype("<u4"),
    "U16": np.dtype("<u2"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
    # fp8 bytes, kept as uint8 codes (write a uint8 array with
    # dtypes={name: "F8_E4M3"}). quant.py decodes F8_E4M3; to_f32 refuses
    # both (an F8_E4M3 value needs its block scale).
    "F8_E4M3": np.dtype("u1"),
    "F8_E5M2": np.dtype("u1"),
}

# numpy dtype -> default safetensors dtype string (uint16 means bf16 bits).
_DEFAULT_NAME = {
    np.dtype("float64"): "F64",
    np.dtype("float32"): "F32",
    np.dtype("float16"): "F16",
    np.dtype("uint16"): "BF16",
    np.dtype("int64"): "I64",
    np.dtype("int32"): "I32",
    np.dtype("int16"): "I16",
    np.dtype("int8"): "I8",
    np.dtype("uint64"): "U64",
    np.dtype("uint32"): "U32",
    np.dtype("uint8"): "U8",
    np.dtype("bool"): "BOOL",
}

MAX_HEADER = 100_000_000  # the Rust library's limit


class SafetensorsError(ValueError):
    pass


# ----------------------------------------------------------------------------
# bfloat16 <-> float32

def f32_to_bf16_bits(a):
    """float32 values -> bf16 bit patterns (uint16), round to nearest even.

    NaN stays NaN (sign kept, quiet bit forced so a NaN whose payload lives only
    in the low 16 bits does not turn into infinity); +-inf stay +-inf; finite
    values that round past the largest bf16 become +-inf (as torch does).
    """
    a = np.ascontiguousarray(np.asarray(a, dtype=np.float32))
    u = a.view(np.uint32).astype(np.uint64)
    rounding = ((u >> np.uint64(16)) & np.uint64(1)) + np.uint64(0x7FFF)
    rounded = ((u + rounding) >> np.uint64(16)).astype(np.uint16)
    nan = np.isnan(a)
    if np.any(nan):
        quiet = ((u >> np.uint64(16)) | np.uint64(0x0040)).astype(np.uint16)
        rounded = np.where(nan, quiet, rounded)
    return rounded.reshape(a.shape)


def bf16_bits_to_f32(u16):
    """bf16 bit patterns (uint16) -> float32 (exact)."""
    u16 = np.ascontiguousarray(np.asarray(u16))
    if u16.dtype != np.uint16:
        raise TypeError("bf16 bits must be uint16, got %s" % u16.dtype)
    return (u16.astype(np.uint32) << np.uint32(16)).view(np.float32).reshape(u16.shape)


def _quant():
    """quant.py from this directory (imported lazily: it imports this module)."""
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
    import quant
    return quant


def to_f32(array, dtype_name, fp8_unscaled=False):
    """A tensor as read from a file -> float32 values (exact for F16/BF16/F32).

    F8_E4M3 codes are refused (SafetensorsError): their values need the
    block scales of a companion tensor (quant.dequant_fp8_block, or
    quant.dequantize_tensors for a whole checkpoint). fp8_unscaled=True
    decodes the bare e4m3 codes without any scale. F8_E5M2 is refused.
    """
    if dtype_name == "BF16":
        return bf16_bits_to_f32(array)
    if dtype_name == "F8_E4M3":
        if not fp8_unscaled:
            raise SafetensorsError(
                "to_f32: an F8_E4M3 tensor needs its block scales (<name>_scale_inv); "
                "use quant.dequant_fp8_block, or to_f32(..., fp8_unscaled=True) for the bare codes")
        return _quant().decode_e4m3(np.asarray(array, dtype=np.uint8))
    if dtype_name == "F8_E5M2":
        raise SafetensorsError("to_f32: F8_E5M2 is not supported by the reference")
    return np.asarray(array).astype(np.float32)


# ----------------------------------------------------------------------------
# writing

def _dtype_name(name, arr, dtypes):
    if dtypes and name in dtypes:
        dn = dtypes[name]
        if dn not in DTYPES:
            raise SafetensorsError("unknown dtype %r for %s" % (dn, name))
        if DTYPES[dn].itemsize != arr.dtype.itemsize or DTYPES[dn].kind != np.dtype(arr.dtype).kind:
            raise SafetensorsError("array of %s cannot be stored as %s (%s)" % (arr.dtype, dn, name))
        return dn
    dt = np.dtype(arr.dtype).newbyteorder("=")
    if dt not in _DEFAULT_NAME:
        raise SafetensorsError("unsupported numpy dtype %s for %s" % (arr.dtype, name))
    return _DEFAULT_NAME[dt]


def serialize(tensors, metadata=None, dtypes=None):
    """dict name -> ndarray  ->  bytes of a .safetensors file.

    Data is laid out like the Rust library does: by decreasing element size,
    then by name, so every tensor is aligned to its element size.
    """
    if metadata is not None:
        if not isinstance(metadata, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise SafetensorsError("__metadata__ must map str to str")
    items = []
    for name, arr in tensors.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise SafetensorsError("bad tensor name %r" % (name,))
        arr = np.asarray(arr)
        dn = _dtype_name(name, arr, dtypes)
        items.append((name, dn, arr))
    items.sort(key=lambda it: (-DTYPES[it[1]].itemsize, it[0]))

    header = {}
    if metadata:
        header["__metadata__"] = dict(metadata)
    chunks = []
    offset = 0
    for name, dn, arr in items:
        data = np.ascontiguousarray(arr, dtype=DTYPES[dn]).tobytes()
        header[name] = {"dtype": dn, "shape": [int(d) for d in arr.shape],
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    hbytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hbytes += b" " * ((8 - (8 + len(hbytes)) % 8) % 8)
    return struct.pack("<Q", len(hbytes)) + hbytes + b"".join(chunks)


def save_file(tensors, path, metadata=None, dtypes=None):
    """Write `tensors` (dict name -> ndarray) to `path`.

    dtypes: optional dict name -> safetensors dtype string, to override the
    default mapping (float32->F32, float16->F16, uint16->BF16, ...).
    """
    blob = serialize(tensors, metadata, dtypes)
    tmp = str(path) + ".tmp"
    with open(tmp, "wb") as f:
        f.write(blob)
    os.replace(tmp, path)


def shard_file_name(i, n):
    """1-based shard i of n, the Hugging Face naming."""
    return "model-%05d-of-%05d.safetensors" % (i, n)


def split_into_shards(tensors, n_shards, dtypes=None):
    """Names (sorted) split into n_shards consecutive, non-empty groups of
    roughly equal byte size. Returns a list of lists of names."""
    names = sorted(tensors)
    if n_shards < 1:
        raise SafetensorsError("n_shards must be >= 1")
    if n_shards > len(names):
        raise SafetensorsError("%d shards for %d tensors" % (n_shards, len(names)))
    sizes = [np.asarray(tensors[n]).nbytes for n in names]
    total = sum(sizes)
    shards = [[] for _ in range(n_shards)]
    j, acc = 0, 0
    for i, name in enumerate(names):
        remaining = len(names) - i  # including this one
        if shards[j] and j < n_shards - 1 and (
                acc >= total * (j + 1) / n_shards or remaining <= n_shards - 1 - j):
            j += 1
        shards[j].append(name)
        acc += sizes[i]
    return shards


def write_sharded(directory, tensors, n_shards, metadata=None, dtypes=None):
    """Write model-0000i-of-0000n.safetensors (i = 1..n) and
    model.safetensors.index.json into `directory`.

    The index is {"metadata": {"total_size": bytes of all tensor data},
    "weight_map": {name: file}} (keys sorted), as transformers writes it.
    Every shard carries __metadata__ {"format": "pt"} unless `metadata` is
    given. Returns the list of shard file names. n_shards == 1 still writes a
    single model-00001-of-00001.safetensors plus the index.
    """
    os.makedirs(directory, exist_ok=True)
    if metadata is None:
        metadata = {"format": "pt"}
    groups = split_into_shards(tensors, n_shards, dtypes)
    weight_map = {}
    files = []
    total = 0
    for i, names in enumerate(groups):
        fname = shard_file_name(i + 1, n_shards)
        part = {n: tensors[n] for n in names}
        sub_dtypes = {n: dtypes[n] for n in names if dtypes and n in dtypes}
        save_file(part, os.path.join(directory, fname), metadata, sub_dtypes or None)
        for n in names:
            weight_map[n] = fname
            total += np.asarray(tensors[n]).nbytes
        files.append(fname)
    index = {"metadata": {"total_size": total},
             "weight_map": {k: weight_map[k] for k in sorted(weight_map)}}
    with open(os.path.join(directory, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2)
        f.write("\n")
    return files


# ----------------------------------------------------------------------------
# reading

def parse_header(blob):
    """bytes of a file (at least its header) -> (tensor infos, metadata, data_start).

    tensor infos: dict name -> {"dtype", "shape", "data_offsets"}.
    """
    if len(blob) < 8:
        raise SafetensorsError("file shorter than 8 bytes")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > MAX_HEADER:
        raise SafetensorsError("header length %d too large" % n)
    if 8 + n > len(blob):
        raise SafetensorsError("header length %d past end of file" % n)
    try:
        header = json.loads(blob[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError("bad JSON header: %s" % e)
    if not isinstance(header, dict):
        raise SafetensorsError("header is not a JSON object")
    metadata = header.pop("__metadata__", None)
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise SafetensorsError("bad entry for %s: %r" % (name, info))
        if info["dtype"] not in DTYPES:
            raise SafetensorsError("unknown dtype %r for %s" % (info["dtype"], name))
    return header, metadata, 8 + n


def _validate(infos, data_len):
    """Offsets must tile [0, data_len) exactly and match shape * itemsize."""
    spans = sorted((tuple(i["data_offsets"]), name) for name, i in infos.items())
    pos = 0
    for (begin, end), name in spans:
        info = infos[name]
        if begin != pos or end < begin:
            raise SafetensorsError("%s: data_offsets %r not contiguous at %d" % (name, [begin, end], pos))
        count = 1
        for d in info["shape"]:
            if not isinstance(d, int) or d < 0:
                raise SafetensorsError("%s: bad shape %r" % (name, info["shape"]))
            count *= d
        if count * DTYPES[info["dtype"]].itemsize != end - begin:
            raise SafetensorsError("%s: %d bytes for shape %r %s" % (
                name, end - begin, info["shape"], info["dtype"]))
        pos = end
    if pos != data_len:
        raise SafetensorsError("data section is %d bytes, tensors cover %d" % (data_len, pos))


def read_header(path):
    """-> (tensor infos, metadata or None, data_start) without reading the data."""
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise SafetensorsError("%s: shorter than 8 bytes" % path)
        (n,) = struct.unpack("<Q", head)
        if n > MAX_HEADER:
            raise SafetensorsError("%s: header length %d too large" % (path, n))
        return parse_header(head + f.read(n))


def deserialize(blob, bf16_as_f32=False):
    """bytes -> (dict name -> ndarray, dict name -> dtype string, metadata)."""
    infos, metadata, start = parse_header(blob)
    _validate(infos, len(blob) - start)
    out, dts = {}, {}
    for name, info in infos.items():
        begin, end = info["data_offsets"]
        dt = DTYPES[info["dtype"]]
        arr = np.frombuffer(blob, dtype=dt, count=(end - begin) // dt.itemsize,
                            offset=start + begin).reshape(info["shape"]).copy()
        if bf16_as_f32 and info["dtype"] == "BF16":
            arr = bf16_bits_to_f32(arr)
        out[name] = arr
        dts[name] = info["dtype"]
    return out, dts, metadata


def load_file(path, bf16_as_f32=False):
    """path -> dict name -> ndarray (BF16 as uint16 bits unless bf16_as_f32)."""
    with open(path, "rb") as f:
        blob = f.read()
    return deserialize(blob, bf16_as_f32)[0]


def load_file_full(path, bf16_as_f32=False):
    """path -> (tensors, dtype strings, metadata)."""
    with open(path, "rb") as f:
        blob = f.read()
    return deserialize(blob, bf16_as_f32)


def load_checkpoint(directory, bf16_as_f32=False):
    """A checkpoint directory -> (tensors, dtype strings).

    Uses model.safetensors.index.json when present (and checks that each tensor
    lives in the file the index names), else model.safetensors.
    """
    index_path = os.path.join(directory, "model.safetensors.index.json")
    if os.path.exists(index_path):
        with open(index_path) as f:
            index = json.load(f)
        weight_map = index["weight_map"]
        tensors, dts = {}, {}
        for fname in sorted(set(weight_map.values())):
            t, d, _ = load_file_full(os.path.join(directory, fname), bf16_as_f32)
            for name in t:
                if weight_map.get(name) != fname:
                    raise SafetensorsError("%s found in %s but index says %s" % (
                        name, fname, weight_map.get(name)))
            tensors.update(t)
            dts.update(d)
        missing = set(weight_map) - set(tensors)
        if missing:
            raise SafetensorsError("tensors in index but in no shard: %s" % sorted(missing)[:5])
        return tensors, dts
    t, d, _ = load_file_full(os.path.join(directory, "model.safetensors"), bf16_as_f32)
    return t, d


def load_checkpoint_f32(directory, dequantize=False):
    """A checkpoint directory -> dict name -> float32 values (exact conversion).

    dequantize=True decodes quantized weights with quant.dequantize_tensors
    (F8_E4M3 + `_scale_inv`; MXFP4 `_blocks` + `_scales`), giving the names
    the reference uses; without it an F8_E4M3 tensor raises SafetensorsError.
    """
    tensors, dts = load_checkpoint(directory)
    if dequantize:
        return _quant().dequantize_tensors(tensors, dts)
    return {n: to_f32(a, dts[n]) for n, a in tensors.items()}


if __name__ == "__main__":
    for p in sys.argv[1:]:
        infos, meta, start = read_header(p)
        print("%s: header %d bytes, metadata %r" % (p, start - 8, meta))
        for name in sorted(infos, key=lambda n: infos[n]["data_offsets"][0]):
            i = infos[name]
            print("  %-70s %-7s %-16s %r" % (name, i["dtype"], i["shape"], i["data_offsets"]))
