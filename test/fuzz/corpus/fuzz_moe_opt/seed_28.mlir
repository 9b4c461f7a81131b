func.func @mixtral_block_primitives(%x: tensor<?x72xf32>) -> tensor<?x72xf32> {
  %wg = moe.weight "model.layers.0.block_sparse_moe.gate.weight" from "model.safetensors" : tensor<8x72xf32>
  %w1 = moe.weight "model.layers.0.block_sparse_moe.experts.{e}.w1.weight" from "model.safetensors" : tensor<8x40x72xf32>
  %w2 = moe.weight "model.layers.0.block_sparse_moe.experts.{e}.w2.weight" from "model.safetensors" : tensor<8x72x40xf32>
  %w3 = moe.weight "model.layers.0.block_sparse_moe.experts.{e}.w3.weight" from "model.safetensors" : tensor<8x40x72xf32>
  %logits = moe.router %x, %wg : tensor<?x72xf32>, tensor<8x72xf32> -> tensor<?x8xf32>
  %w, %idx = moe.topk %logits <k = 2, renormalize = true> : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %counts, %offsets, %row_token, %slot_row = moe.dispatch %idx experts(8)
      : tensor<?x2xi32> -> tensor<8xi32>, tensor<9xi32>, tensor<?xi32>, tensor<?x2xi32>
  %xp = moe.permute %x, %row_token : tensor<?x72xf32>, tensor<?xi32> -> tensor<?x72xf32>
  %g = moe.grouped_matmul %xp, %w1, %offsets : tensor<?x72xf32>, tensor<8x40x72xf32>, tensor<9xi32> -> tensor<?x40xf32>
  %u = moe.grouped_matmul %xp, %w3, %offsets : tensor<?x72xf32>, tensor<8x40x72xf32>, tensor<9xi32> -> tensor<?x40xf32>
  %h = moe.glu silu %g, %u : tensor<?x40xf32>, tensor<?x40xf32> -> tensor<?x40xf32>
  %ye = moe.grouped_matmul %h, %w2, %offsets : tensor<?x40xf32>, tensor<8x72x40xf32>, tensor<9xi32> -> tensor<?x72xf32>
  %y = moe.combine %ye, %w, %slot_row : (tensor<?x72xf32>, tensor<?x2xf32>, tensor<?x2xi32>) -> tensor<?x72xf32>
  return %y : tensor<?x72xf32>
}
