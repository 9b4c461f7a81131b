func.func @softmax_groups_stay(%l: tensor<?x8xf32>) -> tensor<?x2xf32> {
  %w, %i = moe.topk %l <k = 2, renormalize = true, n_group = 4, topk_group = 2> : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return %w : tensor<?x2xf32>
}
