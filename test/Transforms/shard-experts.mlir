// moe-shard-experts: each expert FFN fed by a token-choice dispatch becomes
// exchange -> the rank's slots' FFN -> exchange_back; what the routing and
// the combine read stays as it was; a capacity applies per rank, expert
// biases go along; expert choice chooses over the ranks. Refusals: options
// out of range, expert choice over a static token count.
// RUN: moe-opt %s --moe-expand-blocks --moe-shard-experts=ranks=2 -split-input-file -verify-diagnostics | FileCheck %s
// RUN: moe-opt %s --moe-expand-blocks --moe-shard-experts="ranks=4 slots=3 recv-rows=100" -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=SLOTS
// RUN: not moe-opt %s --moe-shard-experts=ranks=0 -split-input-file 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: not moe-opt %s --moe-expand-blocks --moe-shard-experts="ranks=2 slots=1" -split-input-file 2>&1 | FileCheck %s --check-prefix=FEW

// CHECK-LABEL: func @shared
// CHECK: %[[S:.*]] = moe.shared_expert
// CHECK: %{{.*}}, %[[OFF:[^ ,]+]], %[[RT:[^ ,]+]], %[[SR:.*]] = moe.dispatch
// CHECK: %[[XP:.*]] = moe.permute %arg0, %[[RT]]
// CHECK: %[[XR:[^ ,]+]], %[[SOFF:[^ ,]+]], %[[SMAP:[^ ,]+]], %[[CNT:.*]] = moe.exchange %[[XP]], %[[OFF]] ranks(2) slots(2) : tensor<?x8xf32>, tensor<5xi32> -> tensor<?x8xf32>, tensor<3xi32>, tensor<2xi32>, tensor<4xi32>
// CHECK: %[[YR:.*]] = moe.expert_ffn %[[XR]], %[[SOFF]] experts %[[SMAP]] gate %arg2 up %arg2 down %arg3
// CHECK: %[[Y:.*]] = moe.exchange_back %[[YR]], %[[OFF]], %[[SOFF]], %[[CNT]], %[[RT]] ranks(2) slots(2) : {{.*}} -> tensor<?x8xf32>
// CHECK: moe.combine %[[Y]], %{{.*}}, %[[SR]] addend %[[S]]
// CHECK-NOT: moe.expert_ffn
// SLOTS-LABEL: func @shared
// SLOTS: moe.exchange %{{.*}}, %{{.*}} ranks(4) slots(3) {recv_rows = 100 : i64} : tensor<?x8xf32>, tensor<5xi32> -> tensor<?x8xf32>, tensor<4xi32>, tensor<3xi32>, tensor<12xi32>
// SLOTS: moe.exchange_back {{.*}} ranks(4) slots(3)
// BAD: error: moe-shard-experts: ranks must be at least 1 and slots and recv-rows not negative, got ranks=0 slots=0 recv-rows=0
// FEW: error: moe-shard-experts: 2 ranks of 1 slots cannot hold the 4 experts
func.func @shared(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %u: tensor<4x6x8xf32>, %d: tensor<4x8x6xf32>,
                  %su: tensor<5x8xf32>, %sd: tensor<8x5xf32>) -> tensor<?x8xf32> {
  %y = moe.block %x router %wg experts(up %u, down %d, gate %u) shared(up %su, down %sd, gate %su)
      routing #moe.routing<k = 2> ffn <activation = silu>
      : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x6x8xf32>, tensor<4x8x6xf32>, tensor<4x6x8xf32>, tensor<5x8xf32>, tensor<8x5xf32>, tensor<5x8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// A capacity applies per rank: the rank's own dispatch (with its capacity)
// feeds the exchange.
// CHECK-LABEL: func @capacity
// CHECK: %{{.*}}, %[[OFF:[^ ,]+]], %[[RT:[^ ,]+]], %{{.*}} = moe.dispatch %{{.*}} experts(4) capacity <tokens = 3>
// CHECK: %[[XP:.*]] = moe.permute %arg0, %[[RT]] : tensor<?x8xf32>, tensor<12xi32> -> tensor<12x8xf32>
// CHECK: moe.exchange %[[XP]], %[[OFF]] ranks(2) slots(2) : tensor<12x8xf32>, tensor<5xi32> -> tensor<?x8xf32>
// CHECK: moe.exchange_back {{.*}} -> tensor<12x8xf32>
// CHECK: moe.combine {{.*}} passthrough %arg0
func.func @capacity(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %u: tensor<4x6x8xf32>, %d: tensor<4x8x6xf32>) -> tensor<?x8xf32> {
  %y = moe.block %x router %wg experts(up %u, down %d) routing #moe.routing<k = 1> ffn <activation = relu, gated = false>
      capacity <tokens = 3> dropped = passthrough
      : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x6x8xf32>, tensor<4x8x6xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Expert choice: the experts choose among every rank's tokens (ranks(2)),
// each rank exchanging its own rows of the choice; the unpermute is as it
// was.
// CHECK-LABEL: func @choice
// CHECK: %[[W:[^ ,]+]], %[[RT:[^ ,]+]], %[[OFF:.*]] = moe.expert_choice %{{.*}} <capacity_factor = 2.0> ranks(2) : tensor<?x4xf32> -> tensor<?xf32>, tensor<?xi32>, tensor<5xi32>
// CHECK: %[[XP:.*]] = moe.permute %arg0, %[[RT]]
// CHECK: %[[XR:[^ ,]+]], %[[SOFF:[^ ,]+]], %[[SMAP:[^ ,]+]], %[[CNT:.*]] = moe.exchange %[[XP]], %[[OFF]] ranks(2) slots(2)
// CHECK: %[[YR:.*]] = moe.expert_ffn %[[XR]], %[[SOFF]] experts %[[SMAP]]
// CHECK: %[[Y:.*]] = moe.exchange_back %[[YR]], %[[OFF]], %[[SOFF]], %[[CNT]], %[[RT]] ranks(2) slots(2)
// CHECK: moe.unpermute %[[Y]], %[[RT]] weights %[[W]]
func.func @choice(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %u: tensor<4x6x8xf32>, %d: tensor<4x8x6xf32>) -> tensor<?x8xf32> {
  %y = moe.block %x router %wg experts(up %u, down %d, gate %u) routing #moe.expert_choice<capacity_factor = 2.0> ffn <activation = silu>
      : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x6x8xf32>, tensor<4x8x6xf32>, tensor<4x6x8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Expert biases (gpt-oss) go with the slots' FFN, read through the map.
// CHECK-LABEL: func @biases
// CHECK: moe.expert_ffn %{{.*}}, %{{.*}} experts %{{.*}} gate %arg2 up %arg2 down %arg3 biases(up %arg4, down %arg5, gate %arg4)
func.func @biases(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %u: tensor<4x6x8xf32>, %d: tensor<4x8x6xf32>,
                  %bu: tensor<4x6xf32>, %bd: tensor<4x8xf32>) -> tensor<?x8xf32> {
  %y = moe.block %x router %wg experts(up %u, down %d, gate %u) biases(up %bu, down %bd, gate %bu)
      routing #moe.routing<k = 2> ffn <activation = silu>
      : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x6x8xf32>, tensor<4x8x6xf32>, tensor<4x6x8xf32>, tensor<4x6xf32>, tensor<4x8xf32>, tensor<4x6xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}
