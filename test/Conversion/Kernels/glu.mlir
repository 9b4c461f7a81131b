// The generic glu kernel (lib/Conversion/Kernels/rows.mlir): it parses and
// verifies as it stands, and specializes for a SwiGLU in place, for the
// gated, clamped SwiGLU of gpt-oss rounded to bf16, and for gate and up read
// from one GEMM's [gate | up] result.
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/rows.mlir | FileCheck %s --check-prefix=PARSE
// PARSE: func.func @glu(%{{.*}}: memref<?x?xf32> {exec.element_type = "GT", exec.if = "GATED", exec.shape = ["ROWS", "LD"]}
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/rows.mlir --exec-specialize-kernel="kernel=glu name=swiglu bind=ROWS=64,F=40,LD=40,UOFF=0,ALPHA=1.702,LIMIT=7.0,GATED=true,SILU=true,GT=f32,OT=f32" | FileCheck %s --check-prefix=SILU
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/rows.mlir --exec-specialize-kernel="kernel=glu name=clamped bind=ROWS=64,F=40,LD=40,UOFF=0,ALPHA=1.702,LIMIT=7.0,GATED=true,CLAMPED=true,OUT=true,GT=f32,OT=bf16" | FileCheck %s --check-prefix=CLAMPED
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/rows.mlir --exec-specialize-kernel="kernel=glu name=fused bind=ROWS=64,F=40,LD=80,UOFF=40,ALPHA=1.702,LIMIT=7.0,GATED=true,SILU=true,OUT=true,GT=bf16,OT=bf16" | FileCheck %s --check-prefix=FUSED
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/rows.mlir --exec-specialize-kernel="kernel=glu name=act16 bind=ROWS=64,F=40,LD=40,UOFF=0,ALPHA=1.702,LIMIT=7.0,GATED=true,RELU=true,ACT16=true,TO_F16=true,GT=f32,OT=f32" | FileCheck %s --check-prefix=ACT16

// silu(gate) · up, in place in the gate's buffer, over its 40 columns.
// SILU: func.func @swiglu(%[[G:.*]]: memref<64x40xf32>, %[[U:.*]]: memref<64x40xf32>, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index) {
// SILU-DAG: %[[F:.*]] = arith.constant 40 : index
// SILU: scf.for
// SILU: scf.for %[[C:.*]] = %{{.*}} to %[[F]]
// SILU: %[[X:.*]] = memref.load %[[G]]
// SILU: arith.negf %[[X]]
// SILU: math.exp
// SILU: %[[A:.*]] = arith.divf %[[X]],
// SILU: %[[UP:.*]] = memref.load %[[U]]
// SILU: %[[O:.*]] = arith.mulf %[[A]], %[[UP]]
// SILU: memref.store %[[O]], %[[G]]
// SILU: } {exec.spread}
// SILU-NOT: exec.param
// SILU-NOT: scf.if
// SILU-NOT: math.erf
// SILU: return

// gpt-oss: the gate clamped above at 7 and scaled by 1.702 in the sigmoid,
// up clamped to [-7, 7] plus one, rounded to bf16 into a third buffer.
// CLAMPED: func.func @clamped(%[[G:.*]]: memref<64x40xf32>, %[[U:.*]]: memref<64x40xf32>, %[[OUT:.*]]: memref<64x40xbf16>,
// CLAMPED-DAG: arith.constant 7.000000e+00 : f32
// CLAMPED-DAG: arith.constant -7.000000e+00 : f32
// CLAMPED-DAG: arith.constant 1.702000e+00 : f32
// CLAMPED-DAG: arith.constant 32767 : i32
// CLAMPED: arith.minimumf
// CLAMPED: math.exp
// CLAMPED: arith.maximumf
// CLAMPED: arith.minimumf
// CLAMPED: arith.bitcast %{{.*}} : f32 to i32
// CLAMPED: arith.cmpf uno
// CLAMPED: memref.store %{{.*}}, %[[OUT]]
// CLAMPED-NOT: memref.store
// CLAMPED: return

// ACT16 (f16 activations): gate and up rounded to f16 as they are read, the
// result rounded to f16 and stored as f32 in place.
// ACT16: func.func @act16(%[[G:.*]]: memref<64x40xf32>, %[[U:.*]]: memref<64x40xf32>, %{{.*}}: index
// ACT16: memref.load %[[G]]
// ACT16: arith.truncf %{{.*}} : f32 to f16
// ACT16: arith.extf %{{.*}} : f16 to f32
// ACT16: arith.maximumf
// ACT16: memref.load %[[U]]
// ACT16: arith.truncf %{{.*}} : f32 to f16
// ACT16: arith.extf %{{.*}} : f16 to f32
// ACT16: arith.mulf
// ACT16: arith.truncf %{{.*}} : f32 to f16
// ACT16: arith.extf %{{.*}} : f16 to f32
// ACT16: memref.store %{{.*}}, %[[G]]

// Gate and up stacked (one GEMM of N = 80, bf16): row r's gate in columns
// [0, 40) and its up in [40, 80) of the same buffer, widened as read; the
// result to `out`, 40 columns of bf16.
// FUSED: func.func @fused(%[[G:.*]]: memref<64x80xbf16>, %[[U:.*]]: memref<64x80xbf16>, %[[OUT:.*]]: memref<64x40xbf16>,
// FUSED-DAG: %[[F:.*]] = arith.constant 40 : index
// FUSED: scf.for %[[R:.*]] = %{{.*}} to
// FUSED: scf.for %[[C:.*]] = %{{.*}} to %[[F]]
// FUSED: %[[CU:.*]] = arith.addi %[[C]], %[[F]] : index
// FUSED: memref.load %[[G]][%[[R]], %[[C]]] : memref<64x80xbf16>
// FUSED: math.exp
// FUSED: memref.load %[[U]][%[[R]], %[[CU]]] : memref<64x80xbf16>
// FUSED: memref.store %{{.*}}, %[[OUT]][%[[R]], %[[C]]] : memref<64x40xbf16>
// FUSED-NOT: memref.store
// FUSED: return
