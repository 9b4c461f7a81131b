func.func @topk(%l: tensor<?x64xf32>, %cb: tensor<64xf32>, %s: tensor<5x8xf32>) {
  %w0, %i0 = moe.topk %l <k = 8, scoring = softmax, renormalize = false> : tensor<?x64xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
  %w1, %i1 = moe.topk %l bias %cb <k = 8, scoring = sigmoid, renormalize = true, epsilon = 1.0e-20, scaling_factor = 2.5, n_group = 8, topk_group = 4> : tensor<?x64xf32>, tensor<64xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
  %w2, %i2 = moe.topk %l <k = 6, scaling_factor = 16.0, n_group = 8, topk_group = 3, group_score = max> : tensor<?x64xf32> -> tensor<?x6xf32>, tensor<?x6xi32>
  %w3, %i3 = moe.topk %s <k = 2, scoring = none, softmax_after_topk = true> : tensor<5x8xf32> -> tensor<5x2xf32>, tensor<5x2xi32>
  return
}
