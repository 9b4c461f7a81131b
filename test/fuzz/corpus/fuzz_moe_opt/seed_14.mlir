func.func @all_experts_order_visible_stays(%l: tensor<?x4xf32>) -> tensor<?x4xi32> {
  %w, %i = moe.topk %l <k = 4> : tensor<?x4xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  return %i : tensor<?x4xi32>
}
