// The generic elementwise kernels (lib/Conversion/Kernels/rows.mlir), each
// specialized: the router bias, the experts' biases, a residual add, the shared expert's sigmoid
// gate, the 16-bit rounding of a GEMM operand to bf16 and to f16, and for
// functions of 16-bit activations the rounding in place (kept f32) and the
// exact widening of an input.
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/rows.mlir --exec-specialize-kernel="kernel=elementwise_bias name=bias bind=ROWS=16,COLS=12" | FileCheck %s --check-prefix=BIAS
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/rows.mlir --exec-specialize-kernel="kernel=elementwise_add name=add bind=ROWS=16,COLS=72" | FileCheck %s --check-prefix=ADD
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/rows.mlir --exec-specialize-kernel="kernel=elementwise_sigmoid_scale name=gate bind=ROWS=16,COLS=72,H=72,YT=f32" | FileCheck %s --check-prefix=GATE
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/rows.mlir --exec-specialize-kernel="kernel=expert_bias name=eb bind=ROWS=16,COLS=12,E=4" | FileCheck %s --check-prefix=EXPERT
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/rows.mlir --exec-specialize-kernel="kernel=elementwise_round16 name=bf16 bind=ROWS=16,COLS=72" | FileCheck %s --check-prefix=BF16
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/rows.mlir --exec-specialize-kernel="kernel=elementwise_round16 name=f16 bind=ROWS=16,COLS=72,TO_F16=true" | FileCheck %s --check-prefix=F16
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/rows.mlir --exec-specialize-kernel="kernel=elementwise_round_in_place name=rip bind=ROWS=16,COLS=72" | FileCheck %s --check-prefix=RIP
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/rows.mlir --exec-specialize-kernel="kernel=elementwise_round_in_place name=rip16 bind=ROWS=16,COLS=72,TO_F16=true" | FileCheck %s --check-prefix=RIPH
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/rows.mlir --exec-specialize-kernel="kernel=elementwise_widen16 name=wb bind=ROWS=16,COLS=72" | FileCheck %s --check-prefix=WIDEN
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/rows.mlir --exec-specialize-kernel="kernel=elementwise_widen16 name=wh bind=ROWS=16,COLS=72,TO_F16=true" | FileCheck %s --check-prefix=WIDENH

// BIAS: func.func @bias(%[[A:.*]]: memref<16x12xf32>, %[[B:.*]]: memref<12xf32>,
// BIAS: %[[V:.*]] = memref.load %[[A]]
// BIAS: %[[W:.*]] = memref.load %[[B]]
// BIAS: %[[S:.*]] = arith.addf %[[V]], %[[W]]
// BIAS: memref.store %[[S]], %[[A]]

// The experts' biases: rows at or past offsets[E] are left alone; a row's
// expert is the number of experts after the first whose rows begin at or
// before it.
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/rows.mlir --exec-specialize-kernel="kernel=expert_bias_mapped name=ebm bind=ROWS=16,COLS=12,G=3,EW=4" | FileCheck %s --check-prefix=MAPPED
// MAPPED: func.func @ebm(%[[A:.*]]: memref<16x12xf32>, %[[B:.*]]: memref<4x12xf32>, %[[O:.*]]: memref<4xi32>, %[[M:.*]]: memref<3xi32>,
// MAPPED: memref.load %[[O]][%c3]
// MAPPED: scf.for %{{.*}} = %c1 to %c3 step %c1 iter_args
// MAPPED: %[[E32:.*]] = memref.load %[[M]][%{{.*}}]
// MAPPED: %[[E:.*]] = arith.index_cast %[[E32]]
// MAPPED: memref.load %[[B]][%[[E]], %{{.*}}]
// MAPPED: arith.addf
// EXPERT: func.func @eb(%[[A:.*]]: memref<16x12xf32>, %[[B:.*]]: memref<4x12xf32>, %[[O:.*]]: memref<5xi32>,
// EXPERT: %[[END:.*]] = memref.load %[[O]][%c4]
// EXPERT: arith.cmpi ult
// EXPERT: scf.if
// EXPERT: scf.for %{{.*}} = %c1 to %c4 step %c1 iter_args
// EXPERT: arith.cmpi ule
// EXPERT: memref.load %[[B]][%{{.*}}, %{{.*}}]
// EXPERT: arith.addf
// EXPERT: memref.store %{{.*}}, %[[A]]

// ADD: func.func @add(%[[A:.*]]: memref<16x72xf32>, %[[B:.*]]: memref<16x72xf32>, %[[O:.*]]: memref<16x72xf32>,
// ADD: arith.addf
// ADD: memref.store %{{.*}}, %[[O]]

// The dot product with the gate's one row, then the sigmoid scales the row.
// GATE: func.func @gate(%[[X:.*]]: memref<16x72xf32>, %[[G:.*]]: memref<1x72xf32>, %[[Y:.*]]: memref<16x72xf32>,
// GATE: scf.for {{.*}} iter_args
// GATE: memref.load %[[G]]
// GATE: math.exp
// GATE: arith.divf
// GATE: memref.store %{{.*}}, %[[Y]]

// Round to nearest even on the high 16 bits; NaN becomes the quiet NaN.
// BF16: func.func @bf16(%[[A:.*]]: memref<16x72xf32>, %[[O:.*]]: memref<16x72xi16>,
// BF16-DAG: arith.constant 32767 : i32
// BF16-DAG: arith.constant 32704 : i16
// BF16: arith.shrui
// BF16: arith.trunci
// BF16: arith.cmpf uno
// BF16: arith.select
// BF16-NOT: arith.truncf
// BF16: memref.store %{{.*}}, %[[O]]

// F16: func.func @f16(
// F16: arith.truncf %{{.*}} : f32 to f16
// F16: arith.bitcast %{{.*}} : f16 to i16
// F16-NOT: arith.select

// Rounded to bf16 bits, then those bits shifted back into an f32, stored
// where the value came from.
// RIP: func.func @rip(%[[A:.*]]: memref<16x72xf32>, %{{.*}}: index
// RIP: memref.load %[[A]]
// RIP: arith.trunci
// RIP: arith.extui %{{.*}} : i16 to i32
// RIP: arith.shli
// RIP: arith.bitcast %{{.*}} : i32 to f32
// RIP: memref.store %{{.*}}, %[[A]]
// RIP-NOT: arith.extf

// RIPH: func.func @rip16(
// RIPH: arith.truncf %{{.*}} : f32 to f16
// RIPH: arith.extf %{{.*}} : f16 to f32
// RIPH-NOT: arith.shli

// WIDEN: func.func @wb(%[[A:.*]]: memref<16x72xi16>, %[[O:.*]]: memref<16x72xf32>,
// WIDEN: memref.load %[[A]]
// WIDEN: arith.shli
// WIDEN: memref.store %{{.*}}, %[[O]]
// WIDEN-NOT: arith.extf

// WIDENH: func.func @wh(
// WIDENH: arith.bitcast %{{.*}} : i16 to f16
// WIDENH: arith.extf %{{.*}} : f16 to f32
// WIDENH-NOT: arith.shli
