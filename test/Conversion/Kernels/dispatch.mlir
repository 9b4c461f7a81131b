// The generic dispatch kernel (lib/Conversion/Kernels/dispatch.mlir): it
// parses as it stands, and specializes for a fixed capacity with drop (no
// probabilities argument, C a constant) and for a capacity factor with
// reroute (C = ceil(CAPF · T · K / E), the probabilities read to pick the
// next expert); the padded_offsets helper is inlined in both.
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/dispatch.mlir | FileCheck %s --check-prefix=PARSE
// PARSE: func.func private @padded_offsets(
// PARSE: func.func @dispatch(
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/dispatch.mlir --exec-specialize-kernel="kernel=dispatch name=d bind=E=12,K=2,MT=64,RMAX=48,RPT=0,RFIX=48,BLOCK=1,CAPF=1.0,CAPT=4,CAPACITY=true,FIXED_CAP=true" | FileCheck %s --check-prefix=DROP
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/dispatch.mlir --exec-specialize-kernel="kernel=dispatch name=d bind=E=12,K=2,MT=64,RMAX=204,RPT=3,RFIX=12,BLOCK=1,CAPF=1.25,CAPT=0,CAPACITY=true,REROUTE=true" | FileCheck %s --check-prefix=REROUTE

// DROP: func.func @d(%{{.*}}: memref<64x2xi32>, %[[CNT:.*]]: memref<12xi32>, %[[OFF:.*]]: memref<13xi32>, %[[RT:.*]]: memref<48xi32>, %{{.*}}: memref<64x2xi32>,
// DROP-DAG: arith.constant 4 : i32
// DROP-NOT: math.ceil
// DROP-NOT: memref<64x12xf32>
// DROP: memref.alloca() : memref<12xi32>
// DROP: arith.cmpi slt
// DROP: memref.store %{{.*}}, %[[OFF]]
// DROP-NOT: func.call
// DROP: return

// REROUTE: func.func @d(%{{.*}}: memref<64x2xi32>, %[[P:.*]]: memref<64x12xf32>, %{{.*}}: memref<12xi32>, %{{.*}}: memref<13xi32>, %{{.*}}: memref<204xi32>, %{{.*}}: memref<64x2xi32>,
// REROUTE-DAG: arith.constant 1.250000e+00 : f64
// REROUTE-DAG: arith.constant 1.200000e+01 : f64
// REROUTE: math.ceil
// REROUTE: memref.load %[[P]]
// REROUTE: arith.cmpf ogt
// REROUTE-NOT: func.call
// REROUTE: return
