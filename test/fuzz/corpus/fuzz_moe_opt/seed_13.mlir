func.func @all_experts_renormalized_stays(%l: tensor<?x4xf32>) -> (tensor<?x4xf32>, tensor<?x4xi32>) {
  %w, %i = moe.topk %l <k = 4, scoring = sigmoid, renormalize = true> : tensor<?x4xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %c, %cv, %lb, %z = moe.router_stats %l, %i : tensor<?x4xf32>, tensor<?x4xi32> -> tensor<4xi32>, tensor<f32>, tensor<f32>, tensor<f32>
  return %w, %i : tensor<?x4xf32>, tensor<?x4xi32>
}
