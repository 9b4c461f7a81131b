func.func @shared_expert(%x: tensor<?x72xf32>, %g: tensor<40x72xf32>, %d: tensor<72x40xf32>, %sg: tensor<1x72xf32>) {
  %0 = moe.shared_expert %x gate %g up %g down %d sigmoid_gate %sg <activation = silu> : (tensor<?x72xf32>, tensor<40x72xf32>, tensor<40x72xf32>, tensor<72x40xf32>, tensor<1x72xf32>) -> tensor<?x72xf32>
  %1 = moe.shared_expert %x gate %g up %g down %d <activation = silu> : (tensor<?x72xf32>, tensor<40x72xf32>, tensor<40x72xf32>, tensor<72x40xf32>) -> tensor<?x72xf32>
  %2 = moe.shared_expert %x up %g down %d <activation = gelu, gated = false> : (tensor<?x72xf32>, tensor<40x72xf32>, tensor<72x40xf32>) -> tensor<?x72xf32>
  return
}
