// The generic unpermute kernel (lib/Conversion/Kernels/permute.mlir),
// specialized with and without routing weights: the weights buffer is an
// argument only with WEIGHTED, and each copy is scaled by it.
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/permute.mlir --exec-specialize-kernel="kernel=unpermute name=w bind=MT=64,RMAX=140,H=72,RPT=2,RFIX=12,WEIGHTED=true" | FileCheck %s --check-prefix=W
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/permute.mlir --exec-specialize-kernel="kernel=unpermute name=u bind=MT=64,RMAX=140,H=72,RPT=2,RFIX=12" | FileCheck %s --check-prefix=U

// Rows RPT·T + RFIX = 2T + 12 of the 140.
// W: func.func @w(%[[Y:.*]]: memref<140x72xf32>, %[[RT:.*]]: memref<140xi32>, %[[WT:.*]]: memref<140xf32>, %[[O:.*]]: memref<64x72xf32>, %[[T:[^:]*]]: index,
// W-DAG: arith.constant 12 : index
// W-DAG: arith.constant 2 : index
// W: arith.muli %[[T]]
// W: %[[WV:.*]] = memref.load %[[WT]]
// W: %[[V:.*]] = memref.load %[[Y]]
// W: %[[P:.*]] = arith.mulf %[[WV]], %[[V]]
// W: arith.addf %{{.*}}, %[[P]]
// U: func.func @u(%[[Y:.*]]: memref<140x72xf32>, %[[RT:.*]]: memref<140xi32>, %[[O:.*]]: memref<64x72xf32>, %{{.*}}: index,
// U-NOT: arith.mulf
// U: %[[V:.*]] = memref.load %[[Y]]
// U: arith.addf %{{.*}}, %[[V]]
// U-NOT: arith.mulf
