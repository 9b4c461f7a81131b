func.func @mixtral_block(%x: tensor<?x72xf32>) -> tensor<?x72xf32> {
  %wg = moe.weight "model.layers.0.block_sparse_moe.gate.weight" from "model.safetensors" : tensor<8x72xf32>
  %w1 = moe.weight "model.layers.0.block_sparse_moe.experts.{e}.w1.weight" from "model.safetensors" : tensor<8x40x72xf32>
  %w2 = moe.weight "model.layers.0.block_sparse_moe.experts.{e}.w2.weight" from "model.safetensors" : tensor<8x72x40xf32>
  %w3 = moe.weight "model.layers.0.block_sparse_moe.experts.{e}.w3.weight" from "model.safetensors" : tensor<8x40x72xf32>
  %y = moe.block %x router %wg experts(up %w3, down %w2, gate %w1)
         routing #moe.routing<k = 2, renormalize = true> ffn <activation = silu>
         : (tensor<?x72xf32>, tensor<8x72xf32>, tensor<8x40x72xf32>, tensor<8x72x40xf32>, tensor<8x40x72xf32>) -> tensor<?x72xf32>
  return %y : tensor<?x72xf32>
}
