// moe-lower-to-exec of expert parallelism (moe-shard-experts' output): each
// exchange is one exec.exchange, the received rows a buffer of the bound
// (recv_rows, or ranks times the dispatch's rows at max-tokens), the slots'
// grouped GEMMs read the slot map, and the kernels over the received rows
// stop at the rows received (limit: the slot offsets' last entry). On the
// CUDA target the slots' grouped GEMMs run on cuBLAS (no generated gemv
// kernel: it takes no map) and the launches cover the whole bound.
// RUN: moe-opt %s --moe-expand-blocks --moe-shard-experts=ranks=2 --moe-lower-to-exec=max-tokens=64 | FileCheck %s
// RUN: moe-opt %s --moe-expand-blocks --moe-shard-experts="ranks=2 recv-rows=50" --moe-lower-to-exec=max-tokens=64 | FileCheck %s --check-prefix=BOUND
// RUN: moe-opt %s --moe-expand-blocks --moe-shard-experts=ranks=2 --moe-lower-to-exec="max-tokens=64 target=cuda gemv-max-tokens=8" | FileCheck %s --check-prefix=CUDA

// CHECK-LABEL: func.func @mixtral
// CHECK: %[[OFF:.*]] = exec.alloc {{.*}} bytes([0, 20]) : <5xi32>
// CHECK: %[[XP:.*]] = exec.alloc {{.*}} bytes([64, 0]) : <?x8xf32>
// CHECK: exec.launch @permute_0(%{{.*}}, %{{.*}}, %[[XP]])
// CHECK: %[[XR:.*]] = exec.alloc {{.*}} bytes([0, 8192]) : <?x8xf32>
// CHECK: %[[SOFF:.*]] = exec.alloc {{.*}} bytes([0, 12]) : <3xi32>
// CHECK: %[[SMAP:.*]] = exec.alloc {{.*}} bytes([0, 8]) : <2xi32>
// CHECK: %[[CNT:.*]] = exec.alloc {{.*}} bytes([0, 16]) : <4xi32>
// CHECK: exec.exchange %[[XP]], %[[OFF]], %[[SOFF]], %[[SMAP]], %[[CNT]] -> %[[XR]] rows([2, 0]) recv_rows(256) ranks(2) slots(2) experts(4) :
// CHECK: exec.grouped_gemm %[[XR]], %{{.*}}, %[[SOFF]] map %[[SMAP]] -> %{{.*}} rows([0, 256]) experts(2) n(6) k(8) : <?x8xf32>, <4x6x8xf32>, <3xi32>, !exec.buffer<2xi32> -> <256x6xf32>
// CHECK: exec.grouped_gemm %[[XR]], %{{.*}}, %[[SOFF]] map %[[SMAP]]
// CHECK: exec.launch @glu_0({{.*}}) extent([0, 256]) grain(32) limit %[[SOFF]][2] :
// CHECK: exec.grouped_gemm %{{.*}}, %{{.*}}, %[[SOFF]] map %[[SMAP]] -> %[[YR:.*]] rows([0, 256]) experts(2) n(8) k(6)
// CHECK: %[[Y:.*]] = exec.alloc {{.*}} bytes([64, 0]) : <?x8xf32>
// CHECK: exec.exchange %[[YR]], %[[OFF]], %[[SOFF]], %[[SMAP]], %[[CNT]] -> %[[Y]] rows([2, 0]) recv_rows(256) ranks(2) slots(2) experts(4) {back}
// CHECK: exec.launch @combine_0(%[[Y]],
// BOUND: exec.exchange {{.*}} recv_rows(50) ranks(2)
// BOUND: exec.grouped_gemm {{.*}} rows([0, 50]) experts(2)
// CUDA-LABEL: func.func @mixtral
// CUDA: exec.exchange %[[XP:.*]], %[[OFF:.*]], %[[SOFF:.*]], %[[SMAP:.*]], %[[CNT:.*]] -> %[[XR:[0-9]+]] rows([2, 0]) recv_rows(256) ranks(2) slots(2) experts(4) :
// CUDA-NOT: gemv
// CUDA: exec.grouped_gemm %[[XR]], %{{.*}}, %[[SOFF]] map %[[SMAP]] -> %{{.*}} rows([0, 256]) experts(2) n(6) k(8) :
// CUDA: exec.grouped_gemm %[[XR]], %{{.*}}, %[[SOFF]] map %[[SMAP]]
// CUDA-SAME: -> <256x6xf32>{{$}}
// CUDA: exec.launch @glu_0({{.*}}) extent([0, 256]) grain(32) : !exec.buffer<256x6xf32>, !exec.buffer<256x6xf32>{{$}}
// CUDA: exec.grouped_gemm %{{.*}}, %{{.*}}, %[[SOFF]] map %[[SMAP]] -> %[[YR:[0-9]+]] rows([0, 256]) experts(2) n(8) k(6) :
// CUDA-NOT: gemv
// CUDA: exec.exchange %[[YR]], %[[OFF]], %[[SOFF]], %[[SMAP]], %[[CNT]] -> %{{.*}} rows([2, 0]) recv_rows(256) ranks(2) slots(2) experts(4) {back}
func.func @mixtral(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %wg = moe.weight "gate" from "m.safetensors" : tensor<4x8xf32>
  %w1 = moe.weight "w1" from "m.safetensors" : tensor<4x6x8xf32>
  %w2 = moe.weight "w2" from "m.safetensors" : tensor<4x8x6xf32>
  %y = moe.block %x router %wg experts(up %w1, down %w2, gate %w1) routing #moe.routing<k = 2, renormalize = true> ffn <activation = silu>
      : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x6x8xf32>, tensor<4x8x6xf32>, tensor<4x6x8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// Expert choice over the ranks: the scores of this rank's tokens, then one
// exec.expert_choice (the runtime's collective: the ranks' scores gathered,
// the choice made, this rank's rows kept) into buffers of the bound
// experts · min(C at ranks · max-tokens, max-tokens) = 4 · min(64, 64)
// rows, and the exchanges as for top-k routing over those rows.
// CHECK-LABEL: func.func @choice
// CHECK: exec.launch @scores_0(%{{.*}}, %[[SC:[0-9]+]]) extent([1, 0])
// CHECK: %[[RW:.*]] = exec.alloc {{.*}} bytes([0, 1024]) : <?xf32>
// CHECK: %[[RT:.*]] = exec.alloc {{.*}} bytes([0, 1024]) : <?xi32>
// CHECK: %[[OFF:.*]] = exec.alloc {{.*}} bytes([0, 20]) : <5xi32>
// CHECK: exec.expert_choice %[[SC]] -> %[[RW]], %[[RT]], %[[OFF]] tokens([1, 0]) max_tokens(64) max_rows(256) experts(4) ranks(2) capacity_factor(2.000000e+00) :
// CHECK: exec.launch @permute_{{[0-9]+}}(%{{.*}}, %[[RT]], %[[XP:[0-9]+]]) extent([0, 256])
// CHECK: exec.exchange %[[XP]], %[[OFF]], {{.*}} rows([0, 256]) recv_rows(512) ranks(2) slots(2) experts(4) :
// CHECK: exec.exchange {{.*}} {back}
// CHECK: exec.launch @unpermute_0(%{{.*}}, %[[RT]], %[[RW]],
func.func @choice(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %wg = moe.weight "gate" from "m.safetensors" : tensor<4x8xf32>
  %w1 = moe.weight "w1" from "m.safetensors" : tensor<4x6x8xf32>
  %w2 = moe.weight "w2" from "m.safetensors" : tensor<4x8x6xf32>
  %y = moe.block %x router %wg experts(up %w1, down %w2, gate %w1) routing #moe.expert_choice<capacity_factor = 2.0> ffn <activation = silu>
      : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x6x8xf32>, tensor<4x8x6xf32>, tensor<4x6x8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}
