func.func @weights() -> (tensor<12x72xbf16>, tensor<12x40x72xf32>, tensor<2x3xf32>) {
  %0 = moe.weight "model.layers.0.mlp.gate.weight" from "model.safetensors" : tensor<12x72xbf16>
  %1 = moe.weight "model.layers.0.mlp.experts.{e}.gate_proj.weight" from "model.safetensors.index.json" : tensor<12x40x72xf32>
  %2 = moe.weight "inline" = dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32> : tensor<2x3xf32>
  return %0, %1, %2 : tensor<12x72xbf16>, tensor<12x40x72xf32>, tensor<2x3xf32>
}
