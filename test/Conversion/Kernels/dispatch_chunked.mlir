// The four generic kernels of the chunked dispatch
// (lib/Conversion/Kernels/dispatch.mlir), specialized: chunks of CH tokens,
// NC chunks at MT, and the offsets padded to BLOCK.
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/dispatch.mlir --exec-specialize-kernel="kernel=dispatch_chunked_count name=count bind=E=8,K=2,MT=333,NC=6,CH=64" | FileCheck %s --check-prefix=COUNT
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/dispatch.mlir --exec-specialize-kernel="kernel=dispatch_chunked_scan name=scan bind=E=8,NC=6,CH=64" | FileCheck %s --check-prefix=SCAN
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/dispatch.mlir --exec-specialize-kernel="kernel=dispatch_chunked_offsets name=offs bind=E=8,BLOCK=16" | FileCheck %s --check-prefix=OFFS
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/dispatch.mlir --exec-specialize-kernel="kernel=dispatch_chunked_offsets name=offs bind=E=8,BLOCK=1" | FileCheck %s --check-prefix=OFFS1
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/dispatch.mlir --exec-specialize-kernel="kernel=dispatch_chunked_place name=place bind=E=8,K=2,MT=333,NC=6,CH=64,RMAX=666" | FileCheck %s --check-prefix=PLACE

// COUNT: func.func @count(%{{.*}}: memref<333x2xi32>, %{{.*}}: memref<6x8xi32>,
// COUNT: arith.constant 64 : index
// COUNT: arith.remui
// SCAN: func.func @scan(%{{.*}}: memref<6x8xi32>, %{{.*}}: memref<8xi32>,
// The chunks of this run: (T + 63) / 64.
// SCAN-DAG: arith.constant 63 : index
// SCAN: arith.divui
// Rounding each count up to 16: (c + 15) / 16 · 16.
// OFFS: func.func @offs(%{{.*}}: memref<8xi32>, %{{.*}}: memref<9xi32>,
// OFFS-DAG: arith.constant 15 : index
// OFFS-DAG: arith.constant 16 : index
// OFFS: arith.divui
// OFFS: arith.muli
// With BLOCK = 1 the rounding folds away.
// OFFS1: func.func @offs(
// OFFS1-NOT: arith.divui
// OFFS1: return
// PLACE: func.func @place(%{{.*}}: memref<333x2xi32>, %{{.*}}: memref<6x8xi32>, %{{.*}}: memref<9xi32>, %{{.*}}: memref<666xi32>, %{{.*}}: memref<333x2xi32>,
