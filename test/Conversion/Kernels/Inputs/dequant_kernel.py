#!/usr/bin/python3
"""Runs a dequant kernel of the CUDA target (lib/Conversion/Kernels/fp8.mlir's
dequant_fp8, mxfp4.mlir's dequant_mxfp4) on the CPU and checks every value it
writes against the reference (test/reference/quant.py).

  dequant_kernel.py FORMAT driver KERNEL.mlir OUT.mlir
      writes the module KERNEL.mlir (the kernel @dq, specialized by the test
      with the sizes below) with the inputs as globals and a main that runs
      @dq over every row and prints the bf16 bits it wrote
  dequant_kernel.py FORMAT check OUTPUT
      compares those bits with the reference's

FORMAT fp8: every e4m3 code, NaN included, in an [N, K] = [130, 200] matrix
(ragged 128 x 128 blocks) with scales whose products round in bf16 (and tie),
turn subnormal, or are arbitrary; expected bf16(decode_e4m3(code) · scale),
rounded to nearest even.
FORMAT mxfp4: an [N, K] = [40, 96] matrix in MXFP4 rows (each row's K / 2
code bytes, then its K / 32 e8m0 scales) holding every e2m1 code and the
e8m0 scales 0 (2^-127), 1, 126, 127, 128, 200, 253, 254 (6 · 2^127
overflows to infinity) and 255 (NaN); expected dequant_mxfp4's values,
which are bf16 values exactly.

The kernel is the one the CUDA target runs; only its lowering differs (CPU
here, NVVM there)."""
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "reference"))
import quant  # noqa: E402
import safetensors_np as st  # noqa: E402

SIZES = {"fp8": (130, 200), "mxfp4": (40, 96)}


def fp8_inputs():
    N, K = SIZES["fp8"]
    rng = np.random.default_rng(20261206)
    codes = rng.integers(0, 256, size=(N, K), dtype=np.uint8)
    codes.reshape(-1)[:256] = np.arange(256, dtype=np.uint8)  # every code
    # 1 + 2^-8 makes exact ties (code 1.0 -> 1 + 2^-8, halfway between two
    # bf16 values), 3e-38 subnormal products, the others arbitrary.
    scales = np.array([[0.0123456789, 1.00390625], [3.0e-38, 1234.5678]], dtype=np.float32)
    return codes, scales


