func.func @all_experts_capacity_stays(%l: tensor<6x4xf32>) -> tensor<16xi32> {
  %w, %i = moe.topk %l <k = 4> : tensor<6x4xf32> -> tensor<6x4xf32>, tensor<6x4xi32>
  %c, %o, %r, %s = moe.dispatch %i experts(4) capacity <factor = 0.5> : tensor<6x4xi32> -> tensor<4xi32>, tensor<5xi32>, tensor<12xi32>, tensor<6x4xi32>
  %c2, %cv, %lb, %z = moe.router_stats %l, %i : tensor<6x4xf32>, tensor<6x4xi32> -> tensor<4xi32>, tensor<f32>, tensor<f32>, tensor<f32>
  %cat = tensor.concat dim(0) %r, %c : (tensor<12xi32>, tensor<4xi32>) -> tensor<16xi32>
  return %cat : tensor<16xi32>
}
