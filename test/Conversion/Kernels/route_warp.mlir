// The generic route_warp kernel of the CUDA target
// (lib/Conversion/Kernels/route.mlir), a warp per token: each lane holds
// EPL = ceil(E / 32) experts; specialized for E = 8 (one per lane) and for
// E = 128 (four per lane), softmax after top-k with a correction bias.
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/route.mlir --exec-specialize-kernel="kernel=route_warp name=w bind=E=8,K=2,MT=64,EPS=0.0,SCALE=1.0,SOFTMAX=true,RENORM=true" | FileCheck %s --check-prefix=E8
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/route.mlir --exec-specialize-kernel="kernel=route_warp name=w bind=E=128,K=8,MT=64,EPS=0.0,SCALE=1.0,NONE=true,HAS_BIAS=true,SOFTMAX_AFTER=true" | FileCheck %s --check-prefix=E128

// E8: func.func @w(%{{.*}}: memref<64x8xf32>, %{{.*}}: memref<64x2xf32>, %{{.*}}: memref<64x2xi32>, {{.*}} attributes {exec.lanes = 32 : i64}
// E8-DAG: memref.alloca() : memref<1xf32>
// E8-DAG: memref.alloca() : memref<1xi1>
// E8: gpu.lane_id
// E8: gpu.shuffle xor
// E8: math.exp
// E8: arith.divf

// E128: func.func @w(%[[L:.*]]: memref<64x128xf32>, %[[B:.*]]: memref<128xf32>,
// E128-DAG: memref.alloca() : memref<4xf32>
// E128-DAG: memref.alloca() : memref<4xi1>
// E128: memref.load %[[B]]
// E128: gpu.shuffle xor
// E128: memref.load %[[L]]
// E128: arith.maximumf
// E128: math.exp
