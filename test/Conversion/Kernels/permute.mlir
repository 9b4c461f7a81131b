// The generic permute kernel (lib/Conversion/Kernels/permute.mlir): it parses
// as it stands, and specializes for two shapes (f32, and bf16 rows: a
// bf16 value widened and stored into bf16 is stored as loaded); a padding row (token -1) is
// zeroed, any other row is copied from its token, column by column across
// the item's lanes.
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/permute.mlir | FileCheck %s --check-prefix=PARSE
// PARSE: func.func @permute(%{{.*}}: memref<?x?xf32> {exec.element_type = "DT", exec.shape = ["MT", "H"]}
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/permute.mlir --exec-specialize-kernel="kernel=permute name=p bind=MT=64,RMAX=128,H=72,DT=f32" | FileCheck %s --check-prefix=A
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/permute.mlir --exec-specialize-kernel="kernel=permute name=p bind=MT=7,RMAX=14,H=8,DT=bf16" | FileCheck %s --check-prefix=B

// A: func.func @p(%[[X:.*]]: memref<64x72xf32>, %[[RT:.*]]: memref<128xi32>, %[[O:.*]]: memref<128x72xf32>,
// A: %[[T:.*]] = memref.load %[[RT]]
// A: %[[VALID:.*]] = arith.cmpi sge, %[[T]], %{{.*}} : i32
// A: scf.if %[[VALID]] {
// A: memref.load %[[X]]
// A: memref.store %{{.*}}, %[[O]]
// A: } {exec.spread}
// A: } else {
// A: memref.store %{{.*}}, %[[O]]
// A: } {exec.spread}
// B: func.func @p(%[[X:.*]]: memref<7x8xbf16>, %{{.*}}: memref<14xi32>, %[[O:.*]]: memref<14x8xbf16>,
// B: arith.constant 8 : index
// B: %[[V:.*]] = memref.load %[[X]]
// B-NOT: arith.bitcast
// B: memref.store %[[V]], %[[O]]{{.*}} : memref<14x8xbf16>
