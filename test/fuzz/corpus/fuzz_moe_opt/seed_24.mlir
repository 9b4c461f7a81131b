func.func @shared_expert_kept(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %u: tensor<4x6x8xf32>, %d: tensor<4x8x6xf32>,
                              %su: tensor<5x8xf32>, %sd: tensor<8x5xf32>, %g: tensor<1x8xf32>) -> tensor<?x8xf32> {
  %y = moe.block %x router %wg experts(up %u, down %d, gate %u) shared(up %su, down %sd, gate %su) shared_expert_gate %g routing #moe.routing<k = 2> ffn <activation = silu> : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x6x8xf32>, tensor<4x8x6xf32>, tensor<4x6x8xf32>, tensor<5x8xf32>, tensor<8x5xf32>, tensor<5x8xf32>, tensor<1x8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}
