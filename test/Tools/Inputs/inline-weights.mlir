func.func @f(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %up = moe.weight "up" = dense<[[[0.5, -1.0, 2.0, 0.25, 1.0, 0.0, -0.75, 3.0], [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], [-2.0, 1.5, 0.0, 0.5, -0.5, 1.0, 2.0, -1.0]]]> : tensor<1x4x8xf32> : tensor<1x4x8xf32>
  %r = moe.weight "r" random(1) : tensor<1x8xf32>
  %down = moe.weight "down" random(2) : tensor<1x8x4xf32>
  %y = moe.block %x router %r experts(up %up, down %down) routing #moe.routing<k = 1> ffn <activation = relu, gated = false> : (tensor<?x8xf32>, tensor<1x8xf32>, tensor<1x4x8xf32>, tensor<1x8x4xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}
