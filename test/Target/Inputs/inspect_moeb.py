#!/usr/bin/python3
"""Reads a .moeb file's header independently of the compiler and runtime,
checks its layout (header, blob section, the table, then a signed artifact's
signature section) and the header's and
table's checksums (re-implemented here from
docs/artifact.md), and prints what it found, one fact per line. With
`--matrix N K`, also whether the blob section holds the f32 [N, K] matrix of
values n * K + k + 1 row-major and in panels (WeightLayout Panels32). With
`--holds-tensor CHECKPOINT.safetensors NAME...`, whether the blob section
holds each tensor's bytes as the checkpoint stores them (e.g. fp8 codes and
scales copied as shipped); a NAME of the form A+B stands for A's bytes then
B's (two tensors stacked in one weight)."""
import json
import struct
import sys

MASK = (1 << 64) - 1
P1, P2, P3, P4 = 0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x85EBCA77C2B2AE63


def rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & MASK


def rnd(acc, inp):
    acc = (acc + inp * P2) & MASK
    return (rotl(acc, 31) * P1) & MASK


def checksum64(data, seed=0):
    v = [(seed + P1 + P2) & MASK, (seed + P2) & MASK, seed, (seed - P1) & MASK]
    n = len(data)
    i = 0
    while i + 32 <= n:
        for lane in range(4):
            (w,) = struct.unpack_from("<Q", data, i + 8 * lane)
            v[lane] = rnd(v[lane], w)
        i += 32
    h = (rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18)) & MASK
    h ^= (n * P3) & MASK
    while i < n:
        chunk = data[i:i + 8] + b"\0" * max(0, 8 - (n - i))
        (w,) = struct.unpack_from("<Q", chunk, 0)
        h ^= rnd(0, w)
        h = (rotl(h, 27) * P1 + P4) & MASK
        i += 8
    h ^= h >> 33
    h = (h * P2) & MASK
    h ^= h >> 29
    h = (h * P3) & MASK
    h ^= h >> 32
    return h


def find_weight_layouts(blob, n, k):
    """Whether the blob holds the f32 [n, k] matrix of values r * k + c + 1
    row-major, and in panels of 32 rows (docs/artifact.md: for each panel,
    k steps of 32 values, rows past n zero)."""
    rows = struct.pack("<%df" % (n * k), *[r * k + c + 1 for r in range(n) for c in range(k)])
    panels = []
    for p in range((n + 31) // 32):
        for c in range(k):
            for j in range(32):
                r = 32 * p + j
                panels.append(float(r * k + c + 1) if r < n else 0.0)
    packed = struct.pack("<%df" % len(panels), *panels)
    print("row_major_in_blob", rows in blob)
    print("panels_in_blob", packed in blob)


def holds_tensors(blob, checkpoint, names):
    """Whether the blob holds each named tensor's bytes of a safetensors file
    (an 8-byte header length, the JSON header, then the data)."""
    data = open(checkpoint, "rb").read()
    (length,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8:8 + length])
    def tensor_bytes(name):
        begin, end = header[name]["data_offsets"]
        return data[8 + length + begin:8 + length + end]
    for name in names:
        print("tensor_in_blob", name, b"".join(tensor_bytes(n) for n in name.split("+")) in blob)


def main():
    """inspect_moeb.py FILE [--matrix N K | --table OUT | --edit-table AT OUT |
    --swap-names A B OUT | --holds-tensor CHECKPOINT NAME...]"""
    data = open(sys.argv[1], "rb").read()
    (magic, version, header_size, file_size, table_offset, table_size, blob_offset,
     blob_size, table_cs) = struct.unpack_from("<8sIIQQQQQQ", data, 0)
    (sig_offset, sig_size) = struct.unpack_from("<QQ", data, 64)
    (header_cs,) = struct.unpack_from("<Q", data, 120)
    print("magic", magic.rstrip(b"\0").decode())
    print("version", version)
    print("header_size", header_size)
    print("file_size_matches", file_size == len(data))
    print("table_offset", table_offset)
    print("blobs_after_header", blob_offset == 128 and blob_size % 64 == 0)
    print("table_after_blobs", table_offset == blob_offset + blob_size)
    # The table ends the file, or the signature section right after it does.
    table_end = sig_offset if sig_size else file_size
    print("table_ends_file", table_offset + table_size == table_end)
    print("signed", sig_size != 0)
    if sig_size:
        magic_sig, = struct.unpack_from("<8s", data, sig_offset)
        (count,) = struct.unpack_from("<Q", data, sig_offset + 104)
        print("signature_magic", magic_sig.decode())
        print("signature_ends_file", sig_offset + sig_size == file_size and
              sig_size == 112 + 32 * count)
    print("identifier", data[table_offset + 4:table_offset + 8].decode())
    print("header_checksum_ok", checksum64(data[:120]) == header_cs)
    print("table_checksum_ok", checksum64(data[table_offset:table_offset + table_size]) == table_cs)
    print("reserved_zero", data[80:120] == b"\0" * 40)
    print("elf_code_object", b"\x7fELF" in data[blob_offset:blob_offset + blob_size])
    if len(sys.argv) == 5 and sys.argv[2] == "--matrix":
        find_weight_layouts(data[blob_offset:blob_offset + blob_size], int(sys.argv[3]),
                            int(sys.argv[4]))
    if len(sys.argv) >= 5 and sys.argv[2] == "--holds-tensor":
        holds_tensors(data[blob_offset:blob_offset + blob_size], sys.argv[3], sys.argv[4:])
    if len(sys.argv) == 5 and sys.argv[2] == "--edit-table":
        # An attacker's edit: one byte of the table changed, then the table's
        # and the header's checksums recomputed ("re-sealed").
        out = bytearray(data)
        out[table_offset + int(sys.argv[3])] ^= 0x01
        struct.pack_into("<Q", out, 56,
                         checksum64(bytes(out[table_offset:table_offset + table_size])))
        struct.pack_into("<Q", out, 120, checksum64(bytes(out[:120])))
        open(sys.argv[4], "wb").write(bytes(out))
    if len(sys.argv) == 6 and sys.argv[2] == "--swap-names":
        # Two kernel names of equal length swapped in the table, re-sealed.
        a, b = sys.argv[3].encode(), sys.argv[4].encode()
        assert len(a) == len(b)
        table = data[table_offset:table_offset + table_size]
        hold = b"\xfe" * len(a)
        assert hold not in table
        table = table.replace(a, hold).replace(b, a).replace(hold, b)
        out = bytearray(data)
        out[table_offset:table_offset + table_size] = table
        struct.pack_into("<Q", out, 56, checksum64(table))
        struct.pack_into("<Q", out, 120, checksum64(bytes(out[:120])))
        open(sys.argv[5], "wb").write(bytes(out))
    if len(sys.argv) == 4 and sys.argv[2] == "--table":
        # The FlatBuffers table alone, for `flatc --json --raw-binary`.
        open(sys.argv[3], "wb").write(data[table_offset:table_offset + table_size])


if __name__ == "__main__":
    main()
