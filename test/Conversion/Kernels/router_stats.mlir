// The two generic router-statistics kernels
// (lib/Conversion/Kernels/router_stats.mlir), specialized for two expert
// counts: the partial sums of each chunk of CH tokens into [NC, 2E + 1], and
// their total into [E + 4] with cv, the load-balancing loss E·Σ f·P, the
// z-loss and T written after the E loads.
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/router_stats.mlir --exec-specialize-kernel="kernel=router_stats_partial name=p bind=MT=333,E=8,K=2,NC=6,CH=64" | FileCheck %s --check-prefix=PARTIAL
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/router_stats.mlir --exec-specialize-kernel="kernel=router_stats_final name=f bind=E=8,NC=6,CH=64" | FileCheck %s --check-prefix=FINAL8
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/router_stats.mlir --exec-specialize-kernel="kernel=router_stats_final name=f bind=E=64,NC=1,CH=64" | FileCheck %s --check-prefix=FINAL64

// PARTIAL: func.func @p(%{{.*}}: memref<333x8xf32>, %{{.*}}: memref<333x2xi32>, %[[PART:.*]]: memref<6x17xf32>,
// PARTIAL-DAG: arith.constant 16 : index
// PARTIAL-DAG: arith.constant 17 : index
// PARTIAL: math.exp
// PARTIAL: math.log
// PARTIAL: memref.store %{{.*}}, %[[PART]]

// FINAL8: func.func @f(%{{.*}}: memref<6x17xf32>, %[[OUT:.*]]: memref<12xf32>,
// FINAL8-DAG: arith.constant 8.000000e+00 : f32
// FINAL8-DAG: %[[I8:.*]] = arith.constant 8 : index
// FINAL8-DAG: %[[I9:.*]] = arith.constant 9 : index
// FINAL8-DAG: %[[I10:.*]] = arith.constant 10 : index
// FINAL8-DAG: %[[I11:.*]] = arith.constant 11 : index
// FINAL8: memref.alloca() : memref<8xf32>
// FINAL8: math.sqrt
// FINAL8: memref.store %{{.*}}, %[[OUT]][%[[I8]]]
// FINAL8: memref.store %{{.*}}, %[[OUT]][%[[I9]]]
// FINAL8: memref.store %{{.*}}, %[[OUT]][%[[I10]]]
// FINAL8: memref.store %{{.*}}, %[[OUT]][%[[I11]]]
// FINAL64: func.func @f(%{{.*}}: memref<1x129xf32>, %{{.*}}: memref<68xf32>,
// FINAL64: arith.constant 6.400000e+01 : f32
