// moe-export-artifact: writes the .moeb layout of docs/artifact.md; an
// independent reader checks the header, alignment and the three checksums.
// RUN: rm -f %t.moeb
// RUN: moe-opt %s --moe-compile-pipeline="output=%t.moeb max-tokens=16" -o /dev/null
// RUN: %python %S/Inputs/inspect_moeb.py %t.moeb | FileCheck %s -DVERSION=4
// A weight in panels is written packed (moe-pack-weights), else row-major:
// RUN: moe-opt %S/Inputs/export-panels.mlir --moe-pack-weights --moe-export-artifact=output=%t.panels.moeb -o /dev/null
// RUN: %python %S/Inputs/inspect_moeb.py %t.panels.moeb --matrix 40 3 | FileCheck %s --check-prefix=PANELS
// RUN: moe-opt %S/Inputs/export-panels.mlir --moe-export-artifact=output=%t.rows.moeb -o /dev/null
// RUN: %python %S/Inputs/inspect_moeb.py %t.rows.moeb --matrix 40 3 | FileCheck %s --check-prefix=ROWS
// The cuda target records each grouped GEMM's engine (--cuda-gemv-max-tokens),
// read back from the table by flatc:
// RUN: %if cuda %{ rm -rf %t.fb && mkdir %t.fb %}
// RUN: %if cuda %{ moe-opt %s --moe-compile-pipeline="output=%t.fb/gemv.moeb max-tokens=16 target=cuda:sm_80 cuda-gemv-max-tokens=4" -o /dev/null %}
// RUN: %if cuda %{ %python %S/Inputs/inspect_moeb.py %t.fb/gemv.moeb --table %t.fb/gemv.bin | FileCheck %s -DVERSION=7 %}
// RUN: %if cuda %{ flatc --json --strict-json --raw-binary -o %t.fb %moec_src/runtime/schema/moeb.fbs -- %t.fb/gemv.bin %}
// RUN: %if cuda %{ %python %S/Inputs/gemm_engines.py %t.fb/gemv.json | FileCheck %s --check-prefix=GEMV %}
// RUN: %if cuda %{ moe-opt %s --moe-compile-pipeline="output=%t.fb/blas.moeb max-tokens=16 target=cuda:sm_80" -o /dev/null %}
// RUN: %if cuda %{ %python %S/Inputs/inspect_moeb.py %t.fb/blas.moeb --table %t.fb/blas.bin > /dev/null %}
// RUN: %if cuda %{ flatc --json --strict-json --raw-binary -o %t.fb %moec_src/runtime/schema/moeb.fbs -- %t.fb/blas.bin %}
// RUN: %if cuda %{ %python %S/Inputs/gemm_engines.py %t.fb/blas.json | FileCheck %s --check-prefix=BLAS %}
// RUN: not moe-opt %S/Inputs/export-panels-cuda.mlir --moe-export-artifact=output=%t.cuda.moeb -o /dev/null 2>&1 | FileCheck %s --check-prefix=CUDA
// PANELS: row_major_in_blob False
// PANELS-NEXT: panels_in_blob True
// ROWS: row_major_in_blob True
// ROWS-NEXT: panels_in_blob False
// CUDA: error: moe-export-artifact: weight 'w' is in panels, the CPU target's layout, but the module is for cuda
// A plan whose kernels were never compiled has nothing to launch:
// RUN: moe-opt %s --moe-compile-pipeline="max-tokens=16 stop-after=exec" -o %t.exec.mlir
// RUN: not moe-opt %t.exec.mlir --moe-export-artifact=output=%t.nocode.moeb -o /dev/null 2>&1 | FileCheck %s --check-prefix=NOCODE
// NOCODE: error: moe-export-artifact: kernel @{{[a-z_]+[0-9]+}} is in no code object (run moe-codegen-host or moe-codegen-cuda first)
// RUN: not moe-opt %s --moe-compile-pipeline="max-tokens=16" -o /dev/null 2>&1 | FileCheck %s --check-prefix=NOOUT
// RUN: not moe-opt %s --moe-compile-pipeline="output=%t.dir/nowhere/x.moeb max-tokens=16" -o /dev/null 2>&1 | FileCheck %s --check-prefix=BADPATH
// The pipeline's own options: a bad target or stage is an error, not a default.
// RUN: not moe-opt %s --moe-compile-pipeline="max-tokens=16 target=tpu" -o /dev/null 2>&1 | FileCheck %s --check-prefix=BADTARGET
// BADTARGET: error: moe-compile-pipeline: unknown target 'tpu' (expected cpu or cuda[:sm_NN])
// RUN: not moe-opt %s --moe-compile-pipeline="max-tokens=16 stop-after=lower" -o /dev/null 2>&1 | FileCheck %s --check-prefix=BADSTAGE
// BADSTAGE: error: moe-compile-pipeline: stop-after must be one of input, expand, exec, codegen, artifact, got 'lower'

// The format version: 4 for the cpu target, 7 for cuda (its kernels read
// the run word).
// CHECK: magic MOEBART
// CHECK-NEXT: version [[VERSION]]
// CHECK-NEXT: header_size 128
// CHECK-NEXT: file_size_matches True
// CHECK-NEXT: table_offset {{[0-9]+}}
// CHECK-NEXT: blobs_after_header True
// CHECK-NEXT: table_after_blobs True
// CHECK-NEXT: table_ends_file True
// CHECK-NEXT: signed False
// CHECK-NEXT: identifier MOEB
// CHECK-NEXT: header_checksum_ok True
// CHECK-NEXT: table_checksum_ok True
// CHECK-NEXT: reserved_zero True
// CHECK-NEXT: elf_code_object True
// NOOUT: error: moe-export-artifact: no output file (option output=...)
// BADPATH: error: moe-export-artifact: cannot write {{.*}}x.moeb: No such file or directory
func.func @f(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %wg = moe.weight "gate" = dense<0.5> : tensor<4x8xf32> : tensor<4x8xf32>
  %w1 = moe.weight "w1" = dense<0.25> : tensor<4x6x8xbf16> : tensor<4x6x8xbf16>
  %w2 = moe.weight "w2" = dense<0.125> : tensor<4x8x6xf32> : tensor<4x8x6xf32>
  %y = moe.block %x router %wg experts(up %w1, down %w2, gate %w1) routing #moe.routing<k = 2, renormalize = true> ffn <activation = silu> : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x6x8xbf16>, tensor<4x8x6xf32>, tensor<4x6x8xbf16>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// GEMV: target Cuda
// GEMV-NEXT: grouped_gemm n 6 k 8: gemv grouped_gemv_warp_0 (args 4, lanes 32) up to T = 4, else cublas
// GEMV-NEXT: grouped_gemm n 6 k 8: gemv grouped_gemv_warp_0 (args 4, lanes 32) up to T = 4, else cublas
// GEMV-NEXT: grouped_gemm n 8 k 6: gemv grouped_gemv_warp_1 (args 4, lanes 32) up to T = 4, else cublas
// BLAS: target Cuda
// BLAS-NEXT: grouped_gemm n 6 k 8: cublas
// BLAS-NEXT: grouped_gemm n 6 k 8: cublas
// BLAS-NEXT: grouped_gemm n 8 k 6: cublas
