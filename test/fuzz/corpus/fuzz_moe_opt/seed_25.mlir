func.func @empty_ungated_shared_expert_dropped(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %u: tensor<4x6x8xf32>, %d: tensor<4x8x6xf32>,
                                               %su: tensor<0x8xf32>, %sd: tensor<8x0xf32>) -> tensor<?x8xf32> {
  %y = moe.block %x router %wg experts(up %u, down %d) shared(up %su, down %sd) routing #moe.routing<k = 1> ffn <activation = relu, gated = false> : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x6x8xf32>, tensor<4x8x6xf32>, tensor<0x8xf32>, tensor<8x0xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}
