// The graph `make demo` shows: it parses, verifies, and canonicalizes as the
// example's comment says.
// RUN: moe-opt %moec_src/examples/mixtral_block.mlir -canonicalize | FileCheck %s
// RUN: moe-opt %moec_src/examples/mixtral_block.mlir | moe-opt | FileCheck %s --check-prefix=ROUNDTRIP

// CHECK-LABEL: func.func @mixtral_block(
// CHECK: moe.block %arg0 router %{{.*}} experts(up %{{.*}}, down %{{.*}}, gate %{{.*}}) routing #moe.routing<k = 2, renormalize = true> ffn <activation = silu>
// CHECK-LABEL: func.func @mixtral_block_primitives(
// CHECK: moe.topk %{{.*}} <k = 2, renormalize = true>
// CHECK: moe.combine

// ROUNDTRIP: moe.topk %{{.*}} <k = 2, renormalize = true>
