// The MXFP4 kernels of the CUDA target (lib/Conversion/Kernels/mxfp4.mlir),
// over MXFP4 rows (each row's K / 2 code bytes, then its K / 32 e8m0
// scales: RB bytes): dequant_mxfp4 writes one [N, K] matrix as bf16 bits, a
// row per item; grouped_gemv_mxfp4_warp is grouped_gemv_warp over the codes
// decoded in registers (two values per byte, the group's scale read from
// the row's tail), with bf16 A.
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/mxfp4.mlir --exec-specialize-kernel="kernel=dequant_mxfp4 name=d bind=N=40,K=96,KH=48,RB=51" | FileCheck %s --check-prefix=DEQUANT
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/mxfp4.mlir --exec-specialize-kernel="kernel=grouped_gemv_mxfp4_warp name=g bind=E=4,N=6,K=64,MR=32,KH=32,RB=34,CT=bf16" | FileCheck %s --check-prefix=GEMV

// DEQUANT: func.func @d(%[[B:.*]]: memref<40x51xi8>, %[[OUT:.*]]: memref<40x96xi16>,
// DEQUANT: %[[S:.*]] = memref.load %[[B]]
// DEQUANT: %[[CODE:.*]] = memref.load %[[B]]
// DEQUANT: arith.shrui
// DEQUANT: arith.mulf
// DEQUANT: memref.store %{{.*}}, %[[OUT]]
// DEQUANT: memref.store %{{.*}}, %[[OUT]]
// DEQUANT: } {exec.spread}

// GEMV: func.func @g(%[[A:.*]]: memref<32x64xbf16>, %[[B:.*]]: memref<4x6x34xi8>, %{{.*}}: memref<5xi32>, %[[C:.*]]: memref<32x6xbf16>, {{.*}} attributes {exec.lanes = 32 : i64}
// The kernel's indices (its decoding is dequant_mxfp4's, run below): lane l
// of item (e, n) reads code bytes j = 128 b + 32 u + l, their group's scale
// at byte KH + j / 16 of the row, and A's k = 2 j (low nibble), 2 j + 1
// (here KH = 32: one block, b = 0 folded away).
// GEMV: %[[LANE:[0-9]+]] = gpu.lane_id
// GEMV: %[[E:[0-9]+]] = arith.divui %{{.*}}, %c6 : index
// GEMV-NEXT: %[[N:[0-9]+]] = arith.remui %{{.*}}, %c6 : index
// GEMV: %[[U:[0-9]+]] = arith.muli %{{.*}}, %c32 : index
// GEMV-NEXT: %[[J:[0-9]+]] = arith.addi %[[U]], %[[LANE]] : index
// GEMV: %[[G:[0-9]+]] = arith.divui %[[J]], %c16 : index
// GEMV-NEXT: %[[AT:[0-9]+]] = arith.addi %[[G]], %c32 : index
// GEMV-NEXT: memref.load %[[B]][%[[E]], %[[N]], %[[AT]]] : memref<4x6x34xi8>
// GEMV: memref.load %[[B]][%[[E]], %[[N]], %[[J]]] : memref<4x6x34xi8>
// GEMV: %[[K0:[0-9]+]] = arith.muli %[[J]], %c2 : index
// GEMV-NEXT: %[[K1:[0-9]+]] = arith.addi %[[K0]], %c1 : index
// GEMV-NEXT: memref.load %[[A]][%{{.*}}, %[[K0]]] : memref<32x64xbf16>
// GEMV-NEXT: memref.load %[[A]][%{{.*}}, %[[K1]]] : memref<32x64xbf16>
// GEMV: arith.extf %{{.*}} : bf16 to f32
// GEMV: math.fma
// GEMV: gpu.shuffle xor
// GEMV: memref.store %{{.*}}, %[[C]]

// The dequant kernel run on the CPU (the same kernel, lowered for the host
// instead of NVVM): every e2m1 code, the extreme e8m0 scales (2^-127, an
// overflow to infinity, NaN); each value must equal dequant_mxfp4 of
// test/reference/quant.py (exact in bf16).
// REQUIRES: mlir-runner
// RUN: rm -rf %t && mkdir -p %t
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/mxfp4.mlir --exec-specialize-kernel="kernel=dequant_mxfp4 name=dq bind=N=40,K=96,KH=48,RB=51" --symbol-privatize=exclude=dq --symbol-dce -o %t/kernel.mlir
// RUN: %python %S/Inputs/dequant_kernel.py mxfp4 driver %t/kernel.mlir %t/driver.mlir
// RUN: mlir-opt %t/driver.mlir --convert-scf-to-cf --convert-to-llvm --reconcile-unrealized-casts | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_runner_libs > %t/out.txt
// RUN: %python %S/Inputs/dequant_kernel.py mxfp4 check %t/out.txt | FileCheck %s --check-prefix=RAN
// RAN: mxfp4 dequant: 3840 values equal the reference (32 NaN, 44 infinite)
