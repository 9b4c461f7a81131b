// Canonicalization of moe.block: a shared expert of width 0 adds nothing and
// its operands (and its sigmoid gate) are dropped.
// RUN: moe-opt %s -canonicalize -split-input-file | FileCheck %s

// CHECK-LABEL: func @empty_shared_expert_dropped
// CHECK: moe.block %arg0 router %arg1 experts(up %arg2, down %arg3, gate %arg2) routing #moe.routing<k = 2> ffn <activation = silu> : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x6x8xf32>, tensor<4x8x6xf32>, tensor<4x6x8xf32>) -> tensor<?x8xf32>
// CHECK-NOT: shared
func.func @empty_shared_expert_dropped(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %u: tensor<4x6x8xf32>, %d: tensor<4x8x6xf32>,
                                       %su: tensor<0x8xf32>, %sd: tensor<8x0xf32>, %g: tensor<1x8xf32>) -> tensor<?x8xf32> {
  %y = moe.block %x router %wg experts(up %u, down %d, gate %u) shared(up %su, down %sd, gate %su) shared_expert_gate %g routing #moe.routing<k = 2> ffn <activation = silu> : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x6x8xf32>, tensor<4x8x6xf32>, tensor<4x6x8xf32>, tensor<0x8xf32>, tensor<8x0xf32>, tensor<0x8xf32>, tensor<1x8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// A shared expert of nonzero width stays, with its gate.
// CHECK-LABEL: func @shared_expert_kept
// CHECK: shared(up %arg4, down %arg5, gate %arg4) shared_expert_gate %arg6
func.func @shared_expert_kept(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %u: tensor<4x6x8xf32>, %d: tensor<4x8x6xf32>,
                              %su: tensor<5x8xf32>, %sd: tensor<8x5xf32>, %g: tensor<1x8xf32>) -> tensor<?x8xf32> {
  %y = moe.block %x router %wg experts(up %u, down %d, gate %u) shared(up %su, down %sd, gate %su) shared_expert_gate %g routing #moe.routing<k = 2> ffn <activation = silu> : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x6x8xf32>, tensor<4x8x6xf32>, tensor<4x6x8xf32>, tensor<5x8xf32>, tensor<8x5xf32>, tensor<5x8xf32>, tensor<1x8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// An ungated (DeepSeek-style) empty shared expert is dropped too.
// CHECK-LABEL: func @empty_ungated_shared_expert_dropped
// CHECK: moe.block %arg0 router %arg1 experts(up %arg2, down %arg3) routing #moe.routing<k = 1> ffn <activation = relu, gated = false> : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x6x8xf32>, tensor<4x8x6xf32>) -> tensor<?x8xf32>
func.func @empty_ungated_shared_expert_dropped(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %u: tensor<4x6x8xf32>, %d: tensor<4x8x6xf32>,
                                               %su: tensor<0x8xf32>, %sd: tensor<8x0xf32>) -> tensor<?x8xf32> {
  %y = moe.block %x router %wg experts(up %u, down %d) shared(up %su, down %sd) routing #moe.routing<k = 1> ffn <activation = relu, gated = false> : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x6x8xf32>, tensor<4x8x6xf32>, tensor<0x8xf32>, tensor<8x0xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}
