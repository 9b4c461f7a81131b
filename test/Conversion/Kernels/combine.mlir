// The generic combine kernel (lib/Conversion/Kernels/combine.mlir): it
// parses as it stands and specializes for Mixtral (no passthrough, no
// addend: 5 arguments) and for Switch with a residual (dropped tokens pass
// their input through, and the addend is added last).
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/combine.mlir | FileCheck %s --check-prefix=PARSE
// PARSE: func.func @combine(
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/combine.mlir --exec-specialize-kernel="kernel=combine name=c bind=MT=64,RMAX=140,H=72,K=2,YT=f32,OT=f32,AT=f32" | FileCheck %s --check-prefix=PLAIN
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/combine.mlir --exec-specialize-kernel="kernel=combine name=c bind=MT=64,RMAX=140,H=72,K=1,PASSTHROUGH=true,ADDEND=true,YT=bf16,OT=bf16,AT=bf16" | FileCheck %s --check-prefix=SWITCH

// The slots' done flags live in a static stack array of K.
// PLAIN: func.func @c(%[[Y:.*]]: memref<140x72xf32>, %[[W:.*]]: memref<64x2xf32>, %[[SR:.*]]: memref<64x2xi32>, %[[O:.*]]: memref<64x72xf32>, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index) {
// PLAIN: memref.alloca() : memref<2xi1>
// PLAIN-NOT: memref.cast
// PLAIN: scf.for {{.*}} iter_args
// PLAIN: memref.load %[[Y]]
// PLAIN: arith.mulf
// PLAIN: memref.store %{{.*}}, %[[O]]
// PLAIN-NOT: memref.load %[[O]]
// PLAIN: return

// SWITCH: func.func @c(%[[Y:.*]]: memref<140x72xbf16>, %[[W:.*]]: memref<64x1xf32>, %[[SR:.*]]: memref<64x1xi32>, %[[X:.*]]: memref<64x72xf32>, %[[A:.*]]: memref<64x72xbf16>, %[[O:.*]]: memref<64x72xbf16>,
// SWITCH: scf.if
// SWITCH: memref.load %[[X]]
// SWITCH: memref.load %[[Y]]
// SWITCH: memref.load %[[A]]
// SWITCH: arith.addf
// SWITCH: arith.bitcast %{{.*}} : f32 to i32
// SWITCH: memref.store %{{.*}}, %[[O]]{{.*}} : memref<64x72xbf16>
// SWITCH-NOT: memref.load %[[O]]
// SWITCH: return
