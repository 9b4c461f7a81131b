func.func @router_stats(%l: tensor<?x8xf32>, %i: tensor<?x2xi32>) {
  %c, %cv, %lb, %z = moe.router_stats %l, %i : tensor<?x8xf32>, tensor<?x2xi32> -> tensor<8xi32>, tensor<f32>, tensor<f32>, tensor<f32>
  return
}
