func.func @all_experts_is_a_mixture(%l: tensor<?x8xf32>, %cb: tensor<8xf32>, %y: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %w, %i = moe.topk %l bias %cb <k = 8, scoring = sigmoid, scaling_factor = 2.5, n_group = 2, topk_group = 2> : tensor<?x8xf32>, tensor<8xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
  %c, %o, %r, %s = moe.dispatch %i experts(8) : tensor<?x8xi32> -> tensor<8xi32>, tensor<9xi32>, tensor<?xi32>, tensor<?x8xi32>
  %out = moe.combine %y, %w, %s : (tensor<?x4xf32>, tensor<?x8xf32>, tensor<?x8xi32>) -> tensor<?x4xf32>
  return %out : tensor<?x4xf32>
}