def mxfp4_inputs():
    N, K = SIZES["mxfp4"]
    rng = np.random.default_rng(20261207)
    blocks = rng.integers(0, 256, size=(N, K // 32, 16), dtype=np.uint8)
    blocks.reshape(-1)[:256] = np.arange(256, dtype=np.uint8)  # every pair of codes
    special = np.array([0, 1, 126, 127, 128, 200, 253, 254, 255], dtype=np.uint8)
    scales = rng.integers(100, 150, size=(N, K // 32), dtype=np.uint8)
    scales.reshape(-1)[:len(special)] = special
    return blocks, scales


def nested(matrix, fmt):
    return "[" + ", ".join("[" + ", ".join(fmt(v) for v in row) + "]" for row in matrix) + "]"


def write_driver(kernel, text, path):
    """Writes the module in file `kernel` (the specialized kernel) with
    `text` (globals and a main that calls it) added inside, to `path`."""
    with open(kernel) as f:
        module = f.read().rstrip()
    if not module.endswith("}"):
        sys.exit("error: %s is not a module" % kernel)
    with open(path, "w") as f:
        f.write(module[:-1] + text + "}\n")


def driver(fmt, kernel, path):
    N, K = SIZES[fmt]
    if fmt == "fp8":
        codes, scales = fp8_inputs()
        # Each f32 scale written as the float64 of the same value: parsed back exactly.
        globals_ = (f'memref.global "private" constant @b : memref<{N}x{K}xi8> = '
                    f'dense<{nested(codes.view(np.int8), str)}>\n'
                    f'memref.global "private" constant @s : memref<2x2xf32> = '
                    f'dense<{nested(scales, lambda v: repr(float(v)))}>\n')
        args = ["%b", "%s", "%out"]
        types = [f"memref<{N}x{K}xi8>", "memref<2x2xf32>", f"memref<{N}x{K}xi16>"]
        loads = (f"  %b = memref.get_global @b : memref<{N}x{K}xi8>\n"
                 f"  %s = memref.get_global @s : memref<2x2xf32>\n")
    else:
        blocks, scales = mxfp4_inputs()
        rows = np.concatenate([blocks.reshape(N, K // 2), scales], axis=1)  # MXFP4 rows
        RB = rows.shape[1]
        globals_ = (f'memref.global "private" constant @b : memref<{N}x{RB}xi8> = '
                    f'dense<{nested(rows.view(np.int8), str)}>\n')
        args = ["%b", "%out"]
        types = [f"memref<{N}x{RB}xi8>", f"memref<{N}x{K}xi16>"]
        loads = f"  %b = memref.get_global @b : memref<{N}x{RB}xi8>\n"
    text = f"""
{globals_}func.func private @printMemrefI16(memref<*xi16>) attributes {{ llvm.emit_c_interface }}
func.func @main() {{
{loads}  %out = memref.alloc() : memref<{N}x{K}xi16>
  %t = arith.constant 1 : index
  %begin = arith.constant 0 : index
  %end = arith.constant {N} : index
  func.call @dq({", ".join(args)}, %t, %begin, %end) : ({", ".join(types)}, index, index, index) -> ()
  %u = memref.cast %out : memref<{N}x{K}xi16> to memref<*xi16>
  func.call @printMemrefI16(%u) : (memref<*xi16>) -> ()
  memref.dealloc %out : memref<{N}x{K}xi16>
  return
}}
"""
    write_driver(kernel, text, path)


def check(fmt, path):
    N, K = SIZES[fmt]
    with open(path) as f:
        body = f.read()
    data = body[body.index("data =") + len("data ="):]
    got = np.array([int(v) for v in re.findall(r"-?\d+", data)], dtype=np.int64)
    if got.size != N * K:
        sys.exit("error: expected %d values, got %d" % (N * K, got.size))
    got = (got & 0xFFFF).astype(np.uint16).reshape(N, K)
    if fmt == "fp8":
        codes, scales = fp8_inputs()
        values = quant.dequant_fp8_block(codes, scales)
        code_of = lambda n, k: "code 0x%02X" % codes[n, k]  # noqa: E731
    else:
        blocks, scales = mxfp4_inputs()
        values = quant.dequant_mxfp4(blocks, scales)
        if not np.array_equal(st.bf16_bits_to_f32(st.f32_to_bf16_bits(values))[~np.isnan(values)],
                              values[~np.isnan(values)]):
            sys.exit("error: an MXFP4 value is not a bf16 value")
        code_of = lambda n, k: "scale %d" % scales[n, k // 32]  # noqa: E731
    want = st.f32_to_bf16_bits(values)
    nan = np.isnan(values)
    bad = (got != want) & ~nan
    if np.any(bad):
        n, k = np.argwhere(bad)[0]
        sys.exit("error: %d values differ; first [%d, %d] (%s): got bf16 0x%04X, want 0x%04X"
                 % (bad.sum(), n, k, code_of(n, k), got[n, k], want[n, k]))
    if not np.all(np.isnan(st.bf16_bits_to_f32(got[nan]))):
        sys.exit("error: a NaN did not stay NaN")
    print("%s dequant: %d values equal the reference (%d NaN, %d infinite)"
          % (fmt, N * K, nan.sum(), np.isinf(values).sum()))


if __name__ == "__main__":
    a = sys.argv[1:]
    if len(a) == 4 and a[0] in SIZES and a[1] == "driver":
        driver(a[0], a[2], a[3])
    elif len(a) == 3 and a[0] in SIZES and a[1] == "check":
        check(a[0], a[2])
    else:
        sys.exit("usage: dequant_kernel.py fp8|mxfp4 driver KERNEL.mlir OUT.mlir | "
                 "fp8|mxfp4 check OUTPUT")
