#!/usr/bin/python3
"""Runs lib/Conversion/Kernels/fp8.mlir's dequant_fp8 on the CPU and checks
every value against the reference (test/reference/quant.py).

  fp8_dequant.py driver KERNEL.mlir OUT.mlir
                                   writes the module KERNEL.mlir (the kernel
                                   @dq, specialized by the test) with the
                                   codes (every e4m3 code, NaN included, in
                                   an [N, K] matrix with ragged 128 x 128
                                   blocks) and their scales as globals, and
                                   a main that runs @dq over the rows and
                                   prints the bf16 bits it wrote
  fp8_dequant.py check OUTPUT      compares those bits with
                                   bf16(decode_e4m3(code) * scale), rounded
                                   to nearest even by the reference

The kernel is the one the CUDA target runs (specialized with N, K below);
only its lowering differs (CPU here, NVVM there)."""
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "reference"))
import quant  # noqa: E402
import safetensors_np as st  # noqa: E402

N, K = 130, 200  # 2 x 2 blocks of 128, the last ones ragged


def inputs():
    rng = np.random.default_rng(20261206)
    codes = rng.integers(0, 256, size=(N, K), dtype=np.uint8)
    codes.reshape(-1)[:256] = np.arange(256, dtype=np.uint8)  # every code
    # Scales whose products round in bf16: 1 + 2^-8 makes exact ties (code
    # 1.0 -> 1 + 2^-8, halfway between two bf16 values), 3e-38 subnormal
    # products, the others arbitrary.
    scales = np.array([[0.0123456789, 1.00390625], [3.0e-38, 1234.5678]], dtype=np.float32)
    return codes, scales


def nested(matrix, fmt):
    return "[" + ", ".join("[" + ", ".join(fmt(v) for v in row) + "]" for row in matrix) + "]"


def driver(kernels, path):
    codes, scales = inputs()
    # Each f32 scale written as the float64 of the same value: parsed back exactly.
    text = f"""
memref.global "private" constant @codes : memref<{N}x{K}xi8> = dense<{nested(codes.view(np.int8), str)}>
memref.global "private" constant @scales : memref<2x2xf32> = dense<{nested(scales, lambda v: repr(float(v)))}>
func.func private @printMemrefI16(memref<*xi16>) attributes {{ llvm.emit_c_interface }}
func.func @main() {{
  %c = memref.get_global @codes : memref<{N}x{K}xi8>
  %s = memref.get_global @scales : memref<2x2xf32>
  %out = memref.alloc() : memref<{N}x{K}xi16>
  %t = arith.constant 1 : index
  %b = arith.constant 0 : index
  %e = arith.constant {N} : index
  func.call @dq(%c, %s, %out, %t, %b, %e) : (memref<{N}x{K}xi8>, memref<2x2xf32>, memref<{N}x{K}xi16>, index, index, index) -> ()
  %u = memref.cast %out : memref<{N}x{K}xi16> to memref<*xi16>
  func.call @printMemrefI16(%u) : (memref<*xi16>) -> ()
  memref.dealloc %out : memref<{N}x{K}xi16>
  return
}}
"""
    with open(kernels) as f:
        module = f.read().rstrip()
    if not module.endswith("}"):
        sys.exit("error: %s is not a module" % kernels)
    text = module[:-1] + text + "}\n"
    with open(path, "w") as f:
        f.write(text)


def check(path):
    codes, scales = inputs()
    with open(path) as f:
        body = f.read()
    data = body[body.index("data =") + len("data ="):]
    got = np.array([int(v) for v in re.findall(r"-?\d+", data)], dtype=np.int64)
    if got.size != N * K:
        sys.exit("error: expected %d values, got %d" % (N * K, got.size))
    got = (got & 0xFFFF).astype(np.uint16).reshape(N, K)
    values = quant.dequant_fp8_block(codes, scales)
    want = st.f32_to_bf16_bits(values)
    nan = np.isnan(values)
    bad = (got != want) & ~nan
    if np.any(bad):
        n, k = np.argwhere(bad)[0]
        sys.exit("error: %d values differ; first [%d, %d]: code 0x%02X, got bf16 0x%04X, "
                 "want 0x%04X" % (bad.sum(), n, k, codes[n, k], got[n, k], want[n, k]))
    if not np.all(np.isnan(st.bf16_bits_to_f32(got[nan]))):
        sys.exit("error: a NaN code did not decode to NaN")
    print("fp8 dequant: %d values equal the reference (%d NaN codes)" % (N * K, nan.sum()))


if __name__ == "__main__":
    if sys.argv[1:2] == ["driver"] and len(sys.argv) == 4:
        driver(sys.argv[2], sys.argv[3])
    elif sys.argv[1:2] == ["check"] and len(sys.argv) == 3:
        check(sys.argv[2])
    else:
        sys.exit("usage: fp8_dequant.py driver KERNELS.mlir OUT.mlir | check OUTPUT")
