#!/usr/bin/python3
"""Runs quantize_fp8_act (lib/Conversion/Kernels/fp8.mlir: the activations
of the CUDA target's cuBLASLt fp8 GEMMs, e4m3 per row and block of 128) on
the CPU and checks every code and scale it writes, and that it writes
nothing else, against the reference (test/reference/quant.py's
quantize_fp8_rows) and the region layout that docs/runtime.md states.

  quantize_act_kernel.py driver KERNEL.mlir OUT.mlir
      writes the module KERNEL.mlir (the kernel @qa, specialized by the test
      with E = 3, K = 200, KB = 2, MR = 16, QR = 72, QS = 144, AT = f32)
      with the inputs as globals and a main that runs @qa over the rows and
      prints the codes and the scales' bits
  quantize_act_kernel.py check OUTPUT
      compares them with the reference

The rows: offsets [0, 5, 5, 14] (expert 1 has no rows; rows 14 and 15 are
past the last range and must write nothing); K = 200, so block 1 is ragged.
Row 1 holds 448 and every midpoint between two consecutive positive e4m3
values (scale exactly 1: each midpoint is a tie, which goes to the even
code), row 6 their negatives; row 2's block 1 is all zeros (scale 1); row 3
holds a NaN, row 4 an infinity; the others span eight decades, so some codes
are subnormal."""
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "reference"))
import quant  # noqa: E402
sys.path.insert(0, os.path.dirname(__file__))
import dequant_kernel  # noqa: E402  (its write_driver)

E, K, KB, MR = 3, 200, 2, 16
QR = MR + 16 * E + 8
QS = KB * QR
OFFSETS = [0, 5, 5, 14]
SENTINEL_CODE = 0x55
SENTINEL_SCALE = np.float32(-7.0)


def inputs():
    rng = np.random.default_rng(20261208)
    sign = np.where(rng.random((MR, K)) < 0.5, -1.0, 1.0)
    x = (sign * 10.0 ** rng.uniform(-6, 2, size=(MR, K))).astype(np.float32)
    table = quant.e4m3_finite_table()
    mid = ((table[1:] + table[:-1]) / 2).astype(np.float32)  # exact in f32
    x[1, :len(mid)] = mid
    x[1, len(mid)] = 448.0
    x[6, :len(mid)] = -mid
    x[6, len(mid)] = -448.0
    x[2, 128:] = 0.0
    x[3, 17] = np.nan
    x[4, 150] = np.inf
    return x


def expected():
    x = inputs()
    q = np.full((QR, K), SENTINEL_CODE, dtype=np.uint8)
    qs = np.full(QS, SENTINEL_SCALE, dtype=np.float32)
    for e in range(E):
        o0, o1 = OFFSETS[e], OFFSETS[e + 1]
        m = o1 - o0
        if m == 0:
            continue
        m8 = (m + 7) // 8 * 8
        base = (o0 + 7) // 8 * 8 + 16 * e
        codes, scales = quant.quantize_fp8_rows(x[o0:o1])
        q[base:base + m] = codes
        q[base + m:base + m8] = 0
        for kb in range(KB):
            at = KB * base + kb * m8
            qs[at:at + m] = scales[:, kb]
            qs[at + m:at + m8] = 1.0
    return q, qs


def hexf(v):
    return "0x%08X" % int(np.float32(v).view(np.uint32))


