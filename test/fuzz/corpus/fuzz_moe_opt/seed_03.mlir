func.func @mixture(%l: tensor<?x8xf32>) -> (tensor<?x8xf32>, tensor<?x8xi32>) {
  %w, %i = moe.mixture sigmoid %l {scaling_factor = 2.0 : f64} : tensor<?x8xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
  return %w, %i : tensor<?x8xf32>, tensor<?x8xi32>
}
