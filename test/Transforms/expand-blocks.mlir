// moe-expand-blocks: every moe.block becomes the primitives of its definition.
// RUN: moe-opt %s --moe-expand-blocks -split-input-file | FileCheck %s

// Token choice with a sigmoid-gated shared expert (Qwen2-MoE): the shared
// output is combine's addend.
// CHECK-LABEL: func @token_choice_shared
// CHECK-SAME: (%[[X:.*]]: tensor<?x8xf32>, %[[WG:.*]]: tensor<4x8xf32>, %[[U:.*]]: tensor<4x6x8xf32>, %[[D:.*]]: tensor<4x8x6xf32>, %[[SU:.*]]: tensor<5x8xf32>, %[[SD:.*]]: tensor<8x5xf32>, %[[G:.*]]: tensor<1x8xf32>)
// CHECK:      %[[L:.*]] = moe.router %[[X]], %[[WG]] : tensor<?x8xf32>, tensor<4x8xf32> -> tensor<?x4xf32>
// CHECK-NEXT: %[[S:.*]] = moe.shared_expert %[[X]] gate %[[SU]] up %[[SU]] down %[[SD]] sigmoid_gate %[[G]] <activation = silu>
// CHECK-NEXT: %[[W:[^ ,]+]], %[[I:.*]] = moe.topk %[[L]] <k = 2> : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
// CHECK-NEXT: %{{.*}}, %[[OFF:[^ ,]+]], %[[RT:.*]], %[[SR:.*]] = moe.dispatch %[[I]] experts(4) : tensor<?x2xi32> -> tensor<4xi32>, tensor<5xi32>, tensor<?xi32>, tensor<?x2xi32>
// CHECK-NEXT: %[[XP:.*]] = moe.permute %[[X]], %[[RT]] : tensor<?x8xf32>, tensor<?xi32> -> tensor<?x8xf32>
// CHECK-NEXT: %[[Y:.*]] = moe.expert_ffn %[[XP]], %[[OFF]] gate %[[U]] up %[[U]] down %[[D]] <activation = silu>
// CHECK-NEXT: %[[O:.*]] = moe.combine %[[Y]], %[[W]], %[[SR]] addend %[[S]]
// CHECK-NEXT: return %[[O]]
func.func @token_choice_shared(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %u: tensor<4x6x8xf32>, %d: tensor<4x8x6xf32>,
                               %su: tensor<5x8xf32>, %sd: tensor<8x5xf32>, %g: tensor<1x8xf32>) -> tensor<?x8xf32> {
  %y = moe.block %x router %wg experts(up %u, down %d, gate %u) shared(up %su, down %sd, gate %su) shared_expert_gate %g routing #moe.routing<k = 2> ffn <activation = silu> : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x6x8xf32>, tensor<4x8x6xf32>, tensor<4x6x8xf32>, tensor<5x8xf32>, tensor<8x5xf32>, tensor<5x8xf32>, tensor<1x8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// DeepSeek-style: router bias and correction bias go to router and topk.
// CHECK-LABEL: func @biases
// CHECK: %[[L:.*]] = moe.router %arg0, %arg1 bias %arg2
// CHECK: moe.topk %[[L]] bias %arg3 <k = 2, scoring = sigmoid, renormalize = true, epsilon = 1.0e-20, n_group = 2>
func.func @biases(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %b: tensor<4xf32>, %cb: tensor<4xf32>, %u: tensor<4x6x8xf32>, %d: tensor<4x8x6xf32>) -> tensor<?x8xf32> {
  %y = moe.block %x router %wg bias %b correction %cb experts(up %u, down %d, gate %u) routing #moe.routing<k = 2, scoring = sigmoid, renormalize = true, epsilon = 1.0e-20, n_group = 2, topk_group = 1> ffn <activation = silu> : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4x6x8xf32>, tensor<4x8x6xf32>, tensor<4x6x8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Switch: a fixed capacity (static R = E * C even for a dynamic T), ungated
// experts, dropped tokens pass through.
// CHECK-LABEL: func @switch
// CHECK: %[[W:[^ ,]+]], %[[I:.*]] = moe.topk %{{.*}} <k = 1>
// CHECK: %{{.*}}, %[[OFF:[^ ,]+]], %[[RT:.*]], %[[SR:.*]] = moe.dispatch %[[I]] experts(4) capacity <tokens = 3> : tensor<?x1xi32> -> tensor<4xi32>, tensor<5xi32>, tensor<12xi32>, tensor<?x1xi32>
// CHECK: %[[XP:.*]] = moe.permute %arg0, %[[RT]] : tensor<?x8xf32>, tensor<12xi32> -> tensor<12x8xf32>
// CHECK: %[[Y:.*]] = moe.expert_ffn %[[XP]], %[[OFF]] up %arg2 down %arg3 <activation = relu, gated = false> : {{.*}} -> tensor<12x8xf32>
// CHECK: moe.combine %[[Y]], %[[W]], %[[SR]] passthrough %arg0 :
func.func @switch(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %u: tensor<4x6x8xf32>, %d: tensor<4x8x6xf32>) -> tensor<?x8xf32> {
  %y = moe.block %x router %wg experts(up %u, down %d) routing #moe.routing<k = 1> ffn <activation = relu, gated = false> capacity <tokens = 3> dropped = passthrough : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x6x8xf32>, tensor<4x8x6xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Rerouting needs the router probabilities: an unscaled mixture of the logits.
// With a static T = 6, C = ceil(0.5 * 6 * 2 / 4) = 2 and R = 8.
// CHECK-LABEL: func @reroute
// CHECK: %[[L:.*]] = moe.router
// CHECK: %[[W:[^ ,]+]], %[[I:.*]] = moe.topk %[[L]] <k = 2>
// CHECK: %[[P:[^ ,]+]], %{{.*}} = moe.mixture softmax %[[L]] : tensor<6x4xf32> -> tensor<6x4xf32>, tensor<6x4xi32>
// CHECK: moe.dispatch %[[I]] probs %[[P]] experts(4) capacity <factor = 0.5, overflow = reroute> : tensor<6x2xi32>, tensor<6x4xf32> -> tensor<4xi32>, tensor<5xi32>, tensor<8xi32>, tensor<6x2xi32>
func.func @reroute(%x: tensor<6x8xf32>, %wg: tensor<4x8xf32>, %u: tensor<4x6x8xf32>, %d: tensor<4x8x6xf32>) -> tensor<6x8xf32> {
  %y = moe.block %x router %wg experts(up %u, down %d, gate %u) routing #moe.routing<k = 2> ffn <activation = silu> capacity <factor = 0.5, overflow = reroute> : (tensor<6x8xf32>, tensor<4x8xf32>, tensor<4x6x8xf32>, tensor<4x8x6xf32>, tensor<4x6x8xf32>) -> tensor<6x8xf32>
  return %y : tensor<6x8xf32>
}

// -----

// Expert choice: the choice is the expert-ordered layout; unpermute scatters
// back with the row weights and the token count; the shared expert is added.
// CHECK-LABEL: func @expert_choice
// CHECK: %[[L:.*]] = moe.router %arg0
// CHECK: %[[S:.*]] = moe.shared_expert %arg0
// CHECK: %[[RW:[^ ,]+]], %[[RT:.*]], %[[OFF:.*]] = moe.expert_choice %[[L]] <capacity_factor = 2.0> : tensor<?x4xf32> -> tensor<?xf32>, tensor<?xi32>, tensor<5xi32>
// CHECK: %[[XP:.*]] = moe.permute %arg0, %[[RT]]
// CHECK: %[[Y:.*]] = moe.expert_ffn %[[XP]], %[[OFF]]
// CHECK: %[[T:.*]] = tensor.dim %arg0, %{{.*}} : tensor<?x8xf32>
// CHECK: %[[U:.*]] = moe.unpermute %[[Y]], %[[RT]] weights %[[RW]] tokens(%[[T]])
// CHECK: %[[O:.*]] = arith.addf %[[U]], %[[S]] : tensor<?x8xf32>
// CHECK: return %[[O]]
func.func @expert_choice(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %u: tensor<4x6x8xf32>, %d: tensor<4x8x6xf32>, %su: tensor<5x8xf32>, %sd: tensor<8x5xf32>) -> tensor<?x8xf32> {
  %y = moe.block %x router %wg experts(up %u, down %d, gate %u) shared(up %su, down %sd, gate %su) routing #moe.expert_choice<capacity_factor = 2.0> ffn <activation = silu> : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x6x8xf32>, tensor<4x8x6xf32>, tensor<4x6x8xf32>, tensor<5x8xf32>, tensor<8x5xf32>, tensor<5x8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}