def driver(kernel, path):
    x = inputs()
    a = "[" + ", ".join("[" + ", ".join(hexf(v) for v in row) + "]" for row in x) + "]"
    off = "[" + ", ".join(str(v) for v in OFFSETS) + "]"
    text = f"""
memref.global "private" constant @a : memref<{MR}x{K}xf32> = dense<{a}>
memref.global "private" constant @off : memref<{E + 1}xi32> = dense<{off}>
func.func private @printMemrefI32(memref<*xi32>) attributes {{ llvm.emit_c_interface }}
func.func @main() {{
  %a = memref.get_global @a : memref<{MR}x{K}xf32>
  %off = memref.get_global @off : memref<{E + 1}xi32>
  %q = memref.alloc() : memref<{QR}x{K}xi8>
  %qs = memref.alloc() : memref<{QS}xf32>
  %codeFill = arith.constant {SENTINEL_CODE} : i8
  %scaleFill = arith.constant {float(SENTINEL_SCALE)} : f32
  linalg.fill ins(%codeFill : i8) outs(%q : memref<{QR}x{K}xi8>)
  linalg.fill ins(%scaleFill : f32) outs(%qs : memref<{QS}xf32>)
  %t = arith.constant 1 : index
  %begin = arith.constant 0 : index
  %end = arith.constant {MR} : index
  func.call @qa(%a, %off, %q, %qs, %t, %begin, %end) : (memref<{MR}x{K}xf32>, memref<{E + 1}xi32>, memref<{QR}x{K}xi8>, memref<{QS}xf32>, index, index, index) -> ()
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %cQR = arith.constant {QR} : index
  %cK = arith.constant {K} : index
  %cQS = arith.constant {QS} : index
  %codes = memref.alloc() : memref<{QR}x{K}xi32>
  scf.for %i = %c0 to %cQR step %c1 {{
    scf.for %k = %c0 to %cK step %c1 {{
      %v = memref.load %q[%i, %k] : memref<{QR}x{K}xi8>
      %w = arith.extui %v : i8 to i32
      memref.store %w, %codes[%i, %k] : memref<{QR}x{K}xi32>
    }}
  }}
  %bits = memref.alloc() : memref<{QS}xi32>
  scf.for %i = %c0 to %cQS step %c1 {{
    %v = memref.load %qs[%i] : memref<{QS}xf32>
    %w = arith.bitcast %v : f32 to i32
    memref.store %w, %bits[%i] : memref<{QS}xi32>
  }}
  %u = memref.cast %codes : memref<{QR}x{K}xi32> to memref<*xi32>
  func.call @printMemrefI32(%u) : (memref<*xi32>) -> ()
  %v = memref.cast %bits : memref<{QS}xi32> to memref<*xi32>
  func.call @printMemrefI32(%v) : (memref<*xi32>) -> ()
  return
}}
"""
    dequant_kernel.write_driver(kernel, text, path)


def check(path):
    with open(path) as f:
        body = f.read()
    parts = body.split("data =")
    if len(parts) != 3:
        sys.exit("error: expected two printed memrefs")
    codes = parts[1].split("Unranked")[0]  # the second memref's header follows
    got_q = np.array([int(v) for v in re.findall(r"-?\d+", codes)], dtype=np.int64)
    got_s = np.array([int(v) for v in re.findall(r"-?\d+", parts[2])], dtype=np.int64)
    if got_q.size != QR * K or got_s.size != QS:
        sys.exit("error: expected %d codes and %d scales, got %d and %d"
                 % (QR * K, QS, got_q.size, got_s.size))
    got_q = got_q.astype(np.uint8).reshape(QR, K)
    got_s = (got_s & 0xFFFFFFFF).astype(np.uint32)
    want_q, want_s = expected()
    bad = np.argwhere(got_q != want_q)
    if bad.size:
        i, k = bad[0]
        sys.exit("error: %d codes differ; first Q[%d, %d]: got 0x%02X, want 0x%02X"
                 % (len(bad), i, k, got_q[i, k], want_q[i, k]))
    bad = np.flatnonzero(got_s != want_s.view(np.uint32))
    if bad.size:
        i = bad[0]
        sys.exit("error: %d scales differ; first QS[%d]: got 0x%08X, want 0x%08X"
                 % (len(bad), i, got_s[i], want_s.view(np.uint32)[i]))
    written = want_q != SENTINEL_CODE
    print("fp8 activations: %d codes and %d scales equal the reference (%d pad rows, "
          "%d NaN codes, %d subnormal codes, %d ties)"
          % (written.sum(), (want_s != SENTINEL_SCALE).sum(),
             sum(((OFFSETS[e + 1] - OFFSETS[e] + 7) // 8 * 8 - (OFFSETS[e + 1] - OFFSETS[e]))
                 for e in range(E) if OFFSETS[e + 1] > OFFSETS[e]),
             ((want_q & 0x7F) == 0x7F).sum(),
             (written & ((want_q & 0x78) == 0) & ((want_q & 0x07) != 0)).sum(),
             2 * (len(quant.e4m3_finite_table()) - 1)))


if __name__ == "__main__":
    a = sys.argv[1:]
    if len(a) == 3 and a[0] == "driver":
        driver(a[1], a[2])
    elif len(a) == 2 and a[0] == "check":
        check(a[1])
    else:
        sys.exit("usage: quantize_act_kernel.py driver KERNEL.mlir OUT.mlir | check OUTPUT")
