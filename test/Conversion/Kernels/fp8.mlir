// The fp8 kernels of the CUDA target (lib/Conversion/Kernels/fp8.mlir):
// dequant_fp8 writes one [N, K] matrix as bf16 bits, a row per item;
// grouped_gemv_fp8_warp is grouped_gemv_warp over fp8 codes decoded in
// registers, with bf16 A, one scale load per block of 128 k.
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/fp8.mlir --exec-specialize-kernel="kernel=dequant_fp8 name=d bind=N=130,K=200,NB=2,KB=2" | FileCheck %s --check-prefix=DEQUANT
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/fp8.mlir --exec-specialize-kernel="kernel=grouped_gemv_fp8_warp name=g bind=E=4,N=130,K=200,MR=32,NB=2,KB=2,CT=f32" | FileCheck %s --check-prefix=GEMV
// RUN: not moe-opt %moec_src/lib/Conversion/Kernels/fp8.mlir --exec-specialize-kernel="kernel=dequant_fp8 name=d bind=N=130,K=200" 2>&1 | FileCheck %s --check-prefix=NOBLOCKS

// DEQUANT: func.func @d(%[[B:.*]]: memref<130x200xi8>, %[[S:.*]]: memref<2x2xf32>, %[[OUT:.*]]: memref<130x200xi16>,
// DEQUANT: %[[SC:.*]] = memref.load %[[S]]
// DEQUANT: %[[CODE:.*]] = memref.load %[[B]]
// DEQUANT: arith.extui %[[CODE]] : i8 to i32
// DEQUANT: arith.mulf %{{.*}}, %[[SC]] : f32
// DEQUANT: arith.trunci %{{.*}} : i32 to i16
// DEQUANT: memref.store %{{.*}}, %[[OUT]]
// DEQUANT: } {exec.spread}

// GEMV: func.func @g(%[[A:.*]]: memref<32x200xbf16>, %[[B:.*]]: memref<4x130x200xi8>, %[[S:.*]]: memref<4x2x2xf32>, %{{.*}}: memref<5xi32>, %[[C:.*]]: memref<32x130xf32>, {{.*}} attributes {exec.lanes = 32 : i64}
// The kernel's indices (its decoding is dequant_fp8's, run below): lane l
// of item (e, n) reads codes j = jb + 32 u + l of the block of 128 at jb,
// whose scale is S[e, n / 128, jb / 128], against A's k = j.
// GEMV: %[[LANE:[0-9]+]] = gpu.lane_id
// GEMV: %[[E:[0-9]+]] = arith.divui %{{.*}}, %c130 : index
// GEMV-NEXT: %[[N:[0-9]+]] = arith.remui %{{.*}}, %c130 : index
// GEMV-NEXT: %[[NB:[0-9]+]] = arith.divui %[[N]], %c128 : index
// GEMV: %[[KB:[0-9]+]] = arith.divui %[[JB:[a-z0-9]+]], %c128 : index
// GEMV-NEXT: %[[SC:[0-9]+]] = memref.load %[[S]][%[[E]], %[[NB]], %[[KB]]] : memref<4x2x2xf32>
// GEMV: %[[U:[0-9]+]] = arith.muli %{{.*}}, %c32 : index
// GEMV-NEXT: %[[JL:[0-9]+]] = arith.addi %[[JB]], %[[U]] : index
// GEMV-NEXT: %[[J:[0-9]+]] = arith.addi %[[JL]], %[[LANE]] : index
// GEMV: %[[CODE:[0-9]+]] = memref.load %[[B]][%[[E]], %[[N]], %[[J]]] : memref<4x130x200xi8>
// GEMV: arith.mulf %{{.*}}, %[[SC]] : f32
// GEMV: %[[AW:[0-9]+]] = memref.load %[[A]][%{{.*}}, %[[J]]] : memref<32x200xbf16>
// GEMV: arith.extf %[[AW]] : bf16 to f32
// GEMV: math.fma
// GEMV: gpu.shuffle xor
// GEMV: memref.store %{{.*}}, %[[C]]

// NOBLOCKS: error: kernel @dequant_fp8 needs parameter 'KB' of type 'index'

// The dequant kernel run on the CPU (the same kernel, lowered for the host
// instead of NVVM): every e4m3 code, NaN included, in ragged 128 x 128
// blocks, with scales that make the bf16 rounding round and tie; each value
// must equal bf16(decode(code) · scale) of test/reference/quant.py.
// REQUIRES: mlir-runner
// RUN: rm -rf %t && mkdir -p %t
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/fp8.mlir --exec-specialize-kernel="kernel=dequant_fp8 name=dq bind=N=130,K=200,NB=2,KB=2" --symbol-privatize=exclude=dq --symbol-dce -o %t/kernel.mlir
// RUN: %python %S/Inputs/dequant_kernel.py fp8 driver %t/kernel.mlir %t/driver.mlir
// RUN: mlir-opt %t/driver.mlir --convert-scf-to-cf --convert-to-llvm --reconcile-unrealized-casts | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_runner_libs > %t/out.txt
// RUN: %python %S/Inputs/dequant_kernel.py fp8 check %t/out.txt | FileCheck %s --check-prefix=RAN
// RAN: fp8 dequant: 26000 values equal the reference (219 NaN, 0 infinite)

// quantize_fp8_act, the activations of the cuBLASLt engine (e4m3 per row
// and block of 128, each expert's rows in its own region padded to a
// multiple of 8), run on the CPU: every code and scale it writes equals
// test/reference/quant.py's quantize_fp8_rows in the layout
// docs/runtime.md states, the pad rows are zero with scale 1, and it writes
// nothing else (the rows past the last expert included).
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/fp8.mlir --exec-specialize-kernel="kernel=quantize_fp8_act name=qa bind=E=3,K=200,KB=2,MR=16,QR=72,QS=144,AT=f32" --symbol-privatize=exclude=qa --symbol-dce -o %t/qa.mlir
// RUN: %python %S/Inputs/quantize_act_kernel.py driver %t/qa.mlir %t/qa_driver.mlir
// RUN: mlir-opt %t/qa_driver.mlir --convert-linalg-to-loops --convert-scf-to-cf --convert-to-llvm --reconcile-unrealized-casts | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_runner_libs > %t/qa_out.txt
// RUN: %python %S/Inputs/quantize_act_kernel.py check %t/qa_out.txt | FileCheck %s --check-prefix=QRAN
// QRAN: fp8 activations: 4796 codes and 48 scales equal the reference (10 pad rows, 2 NaN codes, 387 subnormal codes, 252 ties)

// A 16-bit A is read as its type and widened exactly (bf16: its bits
// shifted into an f32's upper half).
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/fp8.mlir --exec-specialize-kernel="kernel=quantize_fp8_act name=qa bind=E=8,K=512,KB=4,MR=64,QR=200,QS=800,AT=bf16" | FileCheck %s --check-prefix=QBF16
// QBF16: func.func @qa(%[[A:.*]]: memref<64x512xbf16>, %{{.*}}: memref<9xi32>, %[[Q:.*]]: memref<200x512xi8>, %[[QS:.*]]: memref<800xf32>,
// QBF16: %[[X:.*]] = memref.load %[[A]]
// QBF16-NEXT: %[[H:.*]] = arith.bitcast %[[X]] : bf16 to i16
// QBF16-NEXT: %[[W:.*]] = arith.extui %[[H]] : i16 to i32
// QBF16-NEXT: arith.shli %[[W]], %c16_i32 : i32
// QBF16: } {exec.spread}
