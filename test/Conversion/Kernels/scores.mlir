// The generic scores kernel (lib/Conversion/Kernels/scores.mlir): softmax
// over the experts scaled, for a dense mixture (indices written too), and
// sigmoid without scale or indices; exactly one scoring is required.
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/scores.mlir --exec-specialize-kernel="kernel=scores name=s bind=MT=16,E=8,SCALE=2.5,SOFTMAX=true,INDICES=true,SCALED=true" | FileCheck %s --check-prefix=SOFTMAX
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/scores.mlir --exec-specialize-kernel="kernel=scores name=s bind=MT=16,E=8,SCALE=1.0,SIGMOID=true" | FileCheck %s --check-prefix=SIGMOID
// RUN: not moe-opt %moec_src/lib/Conversion/Kernels/scores.mlir --exec-specialize-kernel="kernel=scores name=s bind=MT=16,E=8,SCALE=1.0" 2>&1 | FileCheck %s --check-prefix=NONE

// Max, then exp(x - max) summed, then each divided by the sum and scaled.
// SOFTMAX: func.func @s(%[[L:.*]]: memref<16x8xf32>, %[[O:.*]]: memref<16x8xf32>, %[[I:.*]]: memref<16x8xi32>,
// SOFTMAX-DAG: arith.constant 2.500000e+00 : f32
// SOFTMAX: arith.maximumf
// SOFTMAX: arith.subf
// SOFTMAX: math.exp
// SOFTMAX: arith.divf
// SOFTMAX: arith.mulf
// SOFTMAX: memref.store %{{.*}}, %[[O]]
// SOFTMAX: arith.index_cast
// SOFTMAX: memref.store %{{.*}}, %[[I]]

// SIGMOID: func.func @s(%{{.*}}: memref<16x8xf32>, %[[O:.*]]: memref<16x8xf32>, %{{.*}}: index,
// SIGMOID-NOT: arith.maximumf
// SIGMOID: arith.negf
// SIGMOID: math.exp
// SIGMOID: arith.divf
// SIGMOID-NOT: arith.mulf
// SIGMOID: memref.store %{{.*}}, %[[O]]

// NONE: error: kernel @scores needs exactly one of SOFTMAX, SIGMOID, NONE, got none
