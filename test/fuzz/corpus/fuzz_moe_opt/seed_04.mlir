func.func @expert_choice(%l: tensor<16x8xf32>, %d: tensor<?x8xf32>) {
  %w, %t, %o = moe.expert_choice %l <capacity_factor = 2.0> : tensor<16x8xf32> -> tensor<32xf32>, tensor<32xi32>, tensor<9xi32>
  %w1, %t1, %o1 = moe.expert_choice %d <scoring = sigmoid> : tensor<?x8xf32> -> tensor<?xf32>, tensor<?xi32>, tensor<9xi32>
  return
}
