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
