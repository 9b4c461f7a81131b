func.func @experts(%xp: tensor<?x72xbf16>, %o: tensor<13xi32>, %w1: tensor<12x40x72xbf16>, %w2: tensor<12x72x40xbf16>) -> tensor<?x72xbf16> {
  %g = moe.grouped_matmul %xp, %w1, %o : tensor<?x72xbf16>, tensor<12x40x72xbf16>, tensor<13xi32> -> tensor<?x40xbf16>
  %a = moe.glu silu %g, %g : tensor<?x40xbf16>, tensor<?x40xbf16> -> tensor<?x40xbf16>
  %b = moe.glu gelu %g : tensor<?x40xbf16> -> tensor<?x20xbf16>
  %c = moe.glu gelu_tanh %g, %g : tensor<?x40xbf16>, tensor<?x40xbf16> -> tensor<?x40xbf16>
  %d = moe.glu relu %g, %g : tensor<?x40xbf16>, tensor<?x40xbf16> -> tensor<?x40xbf16>
  %e = moe.glu clamped_swiglu %g, %g {alpha = 1.5 : f64, limit = 5.0 : f64} : tensor<?x40xbf16>, tensor<?x40xbf16> -> tensor<?x40xbf16>
  %y = moe.expert_ffn %xp, %o gate %w1 up %w1 down %w2 <activation = silu> : (tensor<?x72xbf16>, tensor<13xi32>, tensor<12x40x72xbf16>, tensor<12x40x72xbf16>, tensor<12x72x40xbf16>) -> tensor<?x72xbf16>
  %z = moe.expert_ffn %xp, %o up %w1 down %w2 <activation = relu, gated = false> : (tensor<?x72xbf16>, tensor<13xi32>, tensor<12x40x72xbf16>, tensor<12x72x40xbf16>) -> tensor<?x72xbf16>
  %q = moe.expert_ffn %xp, %o gate %w1 up %w1 down %w2 <activation = clamped_swiglu, alpha = 1.5, limit = 5.0> : (tensor<?x72xbf16>, tensor<13xi32>, tensor<12x40x72xbf16>, tensor<12x40x72xbf16>, tensor<12x72x40xbf16>) -> tensor<?x72xbf16>
  return %y : tensor<?x72xbf16>
}
