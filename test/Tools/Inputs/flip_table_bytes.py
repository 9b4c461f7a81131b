#!/usr/bin/python3
"""Flips one bit of an artifact's table at N offsets spread over the table,
re-seals the checksums each time (as an attacker would), runs moe-run and
classifies the result: an 'error:' line and exit 1 (refused), a run whose
output equals the reference (harmless edit), a wrong output, or a crash or
hang. Prints 'R refused, H harmless, C crashed, W wrong'.

  flip_table_bytes.py ARTIFACT MOE_RUN X.npy Y.npy N [MOE_RUN_ARGS...]
"""
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "Target", "Inputs"))
from inspect_moeb import checksum64  # noqa: E402


def main():
    art, moe_run, x, y, n = sys.argv[1:6]
    extra = sys.argv[6:]
    data = open(art, "rb").read()
    (table_offset, table_size) = struct.unpack_from("<QQ", data, 24)
    ref = np.load(y)
    counts = dict(refused=0, harmless=0, crashed=0, wrong=0)
    with tempfile.TemporaryDirectory() as tmp:
        path, out = os.path.join(tmp, "e.moeb"), os.path.join(tmp, "y.npy")
        n = min(int(n), table_size)
        for i in range(n):
            at = table_offset + i * table_size // n
            e = bytearray(data)
            e[at] ^= 1 << (i % 8)
            struct.pack_into("<Q", e, 56, checksum64(bytes(e[table_offset:table_offset + table_size])))
            struct.pack_into("<Q", e, 120, checksum64(bytes(e[:120])))
            open(path, "wb").write(bytes(e))
            if os.path.exists(out):
                os.remove(out)
            try:
                r = subprocess.run([moe_run, path, "--input", x, "--output", out, "--quiet"] + extra,
                                   capture_output=True, timeout=30)
            except subprocess.TimeoutExpired:
                counts["crashed"] += 1
                print("byte %d: hang" % (at - table_offset))
                continue
            stderr = r.stderr.decode("utf-8", "replace")
            lines = stderr.strip().splitlines()
            if r.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: "):
                counts["refused"] += 1
            elif r.returncode == 0:
                good = (os.path.exists(out) and np.load(out).shape == ref.shape and
                        float(np.abs(np.load(out) - ref).max()) <= 1e-5 * float(np.abs(ref).max()))
                counts["harmless" if good else "wrong"] += 1
                if not good:
                    print("byte %d: wrong output" % (at - table_offset))
            else:
                counts["crashed"] += 1
                print("byte %d: exit %d: %s" % (at - table_offset, r.returncode, stderr[-300:]))
    print("%d refused, %d harmless, %d crashed, %d wrong" %
          (counts["refused"], counts["harmless"], counts["crashed"], counts["wrong"]))


if __name__ == "__main__":
    main()
