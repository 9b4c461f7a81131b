// The generic expert_choice kernel (lib/Conversion/Kernels/scores.mlir),
// specialized for two shapes: C = min(T, ceil(CF · T / E)) with CF and E as
// exact f64 constants, offsets of E + 1 entries, and the rows past E · C up to
// RPT · T + RFIX marked unused.
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/scores.mlir --exec-specialize-kernel="kernel=expert_choice name=ec bind=MT=64,E=12,RMAX=140,RPT=2,RFIX=12,CF=2.0" | FileCheck %s --check-prefix=A
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/scores.mlir --exec-specialize-kernel="kernel=expert_choice name=ec bind=MT=7,E=4,RMAX=15,RPT=2,RFIX=1,CF=1.25" | FileCheck %s --check-prefix=B

// A: func.func @ec(%{{.*}}: memref<64x12xf32>, %{{.*}}: memref<140xf32>, %{{.*}}: memref<140xi32>, %[[OFF:.*]]: memref<13xi32>,
// A-DAG: arith.constant 2.000000e+00 : f64
// A-DAG: arith.constant 1.200000e+01 : f64
// A-DAG: arith.constant 12 : index
// A: arith.divf
// A: math.ceil
// A: arith.minui
// A: memref.alloca() : memref<64xi1>
// A: memref.store %{{.*}}, %[[OFF]]
// B: func.func @ec(%{{.*}}: memref<7x4xf32>, %{{.*}}: memref<15xf32>, %{{.*}}: memref<15xi32>, %{{.*}}: memref<5xi32>,
// B-DAG: arith.constant 1.250000e+00 : f64
// B-DAG: arith.constant 4.000000e+00 : f64
