func.func @sigmoid_stays(%l: tensor<?x8xf32>) -> tensor<?x2xf32> {
  %w, %i = moe.topk %l <k = 2, scoring = sigmoid, renormalize = true> : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return %w : tensor<?x2xf32>
}
