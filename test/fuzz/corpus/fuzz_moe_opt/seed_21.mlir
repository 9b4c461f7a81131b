func.func @softmax_bias_stays(%l: tensor<?x8xf32>, %b: tensor<8xf32>) -> tensor<?x2xf32> {
  %w, %i = moe.topk %l bias %b <k = 2, renormalize = true> : tensor<?x8xf32>, tensor<8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return %w : tensor<?x2xf32>
}
