// The generic route kernel (lib/Conversion/Kernels/route.mlir): it parses as
// it stands, and specializes for Mixtral (softmax, top-2, renormalized: no
// bias argument, no group arrays) and for DeepSeek-V3 (sigmoid scores, a
// correction bias for selection only, 8 groups of which 4 are kept by their
// top-2 sums, renormalized with EPS and scaled by 2.5).
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/route.mlir | FileCheck %s --check-prefix=PARSE
// PARSE: func.func @route(
// PARSE: func.func @route_warp(
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/route.mlir --exec-specialize-kernel="kernel=route name=r bind=E=8,K=2,MT=64,EPS=0.0,SCALE=1.0,NG=1,GS=8,TG=1,SOFTMAX=true,RENORM=true" | FileCheck %s --check-prefix=MIXTRAL
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/route.mlir --exec-specialize-kernel="kernel=route name=r bind=E=64,K=8,MT=64,EPS=1e-20,SCALE=2.5,NG=8,GS=8,TG=4,SIGMOID=true,HAS_BIAS=true,GROUPED=true,TOP2=true,RENORM=true,SCALED=true" | FileCheck %s --check-prefix=DSV3

// MIXTRAL: func.func @r(%[[L:.*]]: memref<64x8xf32>, %[[W:.*]]: memref<64x2xf32>, %[[I:.*]]: memref<64x2xi32>, %{{.*}}: index,
// MIXTRAL-DAG: memref.alloca() : memref<8xf32>
// MIXTRAL-DAG: memref.alloca() : memref<8xi1>
// MIXTRAL-NOT: memref<1xf32>
// MIXTRAL: arith.maximumf
// MIXTRAL: math.exp
// MIXTRAL: arith.divf
// MIXTRAL: arith.cmpf ogt
// MIXTRAL: memref.store %{{.*}}, %[[I]]
// MIXTRAL: memref.store %{{.*}}, %[[W]]
// MIXTRAL-NOT: arith.mulf
// MIXTRAL: return

// DSV3: func.func @r(%[[L:.*]]: memref<64x64xf32>, %[[B:.*]]: memref<64xf32>, %{{.*}}: memref<64x8xf32>, %{{.*}}: memref<64x8xi32>,
// DSV3-DAG: arith.constant 2.500000e+00 : f32
// DSV3-DAG: arith.constant 9.99999968E-21 : f32
// DSV3-DAG: memref.alloca() : memref<8xf32>
// DSV3-DAG: memref.alloca() : memref<8xi1>
// DSV3-NOT: arith.maximumf
// DSV3: arith.negf
// DSV3: memref.load %[[B]]
// DSV3: arith.addf
// DSV3: arith.divui
// DSV3: arith.mulf
// DSV3: return
